"""Datasets: indexable collections of samples, as in ``torch.utils.data``.

A :class:`Dataset` answers ``dataset[i]`` with one sample and ``len(dataset)``
with their number. :class:`TensorDataset` keeps whole arrays and answers with
row ``i`` of each; :class:`Subset` and :func:`random_split` pick rows of
another dataset. :class:`DatasetInfo` describes a loaded dataset (classes,
input shape, the mean and standard deviation the images were normalised with).

Example:
    >>> import numpy as np
    >>> import kernelwise as kw
    >>> from kernelwise.data import TensorDataset, random_split
    >>> ds = TensorDataset(kw.tensor(np.arange(10.0, dtype=np.float32)), kw.tensor(np.arange(10)))
    >>> x, y = ds[3]
    >>> float(x), int(y), len(ds)
    (3.0, 3, 10)
    >>> [len(part) for part in random_split(ds, [0.8, 0.2], generator=0)]
    [8, 2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import random as _random
from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor


class Dataset:
    """A collection of samples: subclasses implement ``__getitem__`` and ``__len__``.

    Example:
        >>> from kernelwise.data import Dataset
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, index):
        ...         return index * index
        >>> [Squares()[i] for i in range(4)]
        [0, 1, 4, 9]
    """

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension.

    Args:
        *tensors: ``Tensor`` or NumPy arrays with the same size ``N`` in dimension 0
            (NumPy arrays are wrapped without copying).

    Shape:
        - tensors: ``(N, *)`` each; ``dataset[i]`` is the tuple of their rows ``i``.

    Example:
        >>> import numpy as np
        >>> from kernelwise.data import TensorDataset
        >>> ds = TensorDataset(np.zeros((5, 1, 8, 8), dtype=np.float32), np.arange(5))
        >>> image, label = ds[4]
        >>> image.shape, int(label), len(ds)
        ((1, 8, 8), 4, 5)
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise UsageError("TensorDataset: needs at least one tensor")
        converted = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = Tensor(t)
            if not isinstance(t, Tensor):
                raise UsageTypeError(
                    f"TensorDataset: tensors[{i}] must be a Tensor or numpy.ndarray, got {type(t).__name__}"
                )
            if t.ndim == 0:
                raise UsageError(f"TensorDataset: tensors[{i}] is 0-dimensional; samples are rows of dimension 0")
            converted.append(t)
        sizes = [t.shape[0] for t in converted]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(t.shape) for t in converted)
            raise UsageError(f"TensorDataset: size mismatch between tensors in dimension 0: shapes {shapes}")
        self.tensors: tuple[Tensor, ...] = tuple(converted)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor._make(np.asarray(t._array[index])) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: the dataset to pick from.
        indices: positions in ``dataset``, each in ``[0, len(dataset))``.

    Example:
        >>> import numpy as np
        >>> from kernelwise.data import Subset, TensorDataset
        >>> part = Subset(TensorDataset(np.arange(10) * 10), [7, 2])
        >>> [int(part[i][0]) for i in range(len(part))]
        [70, 20]
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        n = len(dataset)
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise UsageTypeError(
                f"Subset: indices must be a 1-d sequence of integers, got {np.asarray(indices).dtype} "
                f"of shape {idx.shape}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise UsageError(
                f"Subset: indices must lie in [0, {n}) for a dataset of {n} samples, "
                f"got values from {idx.min()} to {idx.max()}"
            )
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(
    dataset: Any, lengths: Sequence[int | float], generator: int | np.random.Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths.

    Args:
        dataset: the dataset to split.
        lengths: sizes of the parts (summing to ``len(dataset)``), or fractions summing to 1; with
            fractions, each part gets ``floor(n · fraction)`` samples and the remainder is dealt out
            one by one to the parts in order (as PyTorch does).
        generator: seed or ``numpy.random.Generator`` for the permutation (default: the global one).

    Example:
        >>> import numpy as np
        >>> from kernelwise.data import TensorDataset, random_split
        >>> a, b = random_split(TensorDataset(np.arange(5)), [0.5, 0.5], generator=1)
        >>> len(a), len(b), sorted(a.indices + b.indices)
        (3, 2, [0, 1, 2, 3, 4])
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise UsageError("random_split: lengths is empty")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(isinstance(v, int) for v in lengths):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise UsageError(f"random_split: fraction at index {i} is not between 0 and 1, got {frac}")
        sizes = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        if not all(isinstance(v, int | np.integer) and v >= 0 for v in lengths):
            raise UsageError(
                f"random_split: lengths must be non-negative integers or fractions summing to 1, got {lengths}"
            )
        sizes = [int(v) for v in lengths]
    if sum(sizes) != n:
        raise UsageError(
            f"random_split: sum of input lengths ({sum(sizes)}) does not equal the length of the input dataset ({n})"
        )
    order = _random.generator(generator).permutation(n).tolist()
    parts, offset = [], 0
    for size in sizes:
        parts.append(Subset(dataset, order[offset : offset + size]))
        offset += size
    return parts


def array_view(dataset: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """The arrays behind an array-backed dataset, and the positions it reads from them.

    Returns ``(arrays, index_map)`` for a :class:`TensorDataset` (``index_map`` is None) or a chain of
    :class:`Subset` over one (``index_map[i]`` is the row of sample ``i``); None for any other dataset.
    The :class:`~kernelwise.data.DataLoader` uses it to gather a whole batch with one fancy index.
    """
    if isinstance(dataset, TensorDataset):
        return tuple(t._array for t in dataset.tensors), None
    if isinstance(dataset, Subset):
        inner = array_view(dataset.dataset)
        if inner is None:
            return None
        arrays, index_map = inner
        idx = np.asarray(dataset.indices, dtype=np.int64)
        return arrays, idx if index_map is None else index_map[idx]
    return None


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a loaded dataset.

    Attributes:
        name: the dataset's name (``"mnist"``, ``"digits"``, ...).
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        classes: class names, indexed by label.
        input_shape: shape of one input, ``(C, H, W)`` (``(1, 40)`` for MNIST-1D).
        mean: per-channel value subtracted from the images (0 where they were not normalised).
        std: per-channel value the images were divided by (1 where they were not normalised);
            ``x · std + mean`` gives back the images in ``[0, 1]``.
    """

    name: str
    num_classes: int
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
