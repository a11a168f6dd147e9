"""Result records and tables of the benchmark suite (plain text that is also a Markdown table)."""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaseResult:
    """One benchmark case: the best time of each framework and what follows from them.

    ``flops`` is the work of one run (forward and backward) counted as the direct method does,
    2 per multiply-add, so GFLOP/s of different methods compare; 0 where FLOPs mean little (pooling).
    ``error`` is the largest difference to PyTorch over the output and every gradient, relative to
    the largest magnitude of each, of the convolution without its ReLU (NaN without PyTorch).
    """

    name: str
    kw_seconds: float
    torch_seconds: float = math.nan
    flops: float = 0.0
    error: float = math.nan
    method: str = ""

    @property
    def ratio(self) -> float:
        """kernelwise time / PyTorch time: below 1 kernelwise is faster."""
        return self.kw_seconds / self.torch_seconds if self.torch_seconds > 0 else math.nan

    def gflops(self) -> float:
        return self.flops / self.kw_seconds / 1e9 if self.flops else math.nan


@dataclass
class SuiteResult:
    """A table of cases and the setting it was measured in."""

    cases: list[CaseResult] = field(default_factory=list)
    peak_gflops: float = math.nan
    threads: int = 1
    blas: str = ""
    torch_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def geometric_mean_ratio(self) -> float:
        from .timing import geometric_mean

        return geometric_mean([c.ratio for c in self.cases])


def machine() -> str:
    """One line naming the machine: processor, cores, Python and NumPy."""
    import os

    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, NumPy {np.__version__}"


def _cell(value: float, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A Markdown table with padded columns (readable as plain text too).

    Example:
        >>> print(table([["a", "1.0"]], ["case", "ms"]))
        | case | ms  |
        |------|-----|
        | a    | 1.0 |
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def conv_table(result: SuiteResult) -> str:
    """The conv suite's table: per case ms, ratio, GFLOP/s, fraction of the GEMM peak and error."""
    with_torch = result.torch_version is not None
    header = ["case", "method", "kernelwise ms"]
    if with_torch:
        header += ["PyTorch ms", "ratio"]
    header += ["GFLOP/s", "of peak"]
    if with_torch:
        header += ["max rel. diff"]
    rows = []
    for c in result.cases:
        row = [c.name, c.method, _cell(c.kw_seconds * 1e3, ".2f")]
        if with_torch:
            row += [_cell(c.torch_seconds * 1e3, ".2f"), _cell(c.ratio, ".2f")]
        row += [
            _cell(c.gflops(), ".0f"),
            _cell(c.gflops() / result.peak_gflops * 100, ".0f") + ("%" if c.flops else ""),
        ]
        if with_torch:
            row += [_cell(c.error, ".1e")]
        rows.append(row)
    lines = [table(rows, header)]
    if with_torch:
        worst = max(result.cases, key=lambda c: c.ratio)
        lines.append(
            f"geometric mean of the ratios: {result.geometric_mean_ratio:.2f}; worst: {worst.ratio:.2f} ({worst.name})"
        )
    return "\n".join(lines)


def setting(result: SuiteResult) -> str:
    """The lines that say where and how a table was measured."""
    torch = f"PyTorch {result.torch_version}" if result.torch_version else "PyTorch not installed: kernelwise only"
    winograd = result.extra.get("allow_winograd", False)
    return (
        f"machine: {machine()}\n"
        f"BLAS: {result.blas}; {result.threads} threads for NumPy's BLAS and for PyTorch; {torch}\n"
        f"float32 GEMM peak (NumPy a @ b, 2048³): {result.peak_gflops:.0f} GFLOP/s"
        + ("\nkernelwise.backends.conv.allow_winograd = True (F(4×4, 3×3) on 3×3 layers)" if winograd else "")
        + (STEADY_LINE if result.extra.get("steady_threads", False) else "")
    )


STEADY_LINE = "\nkernelwise.backends.cpu.steady_threads = True (kernelwise's GEMMs in fixed chunks on its workers)"
