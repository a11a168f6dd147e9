"""Samplers: the order in which a DataLoader visits a dataset, as in ``torch.utils.data``.

A sampler is an iterable of dataset indices; a :class:`BatchSampler` groups another sampler's
indices into lists of ``batch_size``. Each built-in sampler draws its whole epoch at once as a
NumPy array (``_indices()``), so the :class:`~kernelwise.data.DataLoader` can gather a batch of an
array-backed dataset with one fancy index; iterating a sampler yields Python ints, as PyTorch's do.

Random samplers take ``generator``: a seed (made into one ``numpy.random.Generator`` at
construction, so epochs differ and equal seeds give equal sequences), a Generator, or None
(kernelwise's default generator at the start of each epoch, see ``kw.manual_seed``). The
numbers differ from PyTorch's, which uses another random number generator; the semantics
(what is drawn, how many, with or without replacement) are PyTorch's.

Example:
    >>> from kernelwise.data import BatchSampler, RandomSampler, SequentialSampler
    >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> sorted(RandomSampler(range(5), generator=0))
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from .. import distributed as _dist
from .. import random as _random
from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor

__all__ = [
    "BatchSampler",
    "DistributedSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


def _generator(generator: Any) -> np.random.Generator | None:
    """A seed becomes one Generator now; None stays None (the default generator, looked up each epoch)."""
    return None if generator is None else _random.generator(generator)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise UsageError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


def _flag(value: Any, name: str, error: type[Exception] = TypeError) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise error(f"{name} should be a boolean value, but got {name}={value!r}")
    return bool(value)


class Sampler:
    """Base class: subclasses yield dataset indices from ``__iter__`` (and may define ``__len__``).

    Example:
        >>> from kernelwise.data import Sampler
        >>> class Backwards(Sampler):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter(range(self.n - 1, -1, -1))
        ...     def __len__(self):
        ...         return self.n
        >>> list(Backwards(3))
        [2, 1, 0]
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} should implement __iter__")


class _ArraySampler(Sampler):
    """A sampler whose epoch is one array of indices: iterating it yields them as Python ints."""

    def _indices(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())


