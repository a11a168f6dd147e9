"""End to end against PyTorch: the same model, weights, batches and optimizer, trained in lockstep.

After several optimizer steps the parameters must still agree: layers, loss, backward, optimizer
and schedule are all in the loop, so any one of them being wrong makes the runs drift apart.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernelwise import nn
from kernelwise.bench.mirror import to_torch
from kernelwise.data import DataLoader, load_dataset
from kernelwise.models import build_model
from kernelwise.runs import make_optimizer, make_scheduler

torch = pytest.importorskip("torch")


def _lockstep(model, loader, optimizer: str, lr: float, steps: int, epochs: int = 2):
    twin = to_torch(model, torch)
    opt = make_optimizer(optimizer, model.parameters(), lr)
    schedule = make_scheduler("cosine", opt, epochs)
    t_opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9), "adam": lambda p: torch.optim.Adam(p, lr=lr)}[
        optimizer
    ](twin.parameters())
    t_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=epochs)
    losses = []
    for _ in range(epochs):
        for i, (x, y) in enumerate(loader):
            if i == steps:
                break
            loss = nn.CrossEntropyLoss()(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x.numpy())), torch.from_numpy(y.numpy()))
            t_opt.zero_grad()
            t_loss.backward()
            t_opt.step()
            losses.append((loss.item(), t_loss.item()))
        schedule.step()
        t_schedule.step()
    return twin, np.array(losses)


def _assert_same_parameters(model, twin, rtol, atol):
    theirs = dict(twin.state_dict())
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), theirs[name].numpy(), rtol=rtol, atol=atol, err_msg=name)


def test_digits_cnn_with_adam_tracks_pytorch():
    train, _, info = load_dataset("digits")
    model = build_model("digits_cnn", input_shape=tuple(info.input_shape), generator=0)
    twin, losses = _lockstep(model, DataLoader(train, 32, shuffle=True, generator=0), "adam", 2e-3, steps=15)
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], rtol=2e-3, atol=2e-4)
    assert losses[-1, 0] < losses[0, 0] / 2  # it learned
    _assert_same_parameters(model, twin, rtol=1e-2, atol=2e-4)


def test_lenet5_with_sgd_momentum_on_mnist_tracks_pytorch(mnist_sample):
    train, _, info = load_dataset("mnist", data_dir=mnist_sample)
    model = build_model("lenet5", input_shape=tuple(info.input_shape), generator=1)
    twin, losses = _lockstep(model, DataLoader(train, 64, shuffle=True, generator=1), "sgd", 0.05, steps=12)
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], rtol=2e-3, atol=2e-4)
    _assert_same_parameters(model, twin, rtol=1e-2, atol=2e-4)


def test_small_resnet_with_batchnorm_tracks_pytorch():
    rng = np.random.default_rng(0)
    from kernelwise.data import TensorDataset

    x = rng.standard_normal((32, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    model = build_model("small_resnet", input_shape=(3, 16, 16), generator=2)
    twin, losses = _lockstep(model, DataLoader(TensorDataset(x, y), 8), "sgd", 0.02, steps=4, epochs=1)
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], rtol=2e-3, atol=2e-4)
    _assert_same_parameters(model, twin, rtol=1e-2, atol=5e-4)
