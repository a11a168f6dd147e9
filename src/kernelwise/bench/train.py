"""The training benchmark: LeNet-5 on MNIST, the MNIST-1D CNN and small_resnet, kernelwise against PyTorch.

Run it with ``python -m benchmarks.train`` or ``kernelwise bench train``. Both frameworks train
the same model (PyTorch's is a copy of kernelwise's, weights included, by
:func:`~kernelwise.bench.mirror.to_torch`) with the same recipe on the same batches:

* LeNet-5 on the MNIST sample, batch 64, SGD with momentum 0.9, lr 0.01: training images per
  second over one epoch (forward, cross-entropy, backward, step, the loss read each step); the
  frameworks alternate epoch by epoch and each keeps its best.
* The MNIST-1D CNN, batch 100, Adam lr 0.01 (the MNIST-1D paper's recipe): the time for 6,000
  steps, run in alternating chunks of 500 steps so both see the same machine load.
* small_resnet (BatchNorm, residual blocks), batch 32 of random 3×32×32 images (CIFAR-10's shape),
  SGD with momentum 0.9, lr 0.01: the time for 40 steps, in alternating chunks of 10.

Batches are gathered with one fancy index from the in-memory arrays in both frameworks
(kernelwise's ``DataLoader`` does exactly that). Peak memory is the maximum resident set size
of a separate process that trains one framework only (``/usr/bin/time -v``'s figure; one LeNet-5
epoch, 500 MNIST-1D steps), next to that process's resident size right after its imports.

``busy=N`` times both frameworks on a busy machine: N processes spinning in a pure-Python loop
run beside the timed work (not the memory runs), and are stopped afterwards whatever happens.

Example:
    >>> result = run_train_suite(tiny=True, threads=1, torch=False, memory=False, file=None)
    >>> [case.name for case in result.cases]
    ['LeNet-5, MNIST sample', 'MNIST-1D CNN', 'small_resnet, 3×32×32, batch 32']
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import backends
from ..errors import MissingDependencyError
from ..ops.gemm import gemm_clock
from .report import STEADY_LINE, machine, table
from .timing import SETTLE_SECONDS, blas_info, load_torch, thread_limit

MNIST_SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist-5k"


@dataclass
class TrainCase:
    """One training benchmark: the time of each framework for the same work."""

    name: str
    unit: str  # what one "item" is: training images or optimizer steps
    items: int  # how many in the timed work
    kw_seconds: float
    torch_seconds: float = math.nan
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    kw_gemm_seconds: float = math.nan  # of kw_seconds, the time in kernelwise's GEMMs (ops.gemm.gemm_clock)

    @property
    def ratio(self) -> float:
        """kernelwise time / PyTorch time for the same work."""
        return self.kw_seconds / self.torch_seconds if self.torch_seconds > 0 else math.nan

    @property
    def gemm_ratio(self) -> float:
        """kernelwise's GEMM time alone / PyTorch's whole time: the ratio if all else cost kernelwise nothing."""
        return self.kw_gemm_seconds / self.torch_seconds if self.torch_seconds > 0 else math.nan


@dataclass
class TrainResult:
    cases: list[TrainCase] = field(default_factory=list)
    threads: int = 1
    blas: str = ""
    torch_version: str | None = None
    busy: int = 0  # spinning processes that ran beside the timed work
    busy_pids: list[int] = field(default_factory=list)
    steady_threads: bool = False  # kernelwise.backends.cpu.steady_threads during kernelwise's turns


# --------------------------------------------------------------------------- a busy machine
# A pure-Python spin loop that also ends by itself once its parent is gone (it is then reparented),
# so that not even a killed benchmark leaves one behind.
_SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(100000):\n        pass\n"


def _check_busy(busy: object) -> int:
    if isinstance(busy, bool) or not isinstance(busy, int) or busy < 0:
        raise ValueError(f"busy: must be a non-negative integer, got {busy!r}")
    return busy


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[list[subprocess.Popen]]:
    """Run ``count`` processes spinning on a core each for the duration of the ``with`` block.

    They are stopped (terminated, killed if need be, and reaped) when the block ends, also on an
    exception or Ctrl-C; each also stops by itself if this process dies.

    Example:
        >>> with busy_processes(1) as procs:
        ...     procs[0].poll() is None
        True
        >>> procs[0].poll() is not None
        True
    """
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(_check_busy(count)):
            procs.append(subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL))
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------- the two frameworks' steps
def _training_step(lib: Any, model: Any, optimizer: str, lr: float = 0.01) -> Callable:
    """One training step of ``model`` on (x, y) arrays, written once for both frameworks; it returns the loss.

    ``lib`` is ``kernelwise`` or ``torch``: the same names, so both run the same code.
    """
    params = list(model.parameters())
    opt = lib.optim.SGD(params, lr=lr, momentum=0.9) if optimizer == "sgd" else lib.optim.Adam(params, lr=lr)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> float:
        loss = loss_fn(model(lib.from_numpy(x)), lib.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _kernelwise_trainer(model_name: str, optimizer: str, generator: int = 0) -> tuple[Any, Callable]:
    """A kernelwise model and a function doing one training step on (x, y) arrays; it returns the loss."""
    import kernelwise as kw
    from kernelwise.models import lenet5, mnist1d_cnn, small_resnet

    build = {"lenet5": lenet5, "mnist1d": mnist1d_cnn, "small_resnet": small_resnet}[model_name]
    model = build(generator=generator)
    return model, _training_step(kw, model, optimizer)


def _torch_trainer(model: Any, optimizer: str, torch: Any) -> Callable:
    """The same step in PyTorch, on a copy of the kernelwise ``model`` (weights included)."""
    from .mirror import to_torch

    return _training_step(torch, to_torch(model, torch), optimizer)


def _mnist(data_dir: str | Path | None, tiny: bool) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST training images (N, 1, 28, 28) float32 and labels; random arrays of that shape when tiny."""
    if tiny:
        rng = np.random.default_rng(0)
        return rng.standard_normal((128, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 128)
    from ..data import load_mnist

    folder = Path(data_dir) if data_dir is not None else MNIST_SAMPLE
    if not folder.is_dir():
        raise FileNotFoundError(f"data_dir: no MNIST folder at {folder} (pass --data-dir with the four IDX files)")
    train, _, _ = load_mnist(data_dir=folder, download=False)
    x, y = (np.ascontiguousarray(t.numpy()) for t in train.tensors)
    return x, y


def _mnist1d(tiny: bool) -> tuple[np.ndarray, np.ndarray]:
    if tiny:
        rng = np.random.default_rng(0)
        return rng.standard_normal((200, 1, 40), dtype=np.float32), rng.integers(0, 10, 200)
    from ..data import load_mnist1d

    train, _, _ = load_mnist1d()
    return tuple(np.ascontiguousarray(t.numpy()) for t in train.tensors)  # type: ignore[return-value]


def _epoch_batches(n: int, batch: int, seed: int) -> list[np.ndarray]:
    """One shuffled epoch as index batches (the last one may be short), as a DataLoader with shuffle=True."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


# --------------------------------------------------------------------------- the cases
def _lenet(x: np.ndarray, y: np.ndarray, repeats: int, torch: Any, pause: float) -> TrainCase:
    model, kw_step = _kernelwise_trainer("lenet5", "sgd")
    steps = {"kernelwise": kw_step}
    if torch is not None:
        steps["torch"] = _torch_trainer(model, "sgd", torch)
    best = dict.fromkeys(steps, math.inf)
    gemm = math.nan  # the GEMM time of kernelwise's best epoch
    for epoch in range(repeats + 1):  # epoch 0 warms up (first calls, caches) and is not counted
        batches = _epoch_batches(len(x), 64, epoch)
        for name in steps if epoch % 2 == 0 else reversed(list(steps)):
            time.sleep(pause)  # let the other framework's idle threads stop spinning (timing.SETTLE_SECONDS)
            with gemm_clock() as clock:
                start = time.perf_counter()
                for idx in batches:
                    steps[name](x[idx], y[idx])
                seconds = time.perf_counter() - start
            if epoch > 0 and seconds < best[name]:
                best[name] = seconds
                gemm = clock.seconds if name == "kernelwise" else gemm
    torch_seconds = best.get("torch", math.nan)
    return TrainCase("LeNet-5, MNIST sample", "images", len(x), best["kernelwise"], torch_seconds, {}, gemm)


def _steps_case(
    title: str, model_name: str, optimizer: str, x: np.ndarray, y: np.ndarray, batch: int, steps_total: int,
    chunk: int, torch: Any, pause: float,
) -> TrainCase:  # fmt: skip
    """The total time of ``steps_total`` training steps on random batches, run in alternating chunks."""
    model, kw_step = _kernelwise_trainer(model_name, optimizer)
    steps = {"kernelwise": kw_step}
    if torch is not None:
        steps["torch"] = _torch_trainer(model, optimizer, torch)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, len(x), batch) for _ in range(steps_total)]  # random batches, as MNIST-1D's loop
    for name in steps:  # one warm-up step each (first calls allocate and import), not counted
        steps[name](x[batches[0]], y[batches[0]])
    total = dict.fromkeys(steps, 0.0)
    gemm = 0.0  # of kernelwise's total, the time in its GEMMs
    for c, first in enumerate(range(0, steps_total, chunk)):
        for name in steps if c % 2 == 0 else reversed(list(steps)):
            time.sleep(pause)
            with gemm_clock() as clock:
                start = time.perf_counter()
                for idx in batches[first : first + chunk]:
                    steps[name](x[idx], y[idx])
                total[name] += time.perf_counter() - start
            gemm += clock.seconds if name == "kernelwise" else 0.0
    return TrainCase(title, "steps", steps_total, total["kernelwise"], total.get("torch", math.nan), {}, gemm)


def _images32(tiny: bool) -> tuple[np.ndarray, np.ndarray]:
    """Random 3×32×32 images and labels (CIFAR-10's shape; the speed does not depend on the values)."""
    rng = np.random.default_rng(0)
    n = 64 if tiny else 1024
    return rng.standard_normal((n, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, n)


# --------------------------------------------------------------------------- peak memory, one framework per process
def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (VmHWM: peak resident, VmRSS: resident), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _peak_mb() -> float:
    """The largest resident set size of this process so far, in MB (what /usr/bin/time -v reports).

    On Linux it is VmHWM of /proc/self/status: ``ru_maxrss`` would start at the parent's peak, since
    Linux carries it over fork and exec.
    """
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def _memory_child(framework: str, case: str, data_dir: str | None, tiny: bool) -> dict[str, float]:
    """Train one case in one framework; report the process's peak RSS and its RSS after the imports (MB).

    (How far the RSS rises during the steps says little: memory freed after loading the data is
    reused by the training steps without the RSS moving.)
    """
    torch = load_torch() if framework == "torch" else None
    imports = _status_mb("VmRSS") or math.nan  # the Python interpreter, NumPy, kernelwise (and PyTorch)
    if case == "lenet5":
        x, y = _mnist(data_dir, tiny)
        batches = _epoch_batches(len(x), 64, 0)
        model, step = _kernelwise_trainer("lenet5", "sgd")
    else:
        x, y = _mnist1d(tiny)
        rng = np.random.default_rng(0)
        batches = [rng.integers(0, len(x), 100) for _ in range(20 if tiny else 500)]
        model, step = _kernelwise_trainer("mnist1d", "adam")
    if torch is not None:
        step = _torch_trainer(model, "sgd" if case == "lenet5" else "adam", torch)
    for idx in batches:
        step(x[idx], y[idx])
    return {"peak_mb": _peak_mb(), "imports_mb": imports}


def _measure_memory(framework: str, case: str, data_dir: str | None, tiny: bool, threads: int) -> dict[str, float]:
    """Run :func:`_memory_child` in a fresh Python process (so one framework's memory is not the other's)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    code = (
        "import json, sys; from kernelwise.bench.train import _memory_child; "
        "from kernelwise.memory import reuse_freed_memory; reuse_freed_memory(); "
        f"print(json.dumps(_memory_child({framework!r}, {case!r}, {data_dir!r}, {tiny!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory run of {case} in {framework} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the suite
def run_train_suite(
    repeats: int = 5,
    threads: int | None = None,
    tiny: bool = False,
    torch: bool | None = None,
    data_dir: str | Path | None = None,
    steps: int = 6000,
    memory: bool = True,
    file: TextIO | None = None,
    busy: int = 0,
    steady_threads: bool = False,
) -> TrainResult:
    """Train LeNet-5, the MNIST-1D CNN and small_resnet in kernelwise and PyTorch; print speed and peak memory
    (of the first two).

    Args:
        repeats: LeNet-5 epochs timed per framework (alternating); the best counts.
        threads: thread count for NumPy's BLAS and PyTorch (default: BLAS's current count).
        tiny: random data, 2 batches of LeNet-5 and 20 MNIST-1D steps: proves the suite runs.
        torch: compare with PyTorch (None: if it is installed; False: kernelwise only).
        data_dir: the MNIST folder (default: the MNIST sample beside the checkout).
        steps: MNIST-1D optimizer steps.
        memory: also measure each framework's peak memory in a separate process.
        file: where the tables go (e.g. ``sys.stdout``; None: nowhere).
        busy: processes spinning in a pure-Python loop beside the timed work (a busy machine);
            they are stopped when the timing ends, also on an error.
        steady_threads: time kernelwise with ``kernelwise.backends.cpu.steady_threads`` (its GEMMs in fixed
            chunks on its own workers; PyTorch is unchanged).
    """
    busy = _check_busy(busy)
    torch_module = load_torch() if torch is not False else None
    if torch is True and torch_module is None:
        raise MissingDependencyError("torch=True but PyTorch is not installed (pip install torch)")
    if tiny:
        repeats, steps = 1, min(steps, 20)
    with (
        backends.cpu.flags(steady_threads=steady_threads),
        thread_limit(threads, torch_module) as count,
        busy_processes(busy) as spinning,
    ):
        result = TrainResult(
            threads=count,
            blas=str(blas_info()),
            torch_version=getattr(torch_module, "__version__", None),
            busy=busy,
            busy_pids=[p.pid for p in spinning],
            steady_threads=backends.cpu.steady_threads,
        )
        x, y = _mnist(data_dir, tiny)
        pause = 0.0 if tiny else SETTLE_SECONDS
        if busy and not tiny:
            time.sleep(0.5)  # let the spinning processes start (the warm-up epoch follows)
        result.cases.append(_lenet(x, y, repeats, torch_module, pause))
        x, y = _mnist1d(tiny)
        chunk = 10 if tiny else 500
        result.cases.append(
            _steps_case("MNIST-1D CNN", "mnist1d", "adam", x, y, 100, steps, chunk, torch_module, pause)
        )
        x, y = _images32(tiny)
        resnet = ("small_resnet, 3×32×32, batch 32", "small_resnet", "sgd", x, y, 32)
        result.cases.append(_steps_case(*resnet, 2 if tiny else 40, 1 if tiny else 10, torch_module, pause))
    if memory:
        frameworks = ["kernelwise"] + (["torch"] if torch_module is not None else [])
        for case, key in zip(result.cases, ("lenet5", "mnist1d")):
            for framework in frameworks:
                case.memory[framework] = _measure_memory(
                    framework, key, None if data_dir is None else str(data_dir), tiny, count
                )
    if file is not None:
        print(train_report(result), file=file)
    return result


def train_report(result: TrainResult) -> str:
    """The training tables: speed (images/s, time for the steps) and peak memory."""
    with_torch = result.torch_version is not None
    torch = f"PyTorch {result.torch_version}" if with_torch else "PyTorch not installed: kernelwise only"
    lines = [f"machine: {machine()}", f"BLAS: {result.blas}; {result.threads} threads for both; {torch}"]
    if result.busy:
        lines.append(
            f"busy machine: {result.busy} busy process{'es' if result.busy > 1 else ''} (pure-Python spin loops) ran"
            " beside the timed work"
        )
    if result.steady_threads:
        lines.append(STEADY_LINE.strip())
    versus = ["PyTorch", "kernelwise / PyTorch (time)", "GEMM floor"] if with_torch else []
    header = ["case", "kernelwise", "its GEMMs", *versus]
    rows = []
    for c in result.cases:
        if c.unit == "images":
            kw_cell, torch_cell = f"{c.items / c.kw_seconds:.0f} images/s", f"{c.items / c.torch_seconds:.0f} images/s"
        else:
            kw_cell, torch_cell = (
                f"{c.kw_seconds:.1f} s / {c.items} steps",
                f"{c.torch_seconds:.1f} s / {c.items} steps",
            )
        gemm_cell = f"{c.kw_gemm_seconds / c.kw_seconds:.0%} of its time"
        rows.append(
            [c.name, kw_cell, gemm_cell, *([torch_cell, f"{c.ratio:.2f}", f"{c.gemm_ratio:.2f}"] if with_torch else [])]
        )
    lines.append(table(rows, header))
    if with_torch:
        lines.append(
            "GEMM floor: kernelwise's time in its GEMMs alone (NumPy's matmul) over PyTorch's whole time, the ratio"
            " it would reach if its copies, element-wise passes and Python cost nothing."
        )
    if any(c.memory for c in result.cases):
        rows = []
        for c in result.cases:
            for framework, m in c.memory.items():
                rows.append([c.name, framework, f"{m['peak_mb']:.0f} MB", f"{m['imports_mb']:.0f} MB"])
        lines.append(table(rows, ["case", "framework", "peak resident memory", "of which after the imports"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.train``: the same options as ``kernelwise bench train``."""
    from .cli import main as bench_main

    return bench_main(["train", *(sys.argv[1:] if argv is None else argv)])
