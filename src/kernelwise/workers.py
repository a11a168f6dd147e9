"""kernelwise's own threads: a small pool of workers, each running NumPy's BLAS single-threaded.

With ``kernelwise.backends.cpu.steady_threads`` set, every GEMM of the ops (:func:`kernelwise.ops.gemm.matmul`)
is cut into chunks whose bounds depend on its shapes only, and the pool's workers take the chunks in turn,
the calling thread among them (and im2col's copy and col2im's adds are cut likewise, :func:`run_slices`):

* **steady on a busy machine.** OpenBLAS's own threads split a GEMM evenly and wait for each other;
  when another process takes a core, every GEMM waits for the thread that lost it (a LeNet-5 step
  beside two busy processes ran at a fifth of its speed). Here a worker that loses its core takes
  fewer chunks and the others take the rest; waiting workers sleep instead of spinning.
* **the same numbers at any thread count.** A chunk is computed by single-threaded BLAS whichever
  worker takes it, and the chunks do not depend on how many workers there are; so a result is bit
  for bit the same with 1, 2 or 16 threads (OpenBLAS's own 1- and 2-thread sgemm differ on most
  shapes), and ``--resume`` continues bit for bit on another thread count.

:func:`set_num_threads` and :func:`get_num_threads` are PyTorch's names (``torch.set_num_threads``);
the default is BLAS's own thread count when the first GEMM runs. Nothing starts on import: the threads
start with the first GEMM that has more than one chunk and more than one thread to give it.

Example:
    >>> import kernelwise as kw
    >>> from kernelwise.workers import run
    >>> before = kw.get_num_threads()
    >>> kw.set_num_threads(2)
    >>> seen = []
    >>> run([lambda i=i: seen.append(i) for i in range(4)])
    >>> sorted(seen), kw.get_num_threads()
    ([0, 1, 2, 3], 2)
    >>> kw.set_num_threads(before)
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .backends import cpu
from .errors import UsageError

_threads: int | None = None  # the pool's size; None: BLAS's own count, read at the first GEMM


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads from now on (as ``torch.set_num_threads``): NumPy's BLAS gets that many, and
    with steady threads every GEMM is spread over that many workers (the calling thread one of them).

    Raises:
        ValueError: ``threads`` is not a positive integer.
    """
    global _threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"set_num_threads(): threads must be a positive integer, got {threads!r}")
    _threads = threads
    _blas.set_all(threads)


def get_num_threads() -> int:
    """The number of workers every GEMM is spread over (BLAS's own thread count until set)."""
    global _threads
    if _threads is None:
        from .threads import blas_info  # threadpoolctl's scan of the loaded libraries: once

        _threads = max(1, blas_info().threads)
    return _threads


# --------------------------------------------------------------------------- single-threaded BLAS
class _SingleThreadedBlas:
    """NumPy's BLAS set to one thread for a block, then back to its own count (a microsecond each way)."""

    def __init__(self) -> None:
        self.libs: list[tuple[Callable[[], int], Callable[[int], Any]]] | None = None

    @staticmethod
    def _find() -> list[tuple[Callable[[], int], Callable[[int], Any]]]:
        """(get, set) of every BLAS threadpoolctl finds: OpenBLAS's own C functions where it has them
        (threadpoolctl's methods cost several microseconds, and act only from the first thread that set)."""
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # a dependency; without it BLAS keeps its threads (results then depend on them)
            return []
        libs = []
        for c in ThreadpoolController().select(user_api="blas").lib_controllers:
            names = [f"{pre}openblas_{{}}_num_threads{suf}" for pre in ("", "scipy_") for suf in ("", "64_", "_64")]
            found = [n for n in names if c.internal_api == "openblas" and hasattr(c.dynlib, n.format("get"))]
            if found and getattr(c, "threading_layer", "") != "openmp":
                libs.append((getattr(c.dynlib, found[0].format("get")), getattr(c.dynlib, found[0].format("set"))))
            else:
                libs.append((c.get_num_threads, c.set_num_threads))
        return libs

    def set_all(self, threads: int) -> None:
        if self.libs is None:
            self.libs = self._find()
        for _, set_threads in self.libs:
            set_threads(threads)

    def enter(self) -> list[int]:
        if self.libs is None:
            self.libs = self._find()
        before = [get() for get, _ in self.libs]
        for (_, set_threads), n in zip(self.libs, before, strict=True):
            if n != 1:
                set_threads(1)
        return before

    def leave(self, before: list[int]) -> None:
        for (_, set_threads), n in zip(self.libs or (), before, strict=True):
            if n != 1:
                set_threads(n)


