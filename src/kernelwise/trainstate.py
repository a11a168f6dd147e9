"""The full state of a training run on disk, committed once per epoch, so no run ever loses work.

A state is everything the next epoch depends on: the model's parameters and buffers, the
optimizer's state (moments, step counts, hyperparameters), the scheduler, every random
generator (the data loader's, which fixes the data order; kernelwise's default one, which
dropout draws from; generators held by layers; NumPy's and Python's global ones), the
epoch and step counters and the metrics history. Restoring it and training on gives the
same bits as never stopping.

On disk, in a checkpoint folder::

    epoch-0003/              one complete state (the newest committed one wins)
        model.safetensors    parameters and buffers
        optimizer.safetensors    the optimizer's per-parameter arrays
        state.json           everything else, and the SHA-256 of the two files above

Each state is written into ``epoch-0003.partial/`` (every file to a temporary name,
flushed and renamed), and the folder is then renamed to ``epoch-0003``: that rename is
the one commit point, so a kill at any instant leaves either the previous complete state
or the new one. Older states and ``*.partial`` leftovers are then deleted. Only
safetensors and JSON are written or read: nothing is ever unpickled.

Example:
    >>> import tempfile, numpy as np, kernelwise as kw
    >>> from kernelwise import nn, optim, trainstate
    >>> model = nn.Linear(2, 1, generator=0)
    >>> opt = optim.Adam(model.parameters(), lr=0.1)
    >>> folder = tempfile.mkdtemp()
    >>> _ = trainstate.save(folder, trainstate.capture(model, opt, epoch=1, steps=4, history=[{"epoch": 1}]))
    >>> restored = trainstate.load_latest(folder)
    >>> restored.epoch, restored.steps, restored.history
    (1, 4, [{'epoch': 1}])
"""

from __future__ import annotations

import hashlib
import json
import os
import random as py_random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import random as _random
from .errors import CheckpointError
from .files import PARTIAL, fsync_path, naming_errors, remove_partials, write_atomic, write_text_atomic

FORMAT = "kernelwise-state/1"
_STATE_DIR = re.compile(r"^epoch-(\d{4,})$")


class StateError(CheckpointError):
    """A saved training state that is malformed, corrupt or does not fit the model being resumed."""


@dataclass
class TrainingState:
    """One epoch's complete training state (arrays are copies, never views of the live model)."""

    epoch: int
    steps: int
    history: list[dict[str, Any]]
    model: dict[str, np.ndarray]
    optimizer: dict[str, Any] | None = None  # Optimizer.state_dict()
    scheduler: dict[str, Any] | None = None  # LRScheduler.state_dict()
    rng: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ random generators
