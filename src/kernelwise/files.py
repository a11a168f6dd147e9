"""Files that are either whole or absent: write to a temporary name, flush to disk, rename.

A reader (or a run resumed after ``kill -9``) sees the old file or the new one, never a
half-written one: the bytes go to ``NAME.partial`` beside the target, are flushed with
``fsync``, and ``os.replace`` swaps the name in one step; the folder is flushed too, so
the rename itself survives a power cut. A failure (full disk, no permission, Ctrl-C)
removes the temporary file, leaves the old file as it was, and raises
:class:`FileWriteError`, an ``OSError`` whose message names the file.

Example:
    >>> import tempfile, pathlib
    >>> from kernelwise.files import write_atomic, write_text_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> write_text_atomic(path, "first\\n")
    >>> write_atomic(path, lambda tmp: tmp.write_text("second\\n"))
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('second\\n', ['notes.txt'])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import KernelwiseError

PARTIAL = ".partial"  # the suffix of every temporary name; leftovers are safe to delete


class FileWriteError(KernelwiseError, OSError):
    """A file could not be written (full disk, no permission, ...); the message names the file."""


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's) contents and metadata to disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask_mode() -> int:
    """The permission bits a new file gets under the process's umask (0o644 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, flush it and rename it to ``path``.

    The new file gets the permissions of any new file under the umask (some writers create
    their files 0600). On any failure the temporary file is removed, an existing ``path`` is
    left untouched and the error is raised; an ``OSError`` becomes a :class:`FileWriteError`
    naming ``path``.
    """
    path = Path(path)
    tmp = path.with_name(path.name + PARTIAL)
    try:
        with naming_errors(path):
            write(tmp)
            os.chmod(tmp, _umask_mode())
            fsync_path(tmp)
            os.replace(tmp, path)
            fsync_path(path.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def naming_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a :class:`FileWriteError` whose message names ``path``."""
    try:
        yield
    except FileWriteError:
        raise
    except OSError as e:
        error = FileWriteError(f"cannot write {path}: {e.strerror or e}")
        error.errno = e.errno
        raise error from e


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def remove_partials(folder: str | os.PathLike) -> list[Path]:
    """Delete leftover ``*.partial`` files and folders in ``folder`` (not recursive); return them."""
    import shutil

    removed = []
    for leftover in Path(folder).glob("*" + PARTIAL):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed
