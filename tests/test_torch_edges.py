"""Edge cases where PyTorch's result is easy to get wrong: non-finite values, ignored targets, negative padding.

Every expected value comes from torch 2.13 run on the same arrays (through ``tests/parity.py``), or, where
torch's own CPU paths disagree with each other, from the plain loop reference of ``ops/reference``. NaN in
the expected array must be NaN in kernelwise's at the same place (``assert_allclose`` compares NaN as equal).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import kernelwise as kw
import kernelwise.nn.functional as F
from kernelwise.ops.conv import ConvNd
from kernelwise.ops.fastconv import METHODS
from kernelwise.ops.pool import WindowPool, pool_output_size
from kernelwise.ops.reference import conv_backward_reference, conv_reference
from kernelwise.ops.reference.pool import pool_backward_reference, pool_reference
from parity import check_parity

# --------------------------------------------------------------------------- losses: ignored targets
LOGITS = np.array([[0.5, 1.0, -1.0], [-np.inf, 2.0, 0.0], [0.25, np.nan, 1.0], [1.5, -0.5, 0.0]])
TARGET = np.array([1, -100, -100, 2])  # the rows holding -inf and NaN are ignored
WEIGHT = np.array([0.5, 2.0, 3.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_ignore_index_shields_non_finite_logits_in_cross_entropy(reduction, weighted, label_smoothing) -> None:
    """An ignored row contributes 0, never 0·logp: its -inf logit does not turn the loss into NaN.

    The NaN row's gradient stays NaN, as torch's (log_softmax's backward reads the row's NaN probabilities).
    """
    w = WEIGHT if weighted else None
    options = dict(reduction=reduction, label_smoothing=label_smoothing)
    check_parity(
        lambda x, t, w: F.cross_entropy(x, t, w, **options),
        lambda x, t, w: TF.cross_entropy(x, t, w, **options),
        [LOGITS, TARGET, w],
        np.float32,
        grad=[0],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_ignore_index_shields_non_finite_log_probabilities_in_nll_loss(reduction, weighted) -> None:
    w = WEIGHT if weighted else None
    check_parity(
        lambda x, t, w: F.nll_loss(x, t, w, reduction=reduction),
        lambda x, t, w: TF.nll_loss(x, t, w, reduction=reduction),
        [LOGITS, TARGET, w],
        np.float32,
        grad=[0],
    )


def test_an_ignored_minus_infinity_logit_gives_torchs_number() -> None:
    loss = F.cross_entropy(kw.tensor([[0.5, 1, -1], [-np.inf, 2, 0]]), kw.tensor([1, -100]))
    expected = TF.cross_entropy(torch.tensor([[0.5, 1, -1], [-np.inf, 2, 0]]), torch.tensor([1, -100]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)  # 0.5550 (a softmax over 3 logits)


@pytest.mark.parametrize("fn, label_smoothing", [("cross_entropy", 0.0), ("cross_entropy", 0.1), ("nll_loss", 0.0)])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_target_ignored_mean_is_nan_and_its_gradient_zero(fn, label_smoothing, weighted) -> None:
    """0/0 in the forward (torch's NaN), but no target means no gradient: zeros, not NaN."""
    options = dict(label_smoothing=label_smoothing) if label_smoothing else {}
    w = WEIGHT if weighted else None
    target = np.full(4, -100)
    check_parity(
        lambda x, t, w: getattr(F, fn)(x, t, w, **options),
        lambda x, t, w: getattr(TF, fn)(x, t, w, **options),
        [LOGITS[[0, 1, 3]][[0, 1, 2, 2]], target, w],  # finite and -inf logits
        np.float32,
        grad=[0],
    )


def test_every_target_ignored_leaves_the_weights_after_an_optimizer_step() -> None:
    """The symptom: one SGD step on an all-ignored batch made every weight NaN."""
    layer = kw.nn.Linear(3, 4)
    before = layer.weight.numpy().copy()
    optimizer = kw.optim.SGD(layer.parameters(), lr=0.1)
    loss = F.cross_entropy(layer(kw.ones(2, 3)), kw.tensor([-100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    optimizer.step()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(layer.weight.numpy(), before)


def test_zero_total_weight_with_a_target_left_is_nan_as_torch() -> None:
    """The other 0/0: targets remain but their classes weigh 0. torch writes 0·inf = NaN at those targets."""
    check_parity(
        lambda x, t, w: F.nll_loss(x, t, w),
        lambda x, t, w: TF.nll_loss(x, t, w),
        [LOGITS[[0, 3]], np.array([0, -100]), np.array([0.0, 2.0, 3.0])],
        np.float32,
        grad=[0],
    )


# --------------------------------------------------------------------------- pad: negative widths
WIDTHS = [(3, -7), (-2, -3), (-3, -3), (-6, 3), (-5, 3), (-5, 0), (2, -1), (-1, 2), (-4, -1), (0, -5), (-1, -1)]
WIDTHS += [(1, -6), (-2, 4), (4, -4), (4, -8), (-1, 4), (1, -4), (2, -3), (-3, 2), (3, -3), (-1, 5), (5, -1)]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("widths", WIDTHS)
def test_negative_pad_crops_as_torch_or_fails_where_torch_fails(mode, widths) -> None:
    """Every width pair on a length-5 signal: the same values and gradients as torch, or an error where torch has one.

    torch's circular mode wraps around what is left after cropping; where the wrap is wider than that,
    torch raises or (for (-5, 3)) returns uninitialised memory: kernelwise raises for all of them.
    """
    x = np.arange(5.0).reshape(1, 1, 5)
    try:
        TF.pad(torch.tensor(x), widths, mode=mode)
        torch_fails = mode == "circular" and widths == (-5, 3)  # torch's result is garbage there
    except RuntimeError:
        torch_fails = True
    if torch_fails:
        with pytest.raises(ValueError, match=r"pad: .*for dim 2 of size 5"):
            F.pad(kw.tensor(x), widths, mode=mode)
        return
    check_parity(lambda t: F.pad(t, widths, mode), lambda t: TF.pad(t, widths, mode), [x], np.float64)


def test_a_crop_longer_than_the_dim_is_an_error() -> None:
    """(3, -7) on 5 entries: crops 7 of 5. Python's slicing used to wrap it round to a length-6 result."""
    with pytest.raises(ValueError, match=r"would crop 7 entries, more than the dim holds: pad \(3, -7\) for dim 0"):
        F.pad(kw.tensor(np.arange(5.0)), (3, -7))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_negative_pad_in_two_dims(mode) -> None:
    widths = (-1, 2, 1, -2)  # crop left, pad right; pad top, crop bottom
    x = np.arange(24.0).reshape(2, 1, 3, 4)
    check_parity(lambda t: F.pad(t, widths, mode), lambda t: TF.pad(t, widths, mode), [x], np.float32)


# --------------------------------------------------------------------------- max pooling: -inf, +inf, NaN
NINF, PINF, NAN = -np.inf, np.inf, np.nan


def _pool_both(kw_fn, torch_fn, x: np.ndarray, g: np.ndarray, **options) -> None:
    """Values, indices and gradients (for the upstream gradient ``g``) of kernelwise and torch.

    Max pooling copies values and routes each dL/dy whole to one input: values and indices agree exactly;
    the gradient sums the shares of overlapping windows (a few float64 terms, in another order).
    """
    xk, xt = kw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (y, indices), (ty, tindices) = (
        kw_fn(xk, **options, return_indices=True),
        torch_fn(xt, **options, return_indices=True),
    )
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())  # NaN == NaN here
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())
    assert indices.dtype == np.int64
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_padding_never_wins_a_window_of_minus_infinity() -> None:
    """The window (padding, -inf) sends its gradient to the -inf, as torch (it went to the padding, and was lost)."""
    x = kw.tensor([[NINF, 1.0, 2.0]], requires_grad=True)
    F.max_pool1d(x, 2, padding=1).sum().backward()
    xt = torch.tensor([[NINF, 1.0, 2.0]], requires_grad=True)
    TF.max_pool1d(xt, 2, padding=1).sum().backward()
    assert x.grad.tolist() == xt.grad.tolist() == [[1.0, 0.0, 1.0]]


SIGNAL = np.array([[[NINF, NINF, 3.0, NAN, 1.0, NAN, NINF, 2.0, NINF, NINF, NINF]]])  # (1, 1, 11)
POOL1D = [  # kernel_size, stride, padding, dilation, ceil_mode: windows apart, overlapping (the phase grid), ceil
    dict(kernel_size=2, stride=2, padding=1, dilation=1, ceil_mode=False),
    dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1, dilation=1, ceil_mode=False),
    dict(kernel_size=2, stride=3, padding=1, dilation=2, ceil_mode=True),
    dict(kernel_size=5, stride=2, padding=2, dilation=1, ceil_mode=False),
]


@pytest.mark.parametrize("options", POOL1D)
def test_max_pool1d_minus_infinity_and_nan_as_torch(options) -> None:
    """-inf windows beside padding keep their gradient; a window with NaN is NaN and its last NaN wins."""
    g = np.random.default_rng(0).standard_normal(TF.max_pool1d(torch.tensor(SIGNAL), **options).shape)
    _pool_both(F.max_pool1d, TF.max_pool1d, SIGNAL, g, **options)


def _image() -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 8))
    x[0, 0, :3, :3] = NINF  # a corner of -inf: windows of padding and -inf only
    x[0, 1, 3, :] = NINF  # a row of -inf
    x[1, 0, 2:5, 2:5] = NAN  # a block of NaN: several NaNs in one window
    x[1, 2, 0, 0] = x[1, 2, 6, 7] = NAN  # NaN on the padded border
    x[0, 2] = NINF  # a whole channel of -inf
    return x


