"""``mpiexec -n N kernelwise train`` trains data-parallel and equals the one-process run.

Every expected value comes from the same command run as one process (no mpiexec): its final
weights, its metrics, its test accuracy. Each case runs a few optimizer steps only, so that the
runs differ by float32 rounding (the gradient of a global batch summed in another order), never
by chaos. The fault cases check that one rank raising or dying stops every rank, with a non-zero
exit status and the last complete checkpoint intact; a subprocess timeout stands guard so that
no case can hang.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from kernelwise import trainstate

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="needs mpi4py and mpiexec: pip install kernelwise[mpi]",
)

TIMEOUT = 60  # seconds for one launch: a few steps take a few seconds; a hang fails the test instead
EPS32 = float(np.finfo(np.float32).eps)
# The MPI launch variables of an outer job must not make the one-process reference a rank of it.
_LAUNCH_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "PMIX_RANK")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH_VARIABLES}
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MPLBACKEND="Agg",
    )
    return env


def _launch(ranks: int, program: list[str], timeout: int = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``program`` (arguments after the Python interpreter) as one process, or under mpiexec with ``ranks`` ranks."""
    command = [sys.executable, *program]
    if ranks > 1:
        command = [str(MPIEXEC), "--oversubscribe", "-n", str(ranks), *command]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=timeout)


def _train(ranks: int, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = _launch(ranks, ["-m", "kernelwise", "train", "--out", str(out), "--no-progress", *args])
    assert done.returncode == 0, f"{ranks} ranks: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _weights(run: Path) -> dict[str, np.ndarray]:
    return load_file(str(run / "model.safetensors"))


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def _max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a if a[k].dtype.kind == "f")


def _tolerance(steps: int, lr: float, batch: int, factor: float = 1.0) -> float:
    """How far N ranks may drift from one process after ``steps`` SGD steps (momentum 0.9).

    A step's gradient is a sum over the ``batch`` examples, which the ranks regroup: its float32
    rounding differs by at most about ``batch·eps`` relative to the per-example gradients, whose
    entries the cross-entropy keeps of order 1 (``factor`` > 1 for the longer chains of a deeper
    model). Each step moves the weights by ``lr`` times the momentum buffer, which holds up to
    ``steps`` such gradients, so after ``steps`` steps the difference is within
    ``steps²·lr·batch·eps`` (times ``factor``): about 1e-5 here, a thousandth of a typical weight.
    """
    return factor * steps**2 * lr * batch * EPS32


def _ranks(run: Path) -> int:
    """The number of ranks a test trained ``run`` on: its directory name says it."""
    return {"one": 1, "two": 2, "three": 3}[run.name]


