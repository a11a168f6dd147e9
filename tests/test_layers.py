"""Layers against torch.nn: the same weights (loaded through state_dict), forward and every gradient."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise import nn
from kernelwise.nn import functional as F
from parity import assert_close, distinct, largest_size

DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def load_from_torch(k_mod: nn.Module, t_mod: torch.nn.Module) -> None:
    """Copy torch's parameters and buffers into the kernelwise layer (the keys must be the same)."""
    state = {name: value.detach().numpy().copy() for name, value in t_mod.state_dict().items()}
    assert list(k_mod.state_dict()) == list(state)
    k_mod.load_state_dict(state)


# --------------------------------------------------------------------------- one helper, many cases
def check_layer(
    k_mod: nn.Module, t_mod: torch.nn.Module, x: np.ndarray, train: bool = True, steps: int = 1, seed: int = 0
) -> None:
    """Same weights in both; compare the output, dL/dx, dL/d(every parameter) and every buffer afterwards."""
    dtype = x.dtype.type
    t_mod = t_mod.to(TORCH_DTYPE[dtype])
    load_from_torch(k_mod, t_mod)
    k_mod.train(train)
    t_mod.train(train)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        xs = x if step == 0 else (x * rng.uniform(0.5, 2) + rng.standard_normal(x.shape)).astype(dtype)
        k_x = kw.Tensor(xs.copy(), requires_grad=True)
        t_x = torch.tensor(xs, requires_grad=True)
        out, t_out = k_mod(k_x), t_mod(t_x)
        assert out.dtype == dtype and out.shape == tuple(t_out.shape)
        # every sum (over C·k, N·spatial or the batch) is at most as long as the largest array
        terms = largest_size(xs, out.numpy(), *(p.numpy() for p in k_mod.parameters()))
        assert_close(out.numpy(), t_out.detach().numpy(), dtype, terms=terms, what="forward")
        grad = rng.standard_normal(out.shape).astype(dtype)
        k_mod.zero_grad()
        t_mod.zero_grad()
        out.backward(grad)
        t_out.backward(torch.from_numpy(grad))
        assert_close(k_x.grad.numpy(), t_x.grad.numpy(), dtype, terms=terms, what="dL/dinput")
        k_params = dict(k_mod.named_parameters())
        assert list(k_params) == [name for name, _ in t_mod.named_parameters()]
        for name, t_p in t_mod.named_parameters():
            assert k_params[name].grad is not None, f"{name} got no gradient"
            assert k_params[name].grad.dtype == dtype
            assert_close(k_params[name].grad.numpy(), t_p.grad.numpy(), dtype, terms=terms, what=f"dL/d{name}")
        k_buffers = dict(k_mod.named_buffers())
        for name, t_b in t_mod.named_buffers():
            assert k_buffers[name].dtype == t_b.numpy().dtype
            assert_close(
                k_buffers[name].numpy(), t_b.numpy(), dtype, terms=terms, what=f"buffer {name} after step {step}"
            )


