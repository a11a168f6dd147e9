"""The fast paths of convolution (ops/fastconv.py), against the references.

Every conv path is forced by name through ``ConvNd.apply(..., method=...)``, so each is tested on its own,
whatever the dispatcher would pick. Tolerances: parity's ``assert_close`` (the paths only reorder the sums:
a few roundings per summed term, at most rtol/atol 1e-10 in float64, rtol 1e-4 and atol 1e-5 in float32);
Winograd against torch in float32: rtol 1e-4 and atol 1e-4 times the largest magnitude of the expected
array, its own error bound being tested separately against float64.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.ops import fastconv
from kernelwise.ops.conv import ConvNd
from kernelwise.ops.reference import conv_backward_reference, conv_reference
from parity import assert_close, largest_size

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

FAST = ("matmul", "im2col", "chwn", "im2col_bands", "shifted", "winograd", "winograd2")


def _pairs(padding: Any, nd: int) -> tuple[tuple[int, int], ...]:
    items = padding if isinstance(padding, tuple) else (padding,) * nd
    return tuple(p if isinstance(p, tuple) else (p, p) for p in items)


def run(
    method: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, grad_out_seed: int = 1, **options: Any
) -> list:
    """Output and (dL/dX, dL/dW, dL/db) of ConvNd by ``method`` for a random dL/dO."""
    nd = w.ndim - 2
    stride = options.get("stride", (1,) * nd)
    padding = _pairs(options.get("padding", 0), nd)
    dilation = options.get("dilation", (1,) * nd)
    tensors = [None if a is None else kw.Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = ConvNd.apply(*tensors, stride=stride, padding=padding, dilation=dilation, groups=1, method=method)
    grad_out = np.random.default_rng(grad_out_seed).standard_normal(y.shape).astype(x.dtype)
    y.backward(grad_out)
    return [y.numpy(), grad_out] + [None if t is None else t.grad.numpy() for t in tensors]


def torch_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, grad_out: np.ndarray, **options: Any) -> list:
    """The same with torch (padding as pairs goes through F.pad first)."""
    nd = w.ndim - 2
    pairs = _pairs(options.get("padding", 0), nd)
    flat = [p for lo_hi in reversed(pairs) for p in lo_hi]  # F.pad wants the last dimension first
    tensors = [None if a is None else torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b)]
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[nd]
    stride, dilation = options.get("stride", 1), options.get("dilation", 1)
    y = conv(torch.nn.functional.pad(tensors[0], flat), tensors[1], tensors[2], stride=stride, dilation=dilation)
    y.backward(torch.from_numpy(grad_out))
    return [y.detach().numpy()] + [None if t is None else t.grad.numpy() for t in tensors]


def check_close(actual: np.ndarray, expected: np.ndarray, dtype: Any, what: str, terms: int) -> None:
    """``actual`` is ``dtype`` (no silent upcast) and ``expected`` within parity's bound for sums of ``terms``."""
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}, expected {dtype} (no silent upcast)"
    assert_close(actual, expected, dtype, terms=terms, what=what)


def check_close_winograd32(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """float32 through Winograd's transforms: rtol 1e-4 and atol 1e-4 times the largest magnitude expected."""
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}, expected float32 (no silent upcast)"
    assert actual.shape == expected.shape, what
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=what)


def arrays(seed: int, xs: tuple, ws: tuple, dtype: Any, bias: bool = True) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b


