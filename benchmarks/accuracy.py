"""``python -m benchmarks.accuracy``: the default recipes' test accuracy, PyTorch trained in lockstep."""

from kernelwise.bench.accuracy import main

raise SystemExit(main())
