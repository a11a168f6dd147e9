"""Convolutions, transposed convolutions, unfold and fold: against PyTorch, the loop reference and the recitation."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kernelwise as kw
from kernelwise.ops import conv as C
from kernelwise.ops.geometry import conv_output_size
from kernelwise.ops.reference import conv_backward_reference, conv_reference
from parity import assert_close, largest_size

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's note on even kernels


# --------------------------------------------------------------------------- one helper, many cases
def check_with_torch(
    kw_fn: Callable,
    torch_fn: Callable,
    arrays: list[np.ndarray | None],
    kwargs: dict[str, Any],
    torch_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
) -> None:
    """Run the op in kernelwise and in torch on the same arrays; compare the output and every input's gradient.

    The arrays go into kernelwise as they are (views stay views, so non-contiguous inputs stay non-contiguous).
    """
    dtype = next(a.dtype for a in arrays if a is not None)
    kw_in = [None if a is None else kw.Tensor(a, requires_grad=True) for a in arrays]
    t_in = [None if a is None else torch.from_numpy(np.array(a)).requires_grad_(True) for a in arrays]
    out = kw_fn(*kw_in, **kwargs)
    t_out = torch_fn(*t_in, **(kwargs if torch_kwargs is None else torch_kwargs))
    expected = t_out.detach().numpy()
    assert out.shape == expected.shape
    assert out.dtype == dtype  # float32 stays float32
    terms = largest_size(*arrays, expected)  # bounds every sum: over C·k, O·k or N·spatial
    assert_close(out.numpy(), expected, dtype, terms=terms, what="output")

    grad = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(grad)
    t_out.backward(torch.from_numpy(grad))
    for i, (a, k, t) in enumerate(zip(arrays, kw_in, t_in)):
        if a is None:
            continue
        assert k.grad is not None, f"input {i} got no gradient"
        assert k.grad.dtype == dtype and k.grad.shape == a.shape
        assert_close(k.grad.numpy(), t.grad.numpy(), dtype, terms=terms, what=f"gradient of input {i}")


def randn(rng: np.random.Generator, *shape: int, dtype: Any = np.float64) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


KW_CONV = {1: C.conv1d, 2: C.conv2d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d}
KW_CONVT = {1: C.conv_transpose1d, 2: C.conv_transpose2d}
TORCH_CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


# --------------------------------------------------------------------------- conv vs torch: the grid
def _conv_grid() -> list:
    cases = []
    for nd, stride, dilation, padding, groups, dtype in itertools.product(
        (1, 2), (1, 2, 3), (1, 2), (0, 1, 2, "valid", "same"), (1, 2, "depthwise"), (np.float32, np.float64)
    ):
        if padding == "same" and stride != 1:
            continue
        name = f"{nd}d-s{stride}-d{dilation}-p{padding}-g{groups}-{np.dtype(dtype).name}"
        cases.append(pytest.param(nd, stride, dilation, padding, groups, dtype, id=name))
    return cases


CONV_GRID = _conv_grid()


@pytest.mark.parametrize(("nd", "stride", "dilation", "padding", "groups", "dtype"), CONV_GRID)
def test_conv_grid_matches_torch(nd: int, stride: int, dilation: int, padding: Any, groups: Any, dtype: Any) -> None:
    rng = np.random.default_rng(nd * 100 + stride * 10 + dilation)
    spatial, kernel = ((9,), (3,)) if nd == 1 else ((7, 6), (3, 2))  # 2-D: a rectangular kernel
    in_ch = 4
    groups, out_ch = (in_ch, 8) if groups == "depthwise" else (groups, 6)
    x = randn(rng, 2, in_ch, *spatial, dtype=dtype)
    w = randn(rng, out_ch, in_ch // groups, *kernel, dtype=dtype)
    b = randn(rng, out_ch, dtype=dtype)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check_with_torch(KW_CONV[nd], TORCH_CONV[nd], [x, w, b], options)


def _edge(nd: int, x: tuple, w: tuple, bias: bool = True, **options: Any) -> dict:
    return {"nd": nd, "x": x, "w": w, "bias": bias, "options": options}


CONV_EDGE_CASES = {
    "1d-kernel-wider-than-input-padded": _edge(1, (2, 2, 3), (3, 2, 5), padding=2),
    "2d-kernel-wider-than-input-padded": _edge(2, (1, 2, 2, 3), (2, 2, 4, 5), padding=2),
    "1d-stride-larger-than-kernel": _edge(1, (2, 3, 11), (4, 3, 2), stride=4),
    "2d-stride-larger-than-kernel": _edge(2, (2, 3, 10, 9), (4, 3, 2, 2), stride=3),
    "2d-tuple-args": _edge(2, (2, 3, 9, 8), (5, 3, 3, 2), stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    "2d-tuple-args-groups": _edge(2, (1, 6, 8, 9), (6, 2, 2, 3), stride=(2, 1), padding=(1, 2), groups=3),
    "1d-no-bias": _edge(1, (2, 3, 8), (2, 3, 3), bias=False, padding=1),
    "2d-no-bias-groups": _edge(2, (2, 4, 6, 6), (4, 2, 3, 3), bias=False, groups=2),
    "1d-unbatched": _edge(1, (3, 9), (4, 3, 3), stride=2, padding=1),
    "2d-unbatched": _edge(2, (3, 8, 7), (4, 3, 3, 2), padding=(1, 0), dilation=2),
    "2d-unbatched-same": _edge(2, (2, 5, 5), (3, 2, 2, 2), padding="same"),
    "1d-zero-batch": _edge(1, (0, 3, 8), (4, 3, 3)),
    "2d-zero-batch": _edge(2, (0, 4, 6, 6), (4, 1, 3, 3), groups=4, stride=2),
    "1d-same-even-kernel": _edge(1, (2, 2, 7), (3, 2, 4), padding="same"),
    "2d-same-even-kernel-dilated": _edge(2, (1, 2, 8, 7), (2, 2, 4, 2), padding="same", dilation=(1, 3)),
    "1d-same-tuple-stride-1": _edge(1, (1, 2, 6), (2, 2, 3), padding="same", stride=(1,)),
    "1d-1x1-kernel": _edge(1, (2, 5, 4), (3, 5, 1)),
    "2d-1x1-kernel-stride": _edge(2, (2, 5, 5, 4), (3, 5, 1, 1), stride=2),
    "2d-kernel-equals-input": _edge(2, (3, 2, 4, 3), (5, 2, 4, 3)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CONV_EDGE_CASES))
def test_conv_edge_cases_match_torch(name: str, dtype: Any) -> None:
    case = CONV_EDGE_CASES[name]
    rng = np.random.default_rng(len(name))
    x, w = randn(rng, *case["x"], dtype=dtype), randn(rng, *case["w"], dtype=dtype)
    b = randn(rng, case["w"][0], dtype=dtype) if case["bias"] else None
    check_with_torch(KW_CONV[case["nd"]], TORCH_CONV[case["nd"]], [x, w, b], case["options"])


FULL_CASES = [
    pytest.param(1, (2, 3, 6), (2, 3, 3), 1, 1, id="1d"),
    pytest.param(1, (2, 3, 6), (2, 3, 4), 2, 2, id="1d-stride-dilation"),
    pytest.param(2, (1, 2, 5, 4), (3, 2, 3, 2), 1, 1, id="2d"),
    pytest.param(2, (1, 2, 5, 4), (3, 2, 2, 3), (2, 1), (1, 2), id="2d-tuples"),
]


@pytest.mark.parametrize(("nd", "xs", "ws", "stride", "dilation"), FULL_CASES)
def test_full_padding_is_torch_padding_d_times_k_minus_1(nd: int, xs: tuple, ws: tuple, stride: Any, dilation: Any):
    rng = np.random.default_rng(7)
    x, w, b = randn(rng, *xs), randn(rng, *ws), randn(rng, ws[0])
    d = (dilation,) * nd if isinstance(dilation, int) else dilation
    full = tuple(di * (k - 1) for di, k in zip(d, ws[2:]))
    options = {"stride": stride, "padding": "full", "dilation": dilation}
    check_with_torch(KW_CONV[nd], TORCH_CONV[nd], [x, w, b], options, {**options, "padding": full})


NON_CONTIGUOUS = [
    pytest.param("transposed", id="transposed"),
    pytest.param("sliced", id="sliced"),
    pytest.param("reversed", id="negative-strides"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", NON_CONTIGUOUS)
def test_conv2d_non_contiguous_inputs_match_torch(layout: str, dtype: Any) -> None:
    rng = np.random.default_rng(3)
    if layout == "transposed":
        x = randn(rng, 7, 6, 3, 2, dtype=dtype).transpose(3, 2, 0, 1)  # (2, 3, 7, 6)
        w = randn(rng, 2, 3, 3, 4, dtype=dtype).transpose(3, 2, 1, 0)  # (4, 3, 3, 2)
    elif layout == "sliced":
        x = randn(rng, 4, 6, 14, 8, dtype=dtype)[::2, ::2, ::2, 1:7]  # (2, 3, 7, 6)
        w = randn(rng, 4, 3, 6, 2, dtype=dtype)[:, :, ::2]  # (4, 3, 3, 2)
    else:
        x = randn(rng, 2, 3, 7, 6, dtype=dtype)[:, ::-1, :, ::-1]
        w = randn(rng, 4, 3, 3, 2, dtype=dtype)[::-1]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    b = randn(rng, 8, dtype=dtype)[::2]
    options = {"stride": (2, 1), "padding": 1, "dilation": (1, 2)}
    check_with_torch(C.conv2d, F.conv2d, [x, w, b], options)


# --------------------------------------------------------------------------- conv_transpose vs torch
def _transpose_grid() -> list:
    cases = []
    for nd, stride, dilation, padding, groups in itertools.product((1, 2), (1, 2, 3), (1, 2), (0, 1), (1, 2)):
        for output_padding in range(max(stride, dilation)):
            name = f"{nd}d-s{stride}-d{dilation}-p{padding}-op{output_padding}-g{groups}"
            cases.append(pytest.param(nd, stride, dilation, padding, output_padding, groups, id=name))
    return cases


TRANSPOSE_GRID = _transpose_grid()


@pytest.mark.parametrize(("nd", "stride", "dilation", "padding", "output_padding", "groups"), TRANSPOSE_GRID)
def test_conv_transpose_grid_matches_torch(
    nd: int, stride: int, dilation: int, padding: int, output_padding: int, groups: int
) -> None:
    rng = np.random.default_rng(nd + 10 * stride + 100 * dilation + 1000 * output_padding)
    spatial, kernel = ((4,), (3,)) if nd == 1 else ((4, 3), (3, 2))
    x = randn(rng, 2, 4, *spatial)
    w = randn(rng, 4, 6 // groups, *kernel)  # (C_in, C_out/groups, *k)
    b = randn(rng, 6)
    options = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "groups": groups,
        "dilation": dilation,
    }
    check_with_torch(KW_CONVT[nd], TORCH_CONVT[nd], [x, w, b], options)


TRANSPOSE_EDGE_CASES = {
    "1d-float32": _edge(1, (2, 3, 5), (3, 2, 3), stride=2, padding=1, output_padding=1),
    "2d-float32-tuples": _edge(
        2, (2, 4, 3, 4), (4, 3, 3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2)
    ),
    "1d-unbatched": _edge(1, (3, 5), (3, 2, 3), stride=2),
    "2d-unbatched-no-bias": _edge(2, (2, 3, 3), (2, 3, 2, 2), bias=False, stride=2, padding=1),
    "2d-zero-batch": _edge(2, (0, 2, 3, 3), (2, 3, 2, 2), stride=2),
    "2d-depthwise": _edge(2, (2, 4, 3, 3), (4, 1, 3, 3), groups=4, stride=2, output_padding=1),
    "2d-stride-larger-than-kernel": _edge(2, (1, 2, 3, 3), (2, 2, 2, 2), stride=3, output_padding=2),
    "1d-output-padding-below-dilation": _edge(1, (1, 2, 4), (2, 3, 3), stride=1, dilation=3, output_padding=2),
}


@pytest.mark.parametrize("name", list(TRANSPOSE_EDGE_CASES))
def test_conv_transpose_edge_cases_match_torch(name: str) -> None:
    case = TRANSPOSE_EDGE_CASES[name]
    dtype = np.float32 if "float32" in name else np.float64
    rng = np.random.default_rng(len(name))
    x, w = randn(rng, *case["x"], dtype=dtype), randn(rng, *case["w"], dtype=dtype)
    groups = case["options"].get("groups", 1)
    b = randn(rng, case["w"][1] * groups, dtype=dtype) if case["bias"] else None
    check_with_torch(KW_CONVT[case["nd"]], TORCH_CONVT[case["nd"]], [x, w, b], case["options"])


# --------------------------------------------------------------------------- unfold and fold vs torch
UNFOLD_GRID = [
    pytest.param(k, d, p, s, id=f"k{k}-d{d}-p{p}-s{s}")
    for k, d, p, s in itertools.product((2, (2, 3)), (1, (2, 1)), (0, 1, (1, 0)), (1, 2, (2, 1)))
]


@pytest.mark.parametrize(("kernel_size", "dilation", "padding", "stride"), UNFOLD_GRID)
def test_unfold_matches_torch(kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> None:
    x = randn(np.random.default_rng(0), 2, 3, 6, 7)
    options = {"kernel_size": kernel_size, "dilation": dilation, "padding": padding, "stride": stride}
    check_with_torch(C.unfold, F.unfold, [x], options)


@pytest.mark.parametrize(("kernel_size", "dilation", "padding", "stride"), UNFOLD_GRID)
def test_fold_matches_torch(kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> None:
    options = {"kernel_size": kernel_size, "dilation": dilation, "padding": padding, "stride": stride}
    blocks = F.unfold(torch.zeros(1, 3, 6, 7), **options).shape  # (1, 3·kh·kw, L) for a 6×7 image
    cols = randn(np.random.default_rng(1), 2, blocks[1], blocks[2])
    check_with_torch(C.fold, F.fold, [cols], {"output_size": (6, 7), **options})


def test_unfold_fold_unbatched_and_float32_match_torch() -> None:
    rng = np.random.default_rng(2)
    x = randn(rng, 2, 5, 4, dtype=np.float32)
    check_with_torch(C.unfold, F.unfold, [x], {"kernel_size": (2, 3), "padding": 1})
    cols = randn(rng, 2 * 4, 6 * 3, dtype=np.float32)  # C·kh·kw = 8, L = 6·3
    check_with_torch(C.fold, F.fold, [cols], {"output_size": (5, 4), "kernel_size": 2, "padding": (1, 0)})


# --------------------------------------------------------------------------- fast path vs the loop reference
def _random_config(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(1, 3))
    groups = int(rng.choice([1, 1, 2, 3]))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=nd))
    padding = tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 3, size=(nd, 2)))  # asymmetric pairs too
    spatial = tuple(
        int(rng.integers(max(1, d * (k - 1) + 1 - lo - hi), 8)) for k, d, (lo, hi) in zip(kernel, dilation, padding)
    )
    N = int(rng.integers(1, 3))
    x = rng.standard_normal((N, groups * int(rng.integers(1, 3)), *spatial))
    w = rng.standard_normal((groups * int(rng.integers(1, 3)), x.shape[1] // groups, *kernel))
    b = rng.standard_normal(w.shape[0])
    return {"x": x, "w": w, "b": b, "stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


REFERENCE_SEEDS = list(range(40))


@pytest.mark.parametrize("seed", REFERENCE_SEEDS)
def test_conv_forward_and_backward_match_reference(seed: int) -> None:
    cfg = _random_config(seed)
    x, w, b = cfg["x"], cfg["w"], cfg["b"]
    options = {k: cfg[k] for k in ("stride", "padding", "dilation", "groups")}
    expected = conv_reference(x, w, b, **options)
    # the Function itself: it takes (before, after) padding pairs, as the reference does
    X, W, B = (kw.tensor(a, requires_grad=True) for a in (x, w, b))
    out = C.ConvNd.apply(X, W, B, **options)
    terms = largest_size(x, w, expected)
    assert_close(out.numpy(), expected, np.float64, terms=terms, what="output")
    grad_out = np.random.default_rng(seed + 1000).standard_normal(out.shape)
    out.backward(grad_out)
    grad_x, grad_w, grad_b = conv_backward_reference(x, w, grad_out, **options)
    assert_close(X.grad.numpy(), grad_x, np.float64, terms=terms, what="dL/dX")
    assert_close(W.grad.numpy(), grad_w, np.float64, terms=terms, what="dL/dW")
    assert_close(B.grad.numpy(), grad_b, np.float64, terms=terms, what="dL/db")


@pytest.mark.parametrize("seed", list(range(20)))
def test_conv_transpose_is_the_reference_input_gradient(seed: int) -> None:
    """conv_transpose(g, W) = dL/dX of conv(X, W) for dL/dO = g, with X of the transposed output's size."""
    rng = np.random.default_rng(seed)
    nd = 1 + seed % 2
    stride = tuple(int(s) for s in rng.integers(1, 4, size=nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=nd))
    padding = tuple(int(p) for p in rng.integers(0, 2, size=nd))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=nd))
    groups = int(rng.choice([1, 2]))
    g = rng.standard_normal((2, 2 * groups, *rng.integers(2, 5, size=nd)))
    w = rng.standard_normal((2 * groups, int(rng.integers(1, 3)), *kernel))  # (C_in, C_out/groups, *k)
    out = C.conv_transpose1d if nd == 1 else C.conv_transpose2d
    y = out(kw.tensor(g), kw.tensor(w), None, stride, padding, output_padding, groups, dilation)
    x_like = np.zeros((2, w.shape[1] * groups, *y.shape[2:]))  # the conv input whose gradient this is
    grad_x, _, _ = conv_backward_reference(x_like, w, g, stride, padding, dilation, groups)
    assert_close(y.numpy(), grad_x, np.float64, terms=largest_size(g, w))


