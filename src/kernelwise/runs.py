"""Training runs on disk: the recipes behind ``kernelwise train`` and the run directory.

A run directory holds ``config.json`` (the run's settings, written before training),
``checkpoint/epoch-NNNN/`` (the full training state of the last complete epoch, see
:mod:`kernelwise.trainstate`) and, once training ends, ``model.safetensors`` (weights,
architecture and config), ``metrics.json`` (per-epoch history, final test accuracy,
images/s, seed, versions), ``curves.png`` (loss and accuracy), and ``samples/`` (a few test
images to try ``kernelwise predict`` on). Every file is written to a temporary name, flushed
and renamed, so a failure never leaves a half-written file behind.

Started by ``mpiexec -n N`` (:func:`join_ranks`), a run trains data-parallel on N processes and
equals the one-process run: the same global batches (``batch_size`` is the global batch), each rank
a contiguous share of every one, BatchNorm as SyncBatchNorm, gradients averaged by
DistributedDataParallel, the test set evaluated in slices and summed. Rank 0 alone prints and
writes the run directory; the saved state is rank 0's and fits any number of ranks on resume.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoint, distributed, nn, optim, trainstate, workers
from .backends import cpu
from .errors import KernelwiseError, UsageError
from .files import PARTIAL, remove_partials, write_atomic, write_text_atomic
from .models import MODELS, build_model
from .tensor import Tensor
from .threads import blas_info
from .train import evaluate, fit, share_bounds

# The default recipe per dataset: model, epochs, batch size, optimizer, learning rate and schedule.
# MNIST-1D: the paper's Adam 1e-2, batch 100, 6,000 steps (150 epochs of 40), the rate ×0.1 at 1/3 and 2/3.
_RECIPE = ("model", "epochs", "batch_size", "optimizer", "lr", "schedule")
RECIPES: dict[str, dict[str, Any]] = {
    name: dict(zip(_RECIPE, values, strict=True))
    for name, values in {
        "digits": ("digits_cnn", 12, 32, "adam", 2e-3, "cosine"),
        "mnist": ("lenet5", 10, 64, "sgd", 0.05, "cosine"),
        "fashion-mnist": ("lenet5", 10, 64, "sgd", 0.05, "cosine"),
        "mnist1d": ("mnist1d_cnn", 150, 100, "adam", 1e-2, "step"),
        "cifar10": ("small_resnet", 10, 64, "sgd", 0.05, "cosine"),
        "images": ("small_vgg", 10, 32, "adam", 1e-3, "cosine"),
    }.items()
}
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "constant")


@dataclass
class RunConfig:
    """Everything that defines a training run (stored in the checkpoint and metrics.json)."""

    dataset: str = "digits"
    model: str | None = None
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str | None = None
    seed: int = 0
    max_steps: int | None = None
    steady_threads: bool = False  # kernelwise.backends.cpu.steady_threads for the run (kept on --resume)

    def resolved(self) -> RunConfig:
        """Fill what was left out from the dataset's recipe and check every value."""
        if self.dataset not in RECIPES:
            raise UsageError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(RECIPES)}")
        recipe = RECIPES[self.dataset]
        filled = replace(self, **{k: v for k, v in recipe.items() if getattr(self, k) is None})
        if filled.data_dir is not None:  # absolute, so that the run's data is found from any folder
            filled = replace(filled, data_dir=os.path.abspath(os.path.expanduser(filled.data_dir)))
        if filled.model not in MODELS:
            raise UsageError(f"unknown model {filled.model!r}; choose one of {', '.join(MODELS)}")
        if filled.schedule not in SCHEDULES:
            raise UsageError(f"unknown schedule {filled.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if filled.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {filled.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        for name in ("epochs", "batch_size"):
            value = getattr(filled, name)
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        if not filled.lr > 0:
            raise UsageError(f"--lr must be positive, got {filled.lr}")
        if filled.seed < 0:
            raise UsageError(f"--seed must be non-negative, got {filled.seed}")
        if filled.max_steps is not None and (not isinstance(filled.max_steps, int) or filled.max_steps < 1):
            raise UsageError(f"--max-steps must be a positive integer, got {filled.max_steps}")
        if not isinstance(filled.steady_threads, bool):
            raise UsageError(f"steady_threads must be true or false, got {filled.steady_threads!r}")
        return filled


def make_optimizer(name: str, params: Any, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> Any:
    """``sgd`` (with momentum), ``adam`` or ``adamw``."""
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)
    raise UsageError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(name: str, optimizer: Any, epochs: int) -> Any:
    """The learning-rate schedule over ``epochs``: ``cosine`` annealing to 0 (the final weights settle
    instead of bouncing at the full rate), ``step`` (×0.1 every third of the run),
    or ``constant``."""
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "constant":
        return None
    raise UsageError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def versions() -> dict[str, str]:
    from . import __version__

    return {"kernelwise": __version__, "numpy": np.__version__, "python": platform.python_version()}


# Made from the last state (model.onnx by `kernelwise export`): removed when a run is resumed or replaced.
OUTPUTS = ("model.safetensors", "metrics.json", "curves.png", "confusion.png", "samples", "model.onnx")
# What a run directory holds; --force deletes only these, and refuses a folder with anything else.
RUN_ENTRIES = ("config.json", "checkpoint", ".write-check", *OUTPUTS)


class RunError(UsageError):
    """A run directory that cannot be used as asked (exists, not writable, nothing to resume, ...)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says how far the saved state goes and how to resume."""


def prepare_run_dir(out: str | os.PathLike, force: bool = False) -> Path:
    """Create the run directory ``out`` and check it is writable, before any training.

    An existing non-empty directory is refused, unless ``force``: then it must hold a
    kernelwise run only (nothing but :data:`RUN_ENTRIES`), which is deleted whole.
    """
    run = Path(out)
    if run.exists() and not run.is_dir():
        raise RunError(f"the run directory {run} exists and is not a folder")
    if run.is_dir() and any(run.iterdir()):
        if not force:
            raise RunError(
                f"{run} already holds a run: continue it with `kernelwise train --resume {run}`, "
                "replace it with --force, or choose another --out"
            )
        foreign = sorted(p.name for p in run.iterdir() if p.name not in RUN_ENTRIES and not p.name.endswith(PARTIAL))
        if foreign:
            raise RunError(
                f"--force replaces only a kernelwise run directory, and {run} also holds "
                f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}; choose another --out"
            )
        for entry in run.iterdir():
            _remove(entry)
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create the run directory {run}: {e.strerror or e}") from None
    _check_writable(run)
    return run


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _check_writable(run: Path) -> None:
    try:
        write_text_atomic(run / ".write-check", "")
        (run / ".write-check").unlink()
    except OSError as e:
        raise RunError(f"cannot write to the run directory {run}: {e.strerror or e}") from None


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def join_ranks() -> tuple[int, int]:
    """This process's rank and the world size: (0, 1) alone; started by ``mpiexec -n N`` with N > 1,
    the MPI process group is joined first (:mod:`kernelwise.distributed`; ``pip install kernelwise[mpi]``).

    Under MPI an exception on one rank leaves the others waiting in a collective: a caller that
    catches it must end the job with :func:`kernelwise.distributed.abort` (the ``kernelwise`` command does).
    """
    if distributed.launched_by_mpi() and not distributed.is_initialized():
        distributed.init_process_group()
    if not distributed.is_initialized():
        return 0, 1
    return distributed.get_rank(), distributed.get_world_size()


