"""``python -m benchmarks.train [--repeats N] [--threads N] [--tiny] [--no-torch] [--steps N] [--data-dir DIR]``.

Also ``--no-memory`` and ``--busy N`` (time beside N spinning processes); see ``--help``.
"""

from kernelwise.bench.train import main

if __name__ == "__main__":
    raise SystemExit(main())
