"""``python -m benchmarks.distributed [--tiny] [--repeats N] [--data-dir DIR] [--no-mpi] [--no-cost-model]``."""

from kernelwise.bench.distributed import main

if __name__ == "__main__":
    raise SystemExit(main())