def _assert_same_run(reference: Path, run: Path, tolerance: float, test_size: int, train_size: int = 1438) -> float:
    """The two runs' final weights within ``tolerance``, the same metrics to rounding; returns the weight gap."""
    gap = _max_difference(_weights(reference), _weights(run))
    print(f"{run.name}: max |weight difference| {gap:.3g} (tolerance {tolerance:.3g})")
    assert gap <= tolerance, f"max |weight difference| {gap:.3g} > {tolerance:.3g}"
    one, many = _metrics(reference), _metrics(run)
    assert abs(one["test_accuracy"] - many["test_accuracy"]) <= 1 / test_size + 1e-12  # one image flips at most
    for a, b in zip(one["history"], many["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-5)
        assert abs(a["train_accuracy"] - b["train_accuracy"]) <= 1 / train_size + 1e-12  # counts of the same images
        assert b["world_size"] > 1 and b["communication_seconds"] >= 0
        assert a.get("world_size", 1) == _ranks(reference)  # a one-process run records no world size
    return gap


SGD = ["--optimizer", "sgd", "--lr", "0.05", "--schedule", "constant", "--epochs", "1"]


def test_two_ranks_equal_one_process_and_only_rank_0_prints_and_writes(tmp_path: Path) -> None:
    # digits_cnn (LeNet-5 wants 28x28 input; the bundled digits are 8x8); 3 ranks: the tests below
    args = [*SGD, "--model", "digits_cnn", "--batch-size", "64", "--max-steps", "4"]
    one = _train(1, tmp_path / "one", *args)
    run = tmp_path / "two"
    two = _train(2, run, *args)
    _assert_same_run(tmp_path / "one", run, _tolerance(4, 0.05, 64), test_size=359)
    # Rank 0 alone printed: the same lines as one process, once each (the header says how many ranks).
    lines, expected = two.stdout.splitlines(), one.stdout.splitlines()
    assert len(lines) == len(expected), two.stdout
    assert lines[0].startswith(expected[0]) and "2 MPI processes" in lines[0]
    assert [line.split("  ")[:3] for line in lines[1:-1]] == [line.split("  ")[:3] for line in expected[1:-1]]
    assert lines[-1].replace(str(run), "RUN") == expected[-1].replace(str(tmp_path / "one"), "RUN")
    assert "kernelwise" not in two.stderr, two.stderr  # no rank reported an error
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert (run / "checkpoint" / "epoch-0001" / "state.json").is_file()


def test_lenet5_on_the_mnist_sample_with_uneven_shares_equals_one_process(tmp_path: Path, mnist_sample: Path) -> None:
    args = [*SGD, "--dataset", "mnist", "--data-dir", str(mnist_sample), "--batch-size", "64", "--max-steps", "3"]
    _train(1, tmp_path / "one", *args)
    _train(3, tmp_path / "three", *args)  # 22/21/21 a batch
    _assert_same_run(tmp_path / "one", tmp_path / "three", _tolerance(3, 0.05, 64), test_size=1000, train_size=4000)


def test_batchnorm_model_with_sync_batchnorm_equals_one_process(tmp_path: Path) -> None:
    # small_vgg's five BatchNorm layers become SyncBatchNorm: statistics of the whole global batch
    args = [*SGD, "--model", "small_vgg", "--batch-size", "50", "--max-steps", "3"]  # 17/17/16 on 3 ranks
    _train(1, tmp_path / "one", *args)
    _train(3, tmp_path / "three", *args)
    _assert_same_run(tmp_path / "one", tmp_path / "three", _tolerance(3, 0.05, 50, factor=10), test_size=359)
    running = [k for k in _weights(tmp_path / "one") if k.endswith("running_var")]
    assert running  # the batch statistics the ranks shared are in the weights compared


def test_a_rank_with_an_empty_share_adds_nothing(tmp_path: Path) -> None:
    # Batches of 718, 718 and 2: on 3 ranks the last leaves rank 2 nothing, yet it takes part in every
    # SyncBatchNorm reduction and in DDP's all-reduce, with nothing. The reference is 2 ranks (shares 1
    # and 1): BatchNorm on a batch of 2 normalises every value to ±1 and divides the gradient by the
    # two values' distance, which amplifies rounding enough (~2e-3 here) that one process's float32
    # statistics and SyncBatchNorm's float64 ones cannot be compared on that step.
    args = [*SGD[:-2], "--model", "small_vgg", "--batch-size", "718", "--epochs", "1"]
    _train(2, tmp_path / "two", *args)
    _train(3, tmp_path / "three", *args)
    _assert_same_run(tmp_path / "two", tmp_path / "three", _tolerance(3, 0.05, 718, factor=10), test_size=359)


def test_resume_on_another_number_of_ranks_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    # 1,438 images in batches of 718: 718, 718, 2 a epoch; on 3 ranks the last batch leaves rank 2 none
    args = [*SGD[:-2], "--model", "digits_cnn", "--batch-size", "718"]
    _train(1, tmp_path / "one", *args, "--epochs", "2")
    _train(2, tmp_path / "run", *args, "--epochs", "1")
    resumed = _launch(3, ["-m", "kernelwise", "train", "--resume", str(tmp_path / "run"), "--epochs", "2"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    _assert_same_run(tmp_path / "one", tmp_path / "run", _tolerance(6, 0.05, 718), test_size=359)
    assert [m["world_size"] for m in _metrics(tmp_path / "run")["history"]] == [2, 3]


FAULTY_RANK = '''\
"""kernelwise train, with rank 1 failing at its loss computation number AT (MODE: raise or die)."""
import os, signal, sys
from kernelwise import cli, nn

mode, at = sys.argv[1], int(sys.argv[2])
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
forward, calls = nn.CrossEntropyLoss.forward, 0


def failing(self, *args, **kwargs):
    global calls
    calls += 1
    if rank == 1 and calls == at:
        if mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError("injected fault")
    return forward(self, *args, **kwargs)


nn.CrossEntropyLoss.forward = failing
sys.exit(cli.main(sys.argv[3:]))
'''


@pytest.mark.parametrize("mode", ["raise", "die"])
def test_a_failing_rank_stops_every_rank_and_keeps_the_last_checkpoint(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "faulty_rank.py"
    script.write_text(FAULTY_RANK, encoding="utf-8")
    run = tmp_path / "run"
    # 3 steps and one test batch an epoch: loss call 6 is the second step of epoch 2
    train = ["train", "--out", str(run), "--no-progress", *SGD[:-2], "--batch-size", "718", "--epochs", "3"]
    done = _launch(2, [str(script), mode, "6", *train], timeout=30)  # a hang would time out: never
    assert done.returncode != 0
    if mode == "raise":
        assert "rank 1: kernelwise: error: injected fault" in done.stderr
    state = trainstate.load_latest(run / "checkpoint")
    assert state is not None and state.epoch == 1
    assert not (run / "model.safetensors").exists()