def normal(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


TN = torch.nn
# (id, kernelwise factory taking dtype, torch factory, input shape)
CASES: list[tuple[str, Callable[[Any], nn.Module], Callable[[], torch.nn.Module], tuple[int, ...]]] = [
    ("conv1d", lambda d: nn.Conv1d(2, 4, 3, dtype=d), lambda: TN.Conv1d(2, 4, 3), (2, 2, 9)),
    (
        "conv1d_strided",
        lambda d: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=False, dtype=d),
        lambda: TN.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=False),
        (2, 4, 11),
    ),
    (
        "conv1d_same",
        lambda d: nn.Conv1d(2, 3, 4, padding="same", dtype=d),
        lambda: TN.Conv1d(2, 3, 4, padding="same"),
        (1, 2, 7),
    ),
    ("conv2d", lambda d: nn.Conv2d(1, 6, 5, padding=2, dtype=d), lambda: TN.Conv2d(1, 6, 5, padding=2), (2, 1, 8, 8)),
    (
        "conv2d_rect",
        lambda d: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2, dtype=d),
        lambda: TN.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
        (2, 4, 7, 6),
    ),
    (
        "conv2d_valid",
        lambda d: nn.Conv2d(3, 2, 3, padding="valid", bias=False, dtype=d),
        lambda: TN.Conv2d(3, 2, 3, bias=False),
        (1, 3, 5, 5),
    ),
    (
        "conv_transpose1d",
        lambda d: nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, dtype=d),
        lambda: TN.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
        (2, 4, 5),
    ),
    (
        "conv_transpose2d",
        lambda d: nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dtype=d),
        lambda: TN.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2)),
        (2, 3, 4, 3),
    ),
    (
        "conv_transpose2d_dilated",
        lambda d: nn.ConvTranspose2d(2, 4, 2, dilation=2, groups=2, bias=False, dtype=d),
        lambda: TN.ConvTranspose2d(2, 4, 2, dilation=2, groups=2, bias=False),
        (1, 2, 3, 3),
    ),
    ("linear", lambda d: nn.Linear(5, 3, dtype=d), lambda: TN.Linear(5, 3), (4, 5)),
    (
        "linear_nobias_3d",
        lambda d: nn.Linear(5, 2, bias=False, dtype=d),
        lambda: TN.Linear(5, 2, bias=False),
        (2, 3, 5),
    ),
    ("max_pool1d", lambda d: nn.MaxPool1d(3, 2, 1), lambda: TN.MaxPool1d(3, 2, 1), (2, 3, 9)),
    ("max_pool2d", lambda d: nn.MaxPool2d(2), lambda: TN.MaxPool2d(2), (2, 3, 6, 6)),
    (
        "max_pool2d_args",
        lambda d: nn.MaxPool2d((3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True),
        lambda: TN.MaxPool2d((3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True),
        (1, 2, 7, 7),
    ),
    (
        "avg_pool1d",
        lambda d: nn.AvgPool1d(3, 2, 1, count_include_pad=False),
        lambda: TN.AvgPool1d(3, 2, 1, count_include_pad=False),
        (2, 3, 8),
    ),
    ("avg_pool2d", lambda d: nn.AvgPool2d(2), lambda: TN.AvgPool2d(2), (2, 3, 6, 6)),
    (
        "avg_pool2d_args",
        lambda d: nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4),
        lambda: TN.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4),
        (1, 2, 6, 7),
    ),
    ("adaptive_avg_pool1d", lambda d: nn.AdaptiveAvgPool1d(3), lambda: TN.AdaptiveAvgPool1d(3), (2, 3, 7)),
    ("adaptive_avg_pool2d", lambda d: nn.AdaptiveAvgPool2d((2, 3)), lambda: TN.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    ("adaptive_avg_pool2d_global", lambda d: nn.AdaptiveAvgPool2d(1), lambda: TN.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    ("adaptive_max_pool1d", lambda d: nn.AdaptiveMaxPool1d(4), lambda: TN.AdaptiveMaxPool1d(4), (2, 2, 9)),
    ("adaptive_max_pool2d", lambda d: nn.AdaptiveMaxPool2d((3, 2)), lambda: TN.AdaptiveMaxPool2d((3, 2)), (2, 2, 7, 5)),
    ("relu", lambda d: nn.ReLU(), lambda: TN.ReLU(), (3, 4)),
    ("leaky_relu", lambda d: nn.LeakyReLU(0.2), lambda: TN.LeakyReLU(0.2), (3, 4)),
    ("sigmoid", lambda d: nn.Sigmoid(), lambda: TN.Sigmoid(), (3, 4)),
    ("tanh", lambda d: nn.Tanh(), lambda: TN.Tanh(), (3, 4)),
    ("gelu", lambda d: nn.GELU(), lambda: TN.GELU(), (3, 4)),
    ("gelu_tanh", lambda d: nn.GELU("tanh"), lambda: TN.GELU("tanh"), (3, 4)),
    ("softmax", lambda d: nn.Softmax(dim=1), lambda: TN.Softmax(dim=1), (3, 4, 2)),
    ("log_softmax", lambda d: nn.LogSoftmax(dim=-1), lambda: TN.LogSoftmax(dim=-1), (3, 5)),
    ("flatten", lambda d: nn.Flatten(), lambda: TN.Flatten(), (2, 3, 2, 2)),
    ("flatten_range", lambda d: nn.Flatten(0, 1), lambda: TN.Flatten(0, 1), (2, 3, 2)),
    ("identity", lambda d: nn.Identity(), lambda: TN.Identity(), (2, 3)),
    ("dropout_eval", lambda d: nn.Dropout(0.4), lambda: TN.Dropout(0.4), (3, 4)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's own note
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(case: tuple, dtype: Any) -> None:
    name, k_factory, t_factory, shape = case
    x = distinct(shape, dtype) if "pool" in name else normal(shape, dtype)
    check_layer(k_factory(dtype), t_factory(), x, train="eval" not in name)


# --------------------------------------------------------------------------- BatchNorm
BN_CASES = [
    ("bn1d_2d_input", lambda d: nn.BatchNorm1d(3, dtype=d), lambda: TN.BatchNorm1d(3), (6, 3)),
    (
        "bn1d_3d_input",
        lambda d: nn.BatchNorm1d(3, momentum=0.3, dtype=d),
        lambda: TN.BatchNorm1d(3, momentum=0.3),
        (4, 3, 5),
    ),
    ("bn2d", lambda d: nn.BatchNorm2d(2, dtype=d), lambda: TN.BatchNorm2d(2), (3, 2, 4, 3)),
    (
        "bn2d_cumulative",
        lambda d: nn.BatchNorm2d(2, momentum=None, dtype=d),
        lambda: TN.BatchNorm2d(2, momentum=None),
        (3, 2, 3, 3),
    ),
    (
        "bn2d_no_affine",
        lambda d: nn.BatchNorm2d(2, affine=False, dtype=d),
        lambda: TN.BatchNorm2d(2, affine=False),
        (3, 2, 3, 3),
    ),
    (
        "bn2d_no_bias",
        lambda d: nn.BatchNorm2d(2, bias=False, dtype=d),
        lambda: TN.BatchNorm2d(2, bias=False),
        (3, 2, 3, 3),
    ),
    (
        "bn2d_untracked",
        lambda d: nn.BatchNorm2d(2, track_running_stats=False, dtype=d),
        lambda: TN.BatchNorm2d(2, track_running_stats=False),
        (3, 2, 3, 3),
    ),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BN_CASES, ids=[c[0] for c in BN_CASES])
def test_batchnorm_train_then_eval_matches_torch(case: tuple, dtype: Any) -> None:
    _, k_factory, t_factory, shape = case
    k_mod, t_mod = k_factory(dtype), t_factory().to(TORCH_DTYPE[dtype])
    with torch.no_grad():  # non-trivial γ and β
        for p in t_mod.parameters():
            p.copy_(torch.from_numpy(normal(tuple(p.shape), dtype, seed=7)))
    check_layer(k_mod, t_mod, normal(shape, dtype) * 3 + 1, train=True, steps=3)
    if k_mod.track_running_stats:
        assert k_mod.num_batches_tracked.dtype == np.int64 and k_mod.num_batches_tracked.item() == 3
    x_eval = normal(shape, dtype, seed=5)
    check_layer(k_mod, t_mod, x_eval, train=False, steps=2)  # reloads the trained state, then evaluates


def test_batchnorm_eval_uses_running_statistics() -> None:
    # hand-worked: running mean 1, running var 4, γ 2, β 0.5 -> y = (x - 1) / √(4 + eps) · 2 + 0.5
    bn = nn.BatchNorm1d(1, eps=0.0 + 1e-5)
    bn.load_state_dict(
        {
            "weight": np.array([2.0], np.float32),
            "bias": np.array([0.5], np.float32),
            "running_mean": np.array([1.0], np.float32),
            "running_var": np.array([4.0], np.float32),
            "num_batches_tracked": np.array(7, np.int64),
        }
    )
    y = bn.eval()(kw.tensor([[3.0], [1.0]]))
    np.testing.assert_allclose(y.numpy().ravel(), [(3 - 1) / np.sqrt(4 + 1e-5) * 2 + 0.5, 0.5], rtol=1e-6)
    assert bn.num_batches_tracked.item() == 7  # evaluation leaves the statistics alone
    np.testing.assert_array_equal(bn.running_mean.numpy(), [1.0])


def test_batchnorm_rejects_wrong_input_dims() -> None:
    with pytest.raises(ValueError, match=r"expected 4D input, got shape \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(kw.zeros(2, 3, 4))


# --------------------------------------------------------------------------- min pooling, resampling
@pytest.mark.parametrize("dtype", DTYPES)
def test_min_pool_is_negated_torch_max_pool_of_negated_input(dtype: Any) -> None:
    for k_mod, t_mod, shape in [
        (nn.MinPool1d(3, 2, 1), TN.MaxPool1d(3, 2, 1), (2, 2, 8)),
        (nn.MinPool2d(2, dilation=(1, 2)), TN.MaxPool2d(2, dilation=(1, 2)), (2, 2, 6, 7)),
    ]:
        x = distinct(shape, dtype)
        k_x = kw.Tensor(x.copy(), requires_grad=True)
        t_x = torch.tensor(x, requires_grad=True)
        out, t_out = k_mod(k_x), -t_mod(-t_x)
        terms = largest_size(x, out.numpy())
        assert_close(out.numpy(), t_out.detach().numpy(), dtype, terms=terms, what="forward")
        grad = normal(out.shape, dtype, seed=1)
        out.backward(grad)
        t_out.backward(torch.from_numpy(grad))
        assert_close(k_x.grad.numpy(), t_x.grad.numpy(), dtype, terms=terms, what="dL/dinput")


needs_resample = pytest.mark.skipif(
    not (hasattr(F, "downsample") and hasattr(F, "upsample_zeros")), reason="op not available"
)


@needs_resample
@pytest.mark.parametrize("dtype", DTYPES)
def test_downsample_and_upsample_zeros_by_hand(dtype: Any) -> None:
    x = normal((2, 3, 5, 4), dtype)
    k_x = kw.Tensor(x.copy(), requires_grad=True)
    down = nn.Downsample(2)(k_x)
    np.testing.assert_array_equal(down.numpy(), x[:, :, ::2, ::2])
    grad = normal(down.shape, dtype, seed=1)
    down.backward(grad)
    expected = np.zeros_like(x)
    expected[:, :, ::2, ::2] = grad  # the adjoint: zero insertion
    np.testing.assert_array_equal(k_x.grad.numpy(), expected)

    k_y = kw.Tensor(down.numpy().copy(), requires_grad=True)
    up = nn.UpsampleZeros((2, 2))(k_y, output_size=(5, 4))
    np.testing.assert_array_equal(up.numpy(), _zero_insert(down.numpy(), (5, 4)))
    up.backward(x)
    np.testing.assert_array_equal(k_y.grad.numpy(), x[:, :, ::2, ::2])


def _zero_insert(y: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.zeros(y.shape[:2] + size, dtype=y.dtype)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            out[:, :, 2 * i, 2 * j] = y[:, :, i, j]
    return out


@needs_resample
def test_upsample_zeros_default_size_and_repr() -> None:
    up = nn.UpsampleZeros(3)
    assert repr(up) == "UpsampleZeros(factor=3)" and repr(nn.Downsample((2, 1))) == "Downsample(factor=(2, 1))"
    assert up(kw.tensor([[[1.0, 2.0]]])).tolist() == [[[1.0, 0.0, 0.0, 2.0]]]


# --------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_train_zeroes_and_rescales(dtype: Any) -> None:
    p = 0.25
    x = normal((40, 50), dtype) + 3  # no zeros in x
    k_x = kw.Tensor(x.copy(), requires_grad=True)
    out = nn.Dropout(p, generator=1)(k_x)
    kept = out.numpy() != 0
    np.testing.assert_allclose(out.numpy()[kept], x[kept] / (1 - p), rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.03  # 2000 draws: 4.5 standard deviations
    grad = normal(x.shape, dtype, seed=2)
    out.backward(grad)
    np.testing.assert_allclose(k_x.grad.numpy(), np.where(kept, grad / (1 - p), 0), rtol=1e-6)


def test_dropout_eval_is_identity_and_seeds_reproduce() -> None:
    x = kw.ones(8, 8)
    a, b, c = nn.Dropout(0.5, generator=3), nn.Dropout(0.5, generator=3), nn.Dropout(0.5, generator=4)
    first_a, first_b, first_c = a(x).numpy(), b(x).numpy(), c(x).numpy()
    np.testing.assert_array_equal(first_a, first_b)  # same seed, same masks
    assert not np.array_equal(first_a, first_c)  # another seed, another mask
    assert not np.array_equal(a(x).numpy(), first_a)  # the layer's generator moves on between calls
    np.testing.assert_array_equal(a.eval()(x).numpy(), x.numpy())
    kw.manual_seed(11)
    d1 = nn.Dropout(0.5)(x).numpy()
    kw.manual_seed(11)
    d2 = nn.Dropout(0.5)(x).numpy()
    np.testing.assert_array_equal(d1, d2)  # generator=None: the default generator, reset by manual_seed


# --------------------------------------------------------------------------- losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 1}, {"label_smoothing": 0.2}, {"weight": True}],
    ids=["mean", "sum", "none", "ignore", "smoothing", "weight"],
)
def test_cross_entropy_and_nll_losses_match_torch(kwargs: dict, dtype: Any) -> None:
    logits = normal((6, 4), dtype)
    target = np.array([0, 1, 3, 2, 1, 0], dtype=np.int64)
    k_kwargs, t_kwargs = dict(kwargs), dict(kwargs)
    if kwargs.get("weight"):
        w = np.array([0.5, 2.0, 1.0, 1.5], dtype=dtype)
        k_kwargs["weight"], t_kwargs["weight"] = kw.tensor(w), torch.from_numpy(w)
    pairs = [(nn.CrossEntropyLoss(**k_kwargs), TN.CrossEntropyLoss(**t_kwargs), logits)]
    if "label_smoothing" not in kwargs:
        log_probs = torch.log_softmax(torch.from_numpy(logits), 1).numpy()
        pairs.append((nn.NLLLoss(**k_kwargs), TN.NLLLoss(**t_kwargs), log_probs))
    for k_loss, t_loss, x in pairs:
        assert list(k_loss.state_dict()) == list(t_loss.state_dict())  # the class weight is a buffer
        k_x = kw.Tensor(x.copy(), requires_grad=True)
        t_x = torch.tensor(x, requires_grad=True)
        out, t_out = k_loss(k_x, kw.tensor(target)), t_loss(t_x, torch.from_numpy(target))
        terms = largest_size(x)
        assert_close(out.numpy(), t_out.detach().numpy(), dtype, terms=terms, what=f"{k_loss} forward")
        grad = normal(out.shape, dtype, seed=3)
        out.backward(grad)
        t_out.backward(torch.from_numpy(grad))
        assert_close(k_x.grad.numpy(), t_x.grad.numpy(), dtype, terms=terms, what=f"{k_loss} dL/dinput")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction: str, dtype: Any) -> None:
    x, y = normal((3, 4), dtype), normal((3, 4), dtype, seed=1)
    k_x, k_y = kw.Tensor(x.copy(), requires_grad=True), kw.Tensor(y.copy(), requires_grad=True)
    t_x, t_y = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    out, t_out = nn.MSELoss(reduction=reduction)(k_x, k_y), TN.MSELoss(reduction=reduction)(t_x, t_y)
    terms = largest_size(x)
    assert_close(out.numpy(), t_out.detach().numpy(), dtype, terms=terms, what="forward")
    grad = normal(out.shape, dtype, seed=2)
    out.backward(grad)
    t_out.backward(torch.from_numpy(grad))
    assert_close(k_x.grad.numpy(), t_x.grad.numpy(), dtype, terms=terms, what="dL/dinput")
    assert_close(k_y.grad.numpy(), t_y.grad.numpy(), dtype, terms=terms, what="dL/dtarget")


# --------------------------------------------------------------------------- repr
REPRS = [
    (nn.Conv2d(1, 6, 5, padding=2), TN.Conv2d(1, 6, 5, padding=2)),
    (nn.Conv1d(2, 3, 3, stride=2, dilation=2, bias=False), TN.Conv1d(2, 3, 3, stride=2, dilation=2, bias=False)),
    (nn.Conv2d(4, 4, 3, padding="same", groups=2), TN.Conv2d(4, 4, 3, padding="same", groups=2)),
    (nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1), TN.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1)),
    (nn.ConvTranspose1d(2, 3, 3), TN.ConvTranspose1d(2, 3, 3)),
    (nn.MaxPool2d(2), TN.MaxPool2d(2)),
    (nn.MaxPool1d(3, 2, 1), TN.MaxPool1d(3, 2, 1)),
    (nn.AvgPool2d(2), TN.AvgPool2d(2)),
    (nn.AvgPool1d(3), TN.AvgPool1d(3)),
    (nn.AdaptiveAvgPool2d((1, 1)), TN.AdaptiveAvgPool2d((1, 1))),
    (nn.AdaptiveAvgPool1d(3), TN.AdaptiveAvgPool1d(3)),
    (nn.AdaptiveMaxPool2d(2), TN.AdaptiveMaxPool2d(2)),
    (nn.Linear(3, 4), TN.Linear(3, 4)),
    (nn.Linear(3, 4, bias=False), TN.Linear(3, 4, bias=False)),
    (nn.ReLU(), TN.ReLU()),
    (nn.LeakyReLU(), TN.LeakyReLU()),
    (nn.Sigmoid(), TN.Sigmoid()),
    (nn.Tanh(), TN.Tanh()),
    (nn.GELU("tanh"), TN.GELU("tanh")),
    (nn.Softmax(dim=1), TN.Softmax(dim=1)),
    (nn.LogSoftmax(dim=-1), TN.LogSoftmax(dim=-1)),
    (nn.Dropout(0.2), TN.Dropout(0.2)),
    (nn.BatchNorm1d(3), TN.BatchNorm1d(3)),
    (nn.BatchNorm2d(4, momentum=None, affine=False), TN.BatchNorm2d(4, momentum=None, affine=False)),
    (nn.CrossEntropyLoss(), TN.CrossEntropyLoss()),
    (nn.NLLLoss(), TN.NLLLoss()),
    (nn.MSELoss(), TN.MSELoss()),
]


@pytest.mark.parametrize("pair", REPRS, ids=[repr(t) for _, t in REPRS])
def test_repr_matches_torch(pair: tuple) -> None:
    k_mod, t_mod = pair
    assert repr(k_mod) == repr(t_mod)


def test_repr_of_min_pool_follows_max_pool() -> None:
    assert repr(nn.MinPool2d(2)) == repr(TN.MaxPool2d(2)).replace("Max", "Min")


# --------------------------------------------------------------------------- argument checks in __init__
@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"in_channels=3 must be divisible by groups=2"),
        (lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError, r"out_channels=3 must be divisible by groups=2"),
        (lambda: nn.Conv2d(0, 3, 3), ValueError, r"in_channels=0: must be a positive int"),
        (lambda: nn.Conv2d(1, 3, 0), ValueError, r"kernel_size=0: must be positive"),
        (lambda: nn.Conv2d(1, 3, (3, 3, 3)), ValueError, r"kernel_size=\(3, 3, 3\): expected an int or 2 ints"),
        (lambda: nn.Conv2d(1, 3, 2.5), TypeError, r"kernel_size=2.5"),
        (lambda: nn.Conv2d(1, 3, 3, stride=0), ValueError, r"stride=0: must be positive"),
        (lambda: nn.Conv2d(1, 3, 3, padding=-1), ValueError, r"padding=-1: must be >= 0"),
        (lambda: nn.Conv2d(1, 3, 3, padding="half"), ValueError, r"padding='half': should be one of"),
        (lambda: nn.Conv2d(1, 3, 3, stride=2, padding="same"), ValueError, r"'same' is not supported for strided"),
        (lambda: nn.Conv2d(1, 3, 3, padding_mode="reflect"), ValueError, r"padding_mode='reflect' is not supported"),
        (lambda: nn.Conv2d(1, 3, 3, dtype=np.int64), TypeError, r"floating-point dtype"),
        (
            lambda: nn.ConvTranspose2d(1, 3, 3, stride=2, output_padding=2),
            ValueError,
            r"output_padding=\(2, 2\) must be smaller",
        ),
        (lambda: nn.ConvTranspose1d(1, 3, 3, padding="same"), ValueError, r"int padding only"),
        (lambda: nn.Linear(-1, 3), ValueError, r"in_features=-1: must be a non-negative int"),
        (lambda: nn.Linear(2, 3, dtype="int32"), TypeError, r"floating-point dtype"),
        (lambda: nn.MaxPool2d(2, padding=2), ValueError, r"padding=2 should be at most half of kernel_size=2"),
        (lambda: nn.MaxUnpool2d(2, padding=-1), ValueError, r"padding=-1: must be >= 0"),
        (lambda: nn.MaxPool1d(0), ValueError, r"kernel_size=0: must be positive"),
        (lambda: nn.AvgPool1d(2, stride=0), ValueError, r"stride=0: must be positive"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, r"divisor_override=0: must be a non-zero int"),
        (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), ValueError, r"output_size=\(1, 2, 3\): expected an int or 2 ints"),
        (lambda: nn.AdaptiveMaxPool2d(-1), ValueError, r"output_size=-1: must be >= 0"),
        (lambda: nn.AdaptiveAvgPool1d(1.5), TypeError, r"output_size=1.5: expected ints or None"),
        (lambda: nn.Downsample(0), ValueError, r"factor=0: must be positive"),
        (lambda: nn.UpsampleZeros(()), ValueError, r"factor=\(\): expected an int or a non-empty tuple"),
        (lambda: nn.Dropout(1.5), ValueError, r"between 0 and 1, but got p=1.5"),
        (lambda: nn.LeakyReLU("0.1"), TypeError, r"negative_slope='0.1': expected a real number"),
        (lambda: nn.GELU("fast"), ValueError, r"approximate='fast': should be 'none' or 'tanh'"),
        (lambda: nn.Softmax(dim=1.0), TypeError, r"dim=1.0: expected an int"),
        (lambda: nn.BatchNorm2d(0), ValueError, r"num_features=0: must be a positive int"),
        (lambda: nn.BatchNorm2d(3, eps=0), ValueError, r"eps=0: must be a positive number"),
        (lambda: nn.BatchNorm2d(3, momentum=1.5), ValueError, r"momentum=1.5: must be a number in \[0, 1\]"),
        (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError, r"reduction='avg': should be one of"),
        (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError, r"label_smoothing=1.5: must be a number in"),
        (lambda: nn.NLLLoss(weight=[1.0, 2.0]), TypeError, r"weight: expected a Tensor"),
        (
            lambda: nn.NLLLoss(weight=kw.ones(2, 2)),
            ValueError,
            r"weight: expected a 1-D float tensor \(C,\), got shape",
        ),
        (lambda: nn.NLLLoss(ignore_index=1.0), TypeError, r"ignore_index=1.0: expected an int"),
        (lambda: nn.MSELoss(reduction="max"), ValueError, r"reduction='max'"),
    ],
)
def test_layer_argument_errors(build: Callable, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_layers_keep_dtype_float64_end_to_end() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, dtype=np.float64, generator=0),
        nn.BatchNorm2d(2, dtype=np.float64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8, 3, dtype=np.float64, generator=1),
    )
    out = model(kw.tensor(normal((2, 1, 6, 6), np.float64)))
    assert out.dtype == np.float64 and out.shape == (2, 3)
    with pytest.raises(TypeError, match=r"conv2d: input \(float32.*must have the same dtype"):
        model(kw.tensor(normal((2, 1, 6, 6), np.float32)))
