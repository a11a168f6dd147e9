"""``torch.cuda`` on a machine without a GPU: kernelwise has no GPU backend.

``is_available()`` is False and ``device_count()`` 0, so the usual ``device = "cuda" if
torch.cuda.is_available() else "cpu"`` picks the CPU. Seeding and emptying the cache do nothing, as
in PyTorch without CUDA; streams, events and anything that needs a GPU raise NotImplementedError
naming what was asked for.

Example:
    >>> import kernelwise as kw
    >>> kw.cuda.is_available(), kw.cuda.device_count()
    (False, 0)
    >>> kw.cuda.Stream()
    Traceback (most recent call last):
    ...
    NotImplementedError: kernelwise.cuda.Stream: kernelwise has no GPU backend; it computes on the CPU only \
(use device 'cpu', or test kernelwise.cuda.is_available() first)
"""

from __future__ import annotations

from typing import Any

from ..devices import no_gpu_message
from ..unsupported import needs_gpu
from . import amp

Stream = needs_gpu("kernelwise.cuda.Stream")
Event = needs_gpu("kernelwise.cuda.Event")


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed (PyTorch ignores it without CUDA too)."""


def manual_seed_all(seed: int) -> None:
    """Nothing to seed (PyTorch ignores it without CUDA too)."""


def empty_cache() -> None:
    """Nothing to free."""


def _gpu_only(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(no_gpu_message(f"kernelwise.cuda.{name}"))

    refuse.__name__ = name
    refuse.__doc__ = "Not available: kernelwise has no GPU backend."
    return refuse


synchronize = _gpu_only("synchronize")
current_device = _gpu_only("current_device")
set_device = _gpu_only("set_device")
get_device_name = _gpu_only("get_device_name")
memory_allocated = _gpu_only("memory_allocated")
max_memory_allocated = _gpu_only("max_memory_allocated")

__all__ = [
    "Event",
    "Stream",
    "amp",
    "current_device",
    "device_count",
    "empty_cache",
    "get_device_name",
    "is_available",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "memory_allocated",
    "set_device",
    "synchronize",
]
