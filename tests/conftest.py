"""Shared test set-up: one BLAS thread per test worker, for NumPy and for PyTorch (the oracle)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:  # two test workers share two cores: one BLAS thread each avoids oversubscription
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the tests that need the oracle skip themselves
    torch = None

MNIST_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-5k"


@pytest.fixture
def mnist_sample() -> Path:
    """The real MNIST sample beside the checkout; the test skips only where it is absent."""
    if not (MNIST_SAMPLE / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST sample not found at {MNIST_SAMPLE}")
    return MNIST_SAMPLE


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory holding an untrained digits_cnn (8×8 gray digits, 10 classes) and its metadata."""
    from kernelwise import checkpoint
    from kernelwise.models import build_model

    run = tmp_path / "run"
    run.mkdir()
    meta = {
        "model": "digits_cnn",
        "input_shape": [1, 8, 8],
        "num_classes": 10,
        "mean": [0.0],
        "std": [1.0],
        "class_names": [str(i) for i in range(10)],
        "dataset": "digits",
    }
    checkpoint.save(run / "model.safetensors", build_model("digits_cnn", generator=0), meta)
    return run


# tests/ports/ holds programs written for torch, which tests/test_ports.py loads itself (twice)
collect_ignore = ["ports"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """A closing line after the short summary when browser tests skipped for want of Chromium."""
    result = yield
    skipped = 0
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr  # (path, line, reason) for a skip, also through pytest-xdist
        reason = str(longrepr[-1]) if isinstance(longrepr, tuple | list) else str(longrepr)
        skipped += "no Chromium found" in reason
    if skipped:
        terminalreporter.write_line(
            f"{skipped} browser test{'s' * (skipped != 1)} skipped: no Chromium found "
            "(apt-get install chromium, or set KERNELWISE_CHROMIUM to a Chromium/Chrome binary)",
            yellow=True,
            bold=True,
        )
    return result
