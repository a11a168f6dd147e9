"""CIFAR-10 from its binary version (``cifar-10-binary.tar.gz``), never the pickled one.

The archive holds ``cifar-10-batches-bin/data_batch_1.bin`` .. ``data_batch_5.bin``
(10,000 records each), ``test_batch.bin`` and ``batches.meta.txt`` (the class
names, one a line). A record is 3,073 bytes: the label, then the 32 × 32 red,
green and blue planes in row-major order, which is exactly a ``(3, 32, 32)``
array.

Checksum: the SHA-256 of the archive is the one listed in TensorFlow Datasets'
``url_checksums/cifar10.txt`` (170,052,171 bytes), also pinned by other projects.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._prepare import package
from .dataset import DatasetInfo, TensorDataset
from .download import DownloadError, cache_dir, download, safe_extract

# N: images, C: channels (red, green, blue), H, W: height and width (32 × 32)

ARCHIVE = "cifar-10-binary.tar.gz"
ARCHIVE_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
META_FILE = "batches.meta.txt"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RECORD_BYTES = 1 + 3 * 32 * 32  # label byte + (C, H, W) pixel bytes


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch file into uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)``.

    Example:
        >>> import pathlib, tempfile
        >>> from kernelwise.data.cifar import read_batch
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "test_batch.bin"
        >>> _ = path.write_bytes(bytes([3]) + bytes(3072))
        >>> images, labels = read_batch(path)
        >>> images.shape, labels.tolist()
        ((1, 3, 32, 32), [3])
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw or len(raw) % RECORD_BYTES:
        raise DataError(
            f"{path}: {len(raw)} bytes is not a whole number of {RECORD_BYTES}-byte records "
            "(1 label byte + 3 × 32 × 32 pixel bytes); the file is truncated or not CIFAR-10 binary"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)  # (N, 3073)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        raise DataError(f"{path}: label {int(labels.max())} is out of range 0..{len(CLASSES) - 1}")
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # (N, C, H, W): the planes are stored R, G, B
    return images, labels


def _read_classes(folder: Path) -> tuple[str, ...]:
    meta = folder / META_FILE
    if not meta.is_file():
        return CLASSES
    names = tuple(line.strip() for line in meta.read_text(encoding="utf-8", errors="replace").splitlines())
    names = tuple(name for name in names if name)
    if len(names) != len(CLASSES):
        raise DataError(f"{meta}: lists {len(names)} class names, expected {len(CLASSES)}")
    return names


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _batch_folder(data_dir: str | Path | None, download_missing: bool) -> Path:
    """The folder holding the six batch files, extracted from the archive (downloaded if allowed) when needed."""
    root = cache_dir("cifar10", data_dir)
    names = TRAIN_FILES + TEST_FILES
    for folder in (root / FOLDER, root):
        if all((folder / name).is_file() for name in names):
            return folder
    members = [f"{FOLDER}/{name}" for name in (*names, META_FILE)]
    archive = root / ARCHIVE
    where = f"put {ARCHIVE} (the binary version) or its extracted folder {FOLDER}/ with {', '.join(names)} in {root}"
    if archive.is_file():
        digest = _sha256_file(archive)
        if digest != ARCHIVE_SHA256:
            raise DataError(
                f"{archive}: SHA-256 {digest} differs from the published {ARCHIVE_SHA256}; "
                "the file is damaged or not the CIFAR-10 binary version"
            )
        safe_extract(archive, members, root)
        return root / FOLDER
    if not download_missing:
        raise FileNotFoundError(
            f"cifar10: no batch files in {root / FOLDER} or {root}; {where}, or allow download=True."
        )
    try:
        archive = download(ARCHIVE, MIRRORS, ARCHIVE_SHA256, root)
    except DownloadError as e:
        raise DownloadError(
            f"cifar10: {e}\nWithout a network connection: {where}, or give the folder with the files "
            "(--data-dir on the command line)."
        ) from None
    safe_extract(archive, members, root)
    archive.unlink()  # the extracted batches are what is read from now on
    return root / FOLDER


def load_cifar10(
    data_dir: str | Path | None = None, download: bool = True, normalize: bool = True
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """CIFAR-10: 50,000 train and 10,000 test colour images of 32 × 32 in ten classes.

    Args:
        data_dir: folder holding ``cifar-10-batches-bin/`` (or the batch files themselves, or the
            archive ``cifar-10-binary.tar.gz``, which is checked and extracted). Default: the cache
            folder ``$KERNELWISE_DATA/cifar10`` or ``~/.cache/kernelwise/cifar10``.
        download: fetch the archive (checked against its SHA-256) when nothing is found; without it,
            a ``FileNotFoundError`` names the expected files and the folder.
        normalize: subtract the training images' per-channel mean and divide by their standard deviation.

    Returns:
        ``(train, test, info)``: TensorDatasets of float32 images ``(N, 3, 32, 32)`` and int64 labels.
    """
    folder = _batch_folder(data_dir, download)
    splits = []
    for files in (TRAIN_FILES, TEST_FILES):
        parts = [read_batch(folder / name) for name in files]
        images = np.concatenate([p[0] for p in parts]).astype(np.float32)  # (N, 3, 32, 32)
        images /= 255.0  # values in [0, 1]
        splits.append((images, np.concatenate([p[1] for p in parts])))
    return package("cifar10", splits[0], splits[1], _read_classes(folder), normalize)
