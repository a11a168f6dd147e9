"""Autograd against PyTorch, and the graph rules of backward.

``check`` runs one expression on kernelwise tensors and on torch tensors made from the same arrays, then
compares the forward value (and its dtype) and the gradient of every input for a random upstream gradient.
Hand-worked examples cover the recitation's graph f = (x + y)·z, a diamond and gradient accumulation.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
import torch

import kernelwise as kw
from parity import TOL, assert_close, largest_size, tolerance


def as_numpy_dtype(t: torch.Tensor) -> np.dtype:
    return torch.empty(0, dtype=t.dtype).numpy().dtype


def check(fn: Callable, arrays: list[np.ndarray], dtype: type, seed: int = 0) -> None:
    """Compare ``fn(kw, *kernelwise_tensors)`` with ``fn(torch, *torch_tensors)``: value, dtype, input grads.

    ``fn`` receives the library (``kw`` or ``torch``) first, so that one lambda serves both
    (``lambda m, a, b: m.cat([a, b])``).
    """
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    ours_in = [kw.tensor(a, requires_grad=True) for a in arrays]
    ref_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(kw, *ours_in)
    ref = fn(torch, *ref_in)

    assert isinstance(out, kw.Tensor)
    assert out.shape == tuple(ref.shape), (out.shape, ref.shape)
    assert out.dtype == as_numpy_dtype(ref), (out.dtype, ref.dtype)
    terms = largest_size(*arrays, out.numpy())
    assert_close(out.numpy(), ref.detach().numpy(), dtype, terms=terms, what="forward")

    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for i, (x, xt) in enumerate(zip(ours_in, ref_in, strict=True)):
        if xt.grad is None:
            assert x.grad is None or not np.any(x.grad.numpy()), f"input {i}: torch has no gradient"
            continue
        assert x.grad is not None, f"input {i}: no gradient"
        assert x.grad.dtype == x.dtype, f"input {i}: gradient dtype {x.grad.dtype}, tensor dtype {x.dtype}"
        assert_close(x.grad.numpy(), xt.grad.numpy(), dtype, terms=terms, what=f"gradient of input {i}")


def amax(m: ModuleType, a, dim=None, keepdim=False):
    """amax over one or several dimensions (ties share the gradient); max(dim) returns (values, indices)."""
    return a.amax(dim=() if dim is None else dim, keepdim=keepdim)


def amin(m: ModuleType, a, dim=None, keepdim=False):
    return a.amin(dim=() if dim is None else dim, keepdim=keepdim)


# Each case: (id, fn(m, *tensors), input shapes, domain). Domains: "any" (standard normal), "pos" (0.5..2.5),
# "away0" (|x| in 0.5..2, random sign): inputs where the function and its derivative are smooth.
CASES = [
    # binary operators with broadcasting
    ("add", lambda m, a, b: a + b, [(3, 4), (3, 4)], "any"),
    ("add-(3,1)+(1,4)", lambda m, a, b: a + b, [(3, 1), (1, 4)], "any"),
    ("add-(2,3,4)+(4,)", lambda m, a, b: a + b, [(2, 3, 4), (4,)], "any"),
    ("add-0d", lambda m, a, b: a + b, [(), (2, 3)], "any"),
    ("sub-(3,1)-(1,4)", lambda m, a, b: a - b, [(3, 1), (1, 4)], "any"),
    ("sub-(2,3,4)-(3,1)", lambda m, a, b: a - b, [(2, 3, 4), (3, 1)], "any"),
    ("mul-(2,3,4)*(4,)", lambda m, a, b: a * b, [(2, 3, 4), (4,)], "any"),
    ("mul-(3,1)*(1,4)", lambda m, a, b: a * b, [(3, 1), (1, 4)], "any"),
    ("mul-(2,1,4)*(3,1)", lambda m, a, b: a * b, [(2, 1, 4), (3, 1)], "any"),
    ("mul-self", lambda m, a: a * a, [(3, 4)], "any"),
    ("div-(3,1)/(1,4)", lambda m, a, b: a / b, [(3, 1), (1, 4)], "away0"),
    ("div-(2,3,4)/(4,)", lambda m, a, b: a / b, [(2, 3, 4), (4,)], "away0"),
    ("pow-tensor-exponent", lambda m, a, b: a**b, [(3, 1), (1, 4)], "pos"),
    ("pow-2", lambda m, a: a**2, [(3, 4)], "any"),
    ("pow-3", lambda m, a: a**3, [(3, 4)], "any"),
    ("pow-0.5", lambda m, a: a**0.5, [(3, 4)], "pos"),
    ("pow--1.5", lambda m, a: a**-1.5, [(3, 4)], "pos"),
    ("rpow", lambda m, a: 2.0**a, [(3, 4)], "any"),
    ("matmul-(5,)@(5,)", lambda m, a, b: a @ b, [(5,), (5,)], "any"),
    ("matmul-(2,3)@(3,)", lambda m, a, b: a @ b, [(2, 3), (3,)], "any"),
    ("matmul-(3,)@(3,4)", lambda m, a, b: a @ b, [(3,), (3, 4)], "any"),
    ("matmul-(2,3)@(3,4)", lambda m, a, b: a @ b, [(2, 3), (3, 4)], "any"),
    ("matmul-(4,2,3)@(3,5)", lambda m, a, b: a @ b, [(4, 2, 3), (3, 5)], "any"),
    ("matmul-(2,3)@(4,3,5)", lambda m, a, b: a @ b, [(2, 3), (4, 3, 5)], "any"),
    ("matmul-(2,1,3,4)@(5,4,2)", lambda m, a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)], "any"),
    ("matmul-(3,)@(2,3,4)", lambda m, a, b: a @ b, [(3,), (2, 3, 4)], "any"),
    ("matmul-(2,4,3)@(3,)", lambda m, a, b: a @ b, [(2, 4, 3), (3,)], "any"),
    # unary minus and Python scalars on either side
    ("neg", lambda m, a: -a, [(3, 4)], "any"),
    ("add-scalar", lambda m, a: a + 2.5, [(3, 4)], "any"),
    ("rsub-scalar", lambda m, a: 2.5 - a, [(3, 4)], "any"),
    ("sub-scalar", lambda m, a: a - 1, [(3, 4)], "any"),
    ("rmul-scalar", lambda m, a: 3 * a, [(3, 4)], "any"),
    ("div-scalar", lambda m, a: a / 4, [(3, 4)], "any"),
    ("rdiv-scalar", lambda m, a: 1 / a, [(3, 4)], "away0"),
    # elementwise functions
    ("exp", lambda m, a: a.exp(), [(3, 4)], "any"),
    ("log", lambda m, a: a.log(), [(3, 4)], "pos"),
    ("sqrt", lambda m, a: a.sqrt(), [(3, 4)], "pos"),
    ("abs", lambda m, a: a.abs(), [(3, 4)], "away0"),
    ("clamp", lambda m, a: a.clamp(-0.5, 0.5), [(4, 5)], "any"),
    ("clamp-min", lambda m, a: a.clamp(min=0.0), [(4, 5)], "any"),
    ("clamp-max", lambda m, a: a.clamp(max=0.3), [(4, 5)], "any"),
    ("clip", lambda m, a: a.clip(-1.0, 0.2), [(4, 5)], "any"),
    ("relu", lambda m, a: a.relu(), [(4, 5)], "any"),
    ("sigmoid", lambda m, a: a.sigmoid(), [(4, 5)], "any"),
    ("tanh", lambda m, a: a.tanh(), [(4, 5)], "any"),
    ("where", lambda m, a, b: m.where(a > 0, a, b), [(3, 4), (4,)], "any"),
    ("where-scalar", lambda m, a: m.where(a > 0, a, 0.0), [(3, 4)], "any"),
    # reductions
    ("sum", lambda m, a: a.sum(), [(2, 3, 4)], "any"),
    ("sum-dim1", lambda m, a: a.sum(dim=1), [(2, 3, 4)], "any"),
    ("sum-dims-keepdim", lambda m, a: a.sum(dim=(0, 2), keepdim=True), [(2, 3, 4)], "any"),
    ("sum-neg-dim", lambda m, a: a.sum(-1), [(2, 3, 4)], "any"),
    ("mean", lambda m, a: a.mean(), [(2, 3, 4)], "any"),
    ("mean-dim0", lambda m, a: a.mean(dim=0), [(2, 3, 4)], "any"),
    ("mean-keepdim", lambda m, a: a.mean(dim=-1, keepdim=True), [(2, 3, 4)], "any"),
    ("max", lambda m, a: a.max(), [(3, 4)], "any"),
    ("max-dim1", lambda m, a: amax(m, a, dim=1), [(3, 4)], "any"),
    ("max-keepdim", lambda m, a: amax(m, a, dim=0, keepdim=True), [(2, 3, 4)], "any"),
    ("min", lambda m, a: a.min(), [(3, 4)], "any"),
    ("min-dims-keepdim", lambda m, a: amin(m, a, dim=(0, 1), keepdim=True), [(2, 3, 4)], "any"),
    ("max-dim-values", lambda m, a: a.max(1).values, [(3, 4)], "any"),
    ("min-dim-keepdim-values", lambda m, a: a.min(dim=0, keepdim=True)[0], [(2, 3, 4)], "any"),
    ("maximum", lambda m, a, b: m.maximum(a, b), [(3, 4), (4,)], "any"),
    ("minimum", lambda m, a, b: m.minimum(a, b), [(3, 1), (1, 4)], "any"),
    # shape operations
    ("reshape", lambda m, a: a.reshape(4, 6), [(2, 3, 4)], "any"),
    ("reshape-minus1", lambda m, a: a.reshape(-1, 4) * 2, [(2, 3, 4)], "any"),
    ("view", lambda m, a: a.view(3, 8), [(2, 3, 4)], "any"),
    ("transpose", lambda m, a: a.transpose(0, 2), [(2, 3, 4)], "any"),
    ("transpose-neg", lambda m, a: a.transpose(-1, -2), [(2, 3, 4)], "any"),
    ("permute", lambda m, a: a.permute(2, 0, 1), [(2, 3, 4)], "any"),
    ("T", lambda m, a: a.T, [(3, 4)], "any"),
    ("flatten", lambda m, a: a.flatten(), [(2, 3, 4)], "any"),
    ("flatten-1", lambda m, a: a.flatten(1), [(2, 3, 4)], "any"),
    ("flatten-0-1", lambda m, a: a.flatten(0, 1), [(2, 3, 4)], "any"),
    ("unsqueeze", lambda m, a: a.unsqueeze(1), [(3, 4)], "any"),
    ("unsqueeze-neg", lambda m, a: a.unsqueeze(-1), [(3, 4)], "any"),
    ("squeeze", lambda m, a: a.squeeze(), [(3, 1, 4, 1)], "any"),
    ("squeeze-dim", lambda m, a: a.squeeze(1), [(3, 1, 4)], "any"),
    ("clone", lambda m, a: a.clone() * 2, [(3, 4)], "any"),
    ("double", lambda m, a: a.double() * 2, [(3, 4)], "any"),
    ("float", lambda m, a: a.float() * 2, [(3, 4)], "any"),
    # indexing
    ("index-int", lambda m, a: a[1], [(3, 4)], "any"),
    ("index-slices", lambda m, a: a[:, 1:3], [(3, 4)], "any"),
    ("index-step-ellipsis", lambda m, a: a[..., ::2], [(2, 3, 4)], "any"),
    ("index-none", lambda m, a: a[None, 0], [(3, 4)], "any"),
    ("index-negative", lambda m, a: a[-1, -2], [(3, 4)], "any"),
    ("index-list-repeats", lambda m, a: a[[0, 0, 2]], [(3, 4)], "any"),
    ("index-tensor-repeats", lambda m, a: a[m.tensor([2, 0, 2, 2])], [(3, 4)], "any"),
    ("index-two-arrays", lambda m, a: a[[0, 1, 1], [2, 2, 2]], [(3, 4)], "any"),
    ("index-array-and-slice", lambda m, a: a[1:, [3, 0, 3]], [(3, 4)], "any"),
    ("index-bool-mask", lambda m, a: a[a > 0], [(3, 4)], "any"),
    ("index-bool-tensor", lambda m, a: a[m.tensor([True, False, True])], [(3, 4)], "any"),
    # joining
    ("cat-dim0", lambda m, a, b: m.cat([a, b]), [(2, 3), (4, 3)], "any"),
    ("cat-dim1", lambda m, a, b, c: m.cat([a, b, c], dim=1), [(2, 1), (2, 3), (2, 2)], "any"),
    ("cat-same", lambda m, a: m.cat([a, a], dim=-1), [(2, 3)], "any"),
    ("stack", lambda m, a, b: m.stack([a, b]), [(2, 3), (2, 3)], "any"),
    ("stack-last", lambda m, a, b: m.stack([a, b], dim=-1), [(2, 3), (2, 3)], "any"),
    # compositions: a tensor used several times, chains of ops
    ("swish", lambda m, a: a * a.sigmoid(), [(3, 4)], "any"),
    (
        "softmax",
        lambda m, a: (
            (a - amax(m, a, dim=1, keepdim=True)).exp() / (a - amax(m, a, dim=1, keepdim=True)).exp().sum(1, True)
        ),
        [(3, 4)],
        "any",
    ),
    ("mlp", lambda m, x, w, b: ((x @ w + b).relu() ** 2).mean(), [(4, 3), (3, 5), (5,)], "any"),
    ("normalize", lambda m, a: (a - a.mean(0)) / (((a - a.mean(0)) ** 2).mean(0) + 1e-5).sqrt(), [(5, 3)], "any"),
]


def make_input(shape: tuple[int, ...], domain: str, rng: np.random.Generator) -> np.ndarray:
    if domain == "pos":
        return rng.uniform(0.5, 2.5, shape)
    if domain == "away0":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "fn", "shapes", "domain"), CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, fn, shapes, domain, dtype):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [make_input(s, domain, rng) for s in shapes]
    check(fn, arrays, dtype, seed=zlib.crc32(name.encode()))


def test_parity_helper_detects_a_wrong_gradient():
    """The helper itself can fail: a function whose backward is wrong is caught."""

    class WrongSquare(kw.Function):
        def forward(self, x):
            if self.requires_grad:
                self.x = x
            return x * x

        def backward(self, grad_out):
            return grad_out * self.x  # wrong on purpose: d(x²)/dx = 2x

    def fn(m, a):
        return WrongSquare.apply(a) if m is kw else a * a

    with pytest.raises(AssertionError, match="gradient of input 0"):
        check(fn, [np.array([1.0, 2.0])], np.float64)


def test_assert_close_bound():
    """Rounding-sized differences pass; the bound grows with the sum's length and the output's scale, never past TOL."""
    e = np.array([1.0, 0.5, 0.0], np.float32)
    eps = np.finfo(np.float32).eps
    assert_close(e + np.array([eps, 0, 0], np.float32), e)  # one rounding of the largest entry
    near_zero = e + np.array([0, 0, 5e-6], np.float32)  # 42 eps at 0, relative to the scale 1
    with pytest.raises(AssertionError, match="1 of 3 entries"):
        assert_close(near_zero, e)  # one term: 16 eps · (0 + 1)
    assert_close(near_zero, e, terms=4)  # a sum of 4 terms: 64 eps
    with pytest.raises(AssertionError):
        assert_close(e + np.array([0, 0, 2e-5], np.float32), e, terms=100)  # past the fixed 1e-5
    tol = tolerance(e, terms=10**9)  # however long the sum: never looser than the fixed tolerance
    np.testing.assert_array_equal(tol, TOL[np.float32]["atol"] + TOL[np.float32]["rtol"] * np.abs(e.astype(float)))
    with pytest.raises(AssertionError, match="non-finite"):
        assert_close(np.array([np.nan, 1.0]), np.array([np.inf, 1.0]))
    with pytest.raises(AssertionError):
        assert_close(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    assert_close(np.array([np.nan, -np.inf]), np.array([np.nan, -np.inf]))


# --------------------------------------------------------------------------- hand-worked graphs
def test_recitation_graph():
    """f = (x + y)·z at x = -2, y = 5, z = -4: q = x + y = 3, f = q·z = -12;
    df/dx = df/dq · dq/dx = z · 1 = -4, df/dy = z · 1 = -4, df/dz = q = 3."""
    x = kw.tensor(-2.0, requires_grad=True)
    y = kw.tensor(5.0, requires_grad=True)
    z = kw.tensor(-4.0, requires_grad=True)
    f = (x + y) * z
    assert f.item() == -12.0
    f.backward()
    assert x.grad.item() == -4.0
    assert y.grad.item() == -4.0
    assert z.grad.item() == 3.0


def test_diamond_graph():
    """a = 2x feeds b = a + 1 and c = a·a; d = b·c = (2x + 1)(2x)² = 8x³ + 4x², so dd/dx = 24x² + 8x = 240 at x = 3."""
    x = kw.tensor(3.0, requires_grad=True)
    a = x * 2
    b = a + 1
    c = a * a
    d = b * c
    assert d.item() == 252.0
    d.backward()
    assert x.grad.item() == 240.0


def test_value_used_twice_gets_both_contributions():
    """y = x·x + x: dy/dx = 2x + 1."""
    x = kw.tensor([1.0, -3.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -5.0])


def test_gradients_accumulate_across_backward_calls():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])
    x.grad = None
    (x * 4).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_deep_chain_does_not_hit_the_recursion_limit():
    depth = 5000
    assert depth > sys.getrecursionlimit()
    x = kw.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(depth):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**depth, rel=1e-9)  # d/dx (c^n · x) = c^n


def test_non_leaf_grad_is_none_unless_retained():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    k = x * 5
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(k.grad.numpy(), h.numpy())  # d(h·k)/dk = h
    assert not h.is_leaf and x.is_leaf


def test_max_and_min_share_gradient_among_ties_like_amax():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    for ours_fn, torch_fn, expected in (
        (lambda t: t.amax(dim=1), lambda t: t.amax(dim=1), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]),
        (lambda t: t.amin(dim=1), lambda t: t.amin(dim=1), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]]),
        (lambda t: t.max(), lambda t: t.amax(), [[0, 0.5, 0.5], [0, 0, 0]]),
        (lambda t: t.amin(dim=0), lambda t: t.amin(dim=0), [[1, 0, 0], [0, 1, 1]]),
    ):
        x = kw.tensor(a, requires_grad=True)
        ours_fn(x).sum().backward()
        xt = torch.tensor(a, requires_grad=True)
        torch_fn(xt).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_abs_gradient_at_zero_is_zero_like_torch():
    x = kw.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 1.0])


def test_clamp_gradient_passes_at_the_bounds_like_torch():
    a = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    x = kw.tensor(a, requires_grad=True)
    x.clamp(-0.5, 0.5).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    xt.clamp(-0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_pow_zero_exponent_at_zero_base_like_torch():
    a = np.array([0.0, 2.0])
    x = kw.tensor(a, requires_grad=True)
    (x**0).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    (xt**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_division_by_zero_gives_inf_like_torch():
    ours = kw.tensor([1.0, -1.0]) / kw.tensor([0.0, 0.0])
    ref = torch.tensor([1.0, -1.0]) / torch.tensor([0.0, 0.0])
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_exp_overflow_gives_inf_like_torch():
    np.testing.assert_array_equal(kw.tensor([1000.0]).exp().numpy(), torch.tensor([1000.0]).exp().numpy())


# --------------------------------------------------------------------------- backward rules
def test_backward_on_non_scalar_needs_gradient():
    x = kw.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises((ValueError, RuntimeError), match=r"scalar.*\(2, 3\)"):
        (x * 2).backward()


def test_backward_with_gradient_of_wrong_shape_is_value_error():
    x = kw.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\).*\(2, 3\)"):
        (x * 2).backward(np.ones(3))


def test_backward_with_gradient_weights_the_output():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(kw.tensor([10.0, 100.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 300.0])


def test_backward_on_tensor_without_grad_is_runtime_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        kw.tensor([1.0]).sum().backward()


def test_second_backward_without_retain_graph_is_runtime_error():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2 · 2x
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()  # the second call did not retain


def test_no_grad_results_have_no_graph():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    with kw.no_grad():
        y = (x * 2).sum()
    assert not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_inputs_without_requires_grad_get_no_gradient():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    c = kw.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_detached_branch_gets_no_gradient():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    (x * x.detach()).sum().backward()  # d/dx (x · const) = const = x
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])


# ----------------------------------------------------------------------------- gradient hooks
def test_post_accumulate_grad_hook_sees_the_accumulated_grad_once_per_backward() -> None:
    w = kw.tensor([1.0, 2.0], requires_grad=True)
    seen: list[list[float]] = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    # w is used twice: the hook runs once, after both contributions (3 + 2w) have been summed
    (w * 3 + w * w).sum().backward()
    assert seen == [[5.0, 7.0]]
    (w * 3).sum().backward()  # accumulates onto the previous grad, as the hook sees
    assert seen == [[5.0, 7.0], [8.0, 10.0]]
    handle.remove()
    handle.remove()  # a second remove does nothing
    (w * 3).sum().backward()
    assert len(seen) == 2


def test_post_accumulate_grad_hook_sees_the_same_grad_as_torchs() -> None:
    seen: dict[str, list[float]] = {}
    torch_seen: dict[str, list[float]] = {}
    values = {"a": [2.0, -1.0], "b": [3.0, 0.5]}
    for lib, record in ((torch, torch_seen), (kw, seen)):
        a, b = (lib.tensor(values[name], requires_grad=True) for name in "ab")
        for name, t in (("a", a), ("b", b)):
            t.register_post_accumulate_grad_hook(
                lambda t, name=name, record=record: record.update({name: t.grad.tolist()})
            )
        (((a * 2).exp() * b).sum() + (a * b).sum()).backward()
    assert seen.keys() == torch_seen.keys() == {"a", "b"}
    for name in "ab":
        np.testing.assert_allclose(seen[name], torch_seen[name], **TOL[np.float32])


def test_post_accumulate_grad_hook_only_on_leaves_that_require_grad() -> None:
    with pytest.raises(kw.errors.GraphError, match="doesn't require gradient"):
        kw.tensor([1.0]).register_post_accumulate_grad_hook(print)
    x = kw.tensor([1.0], requires_grad=True)
    with pytest.raises(kw.errors.GraphError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(TypeError, match="callable"):
        x.register_post_accumulate_grad_hook(3)


def test_queued_callback_runs_once_after_the_whole_backward() -> None:
    from kernelwise.tensor import queue_backward_callback

    a, b = kw.tensor([2.0], requires_grad=True), kw.tensor([3.0], requires_grad=True)
    events: list[str] = []

    def hook(t: kw.Tensor) -> None:
        events.append("hook")
        if len(events) == 1:
            queue_backward_callback(lambda: events.append(f"done {a.grad.tolist()} {b.grad.tolist()}"))

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    (a * b).sum().backward()
    assert events == ["hook", "hook", "done [3.0] [2.0]"]
    with pytest.raises(kw.errors.GraphError, match="no backward pass is running"):
        queue_backward_callback(print)


def test_post_accumulate_grad_hooks_run_from_the_output_backwards_as_in_torch() -> None:
    """A layer's gradient is final right after its backward, before the layers below it run theirs."""
    orders: dict[str, list[str]] = {}
    for lib in (torch, kw):
        lib.manual_seed(0)
        model = lib.nn.Sequential(
            lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)
        )
        order = orders[lib.__name__] = []
        for name, p in model.named_parameters():
            p.register_post_accumulate_grad_hook(lambda t, name=name, order=order: order.append(name.split(".")[0]))
        model(lib.ones(5, 3)).sum().backward()
    layers = sorted(set(orders["torch"]), key=orders["torch"].index)
    assert layers == sorted(set(orders["kernelwise"]), key=orders["kernelwise"].index) == ["4", "2", "0"]
