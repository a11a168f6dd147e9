"""Initialisation: gains and fans as torch.nn.init, draws whose statistics match the formulas, reproducibility."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise import nn
from kernelwise.nn import init

SHAPE = (64, 32, 3, 3)  # fan_in = 32·9 = 288, fan_out = 64·9 = 576, 18432 draws
FAN_IN, FAN_OUT = 288, 576


def draws(fill: Callable[[kw.Tensor], Any], shape: tuple[int, ...] = SHAPE, dtype: Any = np.float32) -> np.ndarray:
    t = kw.zeros(*shape, dtype=dtype)
    out = fill(t)
    assert out is t  # in place, returning the tensor
    return t.numpy().astype(np.float64)


def check_uniform(values: np.ndarray, bound: float) -> None:
    """U(-bound, bound): inside the bounds, reaching near them, mean 0 and std bound/√3 (within sampling error)."""
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.99 * bound and values.min() < -0.99 * bound
    n = values.size
    assert abs(values.mean()) < 5 * (bound / math.sqrt(3)) / math.sqrt(n)
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def check_normal(values: np.ndarray, mean: float, std: float) -> None:
    assert abs(values.mean() - mean) < 5 * std / math.sqrt(values.size)
    assert values.std() == pytest.approx(std, rel=0.03)
    assert abs(((values - mean) ** 3).mean()) / std**3 < 0.1  # symmetric


# --------------------------------------------------------------------------- gains
@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [
        ("linear", None),
        ("conv1d", None),
        ("conv2d", None),
        ("conv_transpose2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
        ("leaky_relu", 0),
        ("selu", None),
    ],
)
def test_calculate_gain_matches_torch(nonlinearity: str, param: float | None) -> None:
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


def test_calculate_gain_errors() -> None:
    with pytest.raises(ValueError, match="unsupported nonlinearity 'softplus'"):
        init.calculate_gain("softplus")
    with pytest.raises(ValueError, match="negative_slope 'a' is not a valid number"):
        init.calculate_gain("leaky_relu", "a")


# --------------------------------------------------------------------------- fans and the distributions
def test_fans_match_torch() -> None:
    for shape in [(5, 3), (6, 1, 5, 5), (4, 2, 3), SHAPE]:
        assert init._calculate_fan_in_and_fan_out(kw.zeros(*shape)) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.zeros(shape)
        )


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("a", "nonlinearity"), [(0, "relu"), (math.sqrt(5), "leaky_relu"), (0, "tanh")])
def test_kaiming_uniform_bound(mode: str, a: float, nonlinearity: str) -> None:
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    gain = {"relu": math.sqrt(2), "leaky_relu": math.sqrt(2 / (1 + a**2)), "tanh": 5 / 3}[nonlinearity]
    values = draws(lambda t: init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity, generator=0))
    check_uniform(values, gain * math.sqrt(3 / fan))  # bound = gain·√(3/fan)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_std(mode: str) -> None:
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    values = draws(lambda t: init.kaiming_normal_(t, mode=mode, nonlinearity="relu", generator=1))
    check_normal(values, 0.0, math.sqrt(2) / math.sqrt(fan))  # std = gain/√fan


def test_xavier_uniform_and_normal() -> None:
    std = 0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT))  # gain·√(2/(fan_in + fan_out))
    check_uniform(draws(lambda t: init.xavier_uniform_(t, gain=0.5, generator=2)), math.sqrt(3) * std)
    check_normal(draws(lambda t: init.xavier_normal_(t, gain=0.5, generator=3)), 0.0, std)


def test_uniform_and_normal() -> None:
    values = draws(lambda t: init.uniform_(t, -0.5, 1.5, generator=4))
    assert values.min() >= -0.5 and values.max() <= 1.5
    assert values.mean() == pytest.approx(0.5, abs=0.02) and values.std() == pytest.approx(2 / math.sqrt(12), rel=0.03)
    check_normal(draws(lambda t: init.normal_(t, mean=2.0, std=0.1, generator=5)), 2.0, 0.1)


def test_constant_fills() -> None:
    assert draws(init.zeros_, (3, 2)).tolist() == [[0.0, 0.0]] * 3
    assert draws(init.ones_, (2,)).tolist() == [1.0, 1.0]
    assert draws(lambda t: init.constant_(t, -2.5), (2, 1)).tolist() == [[-2.5], [-2.5]]


def test_init_keeps_dtype_and_array() -> None:
    t = kw.zeros(4, 3, dtype=np.float64)
    data = t.numpy()
    init.kaiming_uniform_(t, generator=0)
    assert t.numpy() is data and t.dtype == np.float64


# --------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize(
    "fill",
    [
        lambda t, g: init.kaiming_uniform_(t, generator=g),
        lambda t, g: init.kaiming_normal_(t, generator=g),
        lambda t, g: init.xavier_uniform_(t, generator=g),
        lambda t, g: init.xavier_normal_(t, generator=g),
        lambda t, g: init.uniform_(t, generator=g),
        lambda t, g: init.normal_(t, generator=g),
    ],
)
def test_same_seed_same_values_other_seed_other_values(fill: Callable) -> None:
    a, b, c = (
        draws(lambda t: fill(t, 7), (8, 6)),
        draws(lambda t: fill(t, 7), (8, 6)),
        draws(lambda t: fill(t, 8), (8, 6)),
    )
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g = np.random.default_rng(7)
    first, second = draws(lambda t: fill(t, g), (8, 6)), draws(lambda t: fill(t, g), (8, 6))
    np.testing.assert_array_equal(first, a)  # a seed and a fresh Generator of that seed agree
    assert not np.array_equal(first, second)  # a Generator moves on


def test_default_generator_follows_manual_seed() -> None:
    kw.manual_seed(3)
    a = draws(lambda t: init.normal_(t), (5,))
    kw.manual_seed(3)
    np.testing.assert_array_equal(draws(lambda t: init.normal_(t), (5,)), a)


# --------------------------------------------------------------------------- errors
def test_fan_of_a_vector_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions \(shape \(5,\)\)"):
        init.xavier_uniform_(kw.zeros(5))


def test_bad_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="mode='fan_avg' is not supported"):
        init.kaiming_normal_(kw.zeros(3, 3), mode="fan_avg")


def test_non_tensor_and_integer_tensor_are_errors() -> None:
    with pytest.raises(TypeError, match="uniform_: tensor should be a Tensor, got ndarray"):
        init.uniform_(np.zeros(3))
    with pytest.raises(TypeError, match="zeros_: tensor should have a floating-point dtype, got int64"):
        init.zeros_(kw.tensor([1, 2]))


def test_bad_ranges_are_errors() -> None:
    with pytest.raises(ValueError, match=r"uniform_: a=1.0 must not be greater than b=0.0"):
        init.uniform_(kw.zeros(2), 1.0, 0.0)
    with pytest.raises(ValueError, match=r"normal_: std=-1.0 must be non-negative"):
        init.normal_(kw.zeros(2), 0.0, -1.0)


# --------------------------------------------------------------------------- layers' default initialisation
LAYERS = [
    (lambda g: nn.Conv2d(16, 8, 3, generator=g), 16 * 9),
    (lambda g: nn.Conv2d(16, 8, 3, groups=4, generator=g), 4 * 9),
    (lambda g: nn.Conv1d(6, 12, 5, generator=g), 6 * 5),
    (lambda g: nn.ConvTranspose2d(16, 8, 3, generator=g), 8 * 9),  # torch's fan_in of (C_in, C_out, k, k) is C_out·k²
    (lambda g: nn.Linear(300, 100, generator=g), 300),
]


@pytest.mark.parametrize(("build", "fan_in"), LAYERS)
def test_layer_default_init_is_uniform_one_over_sqrt_fan_in(build: Callable, fan_in: int) -> None:
    layer = build(0)
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert w.dtype == np.float32 and b.dtype == np.float32


def test_layer_default_init_bound_agrees_with_torch() -> None:
    # torch's own default draws lie within the same bound and fill it
    for k_layer, t_layer in [
        (nn.Conv2d(3, 8, 5), torch.nn.Conv2d(3, 8, 5)),
        (nn.Linear(50, 40), torch.nn.Linear(50, 40)),
    ]:
        t_max = t_layer.weight.detach().abs().max().item()
        assert np.abs(k_layer.weight.numpy()).max() == pytest.approx(t_max, rel=0.1)


@pytest.mark.parametrize(("build", "fan_in"), LAYERS)
def test_layer_init_reproducible(build: Callable, fan_in: int) -> None:
    a, b, c = build(5), build(5), build(6)
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(getattr(a, name).numpy(), getattr(b, name).numpy())
        assert not np.array_equal(getattr(a, name).numpy(), getattr(c, name).numpy())
    g = np.random.default_rng(5)
    first, second = build(g), build(g)  # one Generator for a whole model: each layer gets new draws
    np.testing.assert_array_equal(first.weight.numpy(), a.weight.numpy())
    assert not np.array_equal(second.weight.numpy(), first.weight.numpy())
    kw.manual_seed(1)
    d = build(None)
    kw.manual_seed(1)
    np.testing.assert_array_equal(build(None).weight.numpy(), d.weight.numpy())


def test_float64_layers_draw_the_same_values_rounded_once() -> None:
    a, b = nn.Linear(4, 3, generator=0), nn.Linear(4, 3, dtype=np.float64, generator=0)
    assert b.weight.dtype == np.float64
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy().astype(np.float32))


def test_batchnorm_init_ones_and_zeros() -> None:
    bn = nn.BatchNorm2d(3)
    assert bn.weight.tolist() == [1.0] * 3 and bn.bias.tolist() == [0.0] * 3
    assert bn.running_mean.tolist() == [0.0] * 3 and bn.running_var.tolist() == [1.0] * 3
    assert bn.num_batches_tracked.item() == 0
