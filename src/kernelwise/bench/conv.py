"""The convolution benchmark: conv + bias + ReLU forward and backward, and max pooling, against PyTorch.

Run it with ``python -m benchmarks.conv`` or ``kernelwise bench conv``. Every case times one
forward and one backward (every gradient: input, weight and bias) in kernelwise and in PyTorch
on the same float32 arrays, interleaved, best of ``repeats`` turns of 3 runs, both on the same
number of threads; see :mod:`kernelwise.bench.timing`.

FLOPs of a convolution, counted as the direct method does them (2 per multiply-add):
forward 2·N·O·L·Cg·K (L output positions, K kernel taps), and the backward computes dL/dX
and dL/dW with as many again each, so one run is 3 × 2·N·O·L·Cg·K.

Example:
    >>> result = run_conv_suite(tiny=True, repeats=1, threads=1, torch=False, file=None)
    >>> len(result.cases) == len(CONV_CASES) + len(POOL_CASES), result.cases[0].kw_seconds > 0
    (True, True)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TextIO

import numpy as np

from .. import backends
from ..errors import MissingDependencyError, UsageError
from .report import CaseResult, SuiteResult, conv_table, setting
from .timing import SETTLE_SECONDS, blas_info, gemm_peak, interleaved_best, load_torch, thread_limit


@dataclass(frozen=True)
class ConvCase:
    """conv(N, C→O, size, k, stride, padding) + bias + ReLU, forward and backward; 1-d or 2-d by ``size``."""

    batch: int
    in_channels: int
    out_channels: int
    size: tuple[int, ...]
    kernel: int
    stride: int = 1
    padding: int = 0
    note: str = ""

    @property
    def name(self) -> str:
        size = "×".join(map(str, self.size))
        kernel = "×".join([str(self.kernel)] * len(self.size))
        return (
            f"conv{len(self.size)}d {self.batch}, {self.in_channels}→{self.out_channels}, {size}, "
            f"{kernel}/{self.stride} p{self.padding}"
        )

    def out_size(self) -> tuple[int, ...]:
        return tuple((n + 2 * self.padding - self.kernel) // self.stride + 1 for n in self.size)

    def flops(self) -> float:
        """3 × 2·N·O·L·C·K: forward, dL/dX and dL/dW (see the module docstring)."""
        taps = self.kernel ** len(self.size)
        positions = math.prod(self.out_size())
        return 3 * 2 * self.batch * self.out_channels * positions * self.in_channels * taps

    def tiny(self) -> ConvCase:
        """The same layer on 2 samples and at most 8 positions per side (for tests)."""
        return replace(self, batch=2, size=tuple(min(n, 8) for n in self.size))


@dataclass(frozen=True)
class PoolCase:
    """max_pool(N, C, size, k, stride, padding), forward and backward."""

    batch: int
    channels: int
    size: tuple[int, ...]
    kernel: int
    stride: int
    padding: int = 0
    note: str = ""

    @property
    def name(self) -> str:
        size = "×".join(map(str, self.size))
        kernel = f"{self.kernel}×{self.kernel}/{self.stride} p{self.padding}"
        return f"max_pool2d {self.batch}, {self.channels}, {size}, {kernel}"

    def flops(self) -> float:
        return 0.0

    def tiny(self) -> PoolCase:
        return replace(self, batch=2, size=tuple(min(n, 8) for n in self.size))


CONV_CASES: tuple[ConvCase, ...] = (
    ConvCase(64, 1, 6, (28, 28), 5, 1, 2, "LeNet-5 conv1"),
    ConvCase(64, 6, 16, (14, 14), 5, 1, 0, "LeNet-5 conv2"),
    ConvCase(32, 64, 64, (32, 32), 3, 1, 1, "VGG-style, CIFAR size"),
    ConvCase(8, 64, 64, (56, 56), 3, 1, 1, "ResNet stage 1"),
    ConvCase(8, 64, 128, (56, 56), 3, 2, 1, "ResNet downsampling"),
    ConvCase(8, 256, 256, (14, 14), 3, 1, 1, "ResNet stage 3"),
    ConvCase(8, 128, 256, (28, 28), 1, 1, 0, "1×1 projection"),
    ConvCase(100, 25, 25, (19,), 3, 2, 1, "MNIST-1D CNN conv2"),
)
POOL_CASES: tuple[PoolCase, ...] = (
    PoolCase(64, 6, (28, 28), 2, 2, 0, "LeNet-5 pooling"),
    PoolCase(8, 64, (56, 56), 3, 2, 1, "ResNet-style overlapping pooling"),
)


def _arrays(case: ConvCase | PoolCase, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """float32 inputs of a case and the gradient dL/dY fed to backward."""
    if isinstance(case, PoolCase):
        x = rng.standard_normal((case.batch, case.channels, *case.size), dtype=np.float32)
        out = tuple((n + 2 * case.padding - case.kernel) // case.stride + 1 for n in case.size)
        return {"x": x, "grad": rng.standard_normal((case.batch, case.channels, *out), dtype=np.float32)}
    nd = len(case.size)
    fan_in = case.in_channels * case.kernel**nd
    return {
        "x": rng.standard_normal((case.batch, case.in_channels, *case.size), dtype=np.float32),
        "w": rng.standard_normal((case.out_channels, case.in_channels, *(case.kernel,) * nd), dtype=np.float32)
        / np.float32(math.sqrt(fan_in)),
        "b": rng.standard_normal(case.out_channels, dtype=np.float32),
        "grad": rng.standard_normal((case.batch, case.out_channels, *case.out_size()), dtype=np.float32),
    }


def _step(
    case: ConvCase | PoolCase, inputs: dict[str, Any], grad: Any, F: Any, to_numpy: Callable[[Any], np.ndarray]
) -> tuple[Callable[[], Any], Callable]:
    """A function running one forward + backward, and one returning (output, *gradients) as arrays.

    The same code drives both frameworks: ``F`` is kernelwise's or PyTorch's functional module.
    The second function leaves the ReLU out: at its kink, a rounding-level difference of an output
    near 0 decides whether a whole dL/dY value passes, which would say nothing about the
    convolution's accuracy.
    """
    state: dict[str, Any] = {}

    def step(relu: bool = True) -> None:
        for t in inputs.values():
            t.grad = None
        if isinstance(case, PoolCase):
            y = F.max_pool2d(inputs["x"], case.kernel, case.stride, case.padding)
        else:
            conv = F.conv1d if len(case.size) == 1 else F.conv2d
            y = conv(inputs["x"], inputs["w"], inputs["b"], case.stride, case.padding)
            y = F.relu(y) if relu else y
        y.backward(grad)
        state["y"] = y

    def results() -> list[np.ndarray]:
        step(relu=False)
        return [to_numpy(state["y"])] + [to_numpy(t.grad) for t in inputs.values()]

    return step, results


def _kernelwise_step(case: ConvCase | PoolCase, arrays: dict[str, np.ndarray]) -> tuple[Callable[[], Any], Callable]:
    """:func:`_step` in kernelwise."""
    import kernelwise as kw
    import kernelwise.nn.functional as F

    inputs = {k: kw.Tensor(v, requires_grad=True) for k, v in arrays.items() if k != "grad"}
    return _step(case, inputs, arrays["grad"], F, lambda t: t.numpy())


def _torch_step(case: ConvCase | PoolCase, arrays: dict[str, np.ndarray], torch: Any) -> tuple[Callable, Callable]:
    """:func:`_step` in PyTorch."""
    inputs = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in arrays.items() if k != "grad"}
    grad = torch.from_numpy(arrays["grad"])
    return _step(case, inputs, grad, torch.nn.functional, lambda t: t.detach().numpy())


def _max_relative_difference(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    """max over arrays of max|a - b| / max|b|: the error relative to each array's scale."""
    return max(
        float(np.abs(a.astype(np.float64) - b).max() / max(float(np.abs(b).max()), 1e-30))
        for a, b in zip(ours, theirs, strict=True)
    )


