"""``kernelwise.backends.cpu``: how kernelwise's GEMMs use the cores.

``steady_threads`` (default False). Off, every GEMM is one call of NumPy's BLAS with its own threads:
the fastest on a quiet machine, but OpenBLAS's threads split each GEMM evenly and wait for each other,
so when another process takes a core every GEMM waits for the thread that lost it (LeNet-5 training
fell to a fifth of its speed beside busy processes), and its results differ bitwise between thread
counts. On, every GEMM is cut into chunks fixed by its shapes and run on kernelwise's own workers,
each with single-threaded BLAS (:mod:`kernelwise.workers`, :mod:`kernelwise.ops.gemm`):

* steady: a worker that loses its core takes fewer chunks; waiting workers sleep. Measured beside one
  and two busy processes, LeNet-5 training keeps 60-90 % of its quiet speed, 2× PyTorch's under the
  same load (docs/performance.md);
* the same bits at any thread count (``kw.set_num_threads``), so a run resumes bit for bit on another;
* slower on a quiet machine where layers are small: the workers' hand-over and two concurrent
  single-threaded GEMMs do not match OpenBLAS's own threads there (LeNet-5 training about 20 % slower).

``kernelwise train --steady-threads`` sets it for a run (and ``--resume`` keeps the run's setting).

Example:
    >>> import numpy as np
    >>> import kernelwise as kw
    >>> from kernelwise.ops.gemm import matmul
    >>> a, b = np.ones((256, 512), np.float32), np.ones((512, 384), np.float32)
    >>> kw.backends.cpu.steady_threads = True
    >>> bool((matmul(a, b) == 512).all())
    True
    >>> kw.backends.cpu.steady_threads = False
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

steady_threads: bool = False


@contextmanager
def flags(steady_threads: bool = False) -> Iterator[None]:
    """The switch set for a block, its value before restored afterwards (as ``torch.backends.cudnn.flags``).

    Example:
        >>> import kernelwise as kw
        >>> with kw.backends.cpu.flags(steady_threads=True):
        ...     kw.backends.cpu.steady_threads
        True
        >>> kw.backends.cpu.steady_threads
        False
    """
    switches = globals()  # the module's own variable (the argument has its name)
    before, switches["steady_threads"] = switches["steady_threads"], bool(steady_threads)
    try:
        yield
    finally:
        switches["steady_threads"] = before