def _silent(message: str) -> None:
    """The log of ranks other than 0: rank 0 alone prints."""


def train_run(
    config: RunConfig,
    out: str | os.PathLike,
    progress: bool = True,
    log: Callable[[str], None] = print,
    force: bool = False,
) -> dict[str, Any]:
    """Train as ``config`` says and write the run directory ``out``; return the metrics.

    ``out`` is created and checked writable first; an existing run there is refused unless
    ``force`` (which replaces it whole). The full training state is committed to
    ``out/checkpoint`` after every epoch, so :func:`resume_run` can continue after Ctrl-C,
    ``kill -9`` or a full disk. Ctrl-C raises :class:`TrainingInterrupted`.
    """
    cfg = config.resolved()
    rank, _ = join_ranks()
    run = prepare_run_dir(out, force) if rank == 0 else Path(out)  # rank 0 alone writes the run directory
    return _train(cfg, run, progress, log)


def resume_run(
    run_dir: str | os.PathLike,
    epochs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last complete epoch; return the metrics.

    With the same ``epochs`` the result is bit-identical to the run never interrupted.
    A larger ``epochs`` trains longer: the schedule is then the one for the new length,
    taken up at the epoch reached (as if that length had been planned from epoch 1 on).
    """
    run = Path(run_dir)
    rank, _ = join_ranks()
    if not run.is_dir():
        raise RunError(f"run directory not found: {run}")
    try:
        saved = json.loads((run / "config.json").read_text(encoding="utf-8"))
        cfg = RunConfig(**saved["config"]).resolved()
    except FileNotFoundError:
        raise RunError(f"{run} has no config.json: not a run directory kernelwise can resume") from None
    except KernelwiseError:
        raise  # a setting resolved() refuses, in its own words
    except (ValueError, KeyError, TypeError, RecursionError) as e:  # bad JSON, a missing key, a wrong type
        raise RunError(f"{run / 'config.json'} is malformed: {e}") from None
    if rank == 0:  # rank 0 alone writes; the others read the same state
        _check_writable(run)
    state = trainstate.load_latest(run / "checkpoint", tidy=rank == 0)
    if state is not None:
        _check_run_state(state, run)
    done = state.epoch if state is not None else 0
    if epochs is not None:
        if not isinstance(epochs, int) or epochs < 1:
            raise RunError(f"--epochs must be a positive integer, got {epochs}")
        if epochs < done:
            raise RunError(f"--epochs {epochs} is fewer than the {done} epochs {run} has already trained")
        if epochs != cfg.epochs and state is not None:
            _restart_schedule(state, cfg, epochs)
        cfg = replace(cfg, epochs=epochs)
    return _train(cfg, run, progress, log, state)


RUN_HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "images_per_second", "seconds")  # what a run reads


def _check_run_state(state: trainstate.TrainingState, run: Path) -> None:
    """What a run needs of a saved state beyond :func:`trainstate.load`'s checks: an optimizer, each epoch's metrics."""
    where = f"the training state in {run / 'checkpoint'}"
    if state.optimizer is None:
        raise RunError(f"{where} has no optimizer state (kernelwise train always saves one)")
    for i, metrics in enumerate(state.history, start=1):
        missing = [key for key in RUN_HISTORY_KEYS if key not in metrics]
        if missing:
            raise RunError(f"{where}: the metrics of epoch {i} lack {', '.join(missing)}")


def _restart_schedule(state: trainstate.TrainingState, cfg: RunConfig, epochs: int) -> None:
    """Set the saved learning rate and scheduler to where a schedule of ``epochs`` epochs is at ``state.epoch``."""
    probe = make_optimizer(cfg.optimizer, [nn.Parameter(Tensor(np.zeros(1, np.float32)))], cfg.lr, cfg.momentum)
    scheduler = make_scheduler(cfg.schedule, probe, epochs)
    for _ in range(state.epoch):
        if scheduler is not None:
            scheduler.step()
    assert state.optimizer is not None
    for group in state.optimizer["param_groups"]:
        group["lr"] = probe.param_groups[0]["lr"]
    state.scheduler = scheduler.state_dict() if scheduler is not None else None


def _train(
    cfg: RunConfig,
    run: Path,
    progress: bool,
    log: Callable[[str], None],
    state: trainstate.TrainingState | None = None,
) -> dict[str, Any]:
    from .data import DataLoader, Subset, load_dataset

    rank, world = join_ranks()
    if rank != 0:  # rank 0 alone prints and shows progress
        progress, log = False, _silent
    train_set, test_set, info = load_dataset(cfg.dataset, data_dir=cfg.data_dir, seed=cfg.seed)
    input_shape = tuple(int(n) for n in info.input_shape)
    network = build_model(cfg.model, input_shape=input_shape, num_classes=info.num_classes, generator=cfg.seed)
    model = network
    if world > 1:  # batch statistics of the global batch; the ranks' gradients averaged in backward
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
        model = _data_parallel(network)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler = make_scheduler(cfg.schedule, opt, cfg.epochs)
    # Every rank draws the same global batches (same seed) and trains on its share of each (fit).
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=cfg.seed)
    lo, hi = share_bounds(len(test_set), rank, world)  # each rank evaluates its slice; evaluate sums them
    test_loader = DataLoader(test_set if world == 1 else Subset(test_set, range(lo, hi)), batch_size=256)
    meta = {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "input_shape": list(input_shape),
        "num_classes": info.num_classes,
        "class_names": list(info.classes),
        "mean": np.asarray(info.mean, dtype=float).tolist(),
        "std": np.asarray(info.std, dtype=float).tolist(),
        "config": asdict(cfg),
    }
    if rank == 0:
        # The last state is the run's truth: outputs made from an earlier one would sit beside a newer model.
        for name in OUTPUTS:
            _remove(run / name)
        remove_partials(run)  # what a killed run was writing
        write_text_atomic(run / "config.json", json.dumps({"config": asdict(cfg), "meta": meta}, indent=2) + "\n")
    params = sum(p.numel() for p in model.parameters())
    steady = cfg.steady_threads
    threads = workers.get_num_threads() if steady else blas_info().threads
    log(
        f"training {cfg.model} ({params:,} parameters) on {cfg.dataset}: {len(train_set):,} train / "
        f"{len(test_set):,} test images of shape {input_shape}, {_plural(cfg.epochs, 'epoch')}, "
        f"batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule}), seed {cfg.seed}"
        + (
            f", {_plural(threads, 'thread')} (steady: GEMMs in fixed chunks)"
            if steady
            else f", {_plural(threads, 'BLAS thread')}"
        )
        + (f"; {world} MPI processes, BatchNorm synchronised across them" if world > 1 else "")
    )
    from .data.advice import small_split_warning

    if warning := small_split_warning(test_set, info.classes):
        log(f"warning: {warning}")
    if state is not None:
        log(f"resuming {run} after epoch {state.epoch}/{cfg.epochs}")

    def report(m: dict[str, Any]) -> None:
        log(
            f"epoch {m['epoch']:>3}/{cfg.epochs}  train loss {m['train_loss']:.4f} acc {m['train_accuracy']:.2%}  "
            f"test loss {m['test_loss']:.4f} acc {m['test_accuracy']:.2%}  "
            f"{m['images_per_second']:,.0f} img/s  ({m['seconds']:.1f} s)"
        )

    try:
        with cpu.flags(steady_threads=steady):  # the run's own setting: the same bits on --resume
            history = fit(
                model,
                train_loader,
                opt,
                nn.CrossEntropyLoss(),
                epochs=cfg.epochs,
                test_loader=test_loader,
                scheduler=scheduler,
                callbacks=[report],
                progress=progress,
                max_steps=cfg.max_steps,
                checkpoint_dir=run / "checkpoint" if rank == 0 else None,
                resume=state if state is not None else False,
            )
            return _write_outputs(run, network, meta, history, test_loader, test_set, log, write=rank == 0)
    except KeyboardInterrupt:
        done = trainstate.latest_epoch(run / "checkpoint") or 0
        raise TrainingInterrupted(
            f"interrupted after epoch {done}/{cfg.epochs}; resume with: kernelwise train --resume {run}"
        ) from None


def _data_parallel(network: nn.Module) -> nn.Module:
    """``network`` in DistributedDataParallel: rank 0's weights everywhere, gradients averaged in backward."""
    from .nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network)


