"""Elementwise operations and matmul, with broadcasting.

When an input was broadcast in the forward pass, its gradient is summed back
over the broadcast axes (:func:`unbroadcast`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..tensor import Function
from .activation_function import _Activation
from .gemm import matmul
from .layout import array_like_layout, in_layout_of, zeros_like_view


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class Cast(Function):
    """y = x as another dtype; float-to-float casts pass the gradient back in x's dtype."""

    def forward(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.astype(self.in_dtype)


class Add(Function):
    """y = a + b; dy/da = dy/db = 1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = np.shape(a), np.shape(b)
        return a + in_layout_of(b, a)  # (operands in one memory layout: see ops/layout.py)

    def backward(self, grad_out: np.ndarray) -> tuple:
        sa, sb = self.shapes
        return unbroadcast(grad_out, sa), unbroadcast(grad_out, sb)


class Sub(Function):
    """y = a - b; dy/da = 1, dy/db = -1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = np.shape(a), np.shape(b)
        return a - in_layout_of(b, a)

    def backward(self, grad_out: np.ndarray) -> tuple:
        sa, sb = self.shapes
        grad_b = unbroadcast(-grad_out, sb) if self.needs_input_grad[1] else None
        return unbroadcast(grad_out, sa), grad_b


class Mul(Function):
    """y = a · b; dy/da = b, dy/db = a."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        b = in_layout_of(b, a)
        if self.requires_grad:
            self.a, self.b = a, b
        return a * b

    def backward(self, grad_out: np.ndarray) -> tuple:
        a, b = self.a, self.b
        grad_a = unbroadcast(grad_out * b, np.shape(a)) if self.needs_input_grad[0] else None
        grad_b = unbroadcast(grad_out * a, np.shape(b)) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """y = a / b; dy/da = 1/b, dy/db = -a/b²."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        b = in_layout_of(b, a)
        if self.requires_grad:
            self.a, self.b = a, b
        with np.errstate(divide="ignore", invalid="ignore"):  # x/0 is ±inf or nan, as in PyTorch
            return a / b

    def backward(self, grad_out: np.ndarray) -> tuple:
        a, b = self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_a = unbroadcast(grad_out / b, np.shape(a)) if self.needs_input_grad[0] else None
            grad_b = unbroadcast(-grad_out * a / (b * b), np.shape(b)) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    """y = a ** b; dy/da = b·a^(b-1) (0 where b = 0, as PyTorch), dy/db = y·ln(a)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf, (-1) ** 0.5 = nan, as in PyTorch
            out = a**b
        if self.requires_grad:
            self.a, self.b, self.out = a, b, out
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        a, b, out = self.a, self.b, self.out
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                local = np.where(b == 0, 0, b * a ** (b - 1))  # d(a^b)/da; a^0 = 1 is constant, even at a = 0
            grad_a = unbroadcast(grad_out * local, np.shape(a))
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_b = unbroadcast(grad_out * out * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0), np.shape(b))
        return grad_a, grad_b


class MatMul(Function):
    """Y = A @ B.  Shapes: [m, k] @ [k, n] -> [m, n];  dA = dY @ Bᵀ, dB = Aᵀ @ dY."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise UsageError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise UsageError(f"matmul: shapes {a.shape} and {b.shape} do not match (inner sizes differ)")
        if self.requires_grad:
            self.a, self.b = a, b
        return matmul(a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a  # a vector is a one-row matrix
        b2 = b[:, None] if b.ndim == 1 else b  # and on the right a one-column matrix
        if b.ndim == 1:
            grad_out = np.expand_dims(grad_out, -1)  # first the column axis: a 1-D @ 1-D output is 0-d
        if a.ndim == 1:
            grad_out = np.expand_dims(grad_out, -2)
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(matmul(grad_out, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(matmul(np.swapaxes(a2, -1, -2), grad_out), b2.shape).reshape(b.shape)
        return grad_a, grad_b


class Neg(Function):
    """y = -x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return -grad_out


class Exp(Function):
    """y = eˣ; dy/dx = y."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # e^1000 = inf, as in PyTorch
            out = np.exp(x)
        if self.requires_grad:
            self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.out


class Log(Function):
    """y = ln x; dy/dx = 1/x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.requires_grad:
            self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return grad_out / self.x


class Sqrt(Function):
    """y = √x; dy/dx = 1/(2y)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = np.sqrt(x)
        if self.requires_grad:
            self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return grad_out / (2 * self.out)


class Abs(Function):
    """y = |x|; dy/dx = sign(x) (0 at 0, as PyTorch)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.requires_grad:
            self.sign = np.sign(x)
        return np.abs(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.sign


class Clip(Function):
    """y = min(max(x, lo), hi) (hi where lo > hi), as PyTorch's clamp; lo and hi are numbers, arrays or None.

    dy/dx = 1 where lo <= x <= hi, else 0; dy/dlo = 1 where x < lo < hi; dy/dhi = 1 where x > hi or hi < lo.
    """

    def forward(self, x: np.ndarray, lo: Any = None, hi: Any = None) -> np.ndarray:
        out = np.clip(x, lo, hi).astype(x.dtype, copy=False)
        if self.requires_grad:
            self.x, self.lo, self.hi, self.out_shape = x, lo, hi, out.shape
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        x, lo, hi = self.x, self.lo, self.hi
        inside = array_like_layout(x, self.out_shape, bool, fill=True)  # lo <= x <= hi: y = x (in x's layout)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        grad_x = unbroadcast(grad_out * inside, x.shape)
        grad_lo = grad_hi = None
        if self.needs_input_grad[1]:  # y = lo where x < lo < hi
            took_lo = (x < lo) & (lo < hi) if hi is not None else x < lo
            grad_lo = unbroadcast(grad_out * took_lo, np.shape(lo))
        if self.needs_input_grad[2]:  # y = hi where x > hi, or hi < lo
            took_hi = (x > hi) | (hi < lo) if lo is not None else x > hi
            grad_hi = unbroadcast(grad_out * took_hi, np.shape(hi))
        return grad_x, grad_lo, grad_hi


class Maximum(Function):
    """y = max(a, b) elementwise; the gradient goes to the larger, half to each where they are equal.

    ``choose(a, b)`` picks y, ``loses(a, b)`` is where ``a`` is not picked; :class:`Minimum`
    changes only these two. Where a == b each gets half (PyTorch's rule; beside a NaN, both get all).
    """

    choose = staticmethod(np.maximum)
    loses = staticmethod(np.less)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        b = in_layout_of(b, a)  # one layout: y (and dL/da, dL/db) keep a's
        if self.requires_grad:
            self.a, self.b = a, b
        return self.choose(a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        a, b = self.a, self.b
        half = grad_out.dtype.type(0.5)
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(grad_out * np.where(a == b, half, ~self.loses(a, b)), np.shape(a))  # dy/da: 1, ½ or 0
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(grad_out * np.where(a == b, half, ~self.loses(b, a)), np.shape(b))  # dy/db: 1, ½ or 0
        return grad_a, grad_b


class Minimum(Maximum):
    """y = min(a, b) elementwise; the gradient goes to the smaller, half to each where they are equal."""

    choose = staticmethod(np.minimum)
    loses = staticmethod(np.greater)


class Where(Function):
    """y = a where cond else b; the gradient goes to the side that was chosen."""

    def forward(self, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.cond, self.shapes = cond, (np.shape(a), np.shape(b))
        return np.where(cond, a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        zero = np.zeros((), grad_out.dtype)
        grad_a = unbroadcast(np.where(self.cond, grad_out, zero), self.shapes[0]) if self.needs_input_grad[1] else None
        grad_b = unbroadcast(np.where(self.cond, zero, grad_out), self.shapes[1]) if self.needs_input_grad[2] else None
        return None, grad_a, grad_b


class ReLU(_Activation):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0."""

    @staticmethod
    def formula(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, zeros_like_view(x))  # max(x, 0), in x's memory layout

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y > 0


class Sigmoid(_Activation):
    """y = σ(x) = 1 / (1 + e⁻ˣ), computed without overflow; dy/dx = y(1 - y)."""

    @staticmethod
    def formula(x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))  # e^-|x| <= 1: never overflows
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)  # 1/(1 + e⁻ˣ) = eˣ/(1 + eˣ)

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y * (1 - y)


class Tanh(_Activation):
    """y = tanh x; dy/dx = 1 - y²."""

    @staticmethod
    def formula(x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1 - y * y