@pytest.mark.parametrize(
    "options",
    [
        dict(kernel_size=2, stride=2, padding=1),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=3, stride=1, padding=1, ceil_mode=True),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1)),
        dict(kernel_size=2, stride=2, ceil_mode=True),
    ],
)
def test_max_pool2d_minus_infinity_and_nan_as_torch(options) -> None:
    x = _image()
    g = np.random.default_rng(2).standard_normal(TF.max_pool2d(torch.tensor(x), **options).shape)
    _pool_both(F.max_pool2d, TF.max_pool2d, x, g, **options)


@pytest.mark.parametrize("method", ["taps", "windows"])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [((2, 2), (2, 2), (1, 1)), ((3, 3), (2, 2), (1, 1))])
def test_both_pooling_paths_pick_torchs_winner(method, kernel, stride, padding) -> None:
    """The plain path (argmax over copied windows) and the fast one (a pass per tap), each forced by name."""
    x = _image()
    out = tuple(pool_output_size(n, k, s, p) for n, k, s, p in zip(x.shape[2:], kernel, stride, padding))
    indices = np.empty(x.shape[:2] + out, dtype=np.int64)
    xk = kw.tensor(x, requires_grad=True)
    y = WindowPool.apply(
        xk, kernel_size=kernel, stride=stride, padding=padding, dilation=(1, 1), out_size=out, reducer="max",
        method=method, indices=indices,
    )  # fmt: skip
    xt = torch.tensor(x, requires_grad=True)
    ty, tindices = TF.max_pool2d(xt, kernel, stride, padding, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(indices, tindices.numpy())
    g = np.random.default_rng(3).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("options", POOL1D[:3])
def test_min_pooling_mirrors_max_pooling_with_plus_infinity(options) -> None:
    """min_pool(x) = -max_pool(-x): +inf windows beside padding (+inf) keep their gradient, NaN as for max."""
    x = -SIGNAL  # -inf becomes +inf; NaN stays NaN
    g = np.random.default_rng(4).standard_normal(TF.max_pool1d(torch.tensor(x), **options).shape)

    def torch_min_pool(t, **kwargs):
        y, indices = TF.max_pool1d(-t, **kwargs)
        return -y, indices

    _pool_both(F.min_pool1d, torch_min_pool, x, g, **options)


@pytest.mark.parametrize("options", [POOL1D[0], POOL1D[1]])  # windows apart (masked writes), overlapping (phase rows)
def test_a_non_finite_upstream_gradient_reaches_only_the_winners(options) -> None:
    """dL/dy = inf or NaN goes to the window's winner only: the other taps get 0, never 0·inf = NaN."""
    x = np.random.default_rng(5).permutation(22).reshape(2, 1, 11).astype(np.float64)
    shape = TF.max_pool1d(torch.tensor(x), **options).shape
    g = np.random.default_rng(6).standard_normal(shape)
    g[0, 0, 1], g[1, 0, 0], g[1, 0, 2] = PINF, NINF, NAN
    _pool_both(F.max_pool1d, TF.max_pool1d, x, g, **options)


def test_the_loop_reference_follows_torchs_winner_rule() -> None:
    """ops/reference/pool.py, the specification of the fast paths, states the same rule."""
    x = _image()
    options = ((3, 3), (2, 2), (1, 1), (1, 1), False)
    xt = torch.tensor(x, requires_grad=True)
    ty = TF.max_pool2d(xt, 3, 2, 1)
    g = np.random.default_rng(7).standard_normal(ty.shape)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(pool_reference(x, *options, "max"), ty.detach().numpy())
    np.testing.assert_allclose(pool_backward_reference(x, g, *options, "max"), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- convolution: NaN and inf stay put
# A NaN or inf reaches only the sums it is a term of: no zero that is not in the data (padding, the zeros
# inserted for a stride, a fast path's grid) multiplies it. torch's oneDNN path, which runs float32 batches
# of 2 or more, computes these sums so; its native paths (float64, a batch of 1, dilated convolutions)
# multiply the padding of X in dL/dW and, for transposed convolutions, the padding of dL/dY: there the plain
# loop of ops/reference, which adds no term for a tap on the padding, is the truth. Tolerance: float32 sums
# of at most 36 products of standard normals, rtol 1e-4 and atol 1e-4; NaN and ±inf exactly where expected.

CONV_CASES = {  # method: (input shape, weight shape, stride, padding, dilation), what the method can take
    "windows": ((2, 4, 7, 7), (3, 4, 3, 3), 2, 1, 1),
    "exact": ((2, 4, 7, 7), (3, 4, 3, 3), 2, 1, 1),
    "matmul": ((2, 4, 5, 6), (3, 4, 1, 1), 1, 0, 1),
    "im2col": ((2, 4, 7, 7), (3, 4, 3, 3), 2, 1, 1),
    "chwn": ((2, 4, 7, 7), (3, 4, 3, 3), 2, 1, 1),
    "im2col_bands": ((2, 4, 7, 7), (3, 4, 3, 3), 1, 1, 1),
    "shifted": ((2, 4, 7, 7), (3, 4, 3, 3), 1, 1, 1),
    "winograd": ((2, 4, 7, 7), (3, 4, 3, 3), 1, 2, 1),
    "winograd2": ((2, 4, 7, 7), (3, 4, 3, 3), 1, 2, 1),
}
DILATED = {  # dilation 2: im2col's col2im on the padded grid, 1-d, a stride and a row the floor drops
    "windows": ((2, 4, 9), (3, 4, 3), 1, 2, 2),
    "exact": ((2, 4, 9), (3, 4, 3), 2, 1, 2),
    "im2col": ((2, 4, 8, 8), (3, 4, 3, 3), 1, 2, 2),
    "chwn": ((2, 4, 10), (3, 4, 3), 3, 1, 2),
    "im2col_bands": ((2, 4, 8, 8), (3, 4, 3, 3), 2, 2, 2),
}


def _non_finite(a: np.ndarray, where: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """``a`` with inf, NaN and -inf at the first, second and third of ``where``."""
    a = a.copy()
    for index, value in zip(where, (np.inf, np.nan, -np.inf)):
        a[index] = value
    return a


def _placed(shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Three positions: the first element (beside the padding), one inside, the last element."""
    return (0,) * len(shape), (shape[0] - 1, 1, *(n // 2 for n in shape[2:])), tuple(n - 1 for n in shape)


def _assert_conv(ours: list, expected: list, what: str) -> None:
    for name, a, e in zip(("y", "dL/dX", "dL/dW", "dL/db"), ours, expected):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4, err_msg=f"{what}: {name}")


def _conv_arrays(xs, ws, poisoned, bias_size=None, seed=0):
    """Random X, W and b (one per output channel: ws[0], or ``bias_size``), one of X and W poisoned."""
    rng = np.random.default_rng(seed)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws, bias_size or ws[0]))
    return (
        (_non_finite(x, _placed(xs)) if poisoned == "x" else x),
        (_non_finite(w, _placed(ws)) if poisoned == "w" else w),
        b,
    )


def _upstream(shape, poisoned, seed=1):
    g = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return _non_finite(g, _placed(shape)) if poisoned == "g" else g


def _kw_conv(method, x, w, b, stride, padding, dilation, poisoned) -> list:
    nd = w.ndim - 2
    tensors = [kw.tensor(a, requires_grad=True) for a in (x, w, b)]
    options = dict(stride=(stride,) * nd, padding=((padding, padding),) * nd, dilation=(dilation,) * nd, groups=1)
    y = ConvNd.apply(*tensors, **options, method=method)
    y.backward(_upstream(y.shape, poisoned))
    return [y.numpy(), *(t.grad.numpy() for t in tensors)]


@pytest.mark.parametrize("poisoned", ["w", "x", "g"])
@pytest.mark.parametrize("method", METHODS)
def test_conv_non_finite_values_reach_only_their_sums_on_every_path(method, poisoned) -> None:
    """Each path forced by name; inf, NaN and -inf in W, X or dL/dO; y, dL/dX, dL/dW and dL/db against torch."""
    xs, ws, stride, padding, dilation = CONV_CASES[method]
    x, w, b = _conv_arrays(xs, ws, poisoned)
    ours = _kw_conv(method, x, w, b, stride, padding, dilation, poisoned)
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = (TF.conv1d if w.ndim == 3 else TF.conv2d)(*t, stride=stride, padding=padding, dilation=dilation)
    ty.backward(torch.tensor(_upstream(ty.shape, poisoned)))
    _assert_conv(ours, [ty.detach().numpy(), *(a.grad.numpy() for a in t)], method)


@pytest.mark.parametrize("poisoned", ["w", "x", "g"])
@pytest.mark.parametrize("method", list(DILATED))
def test_conv_non_finite_values_with_dilation_match_the_loop_reference(method, poisoned) -> None:
    """torch's dilated path multiplies the padding by dL/dO in dL/dW (NaN where the sum holds no such term)."""
    xs, ws, stride, padding, dilation = DILATED[method]
    x, w, b = _conv_arrays(xs, ws, poisoned)
    ours = _kw_conv(method, x, w, b, stride, padding, dilation, poisoned)
    with np.errstate(invalid="ignore"):
        y = conv_reference(x.astype(np.float64), w.astype(np.float64), b, stride, padding, dilation)
        g = _upstream(y.shape, poisoned).astype(np.float64)
        grads = conv_backward_reference(x.astype(np.float64), w.astype(np.float64), g, stride, padding, dilation)
    _assert_conv(ours, [y, *grads], method)


def _kw_transposed(x, w, b, g, **options) -> list:
    tensors = [kw.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = (F.conv_transpose1d if x.ndim == 3 else F.conv_transpose2d)(*tensors, **options)
    y.backward(g)
    return [y.numpy(), *(t.grad.numpy() for t in tensors)]


TRANSPOSED = [  # input, weight (C_in, C_out, *k), options
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 6), (4, 3, 4), dict(stride=3, padding=2)),
    ((2, 4, 5, 5), (4, 3, 2, 2), dict(stride=1, padding=0)),
]


@pytest.mark.parametrize("poisoned", ["w", "x", "g"])
@pytest.mark.parametrize(("xs", "ws", "options"), TRANSPOSED)
def test_conv_transpose_non_finite_values_as_torch(xs, ws, options, poisoned) -> None:
    x, w, b = _conv_arrays(xs, ws, poisoned, bias_size=ws[1])
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = (TF.conv_transpose1d if len(xs) == 3 else TF.conv_transpose2d)(*t, **options)
    g = _upstream(ty.shape, poisoned)
    ty.backward(torch.tensor(g))
    _assert_conv(_kw_transposed(x, w, b, g, **options), [ty.detach().numpy(), *(a.grad.numpy() for a in t)], "T")


@pytest.mark.parametrize("poisoned", ["w", "x", "g"])
def test_conv_transpose_dilated_non_finite_values_match_the_loop_reference(poisoned) -> None:
    """The transposed convolution is the convolution's dL/dX; its dL/dX the convolution, its dL/dW X ⋆ dL/dY."""
    stride, padding, dilation = 1, 2, 2
    x, w, _ = _conv_arrays((2, 4, 7), (4, 3, 3), poisoned)
    xk, wk = kw.tensor(x, requires_grad=True), kw.tensor(w, requires_grad=True)
    y = F.conv_transpose1d(xk, wk, stride=stride, padding=padding, dilation=dilation)
    g = _upstream(y.shape, poisoned)
    y.backward(g)
    ours = [y.numpy(), xk.grad.numpy(), wk.grad.numpy()]
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    with np.errstate(invalid="ignore"):
        expected_y = conv_backward_reference(np.zeros(y.shape), w64, x64, stride, padding, dilation)[0]
        expected_grad_x = conv_reference(g64, w64, None, stride, padding, dilation)
        expected_grad_w = conv_backward_reference(g64, w64, x64, stride, padding, dilation)[1]
    _assert_conv(ours, [expected_y, expected_grad_x, expected_grad_w], "T dilated")


def test_conv_transpose1d_example() -> None:
    """Each output depends on one input and one tap: the NaN tap touches only its own (all four were NaN)."""
    y = F.conv_transpose1d(kw.tensor([[[1.0, 2.0]]]), kw.tensor([[[1.0, np.nan]]]), stride=2)
    ty = TF.conv_transpose1d(torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[1.0, np.nan]]]), stride=2)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(y.numpy(), [[[1.0, np.nan, 2.0, np.nan]]])