def _write_outputs(
    run: Path,
    model: nn.Module,
    meta: dict[str, Any],
    history: list[dict[str, Any]],
    test_loader: Any,
    test_set: Any,
    log: Callable[[str], None],
    write: bool = True,
) -> dict[str, Any]:
    """The finished run's files: metrics.json, curves.png, samples/ and, last, model.safetensors.

    Every rank of an MPI run evaluates its slice of the test set; only the one that ``write`` s writes.
    """
    final = evaluate(model, test_loader, num_classes=meta["num_classes"])
    total_images = sum(m["images_per_second"] * m["seconds"] for m in history)
    total_seconds = sum(m["seconds"] for m in history)
    metrics = {
        **meta,
        "history": history,
        "test_accuracy": final["accuracy"],
        "test_loss": final["loss"],
        "per_class_accuracy": final["per_class_accuracy"],
        "train_images_per_second": total_images / total_seconds if total_seconds else None,
        "seed": meta["config"]["seed"],
        "versions": versions(),
    }
    images = len(meta["input_shape"]) == 3
    if not write:
        return metrics
    # The model goes last: a run directory with model.safetensors is a finished one.
    write_text_atomic(run / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_atomic(run / "curves.png", lambda p: plot_curves(history, p))
    if images:
        write_samples(test_set, meta, run / "samples")
    checkpoint.save(run / "model.safetensors", model, meta)
    log(
        f"test accuracy {final['accuracy']:.2%}; wrote {run / 'model.safetensors'}, metrics.json, curves.png"
        + (", samples/" if images else "")
    )
    return metrics


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss and accuracy per epoch, train and test, as a PNG."""
    from matplotlib.figure import Figure

    epochs = [m["epoch"] for m in history]
    fig = Figure(figsize=(9, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [m["train_loss"] for m in history], "o-", label="train")
    ax_loss.plot(epochs, [m.get("test_loss") for m in history], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.plot(epochs, [100 * m["train_accuracy"] for m in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * m.get("test_accuracy", float("nan")) for m in history], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


def to_pixels(image: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Undo the dataset normalisation: (C, H, W) float -> (H, W) or (H, W, 3) uint8."""
    mean = np.asarray(meta["mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(meta["std"], dtype=np.float32).reshape(-1, 1, 1)
    pixels = np.clip((image * std + mean) * 255 + 0.5, 0, 255).astype(np.uint8)
    return pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)


def write_samples(test_set: Any, meta: dict[str, Any], folder: Path, count: int = 6) -> list[Path]:
    """Save the first ``count`` test images as PNG files named after their label."""
    from PIL import Image

    from .names import file_stem

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(min(count, len(test_set))):
        image, label = test_set[i]
        image = image.numpy() if hasattr(image, "numpy") else np.asarray(image)
        name = meta["class_names"][int(label)] if meta.get("class_names") else str(int(label))
        path = folder / f"test{i}_{file_stem(name)}.png"  # a class name is never a path ('T-shirt/top')
        write_atomic(path, lambda p, im=image: Image.fromarray(to_pixels(im, meta)).save(p, format="PNG"))
        paths.append(path)
    return paths


def load_run(run_dir: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """The model and config of a run directory, or of a checkpoint file given itself (validated)."""
    run = Path(run_dir)
    if run.is_file():  # e.g. runs/demo/model.safetensors
        return checkpoint.load(run)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory not found: {run}")
    path = run / "model.safetensors"
    if not path.is_file():
        if (run / "config.json").is_file():  # a run that has not finished
            done = trainstate.latest_epoch(run / "checkpoint") or 0
            raise RunError(
                f"the training in {run} stopped after epoch {done} before it finished; "
                f"resume it with: kernelwise train --resume {run}"
            )
        raise FileNotFoundError(f"{run} has no model.safetensors (train one with: kernelwise train --out {run})")
    return checkpoint.load(path)


def prepare_image(path: str | os.PathLike, meta: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Read an image file and convert it to the model's input; return it and what was converted.

    Pictures of more than :data:`kernelwise.images.MAX_PIXELS` are refused before they are decoded.
    """
    from .images import read_pixels

    shape = meta["input_shape"]
    if len(shape) != 3:
        raise UsageError(f"model {meta['model']} takes 1-D signals of shape {tuple(shape)}, not image files")
    channels, height, width = shape
    pixels, notes = read_pixels(path, "L" if channels == 1 else "RGB", (height, width))
    pixels = pixels.astype(np.float32) / 255.0  # (C, H, W)
    mean = np.asarray(meta.get("mean", 0.0), dtype=np.float32).reshape(-1, 1, 1)  # checked by checkpoint.load
    std = np.asarray(meta.get("std", 1.0), dtype=np.float32).reshape(-1, 1, 1)
    return (pixels - mean) / std, notes


MAX_CELL_NUMBERS = 40  # classes up to which the confusion matrix shows each cell's count and every name


def confusion_figure(confusion: np.ndarray, class_names: list[str], path: Path, title: str) -> None:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG.

    Class names are labels, not markup: cut to :data:`kernelwise.names.PLOT_LIMIT` characters, with
    control characters and matplotlib's ``$`` escaped. Past :data:`MAX_CELL_NUMBERS` classes the
    cells go without their counts, the axes without names, and the figure stops growing.
    """
    from matplotlib.figure import Figure

    from .names import plotted

    k = len(confusion)
    labels = [plotted(name) for name in class_names]
    side = min(k, MAX_CELL_NUMBERS)
    wide = min(0.1 * len(plotted(title, limit=200)) + 0.6, 14)  # the title fits (12 pt: about 0.1 inch a character)
    fig = Figure(figsize=(max(1 + 0.55 * side, 4.5, wide), max(1 + 0.5 * side, 4)))  # at least 4.5 × 4 inches
    ax = fig.subplots()
    ax.imshow(confusion, cmap="Blues")
    if k <= MAX_CELL_NUMBERS:
        for i in range(k):
            for j in range(k):
                color = "white" if confusion[i, j] > confusion.max() / 2 else "black"
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8, color=color)
        slanted = {"rotation": 45, "ha": "right", "rotation_mode": "anchor"} if max(map(len, labels)) > 2 else {}
        ax.set_xticks(range(k), labels, usetex=False, **slanted)
        ax.set_yticks(range(k), labels, usetex=False)
    ax.set(xlabel="predicted", ylabel="true", title=plotted(title, limit=200))
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=100))
