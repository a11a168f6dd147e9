"""MNIST and Fashion-MNIST from their four IDX files.

The files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (or the same
names without ``.gz``) are read from ``data_dir``, or from the cache folder
(see :func:`~kernelwise.data.download.cache_dir`) where missing ones are
downloaded once and checked against their published SHA-256.

Checksums: the SHA-256 values below are those listed in TensorFlow Datasets'
``url_checksums/mnist.txt`` and ``url_checksums/fashion_mnist.txt`` (the same
values appear in Chainer's ``fashion_mnist.py`` and other projects); the file
sizes there match the files PyTorch's mirrors serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._prepare import package
from .dataset import DatasetInfo, TensorDataset
from .download import DownloadError, cache_dir, download
from .idx import read_idx

# N: images, H, W: height and width (28 × 28)

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX dataset comes from: its mirrors, the SHA-256 of each ``.gz`` file, its class names."""

    name: str
    mirrors: tuple[str, ...]
    sha256: dict[str, str]
    classes: tuple[str, ...]


MNIST = IdxSource(
    name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    classes=tuple(str(d) for d in range(10)),
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)


def _locate(stem: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _files(source: IdxSource, data_dir: str | Path | None, download_missing: bool) -> dict[str, Path]:
    """Find the four files (downloading missing ones when allowed), keyed by their stem."""
    target = cache_dir(source.name, data_dir)
    folders = [target, target / source.name] if data_dir is not None else [target]
    stems = [stem for pair in SPLIT_FILES.values() for stem in pair]
    found = {stem: _locate(stem, folders) for stem in stems}
    missing = [stem for stem, path in found.items() if path is None]
    if not missing:
        return found  # type: ignore[return-value]
    expected = ", ".join(f"{stem}.gz" for stem in stems)
    where = f"put the files {expected} (gzipped or not) in {target}"
    if not download_missing:
        raise FileNotFoundError(
            f"{source.name}: missing {', '.join(f'{s}.gz' for s in missing)} in "
            f"{' or '.join(map(str, folders))}; {where}, or allow download=True."
        )
    for stem in missing:
        try:
            found[stem] = download(f"{stem}.gz", source.mirrors, source.sha256[f"{stem}.gz"], target)
        except DownloadError as e:
            raise DownloadError(
                f"{source.name}: {e}\nWithout a network connection: {where}, or give the folder with the files "
                "(--data-dir on the command line)."
            ) from None
    return found  # type: ignore[return-value]


def _read_split(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, ndim=3, dtype=np.uint8)  # (N, H, W)
    labels = read_idx(labels_path, ndim=1, dtype=np.uint8)  # (N,)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; the counts must agree"
        )
    if labels.size and labels.max() >= num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} is out of range 0..{num_classes - 1}")
    x = (images.astype(np.float32) / 255.0)[:, None]  # (N, 1, H, W), values in [0, 1]
    return x, labels.astype(np.int64)


def load_idx_dataset(
    source: IdxSource, data_dir: str | Path | None = None, download: bool = True, normalize: bool = True
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Load an IDX dataset described by ``source`` (see :func:`load_mnist`)."""
    files = _files(source, data_dir, download)
    splits = [_read_split(files[img], files[lab], len(source.classes)) for img, lab in SPLIT_FILES.values()]
    return package(source.name, splits[0], splits[1], source.classes, normalize)


def load_mnist(
    data_dir: str | Path | None = None, download: bool = True, normalize: bool = True
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """MNIST handwritten digits: 60,000 train and 10,000 test images of 28 × 28 (fewer in a sample).

    Args:
        data_dir: folder holding the four IDX files (also looked for in ``data_dir/mnist``); missing
            files are downloaded into it. Default: the cache folder ``$KERNELWISE_DATA/mnist`` or
            ``~/.cache/kernelwise/mnist``.
        download: fetch missing files (checked against their SHA-256); without it a missing file is a
            ``FileNotFoundError`` that names the expected files and the folder.
        normalize: subtract the training images' mean and divide by their standard deviation.

    Returns:
        ``(train, test, info)``: two TensorDatasets of float32 images ``(N, 1, 28, 28)`` and int64
        labels ``(N,)``, and their :class:`~kernelwise.data.DatasetInfo`.
    """
    return load_idx_dataset(MNIST, data_dir, download, normalize)


def load_fashion_mnist(
    data_dir: str | Path | None = None, download: bool = True, normalize: bool = True
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Fashion-MNIST clothing images: the same format and sizes as :func:`load_mnist`, ten garment classes."""
    return load_idx_dataset(FASHION_MNIST, data_dir, download, normalize)
