"""fit / evaluate: learning, reproducibility, metrics and failure modes."""

from __future__ import annotations

import numpy as np
import pytest

import kernelwise as kw
from kernelwise import nn, optim
from kernelwise.data import DataLoader, TensorDataset
from kernelwise.train import evaluate, fit


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.0]], dtype=np.float32)
    x = centers[y] + 0.3 * rng.standard_normal((n, 2)).astype(np.float32)
    return TensorDataset(kw.tensor(x), kw.tensor(y))


def _model(seed=0):
    return nn.Sequential(nn.Linear(2, 16, generator=seed), nn.ReLU(), nn.Linear(16, 3, generator=seed + 1))


def test_fit_learns_and_reports_every_metric():
    data = _blobs()
    model = _model()
    seen = []
    history = fit(model, DataLoader(data, 16, shuffle=True, generator=1), optim.SGD(model.parameters(), lr=0.1),
                  epochs=4, test_loader=DataLoader(data, 64), callbacks=[seen.append], progress=False)  # fmt: skip
    assert seen == history and [m["epoch"] for m in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.95
    for key in ("train_accuracy", "images_per_second", "seconds", "lr", "test_loss"):
        assert key in history[-1]


def test_same_seed_gives_bit_identical_loss_curves():
    def run():
        model = _model(3)
        loader = DataLoader(_blobs(), 8, shuffle=True, generator=5)
        h = fit(model, loader, optim.Adam(model.parameters(), lr=0.01), epochs=3, progress=False)
        return [m["train_loss"] for m in h], [p.numpy().copy() for p in model.parameters()]

    (a, pa), (b, pb) = run(), run()
    assert a == b
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_array_equal(x, y)


def test_max_steps_stops_early():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    calls = []
    original = opt.step
    opt.step = lambda: (calls.append(1), original())[1]
    fit(model, DataLoader(_blobs(), 10), opt, epochs=5, max_steps=7, progress=False)
    assert len(calls) == 7


def test_scheduler_steps_once_per_epoch():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=1.0)
    history = fit(model, DataLoader(_blobs(), 60), opt, epochs=3, scheduler=optim.StepLR(opt, 1, gamma=0.5),
                  progress=False)  # fmt: skip
    assert [m["lr"] for m in history] == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("with_test", [True, False])
def test_reduce_lr_on_plateau_steps_on_the_test_loss_else_the_train_loss(with_test):
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt)
    seen = []
    step = plateau.step
    plateau.step = lambda metric: (seen.append(metric), step(metric))  # type: ignore[method-assign]
    test = DataLoader(_blobs(seed=1), 60) if with_test else None
    history = fit(model, DataLoader(_blobs(), 60), opt, epochs=3, scheduler=plateau, test_loader=test, progress=False)
    assert seen == [m["test_loss" if with_test else "train_loss"] for m in history]


def test_diverging_loss_is_reported():
    model = _model()
    with pytest.raises(FloatingPointError, match="smaller learning rate"), np.errstate(all="ignore"):
        fit(model, DataLoader(_blobs(), 10), optim.SGD(model.parameters(), lr=1e30), epochs=3, progress=False)


def test_bad_epochs():
    model = _model()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, DataLoader(_blobs(), 10), optim.SGD(model.parameters(), lr=0.1), epochs=0, progress=False)


class _Fixed(nn.Module):
    """Predicts class (x[0] rounded) with certainty: a model whose answers are known."""

    def forward(self, x):
        logits = np.full((len(x), 3), -10.0, dtype=np.float32)
        logits[np.arange(len(x)), x.numpy()[:, 0].astype(int)] = 10.0
        return kw.tensor(logits)


def test_evaluate_confusion_matrix_by_hand():
    predictions = np.array([0, 1, 2, 2, 1, 0], dtype=np.float32)[:, None]
    targets = np.array([0, 1, 2, 1, 1, 2])
    result = evaluate(_Fixed(), DataLoader(TensorDataset(kw.tensor(predictions), kw.tensor(targets)), 4), num_classes=3)
    expected = np.array([[1, 0, 0], [0, 2, 1], [1, 0, 1]])  # rows: true class, columns: predicted
    np.testing.assert_array_equal(result["confusion"], expected)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["per_class_accuracy"] == pytest.approx([1.0, 2 / 3, 0.5])
    assert result["count"] == 6


def test_evaluate_restores_training_mode():
    model = _model()
    model.train()
    evaluate(model, DataLoader(_blobs(), 50))
    assert model.training