_blas = _SingleThreadedBlas()


# --------------------------------------------------------------------------- the pool
class _Job:
    """One call's tasks: the next index to take (``next`` is atomic under the GIL) and how many are done."""

    def __init__(self, tasks: Sequence[Callable[[], None]], helpers: int) -> None:
        self.tasks, self.next, self.helpers = tasks, itertools.count(), helpers
        self.done = 0
        self.error: BaseException | None = None

    def work(self, finished: threading.Condition) -> None:
        """Take tasks until none is left; count each one done (the last one wakes the caller)."""
        n = len(self.tasks)
        while (i := next(self.next)) < n:
            try:
                self.tasks[i]()
            except BaseException as e:  # the caller raises it once every task has ended
                self.error = self.error or e
            with finished:
                self.done += 1
                if self.done == n:
                    finished.notify_all()


class _Pool:
    """Helper threads that sleep until a job comes; the calling thread works on every job too."""

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.job: _Job | None = None
        self.generation = 0
        self.helpers: list[threading.Thread] = []
        self.busy = threading.Lock()  # one job at a time; a job asked for meanwhile runs inline
        self.local = threading.local()

    def _helper(self, index: int) -> None:
        seen = 0
        while True:
            with self.cv:
                while self.generation == seen:
                    self.cv.wait()
                seen, job = self.generation, self.job
            if job is not None and index < job.helpers:
                job.work(self.cv)

    def run(self, tasks: Sequence[Callable[[], None]], threads: int) -> None:
        inline = threads == 1 or len(tasks) == 1 or getattr(self.local, "inside", False)
        if inline or not self.busy.acquire(blocking=False):
            for task in tasks:  # the same chunks, one after the other
                task()
            return
        try:
            self.local.inside = True
            helpers = min(threads, len(tasks)) - 1
            while len(self.helpers) < helpers:
                t = threading.Thread(target=self._helper, args=(len(self.helpers),), daemon=True)
                t.name = f"kernelwise-worker-{len(self.helpers) + 1}"
                self.helpers.append(t)
                t.start()
            job = _Job(tasks, helpers)
            with self.cv:
                self.job, self.generation = job, self.generation + 1
                self.cv.notify_all()
            job.work(self.cv)
            with self.cv:
                while job.done < len(tasks):
                    self.cv.wait()
                self.job = None
            if job.error is not None:
                raise job.error
        finally:
            self.local.inside = False
            self.busy.release()


_pool = _Pool()


def _new_pool_in_child() -> None:  # a forked child has none of the parent's threads (and maybe a held lock)
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_pool_in_child)


def run(tasks: Sequence[Callable[[], None]]) -> None:
    """Run every task once on the pool's workers (the caller is one), with single-threaded BLAS; return
    when all have ended, raising the first error a task raised. Tasks must write disjoint outputs.

    Called from inside a task, or while another thread's job runs, the tasks run one after the other
    in the caller: the same chunks, so the same numbers.
    """
    if not tasks:
        return
    before = _blas.enter()
    try:
        if len(tasks) == 1:
            tasks[0]()
        else:
            _pool.run(tasks, _threads or get_num_threads())
    finally:
        _blas.leave(before)


def run_slices(work: Callable[[int, int], Any], size: int, chunks: int) -> None:
    """``work(lo, hi)`` for ``chunks`` near-equal consecutive ranges of ``0 .. size`` (fewer when size is
    smaller), on the workers: a memory pass (a copy, an add) cut along an axis whose slices are disjoint.

    Example:
        >>> import numpy as np
        >>> x, y = np.arange(10.0), np.zeros(10)
        >>> run_slices(lambda lo, hi: np.multiply(x[lo:hi], 2, out=y[lo:hi]), 10, 4)
        >>> y.tolist() == (2 * x).tolist()
        True
    """
    if not cpu.steady_threads:  # the pass in one piece, on the calling thread
        work(0, size)
        return
    chunks = max(1, min(chunks, size))
    bounds = [(i * size // chunks, (i + 1) * size // chunks) for i in range(chunks)]
    run([lambda lo=lo, hi=hi: work(lo, hi) for lo, hi in bounds])
