"""Data: datasets, the DataLoader, and the built-in datasets.

``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``, ``DataLoader`` and
the samplers follow ``torch.utils.data`` (``kernelwise.utils.data`` is the same
module under PyTorch's path). :func:`load_dataset` loads ``digits``, ``mnist``,
``fashion-mnist``, ``mnist1d``, ``cifar10`` or a folder of ``images`` as
``(train, test, info)``.

Example:
    >>> import numpy as np
    >>> from kernelwise.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(np.ones((5, 1, 2, 2), dtype=np.float32), np.arange(5))
    >>> x, y = next(iter(DataLoader(ds, batch_size=2)))
    >>> x.shape, x.dtype, y.dtype
    ((2, 1, 2, 2), dtype('float32'), dtype('int64'))
"""

from .cifar import load_cifar10
from .dataset import Dataset, DatasetInfo, Subset, TensorDataset, random_split
from .datasets import DATASETS, load_dataset, load_digits, load_mnist1d
from .download import DownloadError
from .folder import load_image_folder
from .loader import DataLoader, default_collate, default_convert
from .mnist import load_fashion_mnist, load_mnist
from .sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "DATASETS",
    "BatchSampler",
    "DataLoader",
    "Dataset",
    "DatasetInfo",
    "DistributedSampler",
    "DownloadError",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_mnist1d",
    "random_split",
]
