"""One helper for PyTorch parity: the closeness assertion, its tolerances, tie-free inputs, and ``check_parity``.

``assert_close(actual, expected, terms=...)`` is the one comparison the tests use between kernelwise and torch
(or a reference). Each element may differ from the expected one by

    min(ULPS * eps * terms * (|expected| + scale),  TOL.atol + TOL.rtol * |expected|)

where ``eps`` is the dtype's machine epsilon, ``terms`` the number of rounded values summed into one entry (the
length of the longest sum, or an upper bound on it), and ``scale = max(1, max |expected|)``: two implementations
that add the same ``terms`` values in different orders differ by a few roundings of each partial sum, and those
are relative to the size of the values, which the output's scale measures (an entry near zero after
cancellation is not held to its own, tiny, magnitude). ``TOL`` caps that bound at the fixed tolerance the parity
tests have always used, so a long sum never passes with more than that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import kernelwise as kw

# The ceiling: no comparison is looser than this, whatever the length of the sum.
TOL = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}
ULPS = 16  # roundings allowed per summed term, for both implementations together


def tolerance(expected: np.ndarray, dtype: Any = None, terms: int = 1) -> np.ndarray:
    """The per-element bound on |actual - expected| (see the module's docstring)."""
    expected = np.asarray(expected)
    dtype = np.dtype(expected.dtype if dtype is None else dtype).type
    size = np.abs(expected.astype(np.float64))
    scale = max(1.0, float(size.max(initial=0.0)))
    derived = ULPS * float(np.finfo(dtype).eps) * max(1, terms) * (size + scale)
    ceiling = TOL[dtype]["atol"] + TOL[dtype]["rtol"] * size
    return np.minimum(derived, ceiling)


def assert_close(actual: Any, expected: Any, dtype: Any = None, *, terms: int = 1, what: str = "") -> None:
    """``actual`` equals ``expected`` (same shape) within ``tolerance``; NaNs must match, infinities be equal.

    ``dtype`` (default ``expected``'s) picks the epsilon: pass the computation's dtype when ``expected``
    comes back in another one.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    finite = np.isfinite(e)
    np.testing.assert_array_equal(a[~finite], e[~finite], err_msg=f"{what}: non-finite entries differ")
    bound = tolerance(np.where(finite, e, 0.0), dtype if dtype is not None else expected.dtype, terms)
    error = np.where(finite, np.abs(a - np.where(finite, e, 0.0)), 0.0)
    bad = ~(error <= bound)  # NaN in actual fails too
    if bad.any():
        i = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(error, nan=np.inf) / bound, -1.0))), e.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {e.size} entries differ beyond the bound (terms={terms}); "
            f"worst at {tuple(int(k) for k in i)}: {a[i]!r} vs {e[i]!r}, |diff| {error[i]:.3g} > {bound[i]:.3g}"
        )


def distinct(shape: int | tuple[int, ...], dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    """Distinct values a quarter apart: a random permutation of 0..n-1, centred and divided by 4.

    Exact in float32, so max/min (pooling, sort, topk) have no ties, and a step of a finite difference
    cannot change which entry is largest.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(np.prod(shape))
    return ((np.random.default_rng(seed).permutation(n) - n // 2) / 4).reshape(shape).astype(dtype)


def largest_size(*arrays: Any) -> int:
    """An upper bound on the length of any sum an op over these arrays makes: the largest array's size."""
    return max([int(np.size(a)) for a in arrays if a is not None] + [1])


def check_parity(kw_fn, torch_fn, inputs, dtype, grad=None, seed=0, terms=None):
    """Run kw_fn and torch_fn on the same arrays; compare the outputs and the gradients.

    Float arrays become ``dtype`` tensors that require grad (those whose index is in
    ``grad``, default all); the upstream gradient is a fixed random array. ``terms`` (default: the
    largest array's size) is the length of the longest sum, for ``assert_close``.
    """
    import torch  # here, so that tests without the oracle can use the rest of this module

    grad = [i for i, a in enumerate(inputs) if a is not None and a.dtype.kind == "f"] if grad is None else grad
    kw_in, th_in = [], []
    for i, a in enumerate(inputs):
        if a is None:
            kw_in.append(None)
            th_in.append(None)
            continue
        a = a.astype(dtype) if a.dtype.kind == "f" else a
        kw_in.append(kw.tensor(a, requires_grad=i in grad))
        th_in.append(torch.tensor(a, requires_grad=i in grad))
    out, expected = kw_fn(*kw_in), torch_fn(*th_in)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == dtype
    terms = largest_size(*inputs, out.numpy()) if terms is None else terms
    assert_close(out.numpy(), expected.detach().numpy(), dtype, terms=terms, what="output")
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(g)
    expected.backward(torch.from_numpy(g))
    for i in grad:
        assert_close(kw_in[i].grad.numpy(), th_in[i].grad.numpy(), dtype, terms=terms, what=f"input {i}")
