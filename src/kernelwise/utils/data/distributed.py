"""``torch.utils.data.distributed``: :class:`~kernelwise.data.DistributedSampler` under PyTorch's path.

Example:
    >>> import kernelwise
    >>> from kernelwise.utils.data.distributed import DistributedSampler
    >>> DistributedSampler is kernelwise.data.DistributedSampler
    True
"""

from ...data.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
