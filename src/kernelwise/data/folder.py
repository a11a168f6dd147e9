"""Your own pictures: a folder with one sub-folder per class.

::

    root/cat/001.png        root/train/cat/001.png
    root/cat/002.jpg   or   root/train/dog/002.png
    root/dog/003.png        root/test/cat/003.png ...

Class names are the sub-folder names in sorted order (label ``i`` is the
``i``-th name); image files (png, jpg, jpeg, bmp, gif) are found at any depth
below a class folder, other files are ignored. Without ``train/`` and
``test/`` sub-folders, a fixed share of each class goes to the test split,
chosen by ``seed``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ._prepare import package, require, stratified_split
from .dataset import DatasetInfo, TensorDataset

# N: images, C: channels (1 gray or 3 RGB), H, W: height and width

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GRAY_MODES = ("1", "L", "LA")
_UNSUPPORTED_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")  # 16-bit and float images


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    """Image files at any depth below ``folder``, skipping hidden ones (a name inside ``folder`` that starts
    with a dot; the parents of ``folder``, such as ``..``, are not looked at)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(q.startswith(".") for q in p.relative_to(folder).parts)
    )


def _scan(root: Path, classes: list[str] | None = None) -> tuple[list[str], list[Path], list[int]]:
    """Class names, image paths and labels under ``root`` (``classes`` fixes the names, e.g. for ``test/``)."""
    folders = _visible_dirs(root)
    if not folders:
        raise DataError(
            f"{root}: no class folders; put the images of each class in their own sub-folder "
            "(root/<class name>/<image files>)"
        )
    names = [f.name for f in folders]
    if classes is not None:
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise DataError(f"{root}: class folders {unknown} do not exist in the training folder (classes {classes})")
    else:
        classes = names
    paths, labels = [], []
    for folder in folders:
        files = _image_files(folder)
        if not files:
            raise DataError(
                f"{folder}: class '{folder.name}' has no image files (looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
        paths += files
        labels += [classes.index(folder.name)] * len(files)
    return classes, paths, labels


def _is_gray(image: Any) -> bool:
    if image.mode in _GRAY_MODES:
        return True
    if image.mode == "P":  # a palette image is gray when its colours are
        rgb = np.asarray(image.convert("RGB"))
        return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    return False


def _read(paths: list[Path]) -> list[Any]:
    Image = require("PIL.Image", "pillow", "loading an image folder")
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                if image.mode in _UNSUPPORTED_MODES:
                    raise DataError(
                        f"mode {image.mode} (16-bit or floating point) is not supported; "
                        "save it as an 8-bit gray or RGB image"
                    )
                images.append(image.copy())
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{path}: cannot read this image ({e})") from None
    return images


def _target_size(images: list[Any], image_size: int | tuple[int, int] | None) -> tuple[int, int]:
    if image_size is None:
        (w, h), _ = Counter(im.size for im in images).most_common(1)[0]  # PIL sizes are (W, H)
        return h, w
    size = (image_size, image_size) if isinstance(image_size, int | np.integer) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int | np.integer) and s > 0 for s in size):
        raise UsageError(f"image_size: must be a positive int or a (height, width) pair, got {image_size!r}")
    return int(size[0]), int(size[1])


def _to_array(images: list[Any], mode: str, size: tuple[int, int]) -> np.ndarray:
    Image = require("PIL.Image", "pillow", "loading an image folder")
    h, w = size
    arrays = []
    for image in images:
        image = image.convert(mode)
        if image.size != (w, h):
            image = image.resize((w, h), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
    x = np.stack(arrays).astype(np.float32)  # (N, H, W) gray or (N, H, W, C) RGB
    x /= 255.0  # values in [0, 1]
    return x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)  # (N, C, H, W)


def load_image_folder(
    root: str | Path,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    normalize: bool = True,
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Load a folder of pictures sorted into one sub-folder per class.

    Args:
        root: the folder; if it holds ``train/`` and ``test/`` sub-folders, those are the two splits.
        image_size: ``(height, width)`` (or one int for squares) every image is resized to, bilinearly;
            default: the most common size among the images.
        channels: 1 (gray) or 3 (RGB); default: 1 if every image is gray, else 3. Alpha is dropped.
        test_fraction: share of each class that goes to the test split when there is no ``test/``.
        seed: chooses that share (the same seed gives the same split).
        normalize: subtract the training images' per-channel mean and divide by their standard deviation.

    Returns:
        ``(train, test, info)``: TensorDatasets of float32 images ``(N, C, H, W)`` and int64 labels,
        and their :class:`~kernelwise.data.DatasetInfo` (``info.classes``: the folder names).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"images: folder {root} does not exist (expected root/<class name>/<image files>)")
    if channels not in (None, 1, 3):
        raise UsageError(f"channels: must be 1 (gray), 3 (RGB) or None (decide from the images), got {channels!r}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes, train_paths, train_labels = _scan(root / "train")
        _, test_paths, test_labels = _scan(root / "test", classes)
        paths, labels = train_paths + test_paths, np.array(train_labels + test_labels, dtype=np.int64)
        train_idx = np.arange(len(train_paths))
        test_idx = np.arange(len(train_paths), len(paths))
    else:
        classes, paths, label_list = _scan(root)
        labels = np.array(label_list, dtype=np.int64)
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
        if not len(test_idx):
            raise DataError(
                f"{root}: too few images for a test split (every class needs at least 2 images, "
                "or provide train/ and test/ sub-folders)"
            )
    images = _read(paths)
    if channels is None:
        channels = 1 if all(_is_gray(im) for im in images) else 3
    x = _to_array(images, "L" if channels == 1 else "RGB", _target_size(images, image_size))
    return package(
        "images", (x[train_idx], labels[train_idx]), (x[test_idx], labels[test_idx]), tuple(classes), normalize
    )
