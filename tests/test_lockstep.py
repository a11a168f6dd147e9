"""End to end against PyTorch: the same model, weights, batches and optimizer, trained in lockstep.

Layers, loss, backward, optimizer and schedule are all in the loop, so any one of them being wrong
makes the runs drift apart. The runs are in float64. In float32, training steps apart is chaotic:
another CPU's BLAS kernels order their sums differently, a ReLU input or a max-pooling tie within
rounding of the decision falls on the other side, that unit's gradient switches on or off, and the
runs part by far more than rounding (1e-3 in 4 steps of the small ResNet). In float64 the runs
differ by ~1e-13, and that a run's ~1e7 ReLU inputs put one that close to 0 has a chance of ~1e-6,
so the weights after several steps must still agree. Each model trains twice: on the convolution
paths float64 dispatches to (the readable one) and on the fast paths float32 training takes, forced
in float64. A float32 run, re-synchronised to PyTorch's weights at every step, checks the float32
forward pass and dtypes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import kernelwise as kw
from kernelwise import nn
from kernelwise.bench.mirror import to_torch
from kernelwise.data import DataLoader, TensorDataset, load_dataset
from kernelwise.models import build_model
from kernelwise.ops import conv, fastconv
from kernelwise.runs import make_optimizer, make_scheduler

torch = pytest.importorskip("torch")

# float64 (u = 1.1e-16): one step's sums (≤ 50,176 terms: LeNet-5's first dL/dW, 64·28·28) differ in
# rounding by ~√K·u ≈ 2.5e-14 of their scale, 20× that through Winograd's transforms; 1e-9 leaves a
# factor 2,000 for the growth of that difference over ≤ 30 steps (measured: ≤ 3e-13 on three BLAS
# kernels) and still fails a run whose Winograd dL/dW is off by a millionth.
F64_TOL = 1e-9
# float32 (u = 6e-8): the loss and BatchNorm's statistics come from one forward pass of sums of
# ≤ 576 terms (64 channels · 3·3), ~√K·u ≈ 1.4e-6 of the scale a layer for the direct sums and 20×
# that for Winograd; 1e-4 is the bound tests/test_fastconv.py holds a float32 Winograd layer to
# (measured here: ≤ 3e-7 for the loss, ≤ 1e-6 for the statistics, on three BLAS kernels).
F32_TOL = 1e-4


def _assert_close(actual: np.ndarray, expected: np.ndarray, tol: float, what: str) -> None:
    """|actual - expected| ≤ tol·|expected| + tol·(largest |expected|): relative to each element and to the array."""
    expected = np.asarray(expected)
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)  # BatchNorm's num_batches_tracked
        return
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * np.abs(expected).max(initial=0), err_msg=what)


def _torch_optimizer(optimizer: str, params, lr: float):
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9),
        "adam": lambda: torch.optim.Adam(params, lr=lr),
    }[optimizer]()


@pytest.fixture(params=["readable", "fast"])
def conv_paths(request, monkeypatch) -> Iterator[list[str]]:
    """The convolution algorithms the test ran: "readable", as dispatched for float64 (the windows path);
    "fast", the ones ops/fastconv/ picks for float32 at these shapes, forced in float64."""
    used = []

    def choose(*shapes_and_options, dtype, needs_grad):
        dtype = np.float32 if request.param == "fast" else dtype
        method = fastconv.choose_method(*shapes_and_options, dtype, needs_grad)
        used.append(method)
        return method

    monkeypatch.setattr(conv, "choose_method", lambda *args: choose(*args[:-2], dtype=args[-2], needs_grad=args[-1]))
    yield used
    assert used, "no convolution ran"
    if request.param == "fast":
        assert "windows" not in used, used
    else:
        assert set(used) == {"windows"}, used


def _lockstep(model, loader, optimizer: str, lr: float, steps: int, epochs: int = 2):
    """Train ``model`` and its PyTorch twin in float64 for ``steps`` batches of each of ``epochs`` epochs."""
    twin = to_torch(model, torch).double()
    model.to(np.float64)
    opt = make_optimizer(optimizer, model.parameters(), lr)
    schedule = make_scheduler("cosine", opt, epochs)
    t_opt = _torch_optimizer(optimizer, twin.parameters(), lr)
    t_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=epochs)
    losses = []
    for _ in range(epochs):
        for i, (x, y) in enumerate(loader):
            if i == steps:
                break
            x64 = x.numpy().astype(np.float64)
            loss = nn.CrossEntropyLoss()(model(kw.tensor(x64)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x64)), torch.from_numpy(y.numpy()))
            t_opt.zero_grad()
            t_loss.backward()
            t_opt.step()
            losses.append((loss.item(), t_loss.item()))
        schedule.step()
        t_schedule.step()
    return twin, np.array(losses)


def _assert_same_state(model, twin, tol: float) -> None:
    theirs = dict(twin.state_dict())
    for name, value in model.state_dict().items():
        _assert_close(value.numpy(), theirs[name].numpy(), tol, name)


def _case(name: str, request: pytest.FixtureRequest) -> tuple:
    """A model (its own seed) and its recipe: (model, loader, optimizer, lr, steps per epoch, epochs)."""
    if name == "digits_cnn":
        train, _, info = load_dataset("digits")
        model = build_model("digits_cnn", input_shape=tuple(info.input_shape), generator=0)
        return model, DataLoader(train, 32, shuffle=True, generator=0), "adam", 2e-3, 15, 2
    if name == "lenet5":
        train, _, info = load_dataset("mnist", data_dir=request.getfixturevalue("mnist_sample"))
        model = build_model("lenet5", input_shape=tuple(info.input_shape), generator=1)
        return model, DataLoader(train, 64, shuffle=True, generator=1), "sgd", 0.05, 12, 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    model = build_model("small_resnet", input_shape=(3, 16, 16), generator=2)
    return model, DataLoader(TensorDataset(x, y), 8), "sgd", 0.02, 4, 1


@pytest.mark.usefixtures("conv_paths")
def test_digits_cnn_with_adam_tracks_pytorch(request):
    model, loader, *recipe = _case("digits_cnn", request)
    twin, losses = _lockstep(model, loader, *recipe)
    _assert_close(losses[:, 0], losses[:, 1], F64_TOL, "losses")
    assert losses[-1, 0] < losses[0, 0] / 2  # it learned
    _assert_same_state(model, twin, F64_TOL)


@pytest.mark.usefixtures("conv_paths")
def test_lenet5_with_sgd_momentum_on_mnist_tracks_pytorch(request):
    model, loader, *recipe = _case("lenet5", request)
    twin, losses = _lockstep(model, loader, *recipe)
    _assert_close(losses[:, 0], losses[:, 1], F64_TOL, "losses")
    _assert_same_state(model, twin, F64_TOL)


@pytest.mark.usefixtures("conv_paths")
def test_small_resnet_with_batchnorm_tracks_pytorch(request):
    model, loader, *recipe = _case("small_resnet", request)
    twin, losses = _lockstep(model, loader, *recipe)
    _assert_close(losses[:, 0], losses[:, 1], F64_TOL, "losses")
    _assert_same_state(model, twin, F64_TOL)  # weights and BatchNorm's running statistics


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "small_resnet"])
def test_float32_forward_tracks_pytorch_re_synchronised_at_every_step(name, request):
    """PyTorch trains in float32; before each step kernelwise takes its weights and buffers, so nothing
    accumulates. The loss and BatchNorm's running statistics are continuous in the weights: a ReLU input
    within rounding of 0 moves them by rounding only. The gradients are not compared here: at such an
    input they jump, and either side is right (the float64 runs above compare them)."""
    model, loader, optimizer, lr, steps, epochs = _case(name, request)
    twin = to_torch(model, torch)
    t_opt = _torch_optimizer(optimizer, twin.parameters(), lr)
    t_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=epochs)
    for epoch in range(epochs):
        for i, (x, y) in enumerate(loader):
            if i == steps:
                break
            model.load_state_dict({key: value.numpy().copy() for key, value in twin.state_dict().items()})
            loss = nn.CrossEntropyLoss()(model(x), y)
            model.zero_grad()
            loss.backward()
            t_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x.numpy())), torch.from_numpy(y.numpy()))
            t_opt.zero_grad()
            t_loss.backward()
            where = f"epoch {epoch + 1}, step {i + 1}"
            assert loss.dtype == np.float32, where
            _assert_close(loss.numpy(), t_loss.detach().numpy(), F32_TOL, f"loss, {where}")
            _assert_same_state(model, twin, F32_TOL)  # the running statistics this forward pass updated
            for key, param in model.named_parameters():
                assert param.grad.dtype == np.float32 and np.isfinite(param.grad.numpy()).all(), f"{key}, {where}"
            t_opt.step()
        t_schedule.step()
