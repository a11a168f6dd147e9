"""Shared steps of the dataset loaders: a stratified split, normalisation, packaging."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from .. import random as _random
from ..errors import DataError, UsageError
from .dataset import DatasetInfo, TensorDataset

# N: images, C: channels, H, W: height and width (L: length for 1-d signals)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/test split that keeps each class's share: ``round(n_c · test_fraction)`` of
    the ``n_c`` samples of class ``c`` go to test (at least 1 and at most ``n_c - 1``; none for a class
    of one sample), chosen by ``seed``.

    Returns the sorted train and test indices.
    """
    if not 0 < test_fraction < 1:
        raise UsageError(f"test_fraction: must be between 0 and 1 (exclusive), got {test_fraction}")
    rng = _random.generator(seed)
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_test = min(len(members) - 1, max(1, round(len(members) * test_fraction)))
        test.append(rng.permutation(members)[:n_test])
    test_idx = np.sort(np.concatenate(test)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx).astype(np.int64)
    return train_idx, test_idx


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``(N, C, ...)`` images, in float64."""
    axes = (0, *range(2, images.ndim))  # every axis but C
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf pixels: package() refuses the result
        mean = images.mean(axis=axes, dtype=np.float64)
        std = images.std(axis=axes, dtype=np.float64)
    return mean, np.where(std > 0, std, 1.0)  # a constant channel is left unscaled


def package(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    classes: tuple[str, ...],
    normalize: bool,
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Normalise ``(images, labels)`` pairs with the training split's per-channel statistics and wrap them.

    Images come in as float32 in ``[0, 1]``, shape ``(N, C, ...)``, arrays the caller owns; with ``normalize``
    both splits become ``x_hat = (x - mean_c) / std_c`` in place, with ``mean_c, std_c`` measured on the
    training images.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    channels = x_train.shape[1]
    if normalize:
        mean, std = channel_stats(x_train)
    else:
        mean, std = np.zeros(channels), np.ones(channels)
    shape = (1, channels) + (1,) * (x_train.ndim - 2)  # broadcast over N and the spatial axes
    m, s = mean.astype(np.float32).reshape(shape), std.astype(np.float32).reshape(shape)
    if not (np.isfinite(m).all() and np.isfinite(s).all()):
        raise DataError(
            f"{name}: the training images give per-channel mean {m.ravel().tolist()} and standard deviation "
            f"{s.ravel().tolist()}; normalising needs finite values (the images hold NaN or inf)"
        )
    s = np.where(s > 0, s, np.float32(1))  # a deviation float32 rounds to 0 is a constant channel: left unscaled
    if normalize:  # in place: the loaders hand over arrays of their own
        for x in (x_train, x_test):
            x -= m
            x /= s  # x_hat = (x - mean_c) / std_c
    info = DatasetInfo(
        name=name,
        num_classes=len(classes),
        classes=tuple(classes),
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        mean=tuple(float(v) for v in m.ravel()),
        std=tuple(float(v) for v in s.ravel()),
    )
    return _as_dataset(x_train, y_train), _as_dataset(x_test, y_test), info


def _as_dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    return TensorDataset(np.ascontiguousarray(images, dtype=np.float32), np.ascontiguousarray(labels, dtype=np.int64))


def require(module: str, package_name: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ImportError saying which package ``purpose`` needs."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{purpose} needs the '{package_name}' package: pip install {package_name} ({e})") from e
