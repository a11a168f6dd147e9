"""Activations, softmax and dropout: PyTorch parity, stability, gradcheck, dropout statistics, errors."""

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kernelwise as kw
from kernelwise.ops.activation import dropout, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from parity import assert_close, check_parity

DTYPES = [np.float32, np.float64]


def randn(*shape, seed=0, scale=2.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


# --------------------------------------------------------------------------- parity with PyTorch
ELEMENTWISE = {
    "relu": (relu, F.relu),
    "sigmoid": (sigmoid, torch.sigmoid),
    "tanh": (tanh, torch.tanh),
    "leaky_relu_default": (leaky_relu, F.leaky_relu),
    "leaky_relu_0.2": (lambda x: leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    "leaky_relu_neg_1.5": (
        lambda x: leaky_relu(x, negative_slope=-1.5),
        lambda x: F.leaky_relu(x, negative_slope=-1.5),
    ),
    "gelu_none": (gelu, F.gelu),
    "gelu_tanh": (lambda x: gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_parity_elementwise(name, dtype):
    kw_fn, torch_fn = ELEMENTWISE[name]
    check_parity(kw_fn, torch_fn, [randn(3, 4, 5)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_parity_gelu_wide_range(approximate, dtype):
    x = np.linspace(-12, 12, 49)  # tails: y -> 0 and y -> x
    check_parity(lambda t: gelu(t, approximate), lambda t: F.gelu(t, approximate=approximate), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_gelu_without_scipy(monkeypatch, dtype):
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # `from scipy.special import erf` fails
    check_parity(gelu, F.gelu, [randn(4, 5)], dtype)


SOFTMAX_CASES = [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "dim"), SOFTMAX_CASES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_parity_softmax(name, shape, dim, dtype):
    kw_fn, torch_fn = {"softmax": (softmax, F.softmax), "log_softmax": (log_softmax, F.log_softmax)}[name]
    check_parity(lambda x: kw_fn(x, dim), lambda x: torch_fn(x, dim), [randn(*shape)], dtype)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_parity_softmax_implicit_dim(name, shape):
    kw_fn, torch_fn = {"softmax": (softmax, F.softmax), "log_softmax": (log_softmax, F.log_softmax)}[name]
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name}"):
        kw_fn(kw.zeros(*shape))
    check_parity(kw_fn, torch_fn, [randn(*shape)], np.float64)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_parity_softmax_dtype_argument(name):
    kw_fn, torch_fn = {"softmax": (softmax, F.softmax), "log_softmax": (log_softmax, F.log_softmax)}[name]
    x = randn(3, 4).astype(np.float32)
    out = kw_fn(kw.tensor(x), 1, dtype=np.float64)
    expected = torch_fn(torch.tensor(x), 1, dtype=torch.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_parity_softmax_0d(name):
    kw_fn, torch_fn = {"softmax": (softmax, F.softmax), "log_softmax": (log_softmax, F.log_softmax)}[name]
    check_parity(lambda x: kw_fn(x, 0), lambda x: torch_fn(x, 0), [np.array(0.7)], np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_stable_softmax_with_large_logits(name, dtype):
    kw_fn, torch_fn = {"softmax": (softmax, F.softmax), "log_softmax": (log_softmax, F.log_softmax)}[name]
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [1000.0, 1000.0, 999.0]])
    out = kw_fn(kw.tensor(x.astype(dtype)), 1)
    assert np.isfinite(out.numpy()).all()
    check_parity(lambda t: kw_fn(t, 1), lambda t: torch_fn(t, 1), [x], dtype)
    t = kw.tensor(x.astype(dtype), requires_grad=True)
    kw_fn(t, 1).sum().backward()
    assert np.isfinite(t.grad.numpy()).all()


def test_softmax_hand_worked():
    y = softmax(kw.tensor(np.log(np.array([1.0, 3.0]))), 0)  # e^x = 1, 3 -> 1/4, 3/4
    np.testing.assert_allclose(y.numpy(), [0.25, 0.75], rtol=1e-12)


# --------------------------------------------------------------------------- gradcheck
GRADCHECK = {
    "leaky_relu": lambda x: leaky_relu(x, 0.1),
    "gelu_none": gelu,
    "gelu_tanh": lambda x: gelu(x, approximate="tanh"),
    "softmax_dim0": lambda x: softmax(x, 0),
    "softmax_dim2": lambda x: softmax(x, 2),
    "log_softmax_dim0": lambda x: log_softmax(x, 0),
    "log_softmax_dim1": lambda x: log_softmax(x, 1),
    "dropout": lambda x: dropout(x, 0.4, generator=3),  # same seed each call: the same mask
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    x = randn(2, 3, 4, seed=1)
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink of leaky_relu
    assert kw.gradcheck(GRADCHECK[name], (kw.tensor(x, requires_grad=True),))


# --------------------------------------------------------------------------- dropout
def test_dropout_mask_statistics():
    p = 0.3
    y = dropout(kw.ones(100_000), p=p, generator=0).numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.01  # 7 standard deviations of the kept fraction
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_scales_kept_values(dtype):
    p = 0.25
    x = randn(50, 40).astype(dtype)
    y = dropout(kw.tensor(x), p=p, generator=1).numpy()
    kept = y != 0
    assert y.dtype == dtype
    assert_close(y[kept], x[kept] / (1 - p), dtype)
    assert 0 < kept.sum() < x.size


def test_dropout_same_seed_same_mask():
    a = dropout(kw.ones(20, 20), generator=7).numpy()
    b = dropout(kw.ones(20, 20), generator=7).numpy()
    c = dropout(kw.ones(20, 20), generator=8).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout_same_generator_state_same_mask():
    a = dropout(kw.ones(20, 20), generator=np.random.default_rng(5)).numpy()
    rng = np.random.default_rng(5)
    b = dropout(kw.ones(20, 20), generator=rng).numpy()
    c = dropout(kw.ones(20, 20), generator=rng).numpy()  # the generator has moved on
    np.testing.assert_array_equal(a, b)
    assert (b != c).any()


def test_dropout_default_generator_follows_manual_seed():
    kw.manual_seed(11)
    a = dropout(kw.ones(20, 20)).numpy()
    kw.manual_seed(11)
    b = dropout(kw.ones(20, 20)).numpy()
    np.testing.assert_array_equal(a, b)


def test_dropout_p0_is_identity():
    x = kw.tensor(randn(4, 5))
    np.testing.assert_array_equal(dropout(x, p=0.0).numpy(), x.numpy())


def test_dropout_eval_is_identity():
    x = kw.tensor(randn(4, 5), requires_grad=True)
    y = dropout(x, p=0.9, training=False)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((4, 5)))


def test_dropout_p1_gives_zeros():
    x = kw.tensor(randn(4, 5), requires_grad=True)
    y = dropout(x, p=1.0, generator=0)
    np.testing.assert_array_equal(y.numpy(), np.zeros((4, 5)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 5)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_gradient_is_mask_over_keep_probability(dtype):
    p = 0.4
    x = kw.tensor(np.ones((30, 30), dtype=dtype), requires_grad=True)
    y = dropout(x, p=p, generator=2)
    g = randn(30, 30).astype(dtype)
    y.backward(g)
    mask = y.numpy() != 0  # x is all ones, so the output shows the mask
    assert_close(x.grad.numpy(), g * mask / (1 - p), dtype)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_error_dropout_p_out_of_range(p):
    with pytest.raises(ValueError, match=r"between 0 and 1, but got p="):
        dropout(kw.ones(3), p=p)


def test_error_dropout_integer_input():
    with pytest.raises(TypeError, match="input: expected a floating-point tensor"):
        dropout(kw.tensor([1, 2]))


def test_error_gelu_approximate():
    with pytest.raises(ValueError, match="approximate='erf' is not one of 'none', 'tanh'"):
        gelu(kw.ones(3), approximate="erf")


def test_error_leaky_relu_slope_not_a_number():
    with pytest.raises(TypeError, match="negative_slope must be a number"):
        leaky_relu(kw.ones(3), negative_slope="0.1")


def test_error_sigmoid_integer_input():
    with pytest.raises(TypeError, match="input: expected a floating-point tensor, got dtype int64"):
        sigmoid(kw.tensor([1, 2]))


def test_error_softmax_dim_out_of_range():
    with pytest.raises(ValueError, match="dim=2 is out of range for a tensor of 2 dimensions"):
        softmax(kw.ones(2, 3), dim=2)


def test_error_log_softmax_dim_not_int():
    with pytest.raises(TypeError, match="dim must be an int"):
        log_softmax(kw.ones(2, 3), dim=1.0)


def test_error_relu_not_a_tensor():
    with pytest.raises(TypeError, match="input: expected a Tensor, got list"):
        relu([1.0, -1.0])