REFERENCE_VS_TORCH = [
    pytest.param({"stride": 2, "padding": 1, "dilation": 1, "groups": 1}, id="stride-padding"),
    pytest.param({"stride": 1, "padding": 2, "dilation": 2, "groups": 2}, id="dilation-groups"),
    pytest.param({"stride": (1, 2), "padding": (0, 1), "dilation": (2, 1), "groups": 4}, id="depthwise-tuples"),
]


@pytest.mark.parametrize("options", REFERENCE_VS_TORCH)
def test_reference_itself_matches_torch(options: dict) -> None:
    rng = np.random.default_rng(5)
    x, w, b = randn(rng, 2, 4, 6, 5), randn(rng, 4, 4 // options["groups"], 3, 2), randn(rng, 4)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    t_out = F.conv2d(tx, tw, tb, **options)
    terms = largest_size(x, w, t_out.detach().numpy())
    assert_close(conv_reference(x, w, b, **options), t_out.detach().numpy(), np.float64, terms=terms)
    g = randn(rng, *t_out.shape)
    t_out.backward(torch.tensor(g))
    for mine, theirs in zip(conv_backward_reference(x, w, g, **options), (tx, tw, tb)):
        assert_close(mine, theirs.grad.numpy(), np.float64, terms=terms)


# --------------------------------------------------------------------------- gradcheck (float64)
def _t(rng: np.random.Generator, *shape: int) -> kw.Tensor:
    return kw.tensor(rng.standard_normal(shape), requires_grad=True)


GRADCHECK_CASES = {
    "conv1d": (C.conv1d, [(2, 2, 7), (3, 2, 3), (3,)], {"stride": 2, "padding": 1}),
    "conv1d-dilation-groups": (C.conv1d, [(1, 4, 8), (4, 2, 2), (4,)], {"dilation": 3, "groups": 2}),
    "conv1d-same": (C.conv1d, [(2, 2, 5), (2, 2, 4), None], {"padding": "same"}),
    "conv2d": (C.conv2d, [(2, 2, 5, 4), (3, 2, 3, 2), (3,)], {}),
    "conv2d-stride-dilation-groups-bias": (
        C.conv2d,
        [(2, 4, 6, 5), (4, 2, 2, 3), (4,)],
        {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2},
    ),
    "conv2d-depthwise-full": (C.conv2d, [(1, 3, 4, 4), (3, 1, 2, 2), (3,)], {"padding": "full", "groups": 3}),
    "conv2d-unbatched": (C.conv2d, [(2, 4, 4), (2, 2, 2, 2), (2,)], {"stride": 2}),
    "conv_transpose1d": (
        C.conv_transpose1d,
        [(2, 2, 4), (2, 3, 3), (3,)],
        {"stride": 2, "padding": 1, "output_padding": 1},
    ),
    "conv_transpose1d-dilation-groups": (
        C.conv_transpose1d,
        [(1, 4, 3), (4, 1, 2), (2,)],
        {"dilation": 2, "groups": 2, "output_padding": 1},
    ),
    "conv_transpose2d": (
        C.conv_transpose2d,
        [(2, 2, 3, 3), (2, 3, 2, 3), (3,)],
        {"stride": (2, 1), "padding": (1, 0), "output_padding": (1, 0)},
    ),
    "conv_transpose2d-groups-dilation": (
        C.conv_transpose2d,
        [(1, 4, 3, 2), (4, 1, 2, 2), (2,)],
        {"stride": 2, "groups": 2, "dilation": (2, 1)},
    ),
    "unfold": (C.unfold, [(2, 2, 4, 5)], {"kernel_size": (2, 3), "padding": 1, "stride": (2, 1)}),
    "unfold-dilation": (C.unfold, [(1, 2, 5, 5)], {"kernel_size": 2, "dilation": 2}),
    "fold": (C.fold, [(2, 8, 9)], {"output_size": (4, 5), "kernel_size": 2, "padding": (0, 1), "stride": (1, 2)}),
    "fold-dilation": (C.fold, [(1, 4, 9)], {"output_size": 5, "kernel_size": 2, "dilation": 2}),
}


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck(name: str) -> None:
    fn, shapes, options = GRADCHECK_CASES[name]
    rng = np.random.default_rng(len(name))
    inputs = [None if s is None else _t(rng, *s) for s in shapes]
    assert kw.gradcheck(lambda *args: fn(*args, **options), inputs)


def test_gradcheck_catches_a_wrong_weight_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gradcheck above can fail: with dL/dW doubled it does."""
    original = C._conv_grad_weight
    monkeypatch.setattr(C, "_conv_grad_weight", lambda *a: 2 * original(*a))
    rng = np.random.default_rng(0)
    with pytest.raises(kw.GradcheckError, match="input 1"):
        kw.gradcheck(lambda x, w: C.conv2d(x, w), [_t(rng, 1, 1, 3, 3), _t(rng, 1, 1, 2, 2)])


# --------------------------------------------------------------------------- the recitation's worked examples
def test_vertical_edge_kernel_on_step_image() -> None:
    image = np.zeros((8, 8), dtype=np.float32)
    image[:, 4:] = 1  # columns 0-3 are 0, columns 4-7 are 1
    kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    out = C.conv2d(kw.tensor(image[None, None]), kw.tensor(kernel[None, None]))
    assert out.shape == (1, 1, 6, 6)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy()[0, 0], np.tile([0, 0, 4, 4, 0, 0], (6, 1)))


def test_z11_is_the_recitations_sum_of_products_plus_bias() -> None:
    A = np.arange(1.0, 17.0).reshape(4, 4)  # A11 ... A44
    W = np.array([[2.0, -1.0], [0.5, 3.0]])
    B = 0.25
    Z = C.conv2d(kw.tensor(A[None, None]), kw.tensor(W[None, None]), kw.tensor(np.array([B]))).numpy()[0, 0]
    # Z11 = A11·W11 + A12·W12 + A21·W21 + A22·W22 + B, Z12 shifts one column, Z21 one row
    assert Z[0, 0] == A[0, 0] * W[0, 0] + A[0, 1] * W[0, 1] + A[1, 0] * W[1, 0] + A[1, 1] * W[1, 1] + B
    assert Z[0, 1] == A[0, 1] * W[0, 0] + A[0, 2] * W[0, 1] + A[1, 1] * W[1, 0] + A[1, 2] * W[1, 1] + B
    assert Z[0, 2] == A[0, 2] * W[0, 0] + A[0, 3] * W[0, 1] + A[1, 2] * W[1, 0] + A[1, 3] * W[1, 1] + B


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [
        (4, 2, 1, 0, 3),  # 4×4 input, 2×2 kernel: (4 - 2 + 0) // 1 + 1 = 3
        (4, 2, 1, 1, 5),  # padding 1: (4 - 2 + 2) // 1 + 1 = 5
        (4, 2, 2, 0, 2),  # stride 2: (4 - 2) // 2 + 1 = 2
        (8, 3, 1, 0, 6),  # the edge example: (8 - 3) + 1 = 6
        (7, 3, 2, 1, 4),  # (7 - 3 + 2) // 2 + 1 = 4
    ],
)
def test_output_size_formula(size: int, kernel: int, stride: int, padding: int, expected: int) -> None:
    assert conv_output_size(size, kernel, stride, padding) == expected
    assert C.conv_output_size(size, kernel, stride, padding) == expected
    out = C.conv2d(kw.ones(1, 1, size, size), kw.ones(1, 1, kernel, kernel), stride=stride, padding=padding)
    assert out.shape == (1, 1, expected, expected)


def test_same_padding_preserves_the_input_size() -> None:
    out = C.conv2d(kw.ones(1, 1, 4, 4), kw.ones(1, 1, 3, 3), padding="same")
    assert out.shape == (1, 1, 4, 4)
    # corners see 2×2 of the ones, edges 2×3, the middle 3×3
    np.testing.assert_array_equal(out.numpy()[0, 0], [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])


def test_stride_2_drops_the_intermediates_of_stride_1() -> None:
    # the recitation's stride-1 output, produced by a kernel that picks the top-left of each window
    table = np.array([[9.0, 9, 7], [2, 5, 6], [-7, 9, -10]])
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :3, :3] = table
    pick = kw.tensor(np.array([[[[1.0, 0.0], [0.0, 0.0]]]]))
    np.testing.assert_array_equal(C.conv2d(kw.tensor(x), pick).numpy()[0, 0], table)
    np.testing.assert_array_equal(C.conv2d(kw.tensor(x), pick, stride=2).numpy()[0, 0], [[9, 7], [-7, -10]])
    # and in general
    rng = np.random.default_rng(0)
    x, w = kw.tensor(rng.standard_normal((2, 3, 9, 8))), kw.tensor(rng.standard_normal((4, 3, 3, 2)))
    out_s1, out_s2 = C.conv2d(x, w), C.conv2d(x, w, stride=2)
    assert_close(out_s2.numpy(), out_s1.numpy()[..., ::2, ::2], np.float64, terms=w.numel())


def test_backward_of_3x3_input_and_2x2_filter_is_the_recitations_formulas() -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(-5, 6, size=(3, 3)).astype(np.float64)
    Fw = rng.integers(-5, 6, size=(2, 2)).astype(np.float64)
    dO = rng.integers(-5, 6, size=(2, 2)).astype(np.float64)
    x, f = kw.tensor(X[None, None], requires_grad=True), kw.tensor(Fw[None, None], requires_grad=True)
    C.conv2d(x, f).backward(dO[None, None])

    # 1-based names as in the recitation: X11 = X[0, 0], dL/dO12 = dO[0, 1], ...
    def Xv(i, j):
        return X[i - 1, j - 1]

    def Fv(i, j):
        return Fw[i - 1, j - 1]

    def dOv(i, j):
        return dO[i - 1, j - 1]

    # dL/dF = Convolution(X, dL/dO): dL/dF_ij = Σ_kl dL/dO_kl · X_(k+i-1)(l+j-1)
    dF = np.array(
        [
            [
                dOv(1, 1) * Xv(1, 1) + dOv(1, 2) * Xv(1, 2) + dOv(2, 1) * Xv(2, 1) + dOv(2, 2) * Xv(2, 2),
                dOv(1, 1) * Xv(1, 2) + dOv(1, 2) * Xv(1, 3) + dOv(2, 1) * Xv(2, 2) + dOv(2, 2) * Xv(2, 3),
            ],
            [
                dOv(1, 1) * Xv(2, 1) + dOv(1, 2) * Xv(2, 2) + dOv(2, 1) * Xv(3, 1) + dOv(2, 2) * Xv(3, 2),
                dOv(1, 1) * Xv(2, 2) + dOv(1, 2) * Xv(2, 3) + dOv(2, 1) * Xv(3, 2) + dOv(2, 2) * Xv(3, 3),
            ],
        ]
    )
    # dL/dX = Full convolution(180°-rotated F, dL/dO), element by element
    dX = np.array(
        [
            [
                dOv(1, 1) * Fv(1, 1),
                dOv(1, 1) * Fv(1, 2) + dOv(1, 2) * Fv(1, 1),
                dOv(1, 2) * Fv(1, 2),
            ],
            [
                dOv(1, 1) * Fv(2, 1) + dOv(2, 1) * Fv(1, 1),
                dOv(1, 1) * Fv(2, 2) + dOv(1, 2) * Fv(2, 1) + dOv(2, 1) * Fv(1, 2) + dOv(2, 2) * Fv(1, 1),
                dOv(1, 2) * Fv(2, 2) + dOv(2, 2) * Fv(1, 2),
            ],
            [
                dOv(2, 1) * Fv(2, 1),
                dOv(2, 1) * Fv(2, 2) + dOv(2, 2) * Fv(2, 1),
                dOv(2, 2) * Fv(2, 2),
            ],
        ]
    )
    np.testing.assert_array_equal(f.grad.numpy()[0, 0], dF)
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], dX)


def test_input_gradient_is_full_convolution_of_rotated_filter() -> None:
    """dL/dX = conv(pad(dL/dO, k-1), rot180(F)), written with the public conv2d."""
    rng = np.random.default_rng(1)
    X, Fw, dO = rng.standard_normal((1, 1, 5, 4)), rng.standard_normal((1, 1, 3, 2)), rng.standard_normal((1, 1, 3, 3))
    x = kw.tensor(X, requires_grad=True)
    C.conv2d(x, kw.tensor(Fw)).backward(dO)
    rotated = Fw[..., ::-1, ::-1].copy()
    expected = C.conv2d(kw.tensor(dO), kw.tensor(rotated), padding="full").numpy()
    assert_close(x.grad.numpy(), expected, np.float64, terms=Fw.size)


# --------------------------------------------------------------------------- errors: one test each
def _x(*shape: int, dtype: Any = np.float32) -> kw.Tensor:
    return kw.tensor(np.ones(shape, dtype=dtype))


def test_error_channels_do_not_match_weight() -> None:
    with pytest.raises(ValueError, match=r"input has 5 channels .*expects 3"):
        C.conv2d(_x(1, 5, 6, 6), _x(4, 3, 3, 3))


def test_error_grouped_channels_do_not_match_weight() -> None:
    with pytest.raises(ValueError, match=r"input has 4 channels .*groups=2 expects 6"):
        C.conv1d(_x(1, 4, 6), _x(4, 3, 3), groups=2)


def test_error_kernel_larger_than_padded_input() -> None:
    with pytest.raises(ValueError, match=r"kernel size \(5, 3\).*larger than the padded input.*\(1, 2, 4, 4\)"):
        C.conv2d(_x(1, 2, 4, 4), _x(3, 2, 5, 3))


def test_error_dilated_kernel_larger_than_padded_input() -> None:
    with pytest.raises(ValueError, match=r"kernel size \(3,\) \(dilation \(3,\)\) is larger than the padded input"):
        C.conv1d(_x(1, 1, 5), _x(1, 1, 3), dilation=3, padding=0)  # 1 + 3·2 = 7 > 5


def test_error_input_wrong_number_of_dimensions() -> None:
    with pytest.raises(ValueError, match=r"conv2d: input must be 3-D .* or 4-D .*got shape \(6, 6\)"):
        C.conv2d(_x(6, 6), _x(1, 1, 3, 3))


def test_error_weight_wrong_number_of_dimensions() -> None:
    with pytest.raises(ValueError, match=r"conv1d: weight must be 3-D .*got shape \(2, 3\)"):
        C.conv1d(_x(1, 3, 6), _x(2, 3))


def test_error_negative_padding() -> None:
    with pytest.raises(ValueError, match=r"padding=\(1, -1\): must be >= 0"):
        C.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), padding=(1, -1))


@pytest.mark.parametrize("value", [0, -1])
def test_error_stride_not_positive(value: int) -> None:
    with pytest.raises(ValueError, match=rf"stride={value}: must be positive"):
        C.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), stride=value)


def test_error_dilation_not_positive() -> None:
    with pytest.raises(ValueError, match=r"dilation=\(1, 0\): must be positive"):
        C.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), dilation=(1, 0))


def test_error_groups_not_positive() -> None:
    with pytest.raises(ValueError, match="groups=0: must be positive"):
        C.conv1d(_x(1, 2, 5), _x(2, 2, 3), groups=0)


def test_error_groups_not_dividing_in_channels() -> None:
    with pytest.raises(ValueError, match=r"groups=2 must divide in_channels=3 \(input shape \(1, 3, 5\)\)"):
        C.conv1d(_x(1, 3, 5), _x(4, 1, 3), groups=2)


def test_error_groups_not_dividing_out_channels() -> None:
    with pytest.raises(ValueError, match=r"groups=2 must divide out_channels=3 \(weight shape \(3, 1, 3\)\)"):
        C.conv1d(_x(1, 2, 5), _x(3, 1, 3), groups=2)


def test_error_same_padding_with_stride() -> None:
    with pytest.raises(ValueError, match=r"padding='same' needs stride=1.*stride=\(2, 2\)"):
        C.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), padding="same", stride=2)


def test_error_unknown_padding_string() -> None:
    with pytest.raises(ValueError, match="padding='half' is not one of 'valid', 'same', 'full'"):
        C.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), padding="half")


def test_error_conv_transpose_output_size_not_positive() -> None:
    with pytest.raises(ValueError, match=r"output size \(-1,\) is not positive.*input shape \(1, 1, 2\)"):
        C.conv_transpose1d(_x(1, 1, 2), _x(1, 1, 2), padding=2)


def test_error_fold_output_size_not_positive() -> None:
    with pytest.raises(ValueError, match=r"fold: output size \(0, 2\) of the sliding windows is not positive"):
        C.fold(_x(1, 9, 2), output_size=(2, 4), kernel_size=3)


@pytest.mark.parametrize("dtype", [np.complex64, object])
def test_error_object_and_complex_input(dtype: Any) -> None:
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    with pytest.raises(TypeError, match=rf"input: dtype {np.dtype(dtype)} is not supported"):
        C.conv2d(x, _x(1, 1, 2, 2))


def test_error_complex_weight() -> None:
    with pytest.raises(TypeError, match="weight: dtype complex128 is not supported"):
        C.conv1d(_x(1, 1, 4), np.ones((1, 1, 2), dtype=np.complex128))


def test_error_integer_input() -> None:
    with pytest.raises(TypeError, match="input: expected a floating-point tensor, got dtype int64"):
        C.conv1d(kw.tensor([[[1, 2, 3]]]), _x(1, 1, 2))


def test_error_bias_wrong_length() -> None:
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\).*got \(3,\)"):
        C.conv2d(_x(1, 2, 5, 5), _x(4, 2, 3, 3), _x(3))


def test_error_bias_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\).*got \(1, 4\)"):
        C.conv1d(_x(1, 2, 5), _x(4, 2, 3), _x(1, 4))


def test_error_conv_transpose_bias_wrong_length() -> None:
    with pytest.raises(ValueError, match=r"conv_transpose2d: bias must have shape \(6,\).*got \(3,\)"):
        C.conv_transpose2d(_x(1, 4, 3, 3), _x(4, 3, 2, 2), _x(3), groups=2)


def test_error_weight_and_input_dtypes_differ() -> None:
    with pytest.raises(TypeError, match=r"input \(float32, shape \(1, 1, 5\)\) and weight \(float64, shape"):
        C.conv1d(_x(1, 1, 5), _x(1, 1, 3, dtype=np.float64))


def test_error_bias_dtype_differs() -> None:
    with pytest.raises(TypeError, match="bias is float64 but input is float32"):
        C.conv1d(_x(1, 1, 5), _x(1, 1, 3), _x(1, dtype=np.float64))


def test_error_output_padding_not_smaller_than_stride_or_dilation() -> None:
    with pytest.raises(ValueError, match=r"output_padding=\(2, 0\) must be smaller than either stride=\(2, 2\)"):
        C.conv_transpose2d(_x(1, 1, 3, 3), _x(1, 1, 3, 3), stride=2, output_padding=(2, 0))


def test_error_conv_transpose_channels_do_not_match_weight() -> None:
    with pytest.raises(ValueError, match=r"input has 3 channels .*expects 2 \(= weight.shape\[0\]\)"):
        C.conv_transpose1d(_x(1, 3, 4), _x(2, 1, 3))


def test_error_conv_transpose_string_padding() -> None:
    with pytest.raises(ValueError, match="conv_transpose2d: padding='same': expected an int or a tuple of 2 ints"):
        C.conv_transpose2d(_x(1, 1, 3, 3), _x(1, 1, 3, 3), padding="same")


def test_error_unfold_wrong_number_of_dimensions() -> None:
    with pytest.raises(ValueError, match=r"unfold: input must be 3-D .* or 4-D .*got shape \(4, 4\)"):
        C.unfold(_x(4, 4), 2)


def test_error_unfold_kernel_larger_than_padded_input() -> None:
    with pytest.raises(ValueError, match=r"unfold: kernel size \(5, 5\) .*larger than the padded input"):
        C.unfold(_x(1, 1, 4, 4), 5)


def test_error_fold_channels_not_divisible_by_kernel_area() -> None:
    with pytest.raises(ValueError, match=r"fold: input.shape\[1\]=5 .* not divisible by kh·kw=4"):
        C.fold(_x(1, 5, 9), output_size=4, kernel_size=2)


def test_error_fold_wrong_number_of_columns() -> None:
    with pytest.raises(ValueError, match=r"fold: input has 8 columns .* has 3×3 = 9 windows"):
        C.fold(_x(1, 4, 8), output_size=4, kernel_size=2)


def test_error_input_not_a_tensor() -> None:
    with pytest.raises(TypeError, match="input: expected a Tensor, got list"):
        C.conv1d([[[1.0, 2.0]]], _x(1, 1, 1))


@pytest.mark.parametrize("kernel", [1, 3])
def test_sum_backward_with_a_broadcast_gradient_matches_torch(kernel: int) -> None:
    """sum().backward() hands the conv a read-only broadcast gradient; it must not be written to."""
    rng = np.random.default_rng(4)
    x, w = randn(rng, 2, 3, 5, 5), randn(rng, 2, 3, kernel, kernel)
    X, W = kw.tensor(x, requires_grad=True), kw.tensor(w, requires_grad=True)
    C.conv2d(X, W).sum().backward()
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.conv2d(tx, tw).sum().backward()
    terms = largest_size(x, w)
    assert_close(X.grad.numpy(), tx.grad.numpy(), np.float64, terms=terms, what="dL/dX")
    assert_close(W.grad.numpy(), tw.grad.numpy(), np.float64, terms=terms, what="dL/dW")


def test_checked_arguments_are_remembered_by_type_as_well_as_value() -> None:
    """conv2d checks a layer's arguments once per shapes and arguments: 1, True and 1.0 are equal dict keys,
    and only the first is a valid stride."""
    x, w = kw.randn(1, 2, 5, 5), kw.randn(3, 2, 3, 3)
    assert kw.nn.functional.conv2d(x, w, stride=1).shape == (1, 3, 3, 3)
    assert kw.nn.functional.conv2d(x, w, stride=1).shape == (1, 3, 3, 3)  # remembered
    for stride in (True, 1.0, (1, True), np.array([1, 1])):
        with pytest.raises(TypeError, match=r"stride=.*expected an int or 2 ints"):
            kw.nn.functional.conv2d(x, w, stride=stride)
    assert kw.nn.functional.conv2d(x, w, stride=[2, 2]).shape == (
        1,
        3,
        2,
        2,
    )  # a list: an unhashable value, keyed by its parts
    with pytest.raises(ValueError, match="groups=2 must divide out_channels=3"):
        kw.nn.functional.conv2d(x, w, groups=2)
