"""Pooling: PyTorch parity, the plain loop reference, the fast path, gradcheck and the recitation's worked example.

Pooling inputs hold distinct values (a random permutation) wherever the comparison
would otherwise depend on how ties are broken.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import kernelwise as kw
from kernelwise.ops import pool as P
from kernelwise.ops.reference.pool import pool_backward_reference, pool_reference
from parity import distinct

torch.set_num_threads(1)  # small ops: one thread is fastest on a shared machine

# Tighter than parity.TOL (pooling sums at most one window): the bound these tests have always held.
STRICT = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}
DTYPES = [np.float32, np.float64]


def check_against_torch(kw_fn, torch_fn, x: np.ndarray, seed: int = 0) -> None:
    """Forward and input gradient (for a random dL/dy) of kw_fn and torch_fn on the same x.

    Held tighter than parity's ``TOL``: a window's sum has at most a few dozen terms, so 1e-5 relative
    (float32) is many roundings of room.
    """
    tol = STRICT[x.dtype.type]
    xk = kw.Tensor(x, requires_grad=True)  # keeps x as it is (views stay non-contiguous)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)  # torch refuses negative strides
    yk, yt = kw_fn(xk), torch_fn(xt)
    assert yk.shape == tuple(yt.shape)
    assert yk.dtype == x.dtype
    np.testing.assert_allclose(yk.numpy(), yt.detach().numpy(), **tol)
    grad_out = np.random.default_rng(seed + 1).standard_normal(yk.shape).astype(x.dtype)
    yk.backward(grad_out)
    yt.backward(torch.from_numpy(grad_out))
    assert xk.grad.dtype == x.dtype
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), **tol)


def torch_min_pool(nd: int):
    """PyTorch has no min pooling: min_pool(x) = -max_pool(-x)."""
    fn = TF.max_pool1d if nd == 1 else TF.max_pool2d
    return lambda x, *a, **k: -fn(-x, *a, **k)


# --------------------------------------------------------------------------- the case grid
def _paddings(kernel: int | tuple[int, int]) -> list:
    k = kernel if isinstance(kernel, int) else min(kernel)
    pads = list(range(k // 2 + 1))
    return pads + ([(1, 0)] if isinstance(kernel, tuple) and k >= 2 else [])


def _max_cases(nd: int) -> list:
    kernels = [1, 2, 3] + ([(2, 3), (3, 1)] if nd == 2 else [])
    return [
        (k, s, p, d, c)
        for k in kernels
        for s in [None, 1, 2, 3]
        for p in _paddings(k)
        for d in [1, 2]
        for c in [False, True]
    ]


def _avg_cases(nd: int) -> list:
    kernels = [1, 2, 3] + ([(2, 3), (3, 1)] if nd == 2 else [])
    return [
        (k, s, p, c, inc)
        for k in kernels
        for s in [None, 1, 2, 3]
        for p in _paddings(k)
        for c in [False, True]
        for inc in [True, False]
    ]


SHAPE = {1: (2, 3, 9), 2: (2, 2, 7, 8)}
KW_MAX = {1: P.max_pool1d, 2: P.max_pool2d}
KW_MIN = {1: P.min_pool1d, 2: P.min_pool2d}
KW_AVG = {1: P.avg_pool1d, 2: P.avg_pool2d}
TORCH_MAX = {1: TF.max_pool1d, 2: TF.max_pool2d}
TORCH_AVG = {1: TF.avg_pool1d, 2: TF.avg_pool2d}


@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize(("nd", "case"), [(nd, c) for nd in (1, 2) for c in _max_cases(nd)])
def test_max_min_pool_matches_torch(nd, case, kind):
    k, s, p, d, c = case
    kw_fn = (KW_MAX if kind == "max" else KW_MIN)[nd]
    torch_fn = TORCH_MAX[nd] if kind == "max" else torch_min_pool(nd)
    for dtype in DTYPES:
        x = distinct(SHAPE[nd], dtype)
        check_against_torch(lambda t: kw_fn(t, k, s, p, d, c), lambda t: torch_fn(t, k, s, p, d, c), x)


@pytest.mark.parametrize(("nd", "case"), [(nd, c) for nd in (1, 2) for c in _avg_cases(nd)])
def test_avg_pool_matches_torch(nd, case):
    k, s, p, c, inc = case
    for dtype in DTYPES:
        x = distinct(SHAPE[nd], dtype)
        check_against_torch(lambda t: KW_AVG[nd](t, k, s, p, c, inc), lambda t: TORCH_AVG[nd](t, k, s, p, c, inc), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("k", "s", "p", "c", "div"), [(2, None, 0, False, 3), (3, 2, 1, True, 5), ((2, 3), 1, (1, 0), False, -2)]
)
def test_avg_pool2d_divisor_override_matches_torch(k, s, p, c, div, dtype):
    check_against_torch(
        lambda x: P.avg_pool2d(x, k, s, p, c, True, div),
        lambda x: TF.avg_pool2d(x, k, s, p, c, True, div),
        distinct((1, 2, 6, 7), dtype),
    )


# edge cases: unbatched, zero batch, non-contiguous, kernel wider than the input, stride larger than the kernel
EDGE_SHAPES = {
    "unbatched": ((3, 6, 7), lambda x: x),
    "zero batch": ((0, 2, 6, 7), lambda x: x),
    "non-contiguous": ((2, 3, 7, 6), lambda x: x.transpose(1, 0, 3, 2)[:, :, ::-1]),
    "kernel wider than input": ((2, 2, 2, 3), lambda x: x),
}
EDGE_OPS = {
    "max": (lambda x, nd: P.max_pool2d(x, 3, 2, 1, ceil_mode=True), lambda x, nd: TF.max_pool2d(x, 3, 2, 1, 1, True)),
    "min": (lambda x, nd: P.min_pool2d(x, 3, 1, 1), lambda x, nd: torch_min_pool(2)(x, 3, 1, 1)),
    "avg": (
        lambda x, nd: P.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
        lambda x, nd: TF.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
    ),
    "max stride > kernel": (lambda x, nd: P.max_pool2d(x, 2, 3, 1), lambda x, nd: TF.max_pool2d(x, 2, 3, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", list(EDGE_OPS))
@pytest.mark.parametrize("edge", list(EDGE_SHAPES))
def test_pool_edge_cases_match_torch(edge, op, dtype):
    shape, make = EDGE_SHAPES[edge]
    x = make(distinct(shape, dtype))
    if edge == "non-contiguous":
        assert not x.flags.c_contiguous
    kw_fn, torch_fn = EDGE_OPS[op]
    check_against_torch(lambda t: kw_fn(t, 2), lambda t: torch_fn(t, 2), x)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_max_pool_integers_match_torch(dtype):
    x = distinct((1, 2, 5, 6), np.float64).__mul__(4).astype(dtype)
    y = P.max_pool2d(kw.tensor(x), 3, 2, 1, ceil_mode=True)
    expected = TF.max_pool2d(torch.from_numpy(x), 3, 2, 1, ceil_mode=True).numpy()
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), expected)
    np.testing.assert_array_equal(
        P.min_pool2d(kw.tensor(x), 2, 1, 1).numpy(), -TF.max_pool2d(-torch.from_numpy(x), 2, 1, 1)
    )


# --------------------------------------------------------------------------- adaptive pooling
ADAPTIVE_CASES = [
    ((2, 3, 7), 3),
    ((2, 3, 8), 4),
    ((2, 3, 5), 7),
    ((3, 10), (4,)),
    ((2, 2, 7, 5), (3, 2)),
    ((2, 2, 8, 9), 4),
    ((2, 2, 7, 9), (None, 4)),
    ((2, 5, 6), (4, 5)),
    ((0, 2, 5, 6), (2, 3)),
    ((1, 2, 3, 4), (5, 7)),
]
KW_ADAPTIVE = {
    ("avg", 1): P.adaptive_avg_pool1d,
    ("avg", 2): P.adaptive_avg_pool2d,
    ("max", 1): P.adaptive_max_pool1d,
    ("max", 2): P.adaptive_max_pool2d,
}
TORCH_ADAPTIVE = {
    ("avg", 1): TF.adaptive_avg_pool1d,
    ("avg", 2): TF.adaptive_avg_pool2d,
    ("max", 1): TF.adaptive_max_pool1d,
    ("max", 2): TF.adaptive_max_pool2d,
}


def _adaptive_nd(shape: tuple[int, ...], output_size) -> int:
    if isinstance(output_size, tuple):
        return len(output_size)
    return 1 if len(shape) == 3 and shape[0] == 2 and shape[1] == 3 else 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize(("shape", "output_size"), ADAPTIVE_CASES)
def test_adaptive_pool_matches_torch(shape, output_size, kind, dtype):
    nd = _adaptive_nd(shape, output_size)
    kw_fn, torch_fn = KW_ADAPTIVE[kind, nd], TORCH_ADAPTIVE[kind, nd]
    check_against_torch(lambda x: kw_fn(x, output_size), lambda x: torch_fn(x, output_size), distinct(shape, dtype))


def test_adaptive_windows_of_7_to_3_by_hand():
    # [floor(i·7/3), ceil((i+1)·7/3)): [0, 3), [2, 5), [4, 7) — neighbouring windows overlap by one
    assert P.adaptive_windows(7, 3) == [(0, 3), (2, 5), (4, 7)]
    x = kw.tensor(np.array([[[1.0, 2, 3, 4, 5, 6, 7]]]), requires_grad=True)
    y = P.adaptive_avg_pool1d(x, 3)
    np.testing.assert_allclose(y.numpy(), [[[2.0, 4.0, 6.0]]], rtol=0, atol=1e-12)
    y.sum().backward()
    third = 1 / 3
    np.testing.assert_allclose(
        x.grad.numpy(), [[[third, third, 2 * third, third, 2 * third, third, third]]], atol=1e-12
    )


# --------------------------------------------------------------------------- the plain loop reference
REF_CASES = [
    (k, s, p, c)
    for k in [(2, 2), (3, 3), (2, 3)]
    for s in [(1, 1), (2, 2), (3, 2)]
    for p in [(0, 0), (1, 0)]
    for c in [False, True]
]
REF_REDUCERS = [
    ("max", (1, 1), {}),
    ("max", (2, 2), {}),
    ("min", (1, 2), {}),
    ("mean", (1, 1), {"count_include_pad": True}),
    ("mean", (1, 1), {"count_include_pad": False}),
    ("mean", (1, 1), {"divisor_override": 3}),
]


@pytest.mark.parametrize(("reducer", "dilation", "options"), REF_REDUCERS)
@pytest.mark.parametrize("case", REF_CASES)
def test_window_pool_matches_loop_reference(case, reducer, dilation, options):
    k, s, p, c = case
    x = distinct((1, 2, 7, 6), np.float64, seed=s[0])
    out = tuple(P.pool_output_size(*a, c) for a in zip(x.shape[-2:], k, s, p, dilation))
    xt = kw.tensor(x, requires_grad=True)
    y = P.WindowPool.apply(
        xt, kernel_size=k, stride=s, padding=p, dilation=dilation, out_size=out, reducer=reducer, **options
    )
    np.testing.assert_allclose(y.numpy(), pool_reference(x, k, s, p, dilation, c, reducer, **options), atol=1e-12)
    grad_out = np.random.default_rng(7).standard_normal(y.shape)
    y.backward(grad_out)
    expected = pool_backward_reference(x, grad_out, k, s, p, dilation, c, reducer, **options)
    np.testing.assert_allclose(xt.grad.numpy(), expected, atol=1e-12)


def test_window_pool_1d_matches_loop_reference():
    x = distinct((2, 2, 9), np.float64)
    for reducer in ("max", "min", "mean"):
        xt = kw.tensor(x, requires_grad=True)
        y = P.WindowPool.apply(
            xt, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(1,), out_size=(5,), reducer=reducer
        )
        np.testing.assert_allclose(y.numpy(), pool_reference(x, (3,), (2,), (1,), (1,), True, reducer), atol=1e-12)
        grad_out = np.random.default_rng(2).standard_normal(y.shape)
        y.backward(grad_out)
        expected = pool_backward_reference(x, grad_out, (3,), (2,), (1,), (1,), True, reducer)
        np.testing.assert_allclose(xt.grad.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_ties_follow_the_loop_reference(kind):
    # many equal values: both must route to the first tap in row-major window order
    x = np.random.default_rng(3).integers(0, 3, size=(2, 2, 7, 6)).astype(np.float64)
    fn = P.max_pool2d if kind == "max" else P.min_pool2d
    xt = kw.tensor(x, requires_grad=True)
    y = fn(xt, 3, 2, 1, 1, True)
    grad_out = np.random.default_rng(4).standard_normal(y.shape)
    y.backward(grad_out)
    expected = pool_backward_reference(x, grad_out, (3, 3), (2, 2), (1, 1), (1, 1), True, kind)
    np.testing.assert_allclose(xt.grad.numpy(), expected, atol=1e-12)


def test_loop_reference_matches_torch():
    # the reference itself, checked against PyTorch once per reducer
    x = distinct((1, 2, 7, 6), np.float64)
    cases = [
        ("max", (2, 2), {}, lambda t: TF.max_pool2d(t, 3, 2, 1, 2, True)),
        ("min", (2, 2), {}, lambda t: torch_min_pool(2)(t, 3, 2, 1, 2, True)),
        ("mean", (1, 1), {"count_include_pad": False}, lambda t: TF.avg_pool2d(t, 3, 2, 1, True, False)),
    ]
    for reducer, dilation, options, torch_fn in cases:
        xt = torch.tensor(x, requires_grad=True)
        yt = torch_fn(xt)
        grad_out = np.random.default_rng(1).standard_normal(tuple(yt.shape))
        yt.backward(torch.from_numpy(grad_out))
        ref = pool_reference(x, (3, 3), (2, 2), (1, 1), dilation, True, reducer, **options)
        np.testing.assert_allclose(ref, yt.detach().numpy(), atol=1e-12)
        ref_grad = pool_backward_reference(x, grad_out, (3, 3), (2, 2), (1, 1), dilation, True, reducer, **options)
        np.testing.assert_allclose(ref_grad, xt.grad.numpy(), atol=1e-12)


# --------------------------------------------------------------------------- fast path (ops/fastpool.py) vs windows
POOLS = [  # kernel, stride, padding, dilation, ceil_mode
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 2), (1, 2), (1, 0), (2, 1), True),
    ((2, 3), (3, 1), (0, 1), (1, 1), True),
]


def _pool(x: np.ndarray, reducer: str, method: str, options: tuple, grad_out_seed: int = 0) -> tuple:
    kernel, stride, padding, dilation, ceil = options
    out = tuple(P.pool_output_size(*a, ceil) for a in zip(x.shape[-2:], kernel, stride, padding, dilation))
    xt = kw.Tensor(x, requires_grad=x.dtype.kind == "f")
    y = P.WindowPool.apply(
        xt,
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        out_size=out,
        reducer=reducer,
        method=method,
    )
    if x.dtype.kind != "f":
        return y.numpy(), None
    y.backward(np.random.default_rng(grad_out_seed).standard_normal(y.shape).astype(x.dtype))
    return y.numpy(), xt.grad.numpy()


@pytest.mark.parametrize("options", POOLS)
@pytest.mark.parametrize("reducer", ["max", "min"])
def test_pool_taps_path_equals_the_windows_path_with_ties(options: tuple, reducer: str) -> None:
    """Many ties (values 0..2): the winner, hence where the gradient goes, must be the same tap."""
    x = np.random.default_rng(1).integers(0, 3, size=(2, 3, 9, 8)).astype(np.float32)
    y_taps, grad_taps = _pool(x, reducer, "taps", options)
    y_windows, grad_windows = _pool(x, reducer, "windows", options)
    np.testing.assert_array_equal(y_taps, y_windows)
    np.testing.assert_allclose(grad_taps, grad_windows, rtol=1e-6, atol=1e-6)  # float64 vs float32 sums of ≤ 6 terms


@pytest.mark.parametrize("options", POOLS[:2])
def test_pool_taps_path_propagates_nan_like_the_windows_path(options: tuple) -> None:
    x = np.random.default_rng(2).standard_normal((1, 2, 8, 8))
    x[0, 0, 1, 1] = x[0, 1, 4, 5] = x[0, 1, 4, 4] = np.nan
    for reducer in ("max", "min"):
        y_taps, grad_taps = _pool(x, reducer, "taps", options)
        y_windows, grad_windows = _pool(x, reducer, "windows", options)
        np.testing.assert_array_equal(y_taps, y_windows)  # NaN where a window holds one: NaN == NaN here
        np.testing.assert_allclose(grad_taps, grad_windows, rtol=1e-12, atol=1e-15)  # overlapping windows add


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "dilation"),
    [
        ((2, 3, 11), (3,), (2,), (1,), (1,)),  # 1-d, overlapping
        ((2, 3, 10), (2,), (2,), (0,), (1,)),  # 1-d, windows apart
        ((3, 9, 8), (3, 3), (2, 2), (1, 1), (1, 1)),  # unbatched (C, H, W)
        ((2, 2, 7, 6, 7), (3, 2, 3), (2, 1, 2), (1, 0, 1), (1, 1, 1)),  # 3-d, overlapping
        ((2, 2, 9, 9), (2, 2), (2, 2), (0, 0), (2, 2)),  # dilation 2 = stride: two taps share a phase
        ((1, 2, 12, 12), (4, 4), (3, 3), (2, 2), (1, 1)),  # stride 3
    ],
)
def test_pool_taps_path_equals_the_windows_path_in_1d_3d_unbatched(shape, kernel, stride, padding, dilation) -> None:
    x = np.random.default_rng(6).integers(0, 4, size=shape).astype(np.float64)  # ties everywhere
    nd = len(kernel)
    out = tuple(P.pool_output_size(*a) for a in zip(x.shape[-nd:], kernel, stride, padding, dilation))
    grad_out = np.random.default_rng(7).standard_normal(x.shape[:-nd] + out)
    results = []
    for method in ("taps", "windows"):
        xt = kw.Tensor(x, requires_grad=True)
        y = P.WindowPool.apply(
            xt, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, out_size=out, reducer="max",
            method=method,
        )  # fmt: skip
        y.backward(grad_out)
        results.append((y.numpy(), xt.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12, atol=1e-15)


def test_pool_taps_path_on_integers_and_float64() -> None:
    x = np.random.default_rng(3).integers(-50, 50, size=(2, 2, 7, 7))
    for dtype in (np.int32, np.int64, np.float64):
        y_taps, _ = _pool(x.astype(dtype), "max", "taps", POOLS[1])
        y_windows, _ = _pool(x.astype(dtype), "max", "windows", POOLS[1])
        assert y_taps.dtype == dtype
        np.testing.assert_array_equal(y_taps, y_windows)


def test_pool_taps_path_matches_torch_in_float32() -> None:
    x = np.random.default_rng(4).permutation(8 * 3 * 12 * 12).reshape(8, 3, 12, 12).astype(np.float32) / 7
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 1)):
        xt, tt = kw.Tensor(x, requires_grad=True), torch.from_numpy(x.copy()).requires_grad_(True)
        y, ty = (
            kw.nn.functional.max_pool2d(xt, kernel, stride, padding),
            torch.nn.functional.max_pool2d(tt, kernel, stride, padding),
        )
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        grad_out = np.random.default_rng(5).standard_normal(y.shape).astype(np.float32)
        y.backward(grad_out)
        ty.backward(torch.from_numpy(grad_out))
        assert xt.grad.dtype == np.float32
        np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_error_pool_unknown_method() -> None:
    with pytest.raises(ValueError, match="method='argmax'"):
        P.WindowPool.apply(
            kw.ones(1, 1, 4, 4), kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), out_size=(2, 2),
            reducer="max", method="argmax",
        )  # fmt: skip


# batch-last input (after a batch-last convolution): the windows-apart path keeps its layout
def _batch_last(x: np.ndarray) -> np.ndarray:
    """The values of x (N, C, *spatial) in memory ordered (C, *spatial, N): a view, as the chwn convolution returns."""
    return np.ascontiguousarray(np.moveaxis(x, 0, -1)).transpose(x.ndim - 1, *range(x.ndim - 1))


APART = [POOLS[0], ((2, 2), (3, 3), (0, 0), (1, 1), False), ((2, 2), (2, 2), (1, 1), (1, 1), False)]


@pytest.mark.parametrize("options", APART)
@pytest.mark.parametrize("grad_layout", ["batch-last", "C"])
def test_relu_and_pool_keep_the_batch_last_layout_and_its_values(options: tuple, grad_layout: str) -> None:
    """Tiled, apart-with-gaps and padded windows; dL/dy arriving in either layout: values as on C-ordered input."""
    x = np.random.default_rng(12).integers(-3, 4, size=(5, 3, 8, 8)).astype(np.float32)  # ties and zeros
    xb = _batch_last(x)
    relu = kw.nn.functional.relu(kw.Tensor(xb))
    assert np.moveaxis(relu.numpy(), 0, -1).flags.c_contiguous
    np.testing.assert_array_equal(relu.numpy(), np.maximum(x, 0))
    y_c, grad_c = _pool(x, "max", "taps", options)
    kernel, stride, padding, dilation, ceil = options
    out = tuple(P.pool_output_size(*a, ceil) for a in zip(x.shape[-2:], kernel, stride, padding, dilation))
    xt = kw.Tensor(xb, requires_grad=True)
    y = P.WindowPool.apply(
        xt, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, out_size=out, reducer="max"
    )
    grad_out = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)  # what _pool fed to backward
    y.backward(_batch_last(grad_out) if grad_layout == "batch-last" else grad_out)
    np.testing.assert_array_equal(y.numpy(), y_c)
    np.testing.assert_array_equal(xt.grad.numpy(), grad_c)
    if padding == (0, 0):  # the taps are views of x itself: the result keeps its layout
        assert np.moveaxis(y.numpy(), 0, -1).flags.c_contiguous
        assert np.moveaxis(xt.grad.numpy(), 0, -1).flags.c_contiguous


# --------------------------------------------------------------------------- no winners needed: one axis at a time
# Without backward and indices, max/min pooling reduces one spatial axis at a time (fastpool.extremum_separable):
# the same y, bit for bit, as the winners' path (requires_grad=True) and as PyTorch.
SEPARABLE_SHAPE = {1: (3, 2, 11), 2: (3, 2, 9, 8), 3: (2, 2, 7, 6, 5)}
TORCH_MAX_ND = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}


def _window_pool(x: np.ndarray, options: tuple, reducer: str, requires_grad: bool) -> np.ndarray:
    """WindowPool's y on x (kept in its layout) for one kernel, stride, padding, dilation and ceil_mode on every dim."""
    k, s, p, d, ceil = options
    nd = x.ndim - 2
    out = tuple(P.pool_output_size(n, k, s, p, d, ceil) for n in x.shape[-nd:])
    xt = kw.Tensor(x, requires_grad=requires_grad)
    y = P.WindowPool.apply(
        xt, kernel_size=(k,) * nd, stride=(s,) * nd, padding=(p,) * nd, dilation=(d,) * nd, out_size=out,
        reducer=reducer,
    )  # fmt: skip
    assert y.requires_grad == requires_grad
    return y.numpy()


