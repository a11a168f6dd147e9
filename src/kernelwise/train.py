"""Training and evaluation loops: ``fit`` and ``evaluate`` (no argument parsing here).

Example:
    >>> import numpy as np, kernelwise as kw
    >>> from kernelwise import nn, optim
    >>> from kernelwise.data import DataLoader, TensorDataset
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((64, 4)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
    >>> loader = DataLoader(TensorDataset(kw.tensor(x), kw.tensor(y)), batch_size=16, shuffle=True, generator=0)
    >>> model = nn.Sequential(nn.Linear(4, 2, generator=0))
    >>> history = fit(model, loader, optim.SGD(model.parameters(), lr=0.5), epochs=5, progress=False)
    >>> history[-1]["train_accuracy"] > 0.8
    True
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import distributed, memory, nn, trainstate
from .errors import UsageError
from .nn.parallel import DistributedDataParallel
from .optim.lr_scheduler import ReduceLROnPlateau
from .tensor import Tensor, no_grad


def fit(
    model: nn.Module,
    train_loader: Iterable[tuple[Tensor, Tensor]],
    optimizer: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    epochs: int = 1,
    test_loader: Iterable[tuple[Tensor, Tensor]] | None = None,
    scheduler: Any = None,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    progress: bool = True,
    max_steps: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool | trainstate.TrainingState = False,
    reuse_freed_memory: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model`` for ``epochs`` epochs (or ``max_steps`` optimizer steps); return the history.

    Each epoch: forward, loss, ``backward``, ``optimizer.step()`` per batch, with a tqdm progress
    bar showing the running loss and images/s; then, if ``test_loader`` is given, an evaluation,
    and ``scheduler.step()`` (``ReduceLROnPlateau`` steps on the test loss, else the train
    loss). Each callback gets the epoch's metrics dict: ``epoch``,
    ``train_loss``, ``train_accuracy``, ``images_per_second``, ``seconds``, ``lr`` and
    ``test_loss``/``test_accuracy``.

    With ``checkpoint_dir``, the full training state (weights, optimizer, scheduler, every
    random generator, counters and history; see :mod:`kernelwise.trainstate`) is committed
    there at the end of every epoch, so an interrupted run loses at most the epoch in
    progress. ``resume=True`` first restores the newest state in ``checkpoint_dir`` (or pass
    a loaded :class:`~kernelwise.trainstate.TrainingState`) and trains on from the epoch after
    it: the result is bit-identical to never stopping. Pass the same objects, built the same
    way; ``epochs`` may be larger than before. The returned history holds the restored
    epochs too.

    Data-parallel under an initialised process group of N > 1 ranks (``mpiexec``, see
    :mod:`kernelwise.distributed`): every rank passes the same ``train_loader`` (same seed, so the same
    global batches) and ``model`` wrapped in :class:`~kernelwise.nn.parallel.DistributedDataParallel`;
    each rank trains on its contiguous share of every global batch (see :func:`batch_share`), and the
    epoch's loss sum, correct and seen counts are summed over the ranks, so the metrics are the ones
    a single process would log. Each rank passes its own slice of the test set as ``test_loader``
    (:func:`evaluate` sums the slices). The metrics then also hold ``world_size`` and
    ``communication_seconds`` (the time this rank waited on gradient communication in the epoch).

    ``reuse_freed_memory`` (default on) asks glibc to keep freed memory for the next step (see
    :mod:`kernelwise.memory`: up to 40% of a step's time on small models); it changes the whole
    process's malloc settings, so pass False to leave them alone.

    Raises:
        ValueError: epochs < 1; FloatingPointError: the loss became NaN or infinite;
        trainstate.StateError: the state to resume is missing, corrupt or does not fit;
        files.FileWriteError: a state could not be written (the previous one stays intact).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"epochs: must be a positive integer, got {epochs!r}")
    if reuse_freed_memory:
        memory.reuse_freed_memory()
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history: list[dict[str, Any]] = []
    steps = done = 0
    world = distributed.get_world_size() if distributed.is_initialized() else 1
    network = _unwrapped(model)  # what is saved and evaluated: the same on every rank, without a wrapper
    if resume is not False:
        state = resume if isinstance(resume, trainstate.TrainingState) else _latest_state(checkpoint_dir)
        trainstate.apply(state, network, optimizer, scheduler, train_loader)
        history, steps, done = list(state.history), state.steps, state.epoch
    for epoch in range(done + 1, epochs + 1):
        if max_steps is not None and steps >= max_steps:
            break
        model.train()
        bar = _progress(train_loader, f"epoch {epoch}/{epochs}", progress)
        start = time.perf_counter()
        waited = getattr(model, "communication_seconds", 0.0)
        try:
            seen, correct, loss_sum, steps = _epoch(model, bar, optimizer, loss_fn, epoch, steps, max_steps, start)
        finally:
            if progress:
                bar.close()
        if world > 1:  # each rank counted its shares: the sums are the epoch's numbers
            seen, correct, loss_sum = distributed.all_reduce_array(np.array([seen, correct, loss_sum])).tolist()
            seen, correct = int(seen), int(correct)
        seconds = time.perf_counter() - start
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "images_per_second": seen / seconds if seconds > 0 else float("nan"),
            "seconds": seconds,
            "lr": optimizer.param_groups[0]["lr"],
        }
        if world > 1:
            metrics["world_size"] = world
            metrics["communication_seconds"] = getattr(model, "communication_seconds", 0.0) - waited
        if test_loader is not None:
            result = evaluate(network, test_loader, loss_fn)
            metrics["test_loss"], metrics["test_accuracy"] = result["loss"], result["accuracy"]
        if isinstance(scheduler, ReduceLROnPlateau):  # it steps on a metric: the test loss, else the train loss
            scheduler.step(metrics.get("test_loss", metrics["train_loss"]))
        elif scheduler is not None:
            scheduler.step()
        history.append(metrics)
        if checkpoint_dir is not None:
            state = trainstate.capture(
                network, optimizer, scheduler, train_loader, epoch=epoch, steps=steps, history=history
            )
            trainstate.save(checkpoint_dir, state)
        for callback in callbacks:
            callback(metrics)
    return history


def _epoch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    optimizer: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    epoch: int,
    steps: int,
    max_steps: int | None,
    start: float,
) -> tuple[int, int, float, int]:
    """One pass over the batches: forward, loss, backward, step. Returns (seen, correct, loss sum, steps).

    With N > 1 ranks each batch is a global one: this rank takes its share and weights its mean loss
    by ``b_r·N/B`` (see :func:`batch_share`); seen, correct and the loss sum count its share only.
    """
    rank, world = (distributed.get_rank(), distributed.get_world_size()) if distributed.is_initialized() else (0, 1)
    seen = correct = 0
    loss_sum = 0.0
    for x, y in batches:
        weight = 1.0
        if world > 1:
            x, y, weight = batch_share(x, y, rank, world)
        logits = model(x)
        n = len(y)
        # an empty share has no loss terms: its sum, 0, gives every parameter a zero gradient
        loss = loss_fn(logits, y) if n else logits.sum()
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the loss became {value} at epoch {epoch}, step {steps + 1}; try a smaller learning rate"
            )
        optimizer.zero_grad()
        (loss * weight if world > 1 else loss).backward()
        optimizer.step()
        seen += n
        loss_sum += value * n
        correct += int((logits._array.argmax(axis=1) == y._array).sum())
        steps += 1
        if hasattr(batches, "set_postfix"):  # the progress bar
            rate = seen / (time.perf_counter() - start)
            # refresh=False: the bar redraws at its own pace, not once per batch
            batches.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{rate:.0f}", refresh=False)
        if max_steps is not None and steps >= max_steps:
            break
    return seen, correct, loss_sum, steps


def share_bounds(total: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share ``[lo, hi)`` of ``total`` items, as ``np.array_split`` cuts them.

    The first ``total % world`` ranks get one item more: 64 on 3 ranks is 22, 21, 21.

    Example:
        >>> [share_bounds(64, r, 3) for r in range(3)]
        [(0, 22), (22, 43), (43, 64)]
    """
    base, extra = divmod(total, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def batch_share(x: Tensor, y: Tensor, rank: int, world: int) -> tuple[Tensor, Tensor, float]:
    """This rank's share of a global batch of ``B`` samples, and the weight ``b_r·N/B`` of its mean loss.

    DistributedDataParallel averages the ranks' gradients: ``(1/N)·Σ_r (b_r·N/B)·g_r = Σ_r (b_r/B)·g_r``,
    the gradient of the mean loss over the whole batch, as one process computes it, also when the
    shares differ. A rank whose share is empty (a batch of fewer samples than ranks) gets an empty
    batch and weight 0: it still runs forward and backward, so it takes part in every collective
    (SyncBatchNorm's statistics, DDP's all-reduce), and adds nothing to them.
    """
    lo, hi = share_bounds(len(y), rank, world)
    return x[lo:hi], y[lo:hi], (hi - lo) * world / len(y)


def _unwrapped(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel (its ``module``), else ``model`` itself."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def _latest_state(checkpoint_dir: str | os.PathLike | None) -> trainstate.TrainingState:
    if checkpoint_dir is None:
        raise UsageError("fit: resume=True needs checkpoint_dir, the folder the states were saved in")
    state = trainstate.load_latest(checkpoint_dir)
    if state is None:
        raise trainstate.StateError(f"no training state to resume in {checkpoint_dir}")
    return state


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Loss, accuracy, per-class accuracy and confusion matrix of ``model`` on ``loader``.

    The confusion matrix counts ``confusion[true, predicted]``. Runs in eval mode without
    recording the graph, and puts the model back in the mode it was in. Under an initialised
    process group of N > 1 ranks each rank passes its own slice of the test set (an empty one
    too): the loss sum, count and confusion matrix are summed over the ranks, and every rank
    returns the result of the whole set.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    targets, predictions = [], []
    loss_sum, seen = 0.0, 0
    with no_grad():
        for x, y in loader:
            logits = model(x)
            loss_sum += loss_fn(logits, y).item() * len(y)
            seen += len(y)
            targets.append(y._array)
            predictions.append(logits._array.argmax(axis=1))
    model.train(was_training)
    t = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    p = np.concatenate(predictions) if predictions else np.zeros(0, np.int64)
    largest = int(max(t.max(), p.max())) if seen else -1
    world = distributed.get_world_size() if distributed.is_initialized() else 1
    if world > 1 and num_classes is None:  # the same matrix size on every rank
        largest = int(distributed.all_reduce_array(np.array(largest), distributed.ReduceOp.MAX))
    k = num_classes or largest + 1
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (t, p), 1)
    if world > 1:  # each rank counted its slice: the sums are the whole test set's
        loss_sum, seen = distributed.all_reduce_array(np.array([loss_sum, seen])).tolist()
        seen = int(seen)
        confusion = distributed.all_reduce_array(confusion)
    if seen == 0:
        raise UsageError("evaluate: the loader yielded no samples")
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return {
        "loss": loss_sum / seen,
        "accuracy": int(np.trace(confusion)) / seen,
        "per_class_accuracy": per_class.tolist(),
        "confusion": confusion,
        "count": seen,
    }


def _progress(iterable: Iterable[Any], desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="batch", leave=False, dynamic_ncols=True)
