"""How many threads NumPy's BLAS uses: read it, and limit it for a block of code.

The command line's ``--threads N`` (``train``, ``evaluate``, ``predict``, ``bench``) and the
benchmark suite share :func:`thread_limit`. Nothing here changes a setting on import: a limit
holds inside the ``with`` block only and the previous one comes back afterwards.

Example:
    >>> import numpy as np
    >>> from kernelwise.threads import thread_limit
    >>> with thread_limit(1) as count:
    ...     _ = np.ones((64, 64)) @ np.ones((64, 64))
    >>> count
    1
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import workers
from .errors import MissingDependencyError, UsageError


@dataclass(frozen=True)
class BlasInfo:
    """What runs NumPy's matmul: the BLAS library, its kernel architecture and thread count."""

    library: str
    architecture: str
    threads: int

    def __str__(self) -> str:
        return f"{self.library} ({self.architecture} kernels, {self.threads} threads)"


def blas_info() -> BlasInfo:
    """The BLAS behind NumPy as threadpoolctl reports it (unknown fields say so)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return BlasInfo("unknown BLAS", "unknown", os.cpu_count() or 1)
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            name = f"{pool.get('internal_api', 'BLAS')} {pool.get('version', '')}".strip()
            return BlasInfo(name, str(pool.get("architecture", "unknown")), int(pool.get("num_threads", 1)))
    return BlasInfo("unknown BLAS", "unknown", os.cpu_count() or 1)


@contextmanager
def thread_limit(threads: int | None, torch: Any = None) -> Iterator[int]:
    """Run kernelwise's GEMMs on ``threads`` workers (:mod:`kernelwise.workers`), NumPy's BLAS elsewhere
    with ``threads`` threads, and PyTorch, when given, with as many (``None``: BLAS's own count).

    Yields the thread count in effect. The previous settings are restored afterwards.

    Raises:
        ValueError: ``threads`` is not a positive integer.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UsageError(f"threads: must be a positive integer, got {threads!r}")
    limiter = None
    if threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError as e:
            raise MissingDependencyError("threads: setting the BLAS thread count needs threadpoolctl") from e
        limiter = threadpool_limits(limits=threads, user_api="blas")
    count = threads if threads is not None else blas_info().threads
    before = torch.get_num_threads() if torch is not None else None
    workers_before = workers.get_num_threads()
    try:
        workers.set_num_threads(count)  # BLAS's count too: the limiter restores BLAS's own afterwards
        if torch is not None:
            torch.set_num_threads(count)
        yield count
    finally:
        workers.set_num_threads(workers_before)
        if torch is not None:
            torch.set_num_threads(before)
        if limiter is not None:
            limiter.restore_original_limits()


def positive_int(text: str) -> int:
    """argparse type for ``--threads``: a positive integer, else a one-line usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_threads_argument(parser: argparse.ArgumentParser, help: str = "threads for NumPy's BLAS") -> None:
    """Add ``--threads N`` (checked by :func:`positive_int`) to a command's parser."""
    parser.add_argument("--threads", type=positive_int, metavar="N", help=f"{help} (default: BLAS's own count)")