def _torch_pool(x: np.ndarray, options: tuple, reducer: str) -> np.ndarray:
    """PyTorch's max pooling (min = -max(-x), exact) of x, N-d."""
    k, s, p, d, ceil = options
    fn = TORCH_MAX_ND[x.ndim - 2]
    xt = torch.from_numpy(np.ascontiguousarray(x))
    if reducer == "max":
        return fn(xt, k, s, p, d, ceil).numpy()
    return (-fn(-xt, k, s, p, d, ceil)).numpy()


def _memory_order(a: np.ndarray, shape: tuple[int, ...]) -> list[int]:
    """The axes of ``a`` from the largest stride to the smallest, those of length > 1 in ``shape`` only."""
    return [int(i) for i in np.argsort([-st for st in a.strides], kind="stable") if shape[i] > 1]


@pytest.fixture
def separable_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """Counts the calls of fastpool.extremum_separable: the tests below must run it, not the winners' path."""
    calls = []
    real = P.fastpool.extremum_separable

    def spy(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(P.fastpool, "extremum_separable", spy)
    return calls


SEPARABLE_CASES = [
    (nd, (k, s, p, d, ceil))
    for nd in (1, 2, 3)
    for k in (1, 2, 3)
    for s in (1, 2, 3)
    for p in (0, 1)
    for d in (1, 2)
    for ceil in (False, True)
    if p <= k // 2
]


@pytest.mark.parametrize(("nd", "options"), SEPARABLE_CASES)
def test_pool_without_winners_equals_the_winners_path_and_torch(nd: int, options: tuple, separable_calls) -> None:
    """max and min, float32 and float64, C-order and batch-last input: bit for bit, and y in x's memory order."""
    for dtype in DTYPES:
        x = np.random.default_rng(20).integers(-4, 5, size=SEPARABLE_SHAPE[nd]).astype(dtype)  # ties everywhere
        for xx in (x, _batch_last(x)):
            for reducer in ("max", "min"):
                calls = len(separable_calls)
                y = _window_pool(xx, options, reducer, requires_grad=False)
                assert len(separable_calls) == calls + 1
                expected = _torch_pool(x, options, reducer)
                assert y.dtype == dtype and y.shape == expected.shape
                np.testing.assert_array_equal(y, expected)
                np.testing.assert_array_equal(y, _window_pool(xx, options, reducer, requires_grad=True))
                assert _memory_order(y, y.shape) == _memory_order(xx, y.shape)


@pytest.mark.parametrize(
    "options", [(3, 2, 1, 1, True), (2, 1, 1, 1, False), (3, 1, 1, 2, True), (2, 3, 1, 1, True), (4, 1, 1, 1, True)]
)
@pytest.mark.parametrize("reducer", ["max", "min"])
def test_pool_without_winners_nan_and_infinities(options: tuple, reducer: str, separable_calls) -> None:
    """NaN propagates; windows whose only real values are -inf (+inf for min) next to the padding give -inf (+inf)."""
    sign = 1.0 if reducer == "max" else -1.0
    x = np.random.default_rng(21).standard_normal((2, 3, 9, 10))
    x[:, 0, :4, :] = x[:, 0, :, :4] = -sign * np.inf  # the top-left corner: -inf (max) or +inf (min) only
    x[:, 1, -4:, :] = x[:, 1, :, -4:] = -sign * np.inf  # the bottom-right corner, where ceil_mode pads more
    x[0, 2, 4, 4] = x[1, 2, 0, 0] = x[1, 2, 8, 9] = x[0, 0, 0, 0] = np.nan
    x[1, 1, 5, 2] = sign * np.inf
    for dtype in DTYPES:
        for xx in (x.astype(dtype), _batch_last(x.astype(dtype))):
            y = _window_pool(xx, options, reducer, requires_grad=False)
            expected = _torch_pool(xx, options, reducer)
            np.testing.assert_array_equal(y, expected)  # NaN == NaN here
            np.testing.assert_array_equal(y, _window_pool(xx, options, reducer, requires_grad=True))
            assert np.isnan(y).sum() == np.isnan(expected).sum() > 0
            assert (y == -sign * np.inf).any()
    assert len(separable_calls) == 2 * len(DTYPES)


def test_pool_without_winners_under_no_grad_and_on_integers(separable_calls) -> None:
    """A requires_grad input under kw.no_grad(), and int32/int64 input: PyTorch's values; a window of padding only."""
    x = distinct((4, 3, 10, 9), np.float32)
    with kw.no_grad():
        y = P.max_pool2d(kw.Tensor(_batch_last(x), requires_grad=True), 3, 2, 1, ceil_mode=True)
    assert not y.requires_grad and len(separable_calls) == 1
    np.testing.assert_array_equal(y.numpy(), TF.max_pool2d(torch.from_numpy(x), 3, 2, 1, ceil_mode=True).numpy())
    assert np.moveaxis(y.numpy(), 0, -1).flags.c_contiguous  # batch-last in, batch-last out
    xi = np.random.default_rng(22).integers(-1000, 1000, size=(2, 3, 8, 7))
    for dtype in (np.int32, np.int64):
        for reducer in ("max", "min"):
            y = _window_pool(xi.astype(dtype), (3, 2, 1, 2, True), reducer, requires_grad=False)
            assert y.dtype == dtype
            np.testing.assert_array_equal(y, _torch_pool(xi.astype(dtype), (3, 2, 1, 2, True), reducer))
    lone = P.max_pool1d(kw.tensor([[[3.0]]]), 2, 1, 1, 2)  # reads positions -1 and 1: padding only, as PyTorch: -inf
    np.testing.assert_array_equal(lone.numpy(), TF.max_pool1d(torch.tensor([[[3.0]]]), 2, 1, 1, 2).numpy())


# --------------------------------------------------------------------------- gradcheck (float64)
GRADCHECK = {
    "max_pool1d": lambda x: P.max_pool1d(x, 3, 2, 1, 1, True),
    "max_pool1d dilated": lambda x: P.max_pool1d(x, 2, 1, 1, 2),
    "max_pool2d": lambda x: P.max_pool2d(x, (2, 3), 1, (1, 1), 1, False),
    "max_pool2d dilated ceil": lambda x: P.max_pool2d(x, 3, 2, 1, 2, True),
    "min_pool1d": lambda x: P.min_pool1d(x, 3, 2, 1, 1, True),
    "min_pool2d": lambda x: P.min_pool2d(x, 2, 1, 1, 2),
    "avg_pool1d": lambda x: P.avg_pool1d(x, 3, 2, 1, True, False),
    "avg_pool2d": lambda x: P.avg_pool2d(x, 3, 2, 1, True, True),
    "avg_pool2d excluding pad": lambda x: P.avg_pool2d(x, (2, 3), 1, (1, 0), False, False),
    "avg_pool2d divisor_override": lambda x: P.avg_pool2d(x, 2, 1, 0, divisor_override=3),
    "adaptive_avg_pool1d": lambda x: P.adaptive_avg_pool1d(x, 3),
    "adaptive_avg_pool2d": lambda x: P.adaptive_avg_pool2d(x, (3, 2)),
    "adaptive_max_pool1d": lambda x: P.adaptive_max_pool1d(x, 4),
    "adaptive_max_pool2d": lambda x: P.adaptive_max_pool2d(x, (2, 4)),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    shape = (1, 2, 7) if "1d" in name else (1, 2, 5, 5)
    x = kw.tensor(distinct(shape, np.float64, seed=11), requires_grad=True)
    assert kw.gradcheck(GRADCHECK[name], (x,))


# --------------------------------------------------------------------------- the recitation's worked example
A = [[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]


@pytest.mark.parametrize(
    ("fn", "forward", "backward"),
    [
        (
            P.max_pool2d,
            [[16, 9], [67, 13]],
            [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]],
        ),
        (
            P.avg_pool2d,
            [[9.5, 4.75], [25.75, 7.75]],
            [[0.25] * 4] * 4,
        ),
        (
            P.min_pool2d,
            [[4, 0], [6, 3]],
            [[1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]],
        ),
    ],
)
def test_recitation_worked_example(fn, forward, backward):
    x = kw.tensor([[A]], requires_grad=True)  # (1, 1, 4, 4)
    y = fn(x, 2, 2)  # 2×2 pooling with stride 2
    np.testing.assert_array_equal(y.numpy()[0, 0], forward)
    y.backward(np.ones(y.shape, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], backward)
    assert y.shape[1] == x.shape[1]  # pooling preserves the number of channels


# --------------------------------------------------------------------------- ties
def test_tie_rule_first_position_gets_the_gradient():
    x = kw.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    P.max_pool2d(x, 2).sum().backward()
    expected = [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]  # the top-left tap of each window
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)
    xt = torch.ones((1, 1, 4, 4), dtype=torch.float64, requires_grad=True)
    TF.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("nd", [1, 2])
def test_tie_rule_matches_torch_on_overlapping_windows(nd):
    x = np.random.default_rng(5).integers(0, 2, size=(2, 2, 6) if nd == 1 else (2, 2, 6, 5)).astype(np.float64)
    check_against_torch(lambda t: KW_MAX[nd](t, 3, 1, 1), lambda t: TORCH_MAX[nd](t, 3, 1, 1), x)


# --------------------------------------------------------------------------- errors
X2 = kw.tensor(np.zeros((1, 1, 5, 5)))


def test_error_wrong_number_of_dims():
    with pytest.raises(ValueError, match=r"max_pool2d: input must be 3-D .* or 4-D .* got shape \(5, 5\)"):
        P.max_pool2d(kw.tensor(np.zeros((5, 5))), 2)


def test_error_empty_channel_dim():
    with pytest.raises(ValueError, match=r"empty in a channel or spatial dimension"):
        P.max_pool2d(kw.tensor(np.zeros((1, 0, 5, 5))), 2)


def test_error_kernel_size_not_positive():
    with pytest.raises(ValueError, match=r"kernel_size=0: must be positive"):
        P.max_pool2d(X2, 0)


def test_error_stride_not_positive():
    with pytest.raises(ValueError, match=r"stride=\(1, 0\): must be positive"):
        P.avg_pool2d(X2, 2, (1, 0))


def test_error_dilation_not_positive():
    with pytest.raises(ValueError, match=r"dilation=0: must be positive"):
        P.min_pool1d(kw.tensor(np.zeros((1, 1, 5))), 2, dilation=0)


def test_error_negative_padding():
    with pytest.raises(ValueError, match=r"padding=-1: must be >= 0"):
        P.max_pool2d(X2, 2, padding=-1)


def test_error_padding_more_than_half_the_kernel():
    with pytest.raises(ValueError, match=r"padding=\(2, 2\) should be at most half of kernel_size=\(3, 3\)"):
        P.max_pool2d(X2, 3, padding=2)


def test_error_output_size_not_positive():
    with pytest.raises(ValueError, match=r"output size \(0, 0\) is too small .* size=\(5, 5\), kernel_size=\(6, 6\)"):
        P.max_pool2d(X2, 6)


def test_error_kernel_size_wrong_length():
    with pytest.raises(ValueError, match=r"kernel_size=\(2, 2, 2\): expected an int or 2 ints"):
        P.max_pool2d(X2, (2, 2, 2))


def test_error_complex_dtype():
    with pytest.raises(TypeError, match=r"complex128 is not supported"):
        P.max_pool2d(np.zeros((1, 1, 4, 4), dtype=complex), 2)


def test_error_object_dtype():
    with pytest.raises(TypeError, match=r"object is not supported"):
        P.avg_pool1d(np.zeros((1, 1, 4), dtype=object), 2)


def test_error_avg_pool_of_integers():
    with pytest.raises(TypeError, match=r"avg_pool2d: input: expected a floating-point tensor, got dtype int64"):
        P.avg_pool2d(kw.tensor([[[[1, 2], [3, 4]]]]), 2)


def test_error_max_pool_of_bools():
    with pytest.raises(TypeError, match=r"max_pool1d: input: bool tensors cannot be pooled"):
        P.max_pool1d(kw.tensor([[[True, False]]]), 2)


def test_error_divisor_override_zero():
    with pytest.raises(ValueError, match=r"divisor_override=0 must be a non-zero int"):
        P.avg_pool2d(X2, 2, divisor_override=0)


def test_error_adaptive_output_size_negative():
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size=\(2, -1\) must be >= 0"):
        P.adaptive_avg_pool2d(X2, (2, -1))


def test_error_adaptive_output_size_wrong_length():
    with pytest.raises(ValueError, match=r"adaptive_max_pool1d: output_size=\(2, 2\): expected an int or 1 ints"):
        P.adaptive_max_pool1d(kw.tensor(np.zeros((1, 1, 5))), (2, 2))


def test_error_adaptive_output_size_not_int():
    with pytest.raises(TypeError, match=r"adaptive_max_pool2d: output_size=2.5: expected ints or None"):
        P.adaptive_max_pool2d(X2, 2.5)


# --------------------------------------------------------------------------- output size rule
@pytest.mark.parametrize(
    ("size", "k", "s", "p", "d", "ceil", "expected"),
    [
        (5, 2, 2, 0, 1, False, 2),
        (5, 2, 2, 0, 1, True, 3),  # ceil: a last window over [4, 6) that starts inside the input
        (
            5,
            2,
            2,
            1,
            1,
            True,
            3,
        ),  # ceil gives 4, but window 4 would start at 3·2 - 1 = 5 = W_in (right padding): dropped
        (6, 3, 3, 1, 1, True, 3),
        (7, 3, 2, 0, 2, False, 2),
    ],
)
def test_pool_output_size_by_hand_and_torch(size, k, s, p, d, ceil, expected):
    assert P.pool_output_size(size, k, s, p, d, ceil) == expected
    assert TF.max_pool1d(torch.zeros(1, 1, size), k, s, p, d, ceil).shape[-1] == expected
