"""``torch.cuda.amp`` (PyTorch's older names): CUDA autocast and the gradient scaler, disabled without a GPU.

Example:
    >>> import warnings, kernelwise as kw
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     kw.cuda.amp.GradScaler().is_enabled()
    False
"""

from __future__ import annotations

from typing import Any

from .. import amp
from ..amp import GradScaler as _GradScaler


class autocast(amp.autocast):
    """``torch.cuda.amp.autocast(...)`` = ``autocast("cuda", ...)``: disabled without a GPU."""

    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool | None = None) -> None:
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """``torch.cuda.amp.GradScaler(...)`` = ``amp.GradScaler("cuda", ...)``: disabled without a GPU."""

    def __init__(self, init_scale: float = 2.0**16, *args: Any, enabled: bool = True, **kwargs: Any) -> None:
        super().__init__("cuda", init_scale, enabled=enabled)
