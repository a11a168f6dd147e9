"""``python -m benchmarks.train [--repeats N] [--threads N] [--tiny] [--no-torch] [--steps N] [--data-dir DIR]``."""

from kernelwise.bench.train import main

if __name__ == "__main__":
    raise SystemExit(main())
