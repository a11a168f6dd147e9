"""``torch.accelerator``: there is none (kernelwise computes on the CPU).

Example:
    >>> import kernelwise as kw
    >>> kw.accelerator.is_available(), kw.accelerator.device_count(), kw.accelerator.current_accelerator()
    (False, 0, None)
"""

from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False) -> None:
    """None: no accelerator (as PyTorch answers on a machine without one)."""
    return None
