"""``python -m benchmarks.inference [--repeats N] [--tiny] [--models a,b]``."""

from kernelwise.bench.inference import main

if __name__ == "__main__":
    raise SystemExit(main())
