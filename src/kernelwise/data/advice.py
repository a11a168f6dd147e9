"""What the command line tells a user about their data before it trains or evaluates.

:func:`infer_dataset` names the dataset a folder holds, from its files alone (so that
``kernelwise train --data-dir DIR`` needs no ``--dataset``); :func:`small_split_warning` says
when a test split is too small for its accuracy to mean anything.

Example:
    >>> import numpy as np
    >>> from kernelwise.data import TensorDataset
    >>> labels = np.array([0, 1])  # one test image per class
    >>> test = TensorDataset(np.zeros((2, 1, 4, 4), dtype=np.float32), labels)
    >>> print(small_split_warning(test, ("cat", "dog")))  # doctest: +ELLIPSIS
    the test split holds only 2 images (1 of class 'cat'): ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import cifar, mnist
from .folder import _image_files, _visible_dirs

# Below these counts a test accuracy moves in steps too coarse to compare two runs by.
MIN_TEST_PER_CLASS = 5
MIN_TEST_IMAGES = 30


def _idx_files(folder: Path) -> list[Path]:
    stems = [stem for pair in mnist.SPLIT_FILES.values() for stem in pair]
    return [folder / name for stem in stems for name in (f"{stem}.gz", stem) if (folder / name).is_file()]


def _is_fashion(files: list[Path]) -> bool:
    """True when a gzipped label file is byte for byte Fashion-MNIST's (its published SHA-256)."""
    for path in files:
        expected = mnist.FASHION_MNIST.sha256.get(path.name)
        if expected and "labels" in path.name and hashlib.sha256(path.read_bytes()).hexdigest() == expected:
            return True
    return False


def infer_dataset(folder: str | Path, prefer: str | None = None) -> str | None:
    """The dataset whose files ``folder`` holds, or None when they fit none.

    - ``mnist`` (``fashion-mnist``): any of the four IDX files (``train-images-idx3-ubyte[.gz]``, ...),
      in the folder or its ``mnist/`` (``fashion-mnist/``) sub-folder. The two datasets share their file
      names: the files are Fashion-MNIST's when a label file matches its published SHA-256 or they sit
      in ``fashion-mnist/``, and ``prefer`` decides when it names one of the two.
    - ``cifar10``: the binary batches (``data_batch_1.bin`` .. ``test_batch.bin``), in the folder or in
      ``cifar-10-batches-bin/``, or the archive ``cifar-10-binary.tar.gz``.
    - ``mnist1d``: a cache file ``mnist1d-*.npz``.
    - ``images``: sub-folders (one per class, or ``train/`` and ``test/``) with image files in them.

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a folder.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
        >>> infer_dataset(folder), infer_dataset(folder, prefer="fashion-mnist")
        ('mnist', 'fashion-mnist')
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    if _idx_files(root / "fashion-mnist"):
        return "fashion-mnist"
    idx = _idx_files(root) or _idx_files(root / "mnist")
    if idx:
        if prefer in ("mnist", "fashion-mnist"):
            return prefer
        return "fashion-mnist" if _is_fashion(idx) else "mnist"
    batches = cifar.TRAIN_FILES + cifar.TEST_FILES
    if (root / cifar.ARCHIVE).is_file() or any(
        (place / name).is_file() for place in (root, root / cifar.FOLDER) for name in batches
    ):
        return "cifar10"
    if any(root.glob("mnist1d-*.npz")):
        return "mnist1d"
    if any(_image_files(sub) for sub in _visible_dirs(root)):
        return "images"
    return None


def _labels(dataset: Any) -> np.ndarray:
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None:  # a TensorDataset: the labels are its last tensor
        return np.asarray(tensors[-1].numpy()).astype(np.int64).ravel()
    return np.array([int(np.asarray(dataset[i][-1])) for i in range(len(dataset))], dtype=np.int64)


def small_split_warning(test_set: Any, classes: Sequence[str]) -> str | None:
    """A one-line warning when ``test_set`` is too small for its accuracy to mean anything, else None.

    Too small: fewer than ``MIN_TEST_PER_CLASS`` (5) images of some class, or fewer than
    ``MIN_TEST_IMAGES`` (30) in all. One image is then ``100 / count`` % of the test accuracy,
    and a class with a single test image is either all right or all wrong.

    Args:
        test_set: a dataset whose samples end with the label (as ``(image, label)``).
        classes: the class names, label ``i`` being ``classes[i]``.
    """
    labels = _labels(test_set)
    total = len(labels)
    counts = np.bincount(labels, minlength=len(classes)) if total else np.zeros(len(classes), dtype=np.int64)
    fewest = int(np.argmin(counts)) if len(counts) else 0
    if total >= MIN_TEST_IMAGES and (not len(counts) or counts[fewest] >= MIN_TEST_PER_CLASS):
        return None
    name = classes[fewest] if fewest < len(classes) else str(fewest)
    step = f"one image moves the test accuracy by {100 / total:.3g} %" if total else "there is no test accuracy"
    return (
        f"the test split holds only {total} images ({int(counts[fewest]) if len(counts) else 0} of class "
        f"'{name}'): {step}, so it says little; give each class more images (at least {MIN_TEST_PER_CLASS} "
        f"test images per class and {MIN_TEST_IMAGES} in all)"
    )