def _method(case: ConvCase | PoolCase) -> str:
    """The kernelwise algorithm the dispatcher picks for a case (see ``kernelwise.ops.fastconv``)."""
    try:
        from ..ops.fastconv import choose_method
    except ImportError:
        return ""
    if isinstance(case, PoolCase):
        return "taps"  # ops/fastpool.py: one pass per window tap (on the phase grid where windows overlap)
    nd = len(case.size)
    return choose_method(
        (case.batch, case.in_channels, *case.size),
        (case.out_channels, case.in_channels, *(case.kernel,) * nd),
        (case.stride,) * nd,
        ((case.padding, case.padding),) * nd,
        (1,) * nd,
        1,
    )


def run_conv_suite(
    repeats: int = 5,
    threads: int | None = None,
    tiny: bool = False,
    torch: bool | None = None,
    cases: str | None = None,
    file: TextIO | None = None,
    allow_winograd: bool = False,
    steady_threads: bool = False,
) -> SuiteResult:
    """Time every conv and pooling case in kernelwise and PyTorch; print the table to ``file``.

    Args:
        repeats: turns per case and framework (interleaved), each a burst of 3 runs; the best run counts.
        threads: thread count for NumPy's BLAS and PyTorch (default: BLAS's current count).
        tiny: shrink every case to 2 samples and at most 8×8 (proves the suite runs; the times mean little).
        torch: compare with PyTorch (None: if it is installed; False: kernelwise only).
        cases: only the cases whose name contains this text.
        file: where the table goes as it is measured (e.g. ``sys.stdout``; None: nowhere).
        allow_winograd: time with ``kernelwise.backends.conv.allow_winograd`` set (F(4×4, 3×3) on 3×3
            layers: faster, float32 error 6-37× PyTorch's; the setting line says which was timed).
        steady_threads: time with ``kernelwise.backends.cpu.steady_threads`` set (kernelwise's GEMMs in fixed
            chunks on its own workers).

    Returns:
        a :class:`~kernelwise.bench.report.SuiteResult` with one record per case.
    """
    torch_module = load_torch() if torch is not False else None
    if torch is True and torch_module is None:
        raise MissingDependencyError("torch=True but PyTorch is not installed (pip install torch)")
    selected = [c.tiny() if tiny else c for c in (*CONV_CASES, *POOL_CASES)]
    if cases:
        selected = [c for c in selected if cases in c.name]
        if not selected:
            raise UsageError(f"cases={cases!r} matches no case name")
    rng = np.random.default_rng(0)
    allowed_before, backends.conv.allow_winograd = backends.conv.allow_winograd, bool(allow_winograd)
    try:
        with backends.cpu.flags(steady_threads=steady_threads), thread_limit(threads, torch_module) as count:
            return _run_cases(selected, rng, count, tiny, repeats, torch_module, file)
    finally:
        backends.conv.allow_winograd = allowed_before


