"""Process-wide malloc tuning that training asks for; importing kernelwise never changes it.

A training step allocates and frees the same large temporaries every step. By default glibc
unmaps freed blocks over 128 KB-32 MB and trims the heap, so each step faults every page of them
in again (zeroed by the kernel): measured on LeNet-5, that was 40% of a training step.
:func:`reuse_freed_memory` keeps them for reuse. It changes the whole process, so it runs only
where asked: ``kernelwise train``/``evaluate``/``predict``/``bench``, the benchmark suite, and
:func:`kernelwise.train.fit` (``reuse_freed_memory=False`` leaves malloc alone). The environment
variable ``KERNELWISE_REUSE_MEMORY=0`` turns it off everywhere.

>>> import kernelwise.memory
>>> kernelwise.memory.reuse_freed_memory(enable=False)  # asks for nothing, changes nothing
False
"""

from __future__ import annotations

import os

__all__ = ["reuse_freed_memory"]


def reuse_freed_memory(enable: bool = True) -> bool:
    """Let glibc's malloc keep freed memory for the next array instead of returning it to the system.

    Sets M_MMAP_THRESHOLD to 256 MB, M_TRIM_THRESHOLD to 1 GB and M_TOP_PAD to 64 MB (``mallopt``),
    the effect of ``MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=...``; the process then
    keeps up to its peak memory. Returns whether the settings were applied: False when ``enable``
    is False, when ``KERNELWISE_REUSE_MEMORY=0`` is set, or where the C library is not glibc.
    """
    import ctypes
    import platform

    if not enable or os.environ.get("KERNELWISE_REUSE_MEMORY", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    settings = ((M_MMAP_THRESHOLD, 256 << 20), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 64 << 20))
    return all(mallopt(ctypes.c_int(option), ctypes.c_int(value)) == 1 for option, value in settings)
