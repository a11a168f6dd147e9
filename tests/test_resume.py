"""Runs that never lose work: the training state each epoch, resume, Ctrl-C, kill -9, a full disk.

The reference everywhere is the same run never interrupted: resuming must give the same
bits (weights, optimizer moments, losses and accuracies), not merely close numbers.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kernelwise as kw
from kernelwise import files, nn, optim, trainstate
from kernelwise.cli import main
from kernelwise.data import DataLoader, TensorDataset
from kernelwise.train import fit

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"seconds", "images_per_second"}  # the only metrics that may differ between two equal runs


def _setup(epochs: int = 5):
    """A small model with every kind of state: Adam moments, a cosine schedule, a shuffling
    loader, dropout drawing from kernelwise's default generator and a layer-held generator."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 80)
    kw.manual_seed(11)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, generator=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.2),  # the default generator
        nn.Flatten(),
        nn.Dropout(0.1, generator=4),  # its own generator
        nn.Linear(64, 3, generator=2),
    )
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loader = DataLoader(TensorDataset(kw.tensor(x), kw.tensor(y)), batch_size=16, shuffle=True, generator=3)
    test = DataLoader(TensorDataset(kw.tensor(x[:32]), kw.tensor(y[:32])), batch_size=16)
    return model, opt, sched, loader, test


def _train(epochs: int, **kwargs):
    model, opt, sched, loader, test = _setup(kwargs.pop("plan", epochs))
    history = fit(model, loader, opt, epochs=epochs, scheduler=sched, test_loader=test, progress=False, **kwargs)
    return model, opt, history


def _same_run(model_a, opt_a, history_a, model_b, opt_b, history_b) -> None:
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name
    state_a, state_b = opt_a.state_dict(), opt_b.state_dict()
    for index, entries in state_a["state"].items():
        for key, value in entries.items():
            assert np.array_equal(value, state_b["state"][index][key]), (index, key)
    assert state_a["param_groups"] == state_b["param_groups"]
    strip = [[{k: v for k, v in m.items() if k not in TIMING} for m in h] for h in (history_a, history_b)]
    assert strip[0] == strip[1]


@pytest.fixture(scope="module")
def uninterrupted():
    return _train(5)


@pytest.mark.parametrize("stop", [1, 2, 4])
def test_resume_is_bit_identical_to_never_stopping(uninterrupted, tmp_path, stop):
    _train(stop, plan=5, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"epoch-{stop:04d}"]  # only the newest state is kept
    kw.manual_seed(999)  # a fresh process would not share the first run's default generator either
    np.random.seed(5)
    resumed = _train(5, checkpoint_dir=tmp_path, resume=True)
    _same_run(*uninterrupted, *resumed)


class _Killed(BaseException):
    """Stands for the process dying at this instant (not an Exception: nothing may catch it)."""


def _count_file_operations(monkeypatch, die_at: int | None = None) -> dict[str, int]:
    """Count every flush and rename from now on; raise _Killed at the ``die_at``-th one."""
    counter = {"n": 0}
    for name in ("replace", "fsync"):
        original = getattr(os, name)

        def counted(*args, _original=original, **kwargs):
            counter["n"] += 1
            if counter["n"] == die_at:
                raise _Killed
            return _original(*args, **kwargs)

        monkeypatch.setattr(os, name, counted)
    return counter


def test_a_kill_at_any_instant_of_a_commit_leaves_a_complete_state(uninterrupted, tmp_path, monkeypatch):
    counter = _count_file_operations(monkeypatch)
    _train(1, plan=5, checkpoint_dir=tmp_path / "count")  # one commit
    monkeypatch.undo()
    operations = counter["n"]
    assert operations >= 6  # three files (flush + rename each), the folder rename, the folder flushes
    for die_at in range(1, operations + 1):
        folder = tmp_path / f"die{die_at}"
        _train(2, plan=5, checkpoint_dir=folder)  # epochs 1-2 committed
        _count_file_operations(monkeypatch, die_at)
        with pytest.raises(_Killed):
            _train(5, checkpoint_dir=folder, resume=True)  # dies while committing epoch 3
        monkeypatch.undo()
        # A real kill also skips the clean-up that the exception ran: leave what it would have left.
        (folder / "epoch-0003.partial").mkdir(exist_ok=True)
        (folder / "epoch-0003.partial" / "model.safetensors.partial").write_bytes(b"half")
        state = trainstate.load_latest(folder)
        assert state is not None and state.epoch in (2, 3), die_at
        assert not list(folder.glob("*.partial")), die_at  # leftovers are removed when the state is read
        resumed = _train(5, checkpoint_dir=folder, resume=True)
        _same_run(*uninterrupted, *resumed)


