"""Automatic mixed precision (``torch.amp``), as PyTorch behaves on a machine without a GPU.

There, PyTorch disables CUDA autocast and the gradient scaler with a warning, and the program
runs in full precision: so do these. Autocast on the CPU (which computes in bfloat16 in PyTorch)
is not available: kernelwise computes in the tensors' own dtype (float32 or float64).

Example:
    >>> import warnings, kernelwise as kw
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     scaler = kw.amp.GradScaler("cuda")
    ...     with kw.autocast(device_type="cuda", dtype=kw.float16):
    ...         loss = kw.tensor(2.0, requires_grad=True) * 3
    >>> scaler.scale(loss) is loss, scaler.is_enabled(), loss.dtype
    (True, False, dtype('float32'))
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any


class autocast:
    """``torch.autocast``: disabled for 'cuda' (with PyTorch's warning), not available when enabled on the CPU."""

    def __init__(
        self, device_type: str = "cuda", dtype: Any = None, enabled: bool = True, cache_enabled: bool | None = None
    ) -> None:
        if enabled and device_type == "cuda":
            warnings.warn("CUDA is not available (kernelwise has no GPU backend). Disabling autocast.", stacklevel=2)
        elif enabled:
            raise NotImplementedError(
                f"kernelwise.autocast(device_type={device_type!r}): mixed precision is not implemented; kernelwise "
                "computes in the tensors' dtype (float32 or float64): drop autocast or pass enabled=False"
            )
        self.device_type, self.enabled = device_type, False

    def __enter__(self) -> autocast:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper


class GradScaler:
    """``torch.amp.GradScaler``, disabled as PyTorch disables it without CUDA: the loss is not scaled.

    ``scale(loss)`` returns ``loss``, ``step(optimizer)`` calls ``optimizer.step()``, ``update()`` and
    ``unscale_()`` do nothing, and ``get_scale()`` is 1.0.
    """

    def __init__(
        self, device: str = "cuda", init_scale: float = 2.0**16, *args: Any, enabled: bool = True, **kwargs: Any
    ) -> None:
        if enabled:
            warnings.warn(
                "GradScaler is enabled, but CUDA is not available (kernelwise has no GPU backend). Disabling.",
                stacklevel=2,
            )

    def scale(self, outputs: Any) -> Any:
        return outputs

    def unscale_(self, optimizer: Any) -> None:
        return None

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: Any = None) -> None:
        return None

    def get_scale(self) -> float:
        return 1.0

    def is_enabled(self) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        return None
