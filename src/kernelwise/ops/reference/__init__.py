"""Plain loop implementations, short and slow, that specify the fast paths of ``kernelwise.ops``."""

from .conv import conv_backward_reference, conv_reference
from .pool import pool_backward_reference, pool_reference

__all__ = ["conv_backward_reference", "conv_reference", "pool_backward_reference", "pool_reference"]