def test_a_full_disk_keeps_the_previous_state(tmp_path, monkeypatch):
    _train(2, plan=5, checkpoint_dir=tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "epoch-0002").iterdir()}

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 10)  # a few bytes got written, then the disk was full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.numpy.save_file", full_disk)
    with pytest.raises(files.FileWriteError, match=r"cannot write .*epoch-0003.partial.*No space left on device"):
        _train(5, checkpoint_dir=tmp_path, resume=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002"]  # nothing half-written beside it
    assert {p.name: p.read_bytes() for p in (tmp_path / "epoch-0002").iterdir()} == before
    assert trainstate.load_latest(tmp_path).epoch == 2


def test_a_corrupt_or_mismatched_state_is_refused(tmp_path):
    _train(1, plan=5, checkpoint_dir=tmp_path)
    weights = tmp_path / "epoch-0001" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(trainstate.StateError, match="checksum"):
        trainstate.load_latest(tmp_path)
    other = tmp_path / "other"
    _train(1, plan=5, checkpoint_dir=other)
    model, opt, sched, loader, _ = _setup()
    smaller = nn.Sequential(nn.Linear(36, 3, generator=0))
    with pytest.raises(trainstate.StateError, match="does not match"):
        fit(smaller, loader, optim.Adam(smaller.parameters()), checkpoint_dir=other, resume=True, progress=False)
    with pytest.raises(trainstate.StateError, match="no training state"):
        fit(model, loader, opt, scheduler=sched, checkpoint_dir=tmp_path / "empty", resume=True, progress=False)


# ---------------------------------------------------------------------------------- the command line
def kw_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "KERNELWISE_OFFLINE": "1", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "kernelwise", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as in a terminal: a shell running this suite in the background hands its children
        # SIGINT ignored, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


# A constant rate, so a run planned for 1,000 epochs (which no test waits for: it is stopped) and
# one planned for k + 2 are the same run over their first k + 2 epochs.
TRAIN = ("train", "--schedule", "constant", "--batch-size", "16", "--no-progress")


def _weights(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


def _history(run: Path) -> list[dict]:
    history = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in m.items() if k not in TIMING} for m in history]


def _stopped_after(run: Path, epoch: int, stop) -> tuple[subprocess.Popen, int]:
    """Start a 1,000-epoch run, stop it with ``stop(process)`` once ``epoch`` epochs are committed."""
    process = kw_cli(*TRAIN, "--epochs", "1000", "--out", str(run))
    try:
        while (trainstate.latest_epoch(run / "checkpoint") or 0) < epoch:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        stop(process)
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:  # it did not stop: never leave a 1,000-epoch run behind
            process.kill()
            process.communicate()
    done = trainstate.latest_epoch(run / "checkpoint")
    assert done is not None and done >= epoch
    return process, done


def _resume_and_compare(run: Path, epochs: int, tmp_path: Path) -> None:
    process = kw_cli("train", "--resume", str(run), "--epochs", str(epochs), "--no-progress")
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert "resuming" in stdout
    reference = tmp_path / "never-stopped"
    process = kw_cli(*TRAIN, "--epochs", str(epochs), "--out", str(reference))
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert len(_history(run)) == epochs
    assert _history(run) == _history(reference)
    got, want = _weights(run), _weights(reference)
    assert got.keys() == want.keys()
    for name in want:
        assert np.array_equal(got[name], want[name]), name


def test_ctrl_c_keeps_the_last_epoch_and_resume_ends_bit_identical(tmp_path):
    run = tmp_path / "run"
    errors = []

    def ctrl_c(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGINT)
        errors.append(process.communicate(timeout=120)[1])

    process, done = _stopped_after(run, 1, ctrl_c)
    assert process.returncode == 130, errors
    lines = errors[0].strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in errors[0], errors[0]
    assert lines[0] == f"interrupted after epoch {done}/1000; resume with: kernelwise train --resume {run}"
    assert not (run / "model.safetensors").exists()  # an unfinished run has no final model yet
    assert not list(run.rglob("*.partial"))
    _resume_and_compare(run, done + 2, tmp_path)