# (method, input shape, weight shape, options): shapes each method can take, with the awkward cases
CASES = [
    ("matmul", (2, 3, 4, 5), (4, 3, 1, 1), {}),
    ("matmul", (3, 5, 7), (2, 5, 1), {}),
    ("matmul", (1, 2, 3, 2, 2), (3, 2, 1, 1, 1), {}),
    ("im2col", (2, 3, 7, 6), (4, 3, 3, 2), {"padding": 1}),
    ("im2col", (2, 1, 9, 9), (3, 1, 5, 5), {"padding": 2}),
    ("im2col", (2, 3, 9, 8), (2, 3, 3, 3), {"stride": (2, 3), "padding": (1, 0), "dilation": (1, 2)}),
    ("im2col", (3, 4, 11), (5, 4, 3), {"stride": (2,), "padding": 1}),
    ("im2col", (2, 2, 7), (3, 2, 2), {"padding": ((1, 0),), "dilation": (3,)}),
    ("im2col", (1, 2, 4, 5, 4), (2, 2, 2, 3, 2), {"stride": (1, 2, 1), "padding": 1}),
    ("im2col", (2, 3, 8, 8), (4, 3, 1, 1), {"stride": (2, 2)}),
    ("chwn", (2, 3, 7, 6), (4, 3, 3, 2), {"padding": 1}),
    ("chwn", (3, 1, 9, 9), (3, 1, 5, 5), {"padding": 2}),
    ("chwn", (2, 3, 9, 8), (2, 3, 3, 3), {"stride": (2, 3), "padding": (1, 0), "dilation": (1, 2)}),
    ("chwn", (3, 4, 11), (5, 4, 3), {"stride": (2,), "padding": 1}),
    ("chwn", (2, 2, 7), (3, 2, 2), {"padding": ((1, 0),), "dilation": (3,)}),
    ("chwn", (2, 2, 4, 5, 4), (2, 2, 2, 3, 2), {"stride": (1, 2, 1), "padding": ((1, 0), (0, 2), (1, 1))}),
    ("chwn", (2, 3, 8, 8), (4, 3, 1, 1), {"stride": (2, 2)}),
    ("im2col_bands", (2, 3, 7, 6), (4, 3, 3, 2), {"padding": 1}),
    ("im2col_bands", (2, 3, 9, 8), (2, 3, 3, 3), {"stride": (2, 3), "padding": (1, 0), "dilation": (1, 2)}),
    ("im2col_bands", (3, 4, 11), (5, 4, 3), {"stride": (2,), "padding": 1}),
    ("im2col_bands", (1, 2, 4, 5, 4), (2, 2, 2, 3, 2), {"stride": (1, 2, 1), "padding": 1}),
    ("im2col_bands", (2, 3, 8, 8), (4, 3, 1, 1), {"stride": (2, 2)}),
    ("shifted", (2, 3, 6, 7), (4, 3, 3, 3), {"padding": 1}),
    ("shifted", (2, 2, 5, 6), (3, 2, 2, 3), {}),
    ("shifted", (1, 3, 6, 5), (2, 3, 3, 2), {"padding": ((0, 1), (2, 0))}),
    ("shifted", (3, 2, 4, 4), (2, 2, 4, 4), {"padding": ((1, 2), (2, 1))}),
    ("shifted", (2, 4, 5, 5), (3, 4, 1, 1), {"padding": 1}),
    ("shifted", (1, 2, 3, 8), (2, 2, 3, 1), {}),
    ("shifted", (2, 16, 4, 4), (8, 16, 3, 3), {"padding": 1}),
    ("winograd", (2, 3, 7, 9), (4, 3, 3, 3), {"padding": 1}),
    ("winograd", (1, 2, 5, 6), (3, 2, 3, 3), {}),
    ("winograd", (2, 2, 9, 4), (2, 2, 3, 3), {"padding": 2}),
    ("winograd", (2, 1, 1, 4), (3, 1, 3, 3), {"padding": ((0, 2), (2, 2))}),
    ("winograd", (1, 3, 6, 5), (2, 3, 3, 3), {"padding": ((2, 0), (0, 1))}),
    ("winograd", (1, 16, 5, 4), (16, 16, 3, 3), {"padding": 1}),
    ("winograd2", (2, 3, 7, 9), (4, 3, 3, 3), {"padding": 1}),
    ("winograd2", (1, 2, 5, 6), (3, 2, 3, 3), {}),
    ("winograd2", (2, 2, 9, 4), (2, 2, 3, 3), {"padding": 2}),
    ("winograd2", (2, 1, 1, 4), (3, 1, 3, 3), {"padding": ((0, 2), (2, 2))}),
    ("winograd2", (1, 3, 6, 5), (2, 3, 3, 3), {"padding": ((2, 0), (0, 1))}),
    ("winograd2", (1, 16, 5, 4), (16, 16, 3, 3), {"padding": 1}),
]
IDS = [f"{m}-{'x'.join(map(str, xs))}-{'x'.join(map(str, ws))}" for m, xs, ws, _ in CASES]


@pytest.mark.parametrize(("method", "xs", "ws", "options"), CASES, ids=IDS)
def test_fast_path_matches_the_loop_reference_in_float64(method: str, xs: tuple, ws: tuple, options: dict) -> None:
    x, w, b = arrays(0, xs, ws, np.float64)
    y, grad_out, grad_x, grad_w, grad_b = run(method, x, w, b, **options)
    ref_options = {k: v for k, v in options.items() if k != "padding"} | {
        "padding": _pairs(options.get("padding", 0), x.ndim - 2)
    }
    terms = largest_size(x, w, y)
    check_close(y, conv_reference(x, w, b, **ref_options), np.float64, "output", terms)
    ref_x, ref_w, ref_b = conv_backward_reference(x, w, grad_out, **ref_options)
    check_close(grad_x, ref_x, np.float64, "dL/dX", terms)
    check_close(grad_w, ref_w, np.float64, "dL/dW", terms)
    check_close(grad_b, ref_b, np.float64, "dL/db", terms)


