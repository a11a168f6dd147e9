"""PyTorch's ``torch.utils`` path: ``kernelwise.utils.data`` is :mod:`kernelwise.data`.

So ``import torch.utils.data`` and ``torch.utils.data.DataLoader`` run unchanged on
``import kernelwise as torch``.

Example:
    >>> import kernelwise
    >>> from kernelwise.utils.data import DataLoader, TensorDataset
    >>> DataLoader is kernelwise.data.DataLoader
    True
"""

from . import data

__all__ = ["data"]
