"""``kernelwise bench``: the benchmark suite's command line (also ``python -m benchmarks.conv|train``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import KernelwiseError, UsageError
from ..memory import reuse_freed_memory
from ..threads import add_threads_argument


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "suite", nargs="?", default="all", choices=("conv", "train", "all"), help="which suite (default: all)"
    )
    parser.add_argument("--repeats", type=int, help="timed runs per case, interleaved (default: conv 5, train 5)")
    add_threads_argument(parser, help="threads for NumPy's BLAS and PyTorch")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: proves the suite runs, times mean little")
    parser.add_argument("--no-torch", action="store_true", help="kernelwise only, even if PyTorch is installed")
    parser.add_argument("--cases", help="conv suite: only cases whose name contains this text")
    parser.add_argument(
        "--allow-winograd",
        action="store_true",
        help="conv suite: with kernelwise.backends.conv.allow_winograd (F(4×4, 3×3): faster, less exact)",
    )
    parser.add_argument("--data-dir", help="train suite: folder with the MNIST files (default: the MNIST sample)")
    parser.add_argument("--steps", type=int, help="train suite: MNIST-1D Adam steps (default 6000)")
    parser.add_argument("--no-memory", action="store_true", help="train suite: skip the peak-memory runs")
    parser.add_argument(
        "--steady-threads",
        action="store_true",
        help="time kernelwise with kernelwise.backends.cpu.steady_threads (GEMMs in fixed chunks on its own workers)",
    )
    parser.add_argument(
        "--busy",
        default="0",
        metavar="N",
        help="train suite: time beside N processes spinning in a pure-Python loop (a busy machine; default 0)",
    )


def _check(args: argparse.Namespace) -> None:
    for name in ("repeats", "threads", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name}: must be a positive integer, got {value}")
    busy = str(getattr(args, "busy", 0)).strip()
    if not busy.isdecimal():  # read here rather than by argparse, for a one-line error
        raise UsageError(f"--busy: must be a non-negative integer, got {busy!r}")
    args.busy = int(busy)


def run_bench(args: argparse.Namespace) -> int:
    """Run the suite(s) that ``args`` name and print their tables."""
    _check(args)
    reuse_freed_memory()  # as training does (kernelwise.memory); PyTorch in this process gets it too
    torch = False if args.no_torch else None
    if args.suite in ("conv", "all"):
        from .conv import run_conv_suite

        run_conv_suite(
            repeats=args.repeats or 5,
            threads=args.threads,
            tiny=args.tiny,
            torch=torch,
            cases=args.cases,
            file=sys.stdout,
            allow_winograd=args.allow_winograd,
            steady_threads=args.steady_threads,
        )
    if args.suite in ("train", "all"):
        from .train import run_train_suite

        options: dict[str, Any] = {"repeats": args.repeats or 5, "memory": not args.no_memory, "busy": args.busy}
        options["steady_threads"] = args.steady_threads
        if args.steps is not None:
            options["steps"] = args.steps
        run_train_suite(
            threads=args.threads, tiny=args.tiny, torch=torch, data_dir=args.data_dir, file=sys.stdout, **options
        )
    return 0


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` command to a ``kernelwise`` command line's subparsers; it runs :func:`run_bench`."""
    parser = subparsers.add_parser(
        "bench", help="time kernelwise against PyTorch: convolutions, pooling and training (see docs/performance.md)"
    )
    _add_arguments(parser)
    parser.set_defaults(run=run_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The suite as a stand-alone command (``python -m benchmarks.conv`` passes ``conv`` first)."""
    parser = argparse.ArgumentParser(prog="kernelwise bench", description="kernelwise against PyTorch")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_bench(args)
    except (KernelwiseError, OSError) as e:
        parser.exit(1, f"kernelwise bench: error: {e}\n")