def test_the_dispatcher_hands_a_non_finite_weight_to_the_exact_path() -> None:
    """F.conv2d as a user calls it: 16 channels pick Winograd, whose transforms would spread one NaN tap."""
    x, w, b = _conv_arrays((2, 16, 8, 8), (16, 16, 3, 3), "w")
    y = F.conv2d(kw.tensor(x), kw.tensor(w), kw.tensor(b), padding=1)
    expected = TF.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=1)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    assert np.isfinite(y.numpy()[:, 1:15]).all()  # the NaN and inf taps are in filters 0 and 15 only


@pytest.mark.parametrize("padding", [((1, 2), (0, 1)), ((2, 2), (1, 1))])
def test_the_exact_path_is_the_loop_reference_with_groups_and_uneven_padding(padding) -> None:
    """float64, finite: the tap-by-tap sums against the loop, to rounding (rtol 1e-10)."""
    rng = np.random.default_rng(8)
    x, w, b = (rng.standard_normal(s) for s in ((2, 4, 7, 6), (6, 2, 3, 2), (6,)))
    options = dict(stride=(2, 1), padding=padding, dilation=(1, 2), groups=2)
    tensors = [kw.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = ConvNd.apply(*tensors, **options, method="exact")
    g = rng.standard_normal(y.shape)
    y.backward(g)
    expected = [conv_reference(x, w, b, **options), *conv_backward_reference(x, w, g, **options)]
    for ours, theirs in zip([y, *(t.grad for t in tensors)], expected):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10, atol=1e-10)


def test_a_kept_target_of_weight_zero_and_minus_infinity_log_probability_is_nan_as_torch() -> None:
    """0·(-inf) is a real term there (the target is not ignored): NaN in both, and no warning."""
    check_parity(
        lambda x, t, w: F.nll_loss(x, t, w, reduction="none"),
        lambda x, t, w: TF.nll_loss(x, t, w, reduction="none"),
        [LOGITS[[1, 3]], np.array([0, 2]), np.array([0.0, 2.0, 3.0])],
        np.float32,
        grad=[0],
    )
