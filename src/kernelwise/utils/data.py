"""``torch.utils.data`` under its PyTorch path: the datasets, samplers and DataLoader of :mod:`kernelwise.data`.

``get_worker_info()`` is None, as in PyTorch's main process: loading never leaves this process.

Example:
    >>> import numpy as np
    >>> from kernelwise.utils.data import DataLoader, TensorDataset, random_split
    >>> train, test = random_split(TensorDataset(np.arange(10)), [0.8, 0.2], generator=0)
    >>> len(DataLoader(train, batch_size=3)), len(test)
    (3, 2)
"""

from __future__ import annotations

from ..data.dataset import Dataset, Subset, TensorDataset, random_split
from ..data.loader import DataLoader, default_collate, default_convert
from ..data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]


def get_worker_info() -> None:
    """Information about the current loader worker: None, since loading runs in the main process."""
    return None
