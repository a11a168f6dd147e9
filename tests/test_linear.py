"""linear: forward and gradients against PyTorch, gradcheck, and the argument errors."""

import numpy as np
import pytest
import torch.nn.functional as F

import kernelwise as kw
from kernelwise.ops.linear import linear
from parity import check_parity


def arrays(x_shape, out_features, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    in_features = x_shape[-1]
    return (
        rng.standard_normal(x_shape),
        rng.standard_normal((out_features, in_features)),
        rng.standard_normal(out_features) if bias else None,
    )


# --------------------------------------------------------------------------- parity with PyTorch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4), (2, 1, 3, 4), (0, 4)])
def test_parity_linear(x_shape, bias, dtype):
    check_parity(linear, F.linear, arrays(x_shape, 5, bias), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parity_linear_only_weight_needs_grad(dtype):
    check_parity(linear, F.linear, arrays((3, 4), 2), dtype, grad=[1, 2])


def test_hand_worked_example():
    x = kw.tensor([[1.0, 2.0]], requires_grad=True)
    w = kw.tensor([[3.0, 4.0]], requires_grad=True)
    b = kw.tensor([0.5], requires_grad=True)
    y = linear(x, w, b)  # 1·3 + 2·4 + 0.5
    assert y.tolist() == [[11.5]]
    y.backward(np.array([[2.0]], dtype=np.float32))
    assert x.grad.tolist() == [[6.0, 8.0]]  # dY·W
    assert w.grad.tolist() == [[2.0, 4.0]]  # dYᵀ·X
    assert b.grad.tolist() == [2.0]  # Σ dY


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_linear(bias):
    x, w, b = (kw.tensor(a, requires_grad=True) if a is not None else None for a in arrays((2, 3, 4), 3, bias))
    inputs = (x, w, b) if bias else (x, w)
    assert kw.gradcheck(linear, inputs)


# --------------------------------------------------------------------------- errors
def test_error_in_features_mismatch():
    with pytest.raises(ValueError, match=r"\(2, 3\).*in_features=3.*\(5, 4\).*in_features=4"):
        linear(kw.zeros(2, 3), kw.zeros(5, 4))


def test_error_bias_length():
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\).*got \(4,\)"):
        linear(kw.zeros(2, 3), kw.zeros(5, 3), kw.zeros(4))


def test_error_weight_not_2d():
    with pytest.raises(ValueError, match=r"weight must be 2-D.*\(3,\)"):
        linear(kw.zeros(2, 3), kw.zeros(3))


def test_error_weight_dtype_mismatch():
    with pytest.raises(TypeError, match="weight has dtype float32 but input has dtype float64"):
        linear(kw.zeros(2, 3, dtype=np.float64), kw.zeros(5, 3))


def test_error_bias_dtype_mismatch():
    with pytest.raises(TypeError, match="bias has dtype float64 but input has dtype float32"):
        linear(kw.zeros(2, 3), kw.zeros(5, 3), kw.zeros(5, dtype=np.float64))


def test_error_integer_input():
    with pytest.raises(TypeError, match="input: expected a floating-point tensor"):
        linear(kw.tensor([[1, 2]]), kw.zeros(1, 2))


def test_error_scalar_input():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        linear(kw.tensor(1.0), kw.zeros(1, 1))
