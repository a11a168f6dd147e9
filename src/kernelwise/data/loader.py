"""DataLoader: a dataset in mini-batches, shuffled anew each epoch.

Each epoch the sampler gives the order (one permutation of ``range(len(dataset))``
with ``shuffle=True``, else ``0, 1, ...``; or the ``sampler`` / ``batch_sampler``
given), which is cut into runs of ``batch_size`` indices, and each run becomes a
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

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .. import random as _random
from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor
from .dataset import array_view
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


def _stack(arrays: list[np.ndarray]) -> Tensor:
    try:
        return Tensor._make(np.stack(arrays))
    except ValueError as e:
        shapes = sorted({a.shape for a in arrays})
        raise UsageError(
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
        raise UsageError("default_collate: batch is empty")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([b._array for b in batch])
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
            raise UsageError(
                f"default_collate: each sample should have {len(elem)} fields, got lengths "
                f"{sorted({len(sample) for sample in batch})}"
            )
        fields = [default_collate(list(samples)) for samples in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise UsageTypeError(
        f"default_collate: cannot batch samples of type {type(elem).__name__}; "
        "samples should be tensors, arrays, numbers, or tuples/lists/dicts of them (or pass a collate_fn)"
    )


def default_convert(data: Any) -> Any:
    """One sample as it is, with NumPy arrays made Tensors (field by field): ``batch_size=None``'s collate.

    Example:
        >>> import numpy as np
        >>> from kernelwise.data import default_convert
        >>> x, label = default_convert((np.ones(2, dtype=np.float32), 3))
        >>> type(x).__name__, label
        ('Tensor', 3)
    """
    if isinstance(data, np.ndarray) and data.dtype.kind in "fiub":
        return Tensor._make(data)
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple | list):
        fields = [default_convert(value) for value in data]
        return tuple(fields) if isinstance(data, tuple) else fields
    return data


def _int_argument(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UsageTypeError(f"DataLoader: {name} should be a non-negative integer, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over ``dataset`` in batches, with ``torch.utils.data.DataLoader``'s arguments.

    The order comes from ``sampler`` (default: :class:`SequentialSampler`, or :class:`RandomSampler`
    with ``shuffle=True``), grouped by ``batch_sampler`` (default: :class:`BatchSampler` of
    ``batch_size`` and ``drop_last``). Batches of an array-backed dataset (``TensorDataset``, the
    built-in datasets, ``Subset`` s of them) with the default collate are gathered with one fancy
    index per array; any other dataset is read sample by sample and collated.

    Loading runs in this process: ``num_workers``, ``pin_memory``, ``timeout``, ``worker_init_fn``,
    ``multiprocessing_context``, ``prefetch_factor``, ``persistent_workers``, ``pin_memory_device`` and
    ``in_order`` are checked as PyTorch checks them and change nothing else (``worker_init_fn`` is
    never called: there are no worker processes).

    Args:
        dataset: a dataset with ``__getitem__`` (and ``__len__`` unless a sampler is given).
        batch_size: samples per batch; None disables batching (each sample is yielded by itself).
        shuffle: draw a new random order every epoch (not with ``sampler``).
        sampler: the indices to visit, in order (an iterable of indices).
        batch_sampler: yields lists of indices, one list per batch (not with ``batch_size``,
            ``shuffle``, ``sampler`` or ``drop_last``).
        num_workers: accepted; must be >= 0.
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`).
        drop_last: leave out the last batch when it has fewer than ``batch_size`` samples.
        generator: seed or ``numpy.random.Generator`` for ``shuffle``. A seed makes a generator once,
            here, so two loaders with the same seed give identical orders epoch after epoch; None
            draws from kernelwise's default generator at the start of each epoch.

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
        >>> [b[0].tolist() for b in DataLoader(ds, batch_sampler=[[5, 0], [2]])]
        [[5, 0], [2]]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[Any] | None = None,
        batch_sampler: Sampler | Iterable[list[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], Any] | None = None,
        multiprocessing_context: Any = None,
        generator: int | np.random.Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if not hasattr(dataset, "__getitem__") or (
            sampler is None and batch_sampler is None and not hasattr(dataset, "__len__")
        ):
            raise UsageTypeError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        # The worker arguments, checked as PyTorch checks them; loading runs in this process.
        self.num_workers = _int_argument(num_workers, "num_workers")
        if num_workers < 0:
            raise UsageError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float | np.integer | np.floating) or timeout < 0:
            raise UsageError(f"timeout option should be non-negative, got timeout={timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise UsageError(
                "prefetch_factor option could only be specified in multiprocessing: let num_workers > 0 to enable "
                "multiprocessing, otherwise set prefetch_factor to None."
            )
        if prefetch_factor is not None and _int_argument(prefetch_factor, "prefetch_factor") < 0:
            raise UsageError(f"prefetch_factor option should be non-negative, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise UsageError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise UsageError(
                "multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                f"but got num_workers={num_workers}"
            )
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise UsageTypeError(
                f"DataLoader: worker_init_fn must be callable or None, got {type(worker_init_fn).__name__}"
            )
        if collate_fn is not None and not callable(collate_fn):
            raise UsageTypeError(f"DataLoader: collate_fn must be callable or None, got {type(collate_fn).__name__}")
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self.pin_memory, self.timeout, self.worker_init_fn = bool(pin_memory), timeout, worker_init_fn
        self.multiprocessing_context, self.persistent_workers = multiprocessing_context, bool(persistent_workers)
        self.pin_memory_device, self.in_order = pin_memory_device, bool(in_order)

        # Which indices, in which order, grouped how.
        if sampler is not None and shuffle:
            raise UsageError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise UsageError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise UsageError(
                    "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
                )
        else:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
                raise UsageTypeError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
            if batch_size <= 0:
                raise UsageError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        # A seed becomes one Generator now: epochs differ, and equal seeds give equal sequences.
        self.generator = None if generator is None else _random.generator(generator)
        if sampler is None and batch_sampler is None:  # the default order: the whole dataset
            n = len(dataset)
            if n == 0:
                raise UsageError("DataLoader: dataset is empty (0 samples), so there is nothing to iterate over")
            if drop_last and batch_size is not None and n < batch_size:
                raise UsageError(
                    f"DataLoader: drop_last=True with batch_size={batch_size} and only {n} samples "
                    "leaves no batch; use a smaller batch_size or drop_last=False"
                )
        if sampler is None:  # (with a batch_sampler, unused, as in PyTorch)
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)

    def __len__(self) -> int:
        return len(self.batch_sampler if self._auto_collation else self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        if not self._auto_collation:  # batch_size=None: one sample at a time
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        view = array_view(self.dataset) if self.collate_fn is default_collate else None
        batches = self.batch_sampler._batches() if isinstance(self.batch_sampler, BatchSampler) else self.batch_sampler
        for indices in batches:
            rows = np.asarray(indices)
            if view is not None and rows.dtype.kind in "iu":
                arrays, index_map = view
                rows = rows if index_map is None else index_map[rows]
                yield tuple(Tensor._make(a[rows]) for a in arrays)  # one gather per array, (B, *)
            else:
                batch = indices.tolist() if isinstance(indices, np.ndarray) else indices
                yield self.collate_fn([self.dataset[i] for i in batch])

    def __repr__(self) -> str:
        size = f" of {len(self.dataset)}" if hasattr(self.dataset, "__len__") else ""
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}{size}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
