"""Downloading dataset files once, checked against their published SHA-256.

:func:`fetch` is the only function that touches the network. :func:`download`
tries each mirror in turn, compares the SHA-256 of what came back with the
published value, and only then writes the file, under a temporary name that is
renamed into place: a failed or tampered download leaves nothing behind.
:func:`safe_extract` copies chosen members out of a tar archive without ever
writing outside the destination folder.

Files are kept in ``data_dir`` when given, else in ``$KERNELWISE_DATA/<name>``,
else in ``~/.cache/kernelwise/<name>`` (:func:`cache_dir`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from ..errors import DataError, KernelwiseError


class DownloadError(KernelwiseError, RuntimeError):
    """No mirror delivered the file with the expected checksum (or none could be reached)."""


def cache_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """Where the files of dataset ``name`` live: ``data_dir``, else ``$KERNELWISE_DATA/<name>``,
    else ``~/.cache/kernelwise/<name>``.

    Example:
        >>> from kernelwise.data.download import cache_dir
        >>> str(cache_dir("mnist", "/data/mnist"))
        '/data/mnist'
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    root = os.environ.get("KERNELWISE_DATA")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "kernelwise"
    return base / name


def fetch(url: str, timeout: float = 60.0) -> bytes:
    """The bytes at ``url`` (the only function here that uses the network), with a progress bar."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        try:
            from tqdm import tqdm
        except ImportError:  # no progress bar without tqdm
            return response.read()
        chunks = []
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], file=sys.stderr) as bar:
            while chunk := response.read(1 << 20):
                chunks.append(chunk)
                bar.update(len(chunk))
        return b"".join(chunks)


def write_atomically(payload: bytes, dest: Path) -> None:
    """Write ``payload`` to a temporary file beside ``dest``, then rename it to ``dest``
    (:func:`kernelwise.files.write_bytes_atomic`: flushed to disk, the umask's permissions)."""
    from ..files import write_bytes_atomic

    dest.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(dest, payload)


def download(filename: str, mirrors: Sequence[str], sha256: str, dest_dir: str | Path) -> Path:
    """Download ``filename`` from the first mirror that serves it with the expected SHA-256.

    Args:
        filename: the file's name, appended to each mirror's base URL.
        mirrors: base URLs ending in ``/``, tried in order.
        sha256: the published SHA-256 of the file (hex).
        dest_dir: folder to write ``filename`` into.

    Returns:
        the path of the verified file.

    Raises:
        DownloadError: no mirror could be reached or none served the expected bytes; the message
            lists what each mirror did. Nothing is written in that case. Setting the environment
            variable ``KERNELWISE_OFFLINE`` turns downloads off (tests do).
    """
    import http.client

    if os.environ.get("KERNELWISE_OFFLINE"):
        raise DownloadError(f"could not download {filename}: downloads are turned off (KERNELWISE_OFFLINE is set)")
    dest = Path(dest_dir) / filename
    failures = []
    for base in mirrors:
        url = base + filename
        try:
            payload = fetch(url)
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts: OSError
            failures.append(f"{url}: {e}")
            continue
        digest = hashlib.sha256(payload).hexdigest()
        if digest != sha256.lower():
            failures.append(f"{url}: SHA-256 mismatch, got {digest}, expected {sha256} ({len(payload)} bytes)")
            continue
        write_atomically(payload, dest)
        return dest
    raise DownloadError(f"could not download {filename}:\n  " + "\n  ".join(failures))


def _unsafe(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts


def safe_extract(archive: str | Path, members: Iterable[str], dest_dir: str | Path) -> list[Path]:
    """Extract the regular files named ``members`` from a tar archive into ``dest_dir``.

    Every member name in the archive is checked: an absolute path or a ``..`` component is a
    :class:`~kernelwise.errors.DataError` (a ``ValueError``; nothing is extracted from such an archive).
    Members that are not asked for are skipped; one asked for that is missing, or is not a regular file,
    is a ``DataError`` too, as is an archive that cannot be read.
    Each file is written under a temporary name and renamed into place.

    Args:
        archive: the ``.tar`` / ``.tar.gz`` file.
        members: the member names to extract, e.g. ``"cifar-10-batches-bin/test_batch.bin"``.
        dest_dir: folder the members are written under, keeping their relative paths.

    Returns:
        the paths written, in the order of ``members``.
    """
    import tarfile

    archive, dest_dir = Path(archive), Path(dest_dir)
    wanted = list(members)
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the `with tar` below; opening errors differ
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: not a readable tar archive ({e})") from None
    with tar:
        try:
            infos = {info.name: info for info in tar.getmembers()}
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{archive}: damaged or truncated tar archive ({e})") from None
        unsafe = [name for name in infos if _unsafe(name)]
        if unsafe:
            raise DataError(
                f"{archive}: refusing to extract an archive with unsafe member names {unsafe} (absolute paths or '..')"
            )
        written = []
        for name in wanted:
            info = infos.get(name)
            if info is None:
                raise DataError(f"{archive}: member {name} is missing")
            if not info.isreg():
                raise DataError(f"{archive}: member {name} is not a regular file")
            source = tar.extractfile(info)
            assert source is not None  # regular files always have data
            try:
                payload = source.read()
            except (tarfile.TarError, OSError, EOFError) as e:
                raise DataError(f"{archive}: member {name} is damaged or truncated ({e})") from None
            target = dest_dir.joinpath(*PurePosixPath(name).parts)
            write_atomically(payload, target)
            written.append(target)
    return written