def _generators(model: Any, loader: Any) -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` training draws from, by a stable name."""
    found: dict[str, np.random.Generator] = {"default": _random.generator()}
    if isinstance(getattr(loader, "generator", None), np.random.Generator):
        found["loader"] = loader.generator
    for name, module in model.named_modules() if hasattr(model, "named_modules") else ():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"module:{name}.{attr}"] = value
    return found


def _capture_rng(model: Any, loader: Any) -> dict[str, Any]:
    rng: dict[str, Any] = {
        name: generator.bit_generator.state for name, generator in _generators(model, loader).items()
    }
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    rng["numpy_global"] = [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]
    version, internal, gauss_next = py_random.getstate()
    rng["python_global"] = [version, list(internal), gauss_next]
    return rng


def _restore_rng(rng: dict[str, Any], model: Any, loader: Any) -> None:
    live = _generators(model, loader)
    missing = sorted(set(live) - set(rng))
    if missing:
        raise StateError(f"the saved state has no random generator for {', '.join(missing)}")
    for name, generator in live.items():
        try:
            generator.bit_generator.state = rng[name]
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise StateError(f"the saved state of random generator {name!r} is malformed: {e}") from None
    try:
        kind, keys, pos, has_gauss, gauss = rng["numpy_global"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        version, internal, gauss_next = rng["python_global"]
        py_random.setstate((version, tuple(internal), gauss_next))
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise StateError(f"the saved state of the global random generators is malformed: {e}") from None


# ------------------------------------------------------------------ capture and apply
def capture(
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    loader: Any = None,
    *,
    epoch: int,
    steps: int,
    history: list[dict[str, Any]],
) -> TrainingState:
    """The state of a training run now (after ``epoch`` epochs and ``steps`` optimizer steps)."""
    return TrainingState(
        epoch=int(epoch),
        steps=int(steps),
        history=json.loads(json.dumps(history)),  # a deep copy, and a check that it is JSON
        model={name: np.array(t.numpy(), order="C") for name, t in model.state_dict().items()},
        optimizer=optimizer.state_dict() if optimizer is not None else None,
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        rng=_capture_rng(model, loader),
    )


def apply(state: TrainingState, model: Any, optimizer: Any = None, scheduler: Any = None, loader: Any = None) -> None:
    """Put ``state`` into the live objects: weights, optimizer, scheduler and every generator.

    Everything is checked against the live objects first (names, shapes, dtypes; raises
    :class:`StateError`), so a state that does not fit leaves the model as it was.
    """
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state.model)), sorted(set(state.model) - set(own))
    if missing or unexpected:
        raise StateError(f"the saved model does not match: missing {missing}, unexpected {unexpected}")
    for name, value in state.model.items():
        if value.shape != own[name].shape or value.dtype != own[name].dtype:
            raise StateError(
                f"the saved {name!r} is {value.dtype}{list(value.shape)}, "
                f"the model has {own[name].dtype}{list(own[name].shape)}"
            )
    if (optimizer is None) != (state.optimizer is None) or (scheduler is None) != (state.scheduler is None):
        raise StateError(
            "the saved state was made with "
            f"{'an' if state.optimizer is not None else 'no'} optimizer and "
            f"{'a' if state.scheduler is not None else 'no'} scheduler; resume with the same"
        )
    try:
        model.load_state_dict(state.model)
        if optimizer is not None:
            optimizer.load_state_dict(state.optimizer)
        if scheduler is not None:
            scheduler.load_state_dict(state.scheduler)
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise StateError(f"the saved state does not fit: {e}") from None
    _restore_rng(state.rng, model, loader)


# ------------------------------------------------------------------ the folder on disk
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split_optimizer(state_dict: dict[str, Any] | None) -> tuple[dict[str, np.ndarray], Any]:
    """Arrays go to safetensors as ``state.{index}.{name}``; numbers and groups stay JSON."""
    if state_dict is None:
        return {}, None
    arrays: dict[str, np.ndarray] = {}
    numbers: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                arrays[f"state.{index}.{name}"] = np.ascontiguousarray(value)
            else:
                numbers.setdefault(str(index), {})[name] = value
    return arrays, {"param_groups": state_dict["param_groups"], "numbers": numbers}


def _join_optimizer(arrays: dict[str, np.ndarray], saved: Any, folder: Path) -> dict[str, Any]:
    """The optimizer's state_dict from its tensors and the JSON part of ``folder/state.json``."""
    groups, numbers = saved["param_groups"], saved["numbers"]
    if not (isinstance(groups, list) and all(isinstance(group, dict) for group in groups)):
        raise StateError(f"{folder / 'state.json'}: the optimizer's param_groups is not a list of objects")
    if not (isinstance(numbers, dict) and all(isinstance(n, dict) for n in numbers.values())):
        raise StateError(f"{folder / 'state.json'}: the optimizer's numbers are not an object of objects")
    state: dict[int, dict[str, Any]] = {}
    for key, value in arrays.items():
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise StateError(f"{folder / 'optimizer.safetensors'}: unexpected tensor name {key!r}")
        state.setdefault(int(parts[1]), {})[parts[2]] = value
    for index, numbers in saved["numbers"].items():
        state.setdefault(int(index), {}).update(numbers)
    return {"state": state, "param_groups": saved["param_groups"]}


def _write_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": FORMAT}))


def save(folder: str | os.PathLike, state: TrainingState) -> Path:
    """Commit ``state`` as ``folder/epoch-NNNN`` and delete older states; return its path.

    Raises:
        FileWriteError: a file could not be written (full disk, ...); the message names it.
            The previous complete state is left as it was.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"epoch-{state.epoch:04d}"
    staging = folder / (final.name + PARTIAL)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with naming_errors(final):
            staging.mkdir()
            optimizer_arrays, optimizer_json = _split_optimizer(state.optimizer)
            _write_tensors(staging / "model.safetensors", state.model)
            _write_tensors(staging / "optimizer.safetensors", optimizer_arrays)
            document = {
                "format": FORMAT,
                "epoch": state.epoch,
                "steps": state.steps,
                "history": state.history,
                "optimizer": optimizer_json,
                "scheduler": state.scheduler,
                "rng": state.rng,
                "sha256": {name: _sha256(staging / name) for name in ("model.safetensors", "optimizer.safetensors")},
            }
            write_text_atomic(staging / "state.json", json.dumps(document) + "\n")
            if final.exists():  # the same epoch committed before (a resumed run redoing it): replace it
                shutil.rmtree(final)
            os.replace(staging, final)  # the commit point
            fsync_path(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for older in _committed(folder):
        if older != final:
            shutil.rmtree(older, ignore_errors=True)
    return final


def _committed(folder: Path) -> list[Path]:
    """The committed state folders, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _STATE_DIR.match(p.name)]
    return sorted(found, key=lambda p: int(_STATE_DIR.match(p.name).group(1)))  # type: ignore[union-attr]


def latest_epoch(folder: str | os.PathLike) -> int | None:
    """The epoch of the newest committed state in ``folder`` (None when there is none)."""
    states = _committed(Path(folder))
    return int(_STATE_DIR.match(states[-1].name).group(1)) if states else None  # type: ignore[union-attr]


def _read_tensors(path: Path, expected_sha: Any) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise StateError(f"{path} is missing")
    if _sha256(path) != expected_sha:
        raise StateError(f"{path} does not match the checksum in state.json (corrupt file)")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise StateError(f"{path} is not a readable safetensors file: {e}") from None
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise StateError(f"{path}: tensor {name!r} has non-finite values")
    return tensors


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)  # not bool


def load(path: str | os.PathLike) -> TrainingState:
    """Read and check one committed state folder (``.../epoch-NNNN``)."""
    path = Path(path)
    try:
        document = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateError(f"{path} has no state.json (not a training state)") from None
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, an integer of over 4300 digits, deep nesting
        raise StateError(f"{path / 'state.json'} is malformed: {e}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateError(f"{path / 'state.json'} was not written by kernelwise (no {FORMAT!r} format)")
    malformed = f"{path / 'state.json'} is malformed"
    try:
        epoch, steps = document["epoch"], document["steps"]
        if not (isinstance(epoch, int) and isinstance(steps, int) and epoch >= 0 and steps >= 0):
            raise StateError(f"{malformed}: epoch and steps must be non-negative integers")
        history, sha, rng = document["history"], document["sha256"], document["rng"]
        if not isinstance(history, list) or not isinstance(sha, dict) or not isinstance(rng, dict):
            raise StateError(f"{malformed}: history must be a list, sha256 and rng objects")
        if not all(isinstance(m, dict) and all(_is_number(v) for v in m.values()) for m in history):
            raise StateError(f"{malformed}: history must hold one object of numbers per epoch")
        if not isinstance(document["scheduler"], dict | None):
            raise StateError(f"{malformed}: scheduler must be an object or null")
        model = _read_tensors(path / "model.safetensors", sha.get("model.safetensors"))
        optimizer_arrays = _read_tensors(path / "optimizer.safetensors", sha.get("optimizer.safetensors"))
        saved_optimizer = document["optimizer"]
        optimizer = None if saved_optimizer is None else _join_optimizer(optimizer_arrays, saved_optimizer, path)
        return TrainingState(
            epoch=epoch,
            steps=steps,
            history=history,
            model=model,
            optimizer=optimizer,
            scheduler=document["scheduler"],
            rng=rng,
        )
    except StateError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise StateError(f"{malformed}: {e}") from None


def load_latest(folder: str | os.PathLike, tidy: bool = True) -> TrainingState | None:
    """The newest committed state in ``folder``, checked (None when there is none).

    Leftover ``*.partial`` folders and files (a write that was cut short) are deleted, unless
    ``tidy`` is False (a reader that must not write, such as the ranks other than 0 of an MPI run).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if tidy:
        remove_partials(folder)
    states = _committed(folder)
    return load(states[-1]) if states else None