@pytest.mark.parametrize(("method", "xs", "ws", "options"), CASES, ids=IDS)
def test_fast_path_matches_torch_in_float32(method: str, xs: tuple, ws: tuple, options: dict) -> None:
    x, w, b = arrays(1, xs, ws, np.float32)
    y, grad_out, grad_x, grad_w, grad_b = run(method, x, w, b, **options)
    expected = torch_conv(x, w, b, grad_out, **options)
    for name, actual, want in zip(("output", "dL/dX", "dL/dW", "dL/db"), (y, grad_x, grad_w, grad_b), expected):
        if method == "winograd":
            check_close_winograd32(actual, want, name)
        else:
            check_close(actual, want, np.float32, name, largest_size(x, w, y))


@pytest.mark.parametrize("method", FAST)
def test_fast_path_passes_gradcheck(method: str) -> None:
    shapes = {
        "matmul": ((2, 3, 3, 2), (2, 3, 1, 1)),
        "im2col": ((2, 2, 5, 4), (3, 2, 3, 2)),
        "chwn": ((3, 2, 5, 4), (3, 2, 2, 3)),
        "im2col_bands": ((2, 2, 5, 4), (3, 2, 3, 2)),
        "shifted": ((2, 2, 4, 5), (3, 2, 3, 3)),
        "winograd": ((2, 2, 5, 6), (3, 2, 3, 3)),
        "winograd2": ((2, 2, 5, 6), (3, 2, 3, 3)),
    }
    xs, ws = shapes[method]
    stride = {"im2col": (2, 1), "chwn": (1, 2), "im2col_bands": (2, 1)}.get(method, (1, 1))
    padding = ((0, 0), (0, 0)) if method == "matmul" else ((1, 0), (1, 1))
    x, w, b = (kw.Tensor(a, requires_grad=True) for a in arrays(3, xs, ws, np.float64))

    def conv(x: kw.Tensor, w: kw.Tensor, b: kw.Tensor) -> kw.Tensor:
        return ConvNd.apply(x, w, b, stride=stride, padding=padding, dilation=(1, 1), groups=1, method=method)

    assert kw.gradcheck(conv, [x, w, b])


@pytest.mark.parametrize(("cin", "cout"), [(2, 5), (5, 2)])
def test_matmul_path_passes_gradcheck_whether_its_bias_is_in_the_gemm_or_added(cin: int, cout: int) -> None:
    """Fewer inputs than outputs: the 1×1 path multiplies [W | b] by X with a row of ones (dL/db from dL/dW's GEMM)."""
    x, w, b = (kw.Tensor(a, requires_grad=True) for a in arrays(12, (3, cin, 2, 3), (cout, cin, 1, 1), np.float64))

    def conv(x: kw.Tensor, w: kw.Tensor, b: kw.Tensor) -> kw.Tensor:
        return ConvNd.apply(x, w, b, stride=(1, 1), padding=((0, 0),) * 2, dilation=(1, 1), groups=1, method="matmul")

    assert kw.gradcheck(conv, [x, w, b])


@pytest.mark.parametrize("method", FAST)
def test_fast_path_without_bias_and_with_only_some_gradients(method: str) -> None:
    xs, ws = ((2, 3, 5, 5), (2, 3, 1, 1)) if method == "matmul" else ((2, 3, 5, 5), (2, 3, 3, 3))
    x, w, _ = arrays(4, xs, ws, np.float64)
    expected_x, expected_w, _ = conv_backward_reference(
        x, w, np.ones((2, 2, *((5, 5) if method == "matmul" else (3, 3))))
    )
    for wants in ((True, False), (False, True)):
        xt, wt = kw.Tensor(x, requires_grad=wants[0]), kw.Tensor(w, requires_grad=wants[1])
        y = ConvNd.apply(xt, wt, None, stride=(1, 1), padding=((0, 0),) * 2, dilation=(1, 1), groups=1, method=method)
        y.sum().backward()
        assert (xt.grad is not None) == wants[0] and (wt.grad is not None) == wants[1]
        if wants[0]:
            check_close(xt.grad.numpy(), expected_x, np.float64, "dL/dX", largest_size(x, w, y.numpy()))
        else:
            check_close(wt.grad.numpy(), expected_w, np.float64, "dL/dW", largest_size(x, w, y.numpy()))


