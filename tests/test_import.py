"""Importing kernelwise changes nothing in the process: no malloc settings, no matplotlib backend."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

import kernelwise.memory

# Imports every part of the package that a program, the command line or the explainer loads, while
# recording every C library opened through ctypes (mallopt is reached only through one).
_PROBE = """
import ctypes, json, sys
opened = []
real = ctypes.CDLL
class Recording(real):
    def __init__(self, name, *args, **kwargs):
        opened.append(str(name))
        super().__init__(name, *args, **kwargs)
ctypes.CDLL = Recording
import kernelwise, kernelwise.nn.functional, kernelwise.train, kernelwise.runs, kernelwise.cli
import kernelwise.explain, kernelwise.explain.cli, kernelwise.bench, kernelwise.checkpoint, kernelwise.onnx
import kernelwise.distributed, kernelwise.nn.parallel
print(json.dumps({
    "opened": opened,
    "matplotlib": sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"),
    "onnx": sorted(m for m in sys.modules if m.split(".")[0] in ("onnx", "onnxruntime")),
    "mpi4py": sorted(m for m in sys.modules if m.split(".")[0] == "mpi4py"),
}))
"""


def test_import_leaves_malloc_and_matplotlib_alone() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [name for name in seen["opened"] if "libc" in name], seen["opened"]
    assert seen["matplotlib"] == [], "importing kernelwise must not import matplotlib (only drawing a picture does)"
    assert seen["onnx"] == [], "importing kernelwise.onnx must not import onnx (export and load do, when called)"
    assert seen["mpi4py"] == [], "importing kernelwise must not import mpi4py (init_process_group under mpiexec does)"


def test_fit_asks_for_memory_reuse_and_can_be_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    import kernelwise as kw
    from kernelwise import nn
    from kernelwise.train import fit

    calls: list[bool] = []
    monkeypatch.setattr(kernelwise.memory, "reuse_freed_memory", lambda enable=True: calls.append(enable) or True)
    model = nn.Linear(3, 2)
    batches = [(kw.randn(4, 3), kw.tensor([0, 1, 0, 1]))]
    fit(model, batches, kw.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert calls == [True]
    fit(model, batches, kw.optim.SGD(model.parameters(), lr=0.1), progress=False, reuse_freed_memory=False)
    assert calls == [True]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_reuse_freed_memory_applies_on_glibc_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = "from kernelwise.memory import reuse_freed_memory as r; print(r(), r(enable=False))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
    env = {"KERNELWISE_REUSE_MEMORY": "0", "PATH": "/usr/bin"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.split() == ["False", "False"]