class SequentialSampler(_ArraySampler):
    """0, 1, ..., len(data_source) - 1, every epoch.

    Example:
        >>> from kernelwise.data import SequentialSampler
        >>> list(SequentialSampler([10, 20, 30]))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """Indices in random order: permutations without replacement, or uniform draws with replacement.

    Without replacement, an epoch is a permutation of ``range(n)``; ``num_samples`` larger than n
    gives whole permutations followed by the start of one more, as in PyTorch. With replacement,
    ``num_samples`` independent uniform draws from ``range(n)``.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement.
        num_samples: indices per epoch (default ``len(data_source)``).
        generator: seed, ``numpy.random.Generator`` or None (the default generator each epoch).

    Example:
        >>> from kernelwise.data import RandomSampler
        >>> draws = list(RandomSampler(range(4), num_samples=6, generator=0))  # a permutation, then 2 of another
        >>> sorted(draws[:4]), len(draws)
        ([0, 1, 2, 3], 6)
        >>> len(RandomSampler(range(4), replacement=True, num_samples=10))
        10
    """

    def __init__(
        self, data_source: Sized, replacement: bool = False, num_samples: int | None = None, generator: Any = None
    ) -> None:
        self.data_source = data_source
        self.replacement = _flag(replacement, "replacement")
        self._num_samples = None if num_samples is None else _positive_int(num_samples, "num_samples")
        if self._num_samples is None and len(data_source) == 0:
            raise UsageError("RandomSampler: num_samples should be a positive integer value, but the dataset is empty")
        self.generator = _generator(generator)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self) -> np.ndarray:
        n, rng = len(self.data_source), _random.generator(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples)  # uniform draws from range(n)
        full, rest = divmod(self.num_samples, n)  # whole permutations, then the start of one more
        parts = [rng.permutation(n) for _ in range(full)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return np.concatenate(parts)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given indices, in a new random order every epoch (without replacement).

    Args:
        indices: the dataset indices to visit.
        generator: seed, ``numpy.random.Generator`` or None.

    Example:
        >>> from kernelwise.data import SubsetRandomSampler
        >>> sorted(SubsetRandomSampler([7, 3, 9], generator=0))
        [3, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        idx = np.asarray(indices._array if isinstance(indices, Tensor) else indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise UsageTypeError(f"SubsetRandomSampler: indices should be a 1-d sequence of integers, got {indices!r}")
        self.indices = indices
        self._array = idx.astype(np.int64)
        self.generator = _generator(generator)

    def _indices(self) -> np.ndarray:
        return self._array[_random.generator(self.generator).permutation(len(self._array))]

    def __len__(self) -> int:
        return len(self._array)


class WeightedRandomSampler(_ArraySampler):
    """``num_samples`` indices drawn from ``range(len(weights))`` with probabilities proportional to ``weights``.

    Args:
        weights: non-negative weights, one per dataset index (they need not sum to 1).
        num_samples: indices per epoch.
        replacement: draw with replacement (without: each index at most once, so num_samples can be at most
            the number of non-zero weights).
        generator: seed, ``numpy.random.Generator`` or None.

    Example:
        >>> from kernelwise.data import WeightedRandomSampler
        >>> draws = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], num_samples=8, generator=0))
        >>> len(draws), sorted(set(draws))
        (8, [1, 3])
    """

    def __init__(
        self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator: Any = None
    ) -> None:
        self.num_samples = _positive_int(num_samples, "num_samples")
        self.replacement = _flag(replacement, "replacement")
        w = np.asarray(weights._array if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1:
            raise UsageError(f"weights should be a 1d sequence but given weights have shape {w.shape}")
        if w.size == 0 or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise UsageError("WeightedRandomSampler: weights should be finite, non-negative and not all zero")
        if not self.replacement and self.num_samples > np.count_nonzero(w):
            raise UsageError(
                f"WeightedRandomSampler: cannot draw num_samples={self.num_samples} indices without replacement "
                f"from {np.count_nonzero(w)} non-zero weights"
            )
        self.weights = w
        self.generator = _generator(generator)

    def _indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()  # P(index i) = w_i / Σ w
        rng = _random.generator(self.generator)
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p)

    def __len__(self) -> int:
        return self.num_samples


class DistributedSampler(_ArraySampler):
    """This rank's share of the dataset: every ``num_replicas``-th index of one epoch's order, from ``rank`` on.

    ``torch.utils.data.distributed.DistributedSampler``'s rules: an epoch's order (a permutation drawn
    from ``seed + epoch`` if ``shuffle``, else ``0, 1, ..., n - 1``) is made a multiple of ``num_replicas``
    long, by repeating its first indices (or, with ``drop_last``, by dropping its last ones), and rank r takes
    positions r, r + num_replicas, r + 2·num_replicas, ... So every rank gets ``len(self)`` indices and,
    together, the ranks cover the dataset (a few samples twice when padded). Every rank draws the same
    permutation, so call ``set_epoch(epoch)`` on each rank before each epoch for a new order.

    The permutation comes from NumPy's generator seeded ``seed + epoch``: the order differs from PyTorch's
    (``torch.randperm``), the sharding, padding and lengths are the same.

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: the number of ranks (default: the world size of the initialised process group).
        rank: this rank (default: :func:`kernelwise.distributed.get_rank`).
        shuffle: a new permutation every epoch (else the dataset's order).
        seed: the permutation's seed, the same on every rank.
        drop_last: drop the tail instead of padding, so that no sample is seen twice.

    Example:
        >>> from kernelwise.data import DistributedSampler
        >>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
        [[0, 2, 4], [1, 3, 0]]
        >>> [list(DistributedSampler(range(5), 2, r, shuffle=False, drop_last=True)) for r in (0, 1)]
        [[0, 2], [1, 3]]
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        num_replicas = _dist.get_world_size() if num_replicas is None else _positive_int(num_replicas, "num_replicas")
        rank = _dist.get_rank() if rank is None else rank
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer):
            raise UsageTypeError(f"DistributedSampler: rank should be an int, got {type(rank).__name__}")
        if not 0 <= rank < num_replicas:
            raise UsageError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise UsageError(f"DistributedSampler: seed should be a non-negative int, got {seed!r}")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, int(rank)
        self.shuffle, self.drop_last = _flag(shuffle, "shuffle"), _flag(drop_last, "drop_last")
        self.seed, self.epoch = int(seed), 0
        n = len(dataset)
        if self.drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # the tail is dropped
        else:
            self.num_samples = math.ceil(n / num_replicas)  # the order is padded to a multiple of num_replicas
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch ``epoch`` (call it on every rank before each epoch)."""
        self.epoch = epoch

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        order = np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > n:  # pad by repeating the order from its start (as often as needed)
            order = np.resize(order, self.total_size)
        return order[self.rank : self.total_size : self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter, or dropped).

    Args:
        sampler: any iterable of indices (a Sampler, a list, a range).
        batch_size: indices per batch.
        drop_last: leave out a last batch shorter than ``batch_size``.

    Example:
        >>> from kernelwise.data import BatchSampler
        >>> list(BatchSampler(range(5), 2, drop_last=True)), len(BatchSampler(range(5), 2, drop_last=False))
        ([[0, 1], [2, 3]], 3)
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.drop_last = _flag(drop_last, "drop_last", ValueError)  # (PyTorch's error types)

    def _batches(self) -> Iterator[np.ndarray | list[Any]]:
        """The batches: int64 arrays cut from a built-in sampler's epoch, else lists of what the sampler yields."""
        if isinstance(self.sampler, _ArraySampler):
            order = self.sampler._indices()
            stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
            for start in range(0, stop, self.batch_size):
                yield order[start : start + self.batch_size]
            return
        batch: list[Any] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self) -> Iterator[list[Any]]:
        for batch in self._batches():
            yield batch.tolist() if isinstance(batch, np.ndarray) else batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)  # floor or ceil of n / B