@pytest.mark.parametrize("method", FAST)
@pytest.mark.parametrize("trainable", ["bias", "weight and bias", "input and bias"])
def test_fast_path_bias_gradient_whichever_tensors_train(method: str, trainable: str) -> None:
    """dL/db = Σ dL/dO, whether it comes out of the dL/dW GEMM (im2col's row of ones) or from a sum."""
    xs, ws = ((4, 3, 5, 5), (6, 3, 1, 1)) if method == "matmul" else ((4, 3, 6, 5), (6, 3, 3, 3))
    x, w, b = arrays(8, xs, ws, np.float64)
    xt, wt, bt = (
        kw.Tensor(a, requires_grad=name in trainable) for a, name in ((x, "input"), (w, "weight"), (b, "bias"))
    )
    y = ConvNd.apply(xt, wt, bt, stride=(1, 1), padding=((0, 0),) * 2, dilation=(1, 1), groups=1, method=method)
    grad_out = np.random.default_rng(9).standard_normal(y.shape)
    y.backward(grad_out)
    np.testing.assert_allclose(bt.grad.numpy(), grad_out.sum(axis=(0, 2, 3)), rtol=1e-12)
    assert (wt.grad is not None) == ("weight" in trainable) and (xt.grad is not None) == ("input" in trainable)
    expected = conv_backward_reference(x, w, grad_out)  # (dL/dX, dL/dW, dL/db) by the loop reference
    if "weight" in trainable:
        check_close(wt.grad.numpy(), expected[1], np.float64, "dL/dW", largest_size(x, w, grad_out))
    if "input" in trainable:
        check_close(xt.grad.numpy(), expected[0], np.float64, "dL/dX", largest_size(x, w, grad_out))


def test_fast_paths_take_non_contiguous_inputs() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 6, 3, 2)).astype(np.float32).transpose(3, 2, 0, 1)  # (2, 3, 6, 6), transposed
    w = rng.standard_normal((3, 3, 4, 16)).astype(np.float32).transpose(3, 2, 1, 0)[:, :, ::-1]  # (16, 4, 3, 3)
    x, w = x[:, :, :, :], w[:4, :3]  # (2, 3, 6, 6) and (4, 3, 3, 3), neither contiguous
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    for method in ("im2col", "chwn", "im2col_bands", "shifted", "winograd", "winograd2"):
        y, grad_out, grad_x, grad_w, _ = run(method, x, w, None, padding=1)
        expected = torch_conv(np.ascontiguousarray(x), np.ascontiguousarray(w), None, grad_out, padding=1)
        for name, actual, want in zip(("output", "dL/dX", "dL/dW"), (y, grad_x, grad_w), expected):
            check_close(actual, want, np.float32, f"{method} {name}", largest_size(x, w, y))


@pytest.mark.parametrize(
    ("columns", "bias", "xs", "ws", "options"),
    [
        (18, True, (2, 3, 7, 6), (4, 3, 3, 3), {"padding": 1}),  # 3 of 7 output rows (of 6) a band: 3, 3, 1
        (36, True, (1, 3, 7, 6), (4, 3, 3, 3), {"padding": 1}),  # 6 of 7 rows: 6, then 1
        (1, True, (2, 2, 5, 9), (3, 2, 2, 3), {"stride": (1, 2), "padding": (0, 1)}),  # less than a row: one row
        (84, True, (5, 2, 6, 7), (3, 2, 3, 3), {"padding": 1}),  # 2 whole samples (42 positions each): 2, 2, 1
        (108, False, (5, 2, 6, 7), (3, 2, 3, 3), {"padding": (1, 2)}),  # the same without a bias (no row of ones)
        (4, True, (3, 2, 11), (3, 2, 5), {"padding": 2}),  # 1-d: 4 of 11 positions a band: 4, 4, 3
    ],
)
def test_bands_of_rows_and_of_samples_match_torch(columns, bias, xs, ws, options, monkeypatch) -> None:
    """im2col_bands cuts the window matrix into bands of BAND_BYTES: rows of one sample, or whole samples."""
    K = xs[1] * int(np.prod(ws[2:])) + bias  # rows of the window matrix, the row of ones included
    monkeypatch.setattr(fastconv.im2col, "BAND_BYTES", 4 * K * columns)  # float32: `columns` columns a band
    x, w, b = arrays(11, xs, ws, np.float32, bias=bias)
    y, grad_out, grad_x, grad_w, grad_b = run("im2col_bands", x, w, b, **options)
    expected = torch_conv(x, w, b, grad_out, **options)
    assert (grad_b is None) == (not bias)
    for name, actual, want in zip(("output", "dL/dX", "dL/dW"), (y, grad_x, grad_w), expected):
        check_close(actual, want, np.float32, name, largest_size(x, w, y))
    if bias:
        check_close(grad_b, expected[3], np.float32, "dL/db", largest_size(x, w, y))


# --------------------------------------------------------------------------- Winograd's float32 error
# F(4×4, 3×3) computes the same sums through transforms whose entries reach 8 and 1/24, so its rounding
# error exceeds the direct sum's. Bound, elementwise: |Winograd_f32 - exact| ≤ c·eps·(|X| ⋆ |W|), the
# correlation of the absolute values (and likewise for dL/dX and dL/dW with |dL/dO|). Measured worst c
# over random shapes, paddings, scales and offsets: 170 (output), 81 (dL/dX), 22 (dL/dW); with 64-256
# channels 13-23. The direct paths stay under 2. The test holds Winograd to c = 500.
WINOGRAD_C = 500


