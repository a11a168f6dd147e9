"""``torch.utils.data`` under its PyTorch path: everything :mod:`kernelwise.data` exports, the same objects.

The datasets, samplers and DataLoader (``DistributedSampler`` also under PyTorch's
``kernelwise.utils.data.distributed``), and ``get_worker_info()``, which is None, as in
PyTorch's main process: loading never leaves this process.

Example:
    >>> import numpy as np
    >>> import kernelwise
    >>> from kernelwise.utils.data import DataLoader, TensorDataset, random_split
    >>> train, test = random_split(TensorDataset(np.arange(10)), [0.8, 0.2], generator=0)
    >>> len(DataLoader(train, batch_size=3)), len(test), DataLoader is kernelwise.data.DataLoader
    (3, 2, True)
"""

from __future__ import annotations

from ... import data as _data
from ...data import *  # noqa: F403 (kernelwise.data's __all__)
from . import distributed

__all__ = [*_data.__all__, "distributed", "get_worker_info"]


def get_worker_info() -> None:
    """Information about the current loader worker: None, since loading runs in the main process."""
    return None