def _run_cases(
    selected: list, rng: np.random.Generator, count: int, tiny: bool, repeats: int, torch_module: Any, file: Any
) -> SuiteResult:
    """run_conv_suite's measurement, with its settings in force."""
    result = SuiteResult(
        peak_gflops=gemm_peak(256 if tiny else 2048, repeats=1 if tiny else 5),
        threads=count,
        blas=str(blas_info()),
        torch_version=getattr(torch_module, "__version__", None),
        extra={"allow_winograd": backends.conv.allow_winograd, "steady_threads": backends.cpu.steady_threads},
    )
    if file is not None:
        print(setting(result), file=file, flush=True)
    for case in selected:
        arrays = _arrays(case, rng)
        kw_step, kw_results = _kernelwise_step(case, arrays)
        fns = {"kernelwise": kw_step}
        if torch_module is not None:
            torch_step, torch_results = _torch_step(case, arrays, torch_module)
            fns["torch"] = torch_step
        best = interleaved_best(fns, repeats=repeats, pause=0.0 if tiny else SETTLE_SECONDS, burst=1 if tiny else 3)
        record = CaseResult(case.name, best["kernelwise"], flops=case.flops(), method=_method(case))
        if torch_module is not None:
            record.torch_seconds = best["torch"]
            record.error = _max_relative_difference(kw_results(), torch_results())
        result.cases.append(record)
        if file is not None:
            print(f"  {case.name}: kernelwise {record.kw_seconds * 1e3:.2f} ms", file=file, flush=True)
    if file is not None:
        print(conv_table(result), file=file)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.conv``: the same options as ``kernelwise bench conv``."""
    from .cli import main as bench_main

    return bench_main(["conv", *(sys.argv[1:] if argv is None else argv)])
