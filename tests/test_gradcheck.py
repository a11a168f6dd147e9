"""Finite-difference checks of every Function in ops/elementwise.py, ops/reduce.py and ops/shape.py,
and tests of ``kernelwise.gradcheck`` itself (it must pass correct code and catch wrong code).

All inputs are float64 and chosen away from kinks (|x| away from 0 for abs and relu, away from the bounds
for clip, distinct values for max/min), where central differences are meaningful.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.ops import elementwise, reduce, shape
from kernelwise.ops.elementwise import Cast
from parity import distinct


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def positive(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def away_from_zero(*shape: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


CLIP_SAFE = np.array([[-1.2, -0.7, -0.3, 0.0], [0.2, 0.45, 0.8, 1.5]])  # away from the bounds -0.5 and 0.5
COND = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])

# Each case: (id, the Function it checks, fn, inputs as arrays). Every input is made a float64 tensor
# that requires grad.
CASES = [
    ("add-broadcast", elementwise.Add, lambda a, b: a + b, [normal(3, 1), normal(1, 4, seed=1)]),
    ("sub-broadcast", elementwise.Sub, lambda a, b: a - b, [normal(2, 3), normal(3, seed=1)]),
    ("mul-broadcast", elementwise.Mul, lambda a, b: a * b, [normal(2, 3), normal(2, 1, seed=1)]),
    ("div-broadcast", elementwise.Div, lambda a, b: a / b, [normal(2, 3), away_from_zero(3, seed=1)]),
    ("pow-tensor-exponent", elementwise.Pow, lambda a, b: a**b, [positive(2, 3), normal(3, seed=1)]),
    ("pow-scalar-2.5", elementwise.Pow, lambda a: a**2.5, [positive(2, 3)]),
    ("pow-scalar--1", elementwise.Pow, lambda a: a**-1.0, [positive(2, 3)]),
    ("pow-scalar-3", elementwise.Pow, lambda a: a**3, [normal(2, 3)]),
    ("rpow", elementwise.Pow, lambda a: 1.5**a, [normal(2, 3)]),
    ("matmul-1d-1d", elementwise.MatMul, lambda a, b: a @ b, [normal(3), normal(3, seed=1)]),
    ("matmul-2d-1d", elementwise.MatMul, lambda a, b: a @ b, [normal(2, 3), normal(3, seed=1)]),
    ("matmul-1d-2d", elementwise.MatMul, lambda a, b: a @ b, [normal(3), normal(3, 4, seed=1)]),
    ("matmul-2d-2d", elementwise.MatMul, lambda a, b: a @ b, [normal(2, 3), normal(3, 4, seed=1)]),
    ("matmul-batched", elementwise.MatMul, lambda a, b: a @ b, [normal(2, 2, 3), normal(3, 4, seed=1)]),
    ("matmul-batch-broadcast", elementwise.MatMul, lambda a, b: a @ b, [normal(2, 1, 2, 3), normal(3, 3, 2, seed=1)]),
    ("neg", elementwise.Neg, lambda a: -a, [normal(2, 3)]),
    ("exp", elementwise.Exp, lambda a: a.exp(), [normal(2, 3)]),
    ("log", elementwise.Log, lambda a: a.log(), [positive(2, 3)]),
    ("sqrt", elementwise.Sqrt, lambda a: a.sqrt(), [positive(2, 3)]),
    ("abs", elementwise.Abs, lambda a: a.abs(), [away_from_zero(2, 3)]),
    ("clip", elementwise.Clip, lambda a: a.clip(-0.5, 0.5), [CLIP_SAFE]),
    ("clip-min-only", elementwise.Clip, lambda a: a.clamp(min=-0.5), [CLIP_SAFE]),
    ("where", elementwise.Where, lambda a, b: kw.where(kw.tensor(COND), a, b), [normal(3, 4), normal(4, seed=1)]),
    ("relu", elementwise.ReLU, lambda a: a.relu(), [away_from_zero(2, 3)]),
    ("sigmoid", elementwise.Sigmoid, lambda a: a.sigmoid(), [normal(2, 3) * 3]),
    ("tanh", elementwise.Tanh, lambda a: a.tanh(), [normal(2, 3)]),
    ("cast-float64", Cast, lambda a: Cast.apply(a, dtype=np.dtype("float64")), [normal(2, 3)]),
    ("sum-all", reduce.Sum, lambda a: a.sum(), [normal(2, 3)]),
    ("sum-axis", reduce.Sum, lambda a: a.sum(dim=1), [normal(2, 3, 2)]),
    ("sum-keepdim", reduce.Sum, lambda a: a.sum(dim=(0, 2), keepdim=True), [normal(2, 3, 2)]),
    ("mean-all", reduce.Mean, lambda a: a.mean(), [normal(2, 3)]),
    ("mean-axis-keepdim", reduce.Mean, lambda a: a.mean(dim=-1, keepdim=True), [normal(2, 3, 2)]),
    ("max-all", reduce.Extremum, lambda a: a.max(), [distinct((3, 4))]),
    ("amax-axis", reduce.Extremum, lambda a: a.amax(dim=1), [distinct((3, 4))]),
    ("amin-axes-keepdim", reduce.Extremum, lambda a: a.amin(dim=(0, 2), keepdim=True), [distinct((2, 3, 2))]),
    ("maximum", elementwise.Maximum, lambda a, b: kw.maximum(a, b), [distinct((3, 4)), distinct((4,), seed=1) + 0.05]),
    (
        "minimum",
        elementwise.Minimum,
        lambda a, b: kw.minimum(a, b),
        [distinct((3, 1)), distinct((1, 4), seed=1) + 0.05],
    ),
    (
        "clamp-tensor-bounds",
        elementwise.Clip,
        lambda x, lo, hi: x.clamp(lo, hi),
        [normal(3, 4), normal(4, seed=1) - 1, normal(3, 1, seed=2) + 1],
    ),
    ("reshape", shape.Reshape, lambda a: a.reshape(3, 2) * a.reshape(3, 2), [normal(2, 3)]),
    ("permute", shape.Permute, lambda a: a.permute(2, 0, 1), [normal(2, 3, 2)]),
    ("transpose", shape.Permute, lambda a: a.T, [normal(2, 3)]),
    ("getitem-basic", shape.GetItem, lambda a: a[1:, None, ::2], [normal(3, 4)]),
    ("getitem-int-ellipsis", shape.GetItem, lambda a: a[..., -1], [normal(2, 3, 2)]),
    ("getitem-repeats", shape.GetItem, lambda a: a[[0, 2, 0, 0]], [normal(3, 2)]),
    ("getitem-two-arrays", shape.GetItem, lambda a: a[[1, 1, 0], [0, 0, 2]], [normal(3, 4)]),
    ("getitem-mask", shape.GetItem, lambda a: a[kw.tensor(COND)], [normal(3, 4)]),
    ("cat", shape.Cat, lambda a, b, c: kw.cat([a, b, c], dim=1), [normal(2, 1), normal(2, 3, seed=1), normal(2, 2)]),
    ("stack", shape.Stack, lambda a, b: kw.stack([a, b], dim=1), [normal(2, 3), normal(2, 3, seed=1)]),
    ("clone", shape.Clone, lambda a: a.clone() * a, [normal(2, 3)]),
    ("max-dim", shape.TakeAlong, lambda a: a.max(dim=1).values, [distinct((3, 4))]),
    ("min-dim-keepdim", shape.TakeAlong, lambda a: a.min(0, keepdim=True).values, [distinct((3, 4))]),
    ("sort", shape.TakeAlong, lambda a: kw.sort(a, dim=0, descending=True).values, [distinct((3, 4))]),
    ("topk", shape.TakeAlong, lambda a: kw.topk(a, 2).values, [distinct((3, 4))]),
    ("expand", shape.Expand, lambda a: a.expand(2, 3, 4) * kw.tensor(np.arange(24.0).reshape(2, 3, 4)), [normal(3, 1)]),
]


@pytest.mark.parametrize(("name", "function", "fn", "arrays"), CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, function, fn, arrays):
    inputs = [kw.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    assert kw.gradcheck(fn, inputs) is True


def test_every_function_is_gradchecked():
    defined = {
        obj
        for module in (elementwise, reduce, shape)
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, kw.Function) and obj.__module__ == module.__name__
    }
    covered = {case[1] for case in CASES}
    assert defined - covered == set(), f"no gradcheck case for {sorted(c.__name__ for c in defined - covered)}"


# --------------------------------------------------------------------------- gradcheck itself
class Square(kw.Function):
    """y = x²; dy/dx = 2x."""

    def forward(self, x):
        if self.requires_grad:
            self.x = x
        return x * x

    def backward(self, grad_out):
        return 2 * self.x * grad_out


class WrongSquare(Square):
    def backward(self, grad_out):
        return self.x * grad_out  # wrong on purpose: the factor 2 is missing


class WrongSecondInput(kw.Function):
    """y = a·b, with a correct gradient for a and a wrong one for b."""

    def forward(self, a, b):
        if self.requires_grad:
            self.a, self.b = a, b
        return a * b

    def backward(self, grad_out):
        return grad_out * self.b, grad_out * self.b  # wrong on purpose: dy/db = a


def test_gradcheck_accepts_a_correct_function():
    x = kw.tensor(normal(3), requires_grad=True)
    assert kw.gradcheck(Square.apply, (x,)) is True


def test_gradcheck_catches_a_wrong_function():
    x = kw.tensor(normal(3), requires_grad=True)
    with pytest.raises(kw.GradcheckError, match=r"input 0 \(shape \(3,\)\)"):
        kw.gradcheck(WrongSquare.apply, (x,))


def test_gradcheck_names_the_wrong_input():
    a = kw.tensor(normal(2, 2), requires_grad=True)
    b = kw.tensor(normal(2, 2, seed=1), requires_grad=True)
    with pytest.raises(kw.GradcheckError, match=r"input 1 \(shape \(2, 2\)\)"):
        kw.gradcheck(WrongSecondInput.apply, (a, b))


def test_gradcheck_without_raising_returns_false():
    x = kw.tensor(normal(3), requires_grad=True)
    assert kw.gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_rejects_float32():
    x = kw.tensor(normal(3).astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match=r"input 0 is float32.*float64"):
        kw.gradcheck(Square.apply, (x,))


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        kw.gradcheck(Square.apply, (kw.tensor(normal(3)),))


def test_gradcheck_skips_inputs_without_grad():
    x = kw.tensor(normal(3), requires_grad=True)
    c = kw.tensor(normal(3, seed=1))
    assert kw.gradcheck(lambda a, b: a * b, (x, c)) is True


def test_gradcheck_on_non_contiguous_input():
    x = kw.tensor(normal(3, 2).T, requires_grad=True)  # a copy of a transpose keeps Fortran order
    assert not x.numpy().flags.c_contiguous
    assert kw.gradcheck(lambda t: t * t, (x,)) is True


def test_gradcheck_restores_the_inputs():
    a = normal(2, 3)
    x = kw.tensor(a, requires_grad=True)
    kw.gradcheck(lambda t: t.exp(), (x,))
    np.testing.assert_array_equal(x.numpy(), a)


def test_gradcheck_defaults_are_pytorchs():
    params = inspect.signature(kw.gradcheck).parameters
    assert params["eps"].default == 1e-6
    assert params["atol"].default == 1e-5
    assert params["rtol"].default == 1e-3
