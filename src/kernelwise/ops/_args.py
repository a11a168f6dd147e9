"""Argument checks shared by the operations; the window rules (ntuple, output sizes) live in ``geometry.py``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageTypeError
from ..tensor import Tensor

__all__ = ["check_float", "check_tensor"]


def check_tensor(x: Any, name: str) -> Tensor:
    """``x`` as a Tensor with a numeric dtype, or a TypeError naming the argument."""
    if not isinstance(x, Tensor):
        if isinstance(x, np.ndarray):
            x = Tensor(x)
        else:
            raise UsageTypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind not in "fiub":
        raise UsageTypeError(f"{name}: dtype {x.dtype} is not supported")
    return x


def check_float(x: Tensor, name: str) -> None:
    if x.dtype.kind != "f":
        raise UsageTypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