def _exact_and_bound(x: np.ndarray, w: np.ndarray, grad_out: np.ndarray, padding: tuple) -> tuple[list, list]:
    """float64 conv, dL/dX, dL/dW by the plain path, and the same of |X|, |W|, |dL/dO| (the error scale)."""

    def conv(x: np.ndarray, w: np.ndarray, grad_out: np.ndarray) -> list:
        xt, wt = (
            kw.Tensor(x.astype(np.float64), requires_grad=True),
            kw.Tensor(w.astype(np.float64), requires_grad=True),
        )
        y = ConvNd.apply(xt, wt, None, stride=(1, 1), padding=padding, dilation=(1, 1), groups=1, method="windows")
        y.backward(grad_out.astype(np.float64))
        return [y.numpy(), xt.grad.numpy(), wt.grad.numpy()]

    return conv(x, w, grad_out), conv(np.abs(x), np.abs(w), np.abs(grad_out))


@pytest.mark.parametrize("seed", range(6))
def test_winograd_float32_error_stays_within_its_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    N, C, O = (int(v) for v in rng.integers(1, 24, size=3))
    H, W = (int(v) for v in rng.integers(3, 14, size=2))
    padding = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2))
    scale = 10.0 ** rng.uniform(-3, 3)
    x = (scale * (rng.standard_normal((N, C, H, W)) + rng.uniform(-1, 1))).astype(np.float32)  # with an offset
    w = rng.standard_normal((O, C, 3, 3)).astype(np.float32)
    y, saved = fastconv.conv_forward("winograd", x, w, None, (1, 1), padding, (1, 1))
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    grad_x, grad_w, _ = fastconv.conv_backward(saved, grad_out, (True, True, False))
    exact, bound = _exact_and_bound(x, w, grad_out, padding)
    eps = np.finfo(np.float32).eps
    for name, actual, want, b in zip(("output", "dL/dX", "dL/dW"), (y, grad_x, grad_w), exact, bound):
        assert actual.dtype == np.float32
        assert np.all(np.abs(actual - want) <= WINOGRAD_C * eps * b), f"{name}: Winograd error above its bound"