def test_kill_9_then_resume_ends_bit_identical(tmp_path):
    run = tmp_path / "run"
    _, done = _stopped_after(run, 2, lambda process: process.kill())  # SIGKILL: no handler runs
    evaluate = kw_cli("evaluate", str(run))
    _, stderr = evaluate.communicate(timeout=600)
    assert evaluate.returncode == 1 and f"resume it with: kernelwise train --resume {run}" in stderr
    _resume_and_compare(run, done + 2, tmp_path)


def test_resume_raises_epochs_with_the_longer_schedule(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(run), "--no-progress"]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-progress"]) == 0
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [m["epoch"] for m in history] == [1, 2, 3, 4]
    # digits recipe: Adam 2e-3, cosine; epoch 3 runs at the 4-epoch schedule's t = 2: 2e-3·(1 + cos(π·2/4))/2
    assert history[2]["lr"] == pytest.approx(2e-3 * (1 + math.cos(math.pi * 2 / 4)) / 2, rel=1e-12)
    assert history[1]["lr"] == pytest.approx(2e-3 * (1 + math.cos(math.pi / 2)) / 2, rel=1e-12)  # 2-epoch plan
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 1
    assert "--epochs 3 is fewer than the 4 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--lr", "0.1"]) == 1
    assert "--lr cannot be combined with --resume" in capsys.readouterr().err


def test_out_is_checked_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["train", "--out", str(blocker / "run"), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "epoch" not in captured.out and "training" not in captured.out  # refused before any work
    assert captured.err.count("\n") == 1 and "cannot create the run directory" in captured.err


def test_an_existing_run_is_refused_and_force_replaces_it_whole(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(run), "--no-progress"]) == 0
    (run / "confusion.png").write_bytes(b"from the old run")
    first = (run / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", "--epochs", "1", "--out", str(run), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run" in err and "--force" in err
    assert (run / "model.safetensors").read_bytes() == first  # untouched
    assert main(["train", "--epochs", "1", "--seed", "1", "--out", str(run), "--no-progress", "--force"]) == 0
    assert not (run / "confusion.png").exists()  # nothing of the old run is left beside the new model
    assert (run / "model.safetensors").read_bytes() != first
    assert json.loads((run / "config.json").read_text())["config"]["seed"] == 1
    (run / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["train", "--epochs", "1", "--out", str(run), "--no-progress", "--force"]) == 1
    assert "also holds notes.txt" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "mine"


def test_a_full_disk_on_the_command_line_is_one_line(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    calls = {"n": 0}
    from safetensors.numpy import save_file

    def fills_up(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] > 2:  # epoch 1's two files fit; epoch 2's do not
            raise OSError(errno.ENOSPC, "No space left on device")
        save_file(tensors, filename, metadata=metadata)

    monkeypatch.setattr("safetensors.numpy.save_file", fills_up)
    assert main(["train", "--epochs", "3", "--out", str(run), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device" in err and "model.safetensors" in err
    monkeypatch.undo()
    assert trainstate.latest_epoch(run / "checkpoint") == 1
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0


def test_steady_threads_resume_on_another_thread_count_is_bit_identical(tmp_path, capsys):
    """A --steady-threads run keeps its setting on --resume and gives the same bits at 1 and 2 threads."""
    from kernelwise import backends, serialization

    common = ["--schedule", "constant", "--no-progress", "--steady-threads"]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", "--epochs", "2", "--threads", "2", "--out", str(whole), *common]) == 0
    assert main(["train", "--epochs", "1", "--threads", "1", "--out", str(part), *common]) == 0
    assert json.loads((part / "config.json").read_text())["config"]["steady_threads"] is True
    assert main(["train", "--resume", str(part), "--epochs", "2", "--threads", "2", "--no-progress"]) == 0
    assert backends.cpu.steady_threads is False  # the run's setting holds for the run only
    a, b = (serialization.load(str(run / "model.safetensors")) for run in (whole, part))
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name].numpy(), b[name].numpy()), name
    assert main(["train", "--resume", str(part), "--epochs", "3", "--steady-threads"]) != 0
    assert "--steady-threads cannot be combined with --resume" in capsys.readouterr().err
