"""Benchmarks: ``python -m benchmarks.conv`` and ``python -m benchmarks.train`` (the suite is ``kernelwise.bench``)."""
