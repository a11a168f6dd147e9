"""DataLoader: a dataset in mini-batches, shuffled anew each epoch.

Each epoch draws one permutation of ``range(len(dataset))`` (or keeps the
order), cuts it into runs of ``batch_size`` indices and turns each run into a
batch. Array-backed datasets (:class:`~kernelwise.data.TensorDataset`, the
built-in datasets, and :class:`~kernelwise.data.Subset` of them) are gathered
with one fancy index per array, ``x[batch_indices]``; any other dataset is read
sample by sample and the samples are stacked by :func:`default_collate`.

Example:
    >>> import numpy as np
    >>> from kernelwise.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(np.zeros((10, 1, 4, 4), dtype=np.float32), np.arange(10))
    >>> loader = DataLoader(ds, batch_size=4)
    >>> [(x.shape, y.tolist()) for x, y in loader][-1]
    ((2, 1, 4, 4), [8, 9])
    >>> len(loader), len(DataLoader(ds, batch_size=4, drop_last=True))
    (3, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from .dataset import array_view


def _stack(arrays: list[np.ndarray]) -> Tensor:
    try:
        return Tensor._make(np.stack(arrays))
    except ValueError as e:
        shapes = sorted({a.shape for a in arrays})
        raise ValueError(
            f"default_collate: samples of one field have different shapes {shapes}; resize them or pass a collate_fn"
        ) from e


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into one batch, field by field.

    Tensors and arrays are stacked along a new first dimension (keeping their dtype); Python ints
    become an int64 tensor, Python floats a float32 one (kernelwise's ``tensor`` rules), bools a bool
    one; tuples, lists and dicts are collated per field; strings are returned as a list.

    Args:
        batch: the samples, all of the same structure.

    Example:
        >>> import numpy as np
        >>> from kernelwise.data import default_collate
        >>> x, y = default_collate([(np.ones(3, dtype=np.float32), 1), (np.zeros(3, dtype=np.float32), 0)])
        >>> x.shape, x.dtype, y.tolist(), y.dtype
        ((2, 3), dtype('float32'), [1, 0], dtype('int64'))
    """
    if not batch:
        raise ValueError("default_collate: batch is empty")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([b.data for b in batch])
    if isinstance(elem, np.ndarray | np.generic):
        return _stack([np.asarray(b) for b in batch])
    if isinstance(elem, bool):
        return Tensor._make(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor._make(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor._make(np.array(batch, dtype=np.float32))
    if isinstance(elem, str | bytes):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, tuple | list):
        if any(len(sample) != len(elem) for sample in batch):
            raise ValueError(
                f"default_collate: each sample should have {len(elem)} fields, got lengths "
                f"{sorted({len(sample) for sample in batch})}"
            )
        fields = [default_collate(list(samples)) for samples in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(
        f"default_collate: cannot batch samples of type {type(elem).__name__}; "
        "samples should be tensors, arrays, numbers, or tuples/lists/dicts of them (or pass a collate_fn)"
    )


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a sized, indexable dataset (``len(dataset)``, ``dataset[i]``).
        batch_size: samples per batch.
        shuffle: draw a new random order at the start of every epoch.
        drop_last: leave out the last batch when it has fewer than ``batch_size`` samples.
        generator: seed or ``numpy.random.Generator`` for the shuffling. A seed makes a generator
            once, here, so two loaders with the same seed give identical orders epoch after epoch;
            None draws from kernelwise's default generator at the start of each epoch.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`).

    Shape:
        - batches of a ``TensorDataset`` of ``(N, *)`` tensors: a tuple of ``(B, *)`` tensors,
          ``B = batch_size`` except perhaps in the last batch; dtypes are kept.

    Example:
        >>> import numpy as np
        >>> from kernelwise.data import DataLoader, TensorDataset
        >>> ds = TensorDataset(np.arange(6))
        >>> first = [b[0].tolist() for b in DataLoader(ds, batch_size=3, shuffle=True, generator=7)]
        >>> again = [b[0].tolist() for b in DataLoader(ds, batch_size=3, shuffle=True, generator=7)]
        >>> first == again, sorted(first[0] + first[1])
        (True, [0, 1, 2, 3, 4, 5])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: int | np.random.Generator | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable or None, got {type(collate_fn).__name__}")
        n = len(dataset)
        if n == 0:
            raise ValueError("DataLoader: dataset is empty (0 samples), so there is nothing to iterate over")
        if drop_last and n < batch_size:
            raise ValueError(
                f"DataLoader: drop_last=True with batch_size={batch_size} and only {n} samples "
                "leaves no batch; use a smaller batch_size or drop_last=False"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        # A seed becomes one Generator now: epochs differ, and equal seeds give equal sequences.
        self.generator = None if generator is None else _random.generator(generator)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)  # floor or ceil of n / B

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return _random.generator(self.generator).permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        stop = len(self) * self.batch_size
        view = array_view(self.dataset) if self.collate_fn is None else None
        for start in range(0, min(stop, len(order)), self.batch_size):
            indices = order[start : start + self.batch_size]
            if view is not None:
                arrays, index_map = view
                rows = indices if index_map is None else index_map[indices]
                yield tuple(Tensor._make(a[rows]) for a in arrays)  # one gather per array, (B, *)
            else:
                samples = [self.dataset[int(i)] for i in indices]
                yield (self.collate_fn or default_collate)(samples)

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__} of {len(self.dataset)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
