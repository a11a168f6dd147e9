"""``python -m benchmarks.distributed [--tiny] [--repeats N] [--models a,b] [--no-mpi] [--no-cost-model]``."""

from kernelwise.bench.distributed import main

if __name__ == "__main__":
    raise SystemExit(main())
