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


def test_the_first_example_gives_torchs_number() -> None:
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
    before = layer.weight.data.copy()
    optimizer = kw.optim.SGD(layer.parameters(), lr=0.1)
    loss = F.cross_entropy(layer(kw.ones(2, 3)), kw.tensor([-100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    optimizer.step()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(layer.weight.data, before)


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


def test_the_pad_example_is_an_error() -> None:
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
    """The brief's example: the window (padding, -inf) sends its gradient to the -inf, as torch."""
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
    from kernelwise.ops.pool import WindowPool, pool_output_size

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
    from kernelwise.ops.reference.pool import pool_backward_reference, pool_reference

    x = _image()
    options = ((3, 3), (2, 2), (1, 1), (1, 1), False)
    xt = torch.tensor(x, requires_grad=True)
    ty = TF.max_pool2d(xt, 3, 2, 1)
    g = np.random.default_rng(7).standard_normal(ty.shape)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(pool_reference(x, *options, "max"), ty.detach().numpy())
    np.testing.assert_allclose(pool_backward_reference(x, g, *options, "max"), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
