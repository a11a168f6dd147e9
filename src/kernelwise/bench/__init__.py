"""The benchmark suite: kernelwise against PyTorch on the CPU, side by side in one process.

``run_conv_suite`` times convolutions (+ bias + ReLU) and max pooling, forward and backward;
``run_train_suite`` times LeNet-5 on MNIST and the MNIST-1D CNN with the same model and recipe
in both frameworks, and their peak memory. PyTorch is optional: without it the suite prints
kernelwise's own figures. Command line: ``kernelwise bench`` or ``python -m benchmarks.conv``.
This package is the only part of kernelwise that imports PyTorch (lazily, as the baseline).
"""

from .cli import add_bench_parser, run_bench
from .conv import CONV_CASES, POOL_CASES, run_conv_suite
from .train import run_train_suite

__all__ = ["CONV_CASES", "POOL_CASES", "add_bench_parser", "run_bench", "run_conv_suite", "run_train_suite"]
