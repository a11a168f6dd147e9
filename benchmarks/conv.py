"""``python -m benchmarks.conv [--repeats N] [--threads N] [--tiny] [--no-torch] [--cases TEXT]``."""

from kernelwise.bench.conv import main

if __name__ == "__main__":
    raise SystemExit(main())