def test_winograd_error_bound_is_not_vacuous() -> None:
    """The bound catches a real error: a Winograd output off by 1e-3 of |X| ⋆ |W| in one place fails it."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 4, 8, 8)).astype(np.float32), rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    y, _ = fastconv.conv_forward("winograd", x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    exact, bound = _exact_and_bound(x, w, np.ones_like(y), ((1, 1), (1, 1)))
    eps = np.finfo(np.float32).eps
    assert np.all(np.abs(y - exact[0]) <= WINOGRAD_C * eps * bound[0])
    y[0, 1, 3, 4] += 1e-3 * bound[0][0, 1, 3, 4]
    assert not np.all(np.abs(y - exact[0]) <= WINOGRAD_C * eps * bound[0])


# --------------------------------------------------------------------------- the dispatcher
def _choose(xs: tuple, ws: tuple, stride: int = 1, padding: int = 0, groups: int = 1, dtype: Any = np.float32) -> str:
    nd = len(ws) - 2
    return fastconv.choose_method(xs, ws, (stride,) * nd, ((padding, padding),) * nd, (1,) * nd, groups, dtype)


@pytest.mark.parametrize(
    ("xs", "ws", "stride", "padding", "expected"),
    [
        ((64, 1, 28, 28), (6, 1, 5, 5), 1, 2, "chwn"),  # LeNet conv1: 1 channel, batch 64
        ((8, 1, 28, 28), (6, 1, 5, 5), 1, 2, "im2col"),  # batch 8: batch-last runs too short
        ((64, 6, 14, 14), (16, 6, 5, 5), 1, 0, "chwn"),  # LeNet conv2: rows of 10 outputs, batch 64
        ((32, 3, 64, 64), (8, 3, 7, 7), 2, 3, "chwn"),  # a 3-channel stem with stride 2, few outputs
        ((64, 3, 32, 32), (16, 3, 3, 3), 1, 1, "im2col"),  # 16 outputs: the next layer reads NCHW
        ((32, 64, 32, 32), (64, 64, 3, 3), 1, 1, "im2col"),  # 64 channels on 32×32: one GEMM, K = 9·C
        ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, "im2col"),  # Winograd only when allowed
        ((32, 64, 16, 16), (64, 64, 3, 3), 1, 1, "shifted"),  # 16×16: im2col's buffer does not pay
        ((32, 32, 32, 32), (32, 32, 3, 3), 1, 1, "shifted"),  # 32 channels
        ((8, 64, 56, 56), (128, 64, 3, 3), 2, 1, "im2col"),  # stride 2
        ((8, 256, 14, 14), (256, 256, 3, 3), 1, 1, "winograd2"),  # F(2×2, 3×3) from 128 channels on
        ((8, 128, 28, 28), (128, 128, 3, 3), 1, 1, "winograd2"),
        ((8, 128, 28, 28), (64, 128, 3, 3), 1, 1, "shifted"),  # 64 output channels: F(2×2) does not pay
        ((8, 64, 28, 28), (64, 64, 5, 5), 1, 2, "shifted"),  # not 3×3
        ((8, 64, 28, 28), (8, 64, 3, 3), 1, 1, "shifted"),  # 3×3 with few output channels
        ((8, 64, 28, 28), (64, 64, 3, 3), 1, 3, "im2col"),  # padding 3 > 2: no Winograd, 32×32 out
        ((8, 64, 24, 24), (64, 64, 3, 3), 1, 3, "shifted"),  # the same on 28×28
        ((8, 128, 28, 28), (256, 128, 1, 1), 1, 0, "matmul"),
        ((100, 25, 19), (25, 25, 3), 2, 1, "chwn"),  # 1-d, 10 outputs
        ((4, 25, 19), (25, 25, 3), 2, 1, "im2col"),  # batch 4: batch-last runs too short
        ((100, 25, 79), (25, 25, 3), 2, 1, "im2col"),  # 40 outputs: rows long enough
    ],
)
def test_dispatcher_picks_the_intended_method(xs: tuple, ws: tuple, stride: int, padding: int, expected: str) -> None:
    assert _choose(xs, ws, stride, padding) == expected


def test_winograd_is_chosen_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    import kernelwise as kw

    monkeypatch.setattr(kw.backends.conv, "allow_winograd", True)
    assert _choose((8, 64, 56, 56), (64, 64, 3, 3), 1, 1) == "winograd"
    assert _choose((8, 64, 28, 28), (8, 64, 3, 3), 1, 1) == "shifted"  # few output channels: never
    monkeypatch.setattr(kw.backends.conv, "allow_winograd", False)
    assert _choose((8, 64, 56, 56), (64, 64, 3, 3), 1, 1) == "im2col"  # the cached choice follows the switch


def test_dispatcher_keeps_grouped_and_float64_convolutions_on_the_plain_path() -> None:
    assert _choose((2, 4, 8, 8), (4, 2, 3, 3), groups=2) == "windows"
    assert _choose((2, 32, 8, 8), (32, 32, 3, 3), padding=1, dtype=np.float64) == "windows"


def test_conv2d_uses_the_dispatched_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """kw.nn.functional.conv2d goes through choose_method: a path that would return garbage is noticed."""
    calls = []
    original = fastconv.conv_forward

    def spy(method: str, *args: Any) -> Any:
        calls.append(method)
        return original(method, *args)

    monkeypatch.setattr("kernelwise.ops.conv.conv_forward", spy)
    w = kw.Tensor(np.ones((2, 16, 3, 3), dtype=np.float32))
    x = kw.Tensor(np.ones((1, 16, 4, 4), dtype=np.float32), requires_grad=True)
    kw.nn.functional.conv2d(x, w, padding=1)
    kw.nn.functional.conv2d(x.detach(), w, padding=1)  # no backward will run: forward-only choice
    assert calls == ["shifted", "im2col"]


def test_forward_only_3x3_takes_im2col_or_its_bands_by_the_buffer_size() -> None:
    pads = ((1, 1), (1, 1))
    vgg_first = ((1, 64, 224, 224), (64, 64, 3, 3), (1, 1), pads, (1, 1), 1)  # 9·64·224² floats: 116 MB
    assert fastconv.BANDS_FROM_BYTES < 4 * 9 * 64 * 224 * 224 < fastconv.IM2COL_3X3_BYTES
    assert fastconv.choose_method(*vgg_first, needs_grad=False) == "im2col_bands"
    assert fastconv.choose_method(*vgg_first) == "im2col"  # forward and backward: 64 channels on 224×224
    batch8 = ((8, 64, 224, 224), *vgg_first[1:])  # 925 MB of columns: over IM2COL_3X3_BYTES
    assert fastconv.IM2COL_3X3_BYTES < 4 * 9 * 64 * 8 * 224 * 224
    assert fastconv.choose_method(*batch8, needs_grad=False) == "im2col_bands"  # a band at a time
    assert fastconv.choose_method(*batch8) == "shifted"
    small = ((1, 64, 56, 56), (64, 64, 3, 3), (1, 1), pads, (1, 1), 1)  # 7 MB of columns
    assert fastconv.choose_method(*small, needs_grad=False) == "im2col"
    # 128 channels and more: F(2×2, 3×3) below 112×112 outputs, bands from there on (without a backward)
    wide = ((1, 128, 112, 112), (128, 128, 3, 3), (1, 1), pads, (1, 1), 1)
    assert fastconv.choose_method(*wide, needs_grad=False) == "im2col_bands"
    assert fastconv.choose_method(*wide) == "winograd2"
    wide56 = ((8, 128, 56, 56), (128, 128, 3, 3), (1, 1), pads, (1, 1), 1)
    assert fastconv.choose_method(*wide56, needs_grad=False) == "winograd2"
    five = ((1, 64, 56, 56), (64, 64, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1)
    assert fastconv.choose_method(*five, needs_grad=False) == "shifted"  # measured for 3×3 only
    stem = ((8, 3, 224, 224), (64, 3, 7, 7), (2, 2), ((3, 3), (3, 3)), (1, 1), 1)  # 3·49·8·112² floats: 56 MB
    assert fastconv.choose_method(*stem, needs_grad=False) == "im2col_bands"
    assert fastconv.choose_method(*stem) == "im2col"
    assert fastconv.choose_method((1, *stem[0][1:]), *stem[1:], needs_grad=False) == "im2col"  # 7 MB
    squeeze_stem = ((8, 3, 224, 224), (64, 3, 3, 3), (2, 2), ((0, 0), (0, 0)), (1, 1), 1)  # 111² outputs, 10 MB
    assert fastconv.choose_method(*squeeze_stem, needs_grad=False) == "im2col_bands"  # no transposing copy of O
    fire = ((8, 32, 27, 27), (128, 32, 3, 3), (1, 1), pads, (1, 1), 1)  # 729 outputs a sample: one whole GEMM
    assert fastconv.choose_method(*fire, needs_grad=False) == "im2col"


@pytest.mark.parametrize(
    ("method", "xs", "ws", "stride", "groups", "match"),
    [
        ("fft", (1, 2, 4, 4), (2, 2, 3, 3), 1, 1, "expected one of"),
        ("im2col", (1, 2, 4, 4), (2, 1, 3, 3), 1, 2, "needs groups=1"),
        ("chwn", (1, 2, 4, 4), (2, 1, 3, 3), 1, 2, "needs groups=1"),
        ("matmul", (1, 2, 4, 4), (2, 2, 3, 3), 1, 1, "needs a 1×1 kernel"),
        ("shifted", (1, 2, 4, 4), (2, 2, 3, 3), 2, 1, "stride 1"),
        ("shifted", (1, 2, 4), (2, 2, 3), 1, 1, "2-d convolution"),
        ("winograd", (1, 2, 6, 6), (2, 2, 5, 5), 1, 1, "needs a 3×3 kernel"),
        ("winograd", (1, 2, 6, 6), (2, 2, 3, 3), 2, 1, "stride 1"),
    ],
)
def test_error_method_that_cannot_compute_the_convolution(method, xs, ws, stride, groups, match) -> None:
    x, w = kw.Tensor(np.ones(xs, np.float32)), kw.Tensor(np.ones(ws, np.float32))
    nd = len(ws) - 2
    with pytest.raises(ValueError, match=match):
        ConvNd.apply(
            x, w, None, stride=(stride,) * nd, padding=((0, 0),) * nd, dilation=(1,) * nd, groups=groups, method=method
        )


def test_error_winograd_padding_above_two() -> None:
    x, w = kw.Tensor(np.ones((1, 2, 4, 4), np.float32)), kw.Tensor(np.ones((2, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="padding of at most 2"):
        ConvNd.apply(x, w, None, stride=(1, 1), padding=((3, 3), (0, 0)), dilation=(1, 1), groups=1, method="winograd")


# --------------------------------------------------------------------------- batch-last layout between layers
def _batch_last(x: np.ndarray) -> np.ndarray:
    """The values of x (N, C, *spatial) in memory ordered (C, *spatial, N): a view, as the chwn path returns."""
    return np.ascontiguousarray(np.moveaxis(x, 0, -1)).transpose(x.ndim - 1, *range(x.ndim - 1))


def test_chwn_returns_its_output_and_input_gradient_as_batch_last_views() -> None:
    x, w, b = arrays(11, (16, 3, 9, 8), (4, 3, 3, 3), np.float64)
    y, grad_out, grad_x, grad_w, grad_b = run("chwn", x, w, b, padding=1)
    for name, a in (("output", y), ("dL/dX", grad_x)):
        assert np.moveaxis(a, 0, -1).flags.c_contiguous, f"{name}: memory not (C, H, W, N)"
    ref = conv_reference(x, w, b, stride=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1)
    check_close(y, ref, np.float64, "output", largest_size(x, w, y))
    want = conv_backward_reference(x, w, grad_out, stride=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1)
    for name, actual, expected in zip(("dL/dX", "dL/dW", "dL/db"), (grad_x, grad_w, grad_b), want):
        check_close(actual, expected, np.float64, name, largest_size(x, w, y))


def test_lenet_stack_on_batch_last_layers_matches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """conv (chwn) → ReLU → max pool → conv (chwn) → ReLU → max pool → winograd conv, all gradients vs PyTorch."""
    import kernelwise as kw

    monkeypatch.setattr(kw.backends.conv, "allow_winograd", True)  # the batch-last output meets Winograd's input
    rng = np.random.default_rng(13)
    x = rng.standard_normal((16, 1, 20, 20)).astype(np.float32)
    shapes = [(6, 1, 5, 5), (16, 6, 3, 3), (16, 16, 3, 3)]
    ws = [rng.standard_normal(s).astype(np.float32) * 0.3 for s in shapes]
    bs = [rng.standard_normal(s[0]).astype(np.float32) for s in shapes]
    F = kw.nn.functional
    assert _choose((16, 1, 20, 20), shapes[0], padding=2) == "chwn"
    assert _choose((16, 6, 10, 10), shapes[1]) == "chwn"
    assert _choose((16, 16, 4, 4), shapes[2], padding=1) == "winograd"

    def net(lib: Any, x: Any, ws: list, bs: list) -> Any:
        h = lib.max_pool2d(lib.relu(lib.conv2d(x, ws[0], bs[0], padding=2)), 2)
        h = lib.max_pool2d(lib.relu(lib.conv2d(h, ws[1], bs[1])), 2)
        return lib.conv2d(h, ws[2], bs[2], padding=1)

    kt = [kw.Tensor(a, requires_grad=True) for a in (x, *ws, *bs)]
    tt = [torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, *ws, *bs)]
    y, ty = net(F, kt[0], kt[1:4], kt[4:]), net(torch.nn.functional, tt[0], tt[1:4], tt[4:])
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(grad_out)
    ty.backward(torch.from_numpy(grad_out))
    check_close_winograd32(y.numpy(), ty.detach().numpy(), "output")  # the last convolution is Winograd's
    for name, a, t in zip(("x", "w1", "w2", "w3", "b1", "b2", "b3"), kt, tt):
        check_close_winograd32(a.grad.numpy(), t.grad.numpy(), f"dL/d{name}")


def test_backward_receives_the_gradient_in_the_layout_of_the_output() -> None:
    """The engine hands dL/dy to a Function in y's memory layout, whatever layout the consumer returned."""
    seen = []

    class BatchLastCopy(kw.Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return _batch_last(x)

        def backward(self, grad_out: np.ndarray) -> np.ndarray:
            seen.append(np.moveaxis(grad_out, 0, -1).flags.c_contiguous)
            return grad_out

    x = kw.Tensor(np.random.default_rng(14).standard_normal((4, 3, 5)).astype(np.float32), requires_grad=True)
    y = BatchLastCopy.apply(x)
    grad_out = np.arange(60, dtype=np.float32).reshape(4, 3, 5)  # C order
    y.backward(grad_out)
    assert seen == [True]
    np.testing.assert_array_equal(x.grad.numpy(), grad_out)
    assert x.grad.numpy().flags.c_contiguous  # and the leaf's gradient in the leaf's layout


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_on_operands_of_two_layouts(op: str) -> None:
    rng = np.random.default_rng(15)
    a_c, b_c = (rng.uniform(0.5, 2, (16, 3, 4, 5)).astype(np.float32) for _ in range(2))
    a = kw.Tensor(_batch_last(a_c), requires_grad=True)
    b = kw.Tensor(b_c, requires_grad=True)
    ta, tb = (torch.from_numpy(v.copy()).requires_grad_(True) for v in (a_c, b_c))
    fn = getattr(operator, {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv"}[op])
    y, ty = fn(a, b), fn(ta, tb)
    assert np.moveaxis(y.numpy(), 0, -1).flags.c_contiguous  # the result takes the first operand's layout
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6)
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(grad_out)
    ty.backward(torch.from_numpy(grad_out))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_dropout_on_a_batch_last_input_keeps_its_layout_and_its_mask() -> None:
    x_c = np.random.default_rng(16).standard_normal((16, 3, 6, 6)).astype(np.float32)
    y_c = kw.nn.functional.dropout(kw.Tensor(x_c), 0.4, generator=7)
    y_b = kw.nn.functional.dropout(kw.Tensor(_batch_last(x_c)), 0.4, generator=7)
    np.testing.assert_array_equal(y_b.numpy(), y_c.numpy())  # the same elements dropped: the draws stay in C order
    assert np.moveaxis(y_b.numpy(), 0, -1).flags.c_contiguous
