"""batch_norm: PyTorch parity (outputs, gradients, running statistics), gradcheck and the argument errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kernelwise as kw
from kernelwise.ops.layout import axis_order
from kernelwise.ops.norm import batch_norm
from parity import assert_close, check_parity

DTYPES = [np.float32, np.float64]
SHAPES = [(6, 3), (4, 3, 5), (2, 3, 4, 3)]


def case(shape, seed=0):
    """Input with a non-zero mean per channel, running statistics, weight and bias."""
    rng = np.random.default_rng(seed)
    channels = shape[1]
    x = rng.standard_normal(shape) * 3 + rng.standard_normal((1, channels) + (1,) * (len(shape) - 2))
    running = rng.standard_normal(channels), rng.uniform(0.5, 2.0, channels)
    return x, running, rng.uniform(0.5, 2.0, channels), rng.standard_normal(channels)


# --------------------------------------------------------------------------- parity with PyTorch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_parity_batch_norm(shape, training, affine, momentum, dtype):
    x, (mean, var), weight, bias = case(shape)
    kw_mean, kw_var = kw.tensor(mean.astype(dtype)), kw.tensor(var.astype(dtype))
    th_mean, th_var = torch.tensor(mean.astype(dtype)), torch.tensor(var.astype(dtype))
    options = dict(training=training, momentum=momentum, eps=1e-5)
    check_parity(
        lambda i, w, b: batch_norm(i, kw_mean, kw_var, w, b, **options),
        lambda i, w, b: F.batch_norm(i, th_mean, th_var, w, b, **options),
        [x, weight if affine else None, bias if affine else None],
        dtype,
    )
    assert_close(kw_mean.numpy(), th_mean.numpy(), dtype, terms=x.size, what="running mean")
    assert_close(kw_var.numpy(), th_var.numpy(), dtype, terms=x.size, what="running var")
    if not training:
        np.testing.assert_array_equal(kw_mean.numpy(), mean.astype(dtype))  # eval leaves them alone


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_parity_batch_norm_training_without_running_stats(shape, dtype):
    x, _, weight, bias = case(shape, seed=1)
    check_parity(
        lambda i, w, b: batch_norm(i, None, None, w, b, training=True),
        lambda i, w, b: F.batch_norm(i, None, None, w, b, training=True),
        [x, weight, bias],
        dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_batch_norm_running_stats_over_several_steps(dtype):
    channels = 3
    kw_mean, kw_var = kw.zeros(channels, dtype=dtype), kw.ones(channels, dtype=dtype)
    th_mean, th_var = torch.tensor(np.zeros(channels, dtype)), torch.tensor(np.ones(channels, dtype))
    for step in range(3):
        x, _, _, _ = case((5, channels, 4), seed=10 + step)
        batch_norm(kw.tensor(x.astype(dtype)), kw_mean, kw_var, training=True, momentum=0.2)
        F.batch_norm(torch.tensor(x.astype(dtype)), th_mean, th_var, training=True, momentum=0.2)
    assert_close(kw_mean.numpy(), th_mean.numpy(), dtype, terms=x.size, what="running mean")
    assert_close(kw_var.numpy(), th_var.numpy(), dtype, terms=x.size, what="running var")


def test_batch_norm_hand_worked():
    # one channel, values 1 and 3: μ = 2, σ² = 1 (biased), unbiased 2
    x = kw.tensor(np.array([[1.0], [3.0]]))
    rm, rv = kw.tensor(np.zeros(1)), kw.tensor(np.ones(1))
    y = batch_norm(x, rm, rv, kw.tensor(np.array([2.0])), kw.tensor(np.array([0.5])), training=True, eps=0.0)
    np.testing.assert_allclose(y.numpy(), [[-1.5], [2.5]], rtol=1e-15)  # 2·(±1) + 0.5
    np.testing.assert_allclose(rm.numpy(), [0.2], rtol=1e-15)  # 0.9·0 + 0.1·2
    np.testing.assert_allclose(rv.numpy(), [1.1], rtol=1e-15)  # 0.9·1 + 0.1·2


def test_batch_norm_eval_accepts_one_value_per_channel():
    x, (mean, var), _, _ = case((1, 3))
    out = batch_norm(kw.tensor(x), kw.tensor(mean), kw.tensor(var))
    expected = F.batch_norm(torch.tensor(x), torch.tensor(mean), torch.tensor(var))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-10, atol=1e-10)


def _batch_norm_against_torch(x: np.ndarray, weight, bias, dtype) -> tuple[kw.Tensor, kw.Tensor]:
    """Training batch_norm of ``x`` (any strides, kept) against PyTorch: output, dX, dγ, dβ; returns y and x."""
    xt = kw.Tensor(x if x.dtype == dtype else x.astype(dtype, order="K"), requires_grad=True)  # x's strides
    wt, bt = (kw.tensor(a.astype(dtype), requires_grad=True) if a is not None else None for a in (weight, bias))
    th_x, th_w, th_b = (
        torch.tensor(np.ascontiguousarray(a), dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
        if a is not None
        else None
        for a in (x, weight, bias)
    )
    out = batch_norm(xt, None, None, wt, bt, training=True)
    expected = F.batch_norm(th_x, None, None, th_w, th_b, training=True)
    g = np.random.default_rng(5).standard_normal(x.shape).astype(dtype)
    out.backward(kw.tensor(g))
    expected.backward(torch.from_numpy(g))
    terms = x.size
    assert_close(out.numpy(), expected.detach().numpy(), dtype, terms=terms, what="output")
    assert_close(xt.grad.numpy(), th_x.grad.numpy(), dtype, terms=terms, what="dX")
    for mine, theirs, what in ((wt, th_w, "dγ"), (bt, th_b, "dβ")):
        if mine is not None:
            assert_close(mine.grad.numpy(), theirs.grad.numpy(), dtype, terms=terms, what=what)
    return out, xt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [(True, False), (False, True)], ids=["weight-only", "bias-only"])
@pytest.mark.parametrize("shape", SHAPES)
def test_parity_batch_norm_training_weight_or_bias_only(shape, affine, dtype):
    x, _, weight, bias = case(shape, seed=4)
    _batch_norm_against_torch(x, weight if affine[0] else None, bias if affine[1] else None, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (5, 3, 4, 6)])
def test_parity_batch_norm_training_batch_last(shape, affine, dtype):
    """Input whose memory runs (C, *, N), as a batch-last convolution leaves it: same values, and the
    output and dX keep that layout."""
    x, _, weight, bias = case(shape, seed=5)
    batch_last = (*range(1, len(shape)), 0)
    x = np.ascontiguousarray(x.transpose(batch_last)).transpose(np.argsort(batch_last))
    assert axis_order(x) == batch_last
    out, xt = _batch_norm_against_torch(x, weight if affine else None, bias if affine else None, dtype)
    assert axis_order(out._array) == batch_last and axis_order(xt.grad._array) == batch_last


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_batch_norm_training_strided_input(dtype):
    """A view with gaps (every other value) whose rows of 650 values are summed in several dot products."""
    x, _, weight, bias = case((2, 3, 8, 1300), seed=6)
    view = x.astype(dtype)[:, :, ::2, ::2]
    assert not view.flags.c_contiguous and np.shares_memory(kw.Tensor(view)._array, view)
    _batch_norm_against_torch(view, weight, bias, dtype)


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_batch_norm_training(shape, affine):
    x, _, weight, bias = case(shape, seed=2)
    inputs = [kw.tensor(a, requires_grad=True) for a in ([x, weight, bias] if affine else [x])]
    fn = lambda i, w=None, b=None: batch_norm(i, None, None, w, b, training=True)  # noqa: E731
    assert kw.gradcheck(fn, inputs)


def test_gradcheck_batch_norm_eval():
    x, (mean, var), weight, bias = case((3, 2, 4), seed=3)
    rm, rv = kw.tensor(mean), kw.tensor(var)
    inputs = [kw.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    assert kw.gradcheck(lambda i, w, b: batch_norm(i, rm, rv, w, b), inputs)


# --------------------------------------------------------------------------- errors
def test_error_one_value_per_channel_when_training():
    with pytest.raises(
        ValueError, match=r"Expected more than 1 value per channel when training, got input size \(1, 3\)"
    ):
        batch_norm(kw.zeros(1, 3), None, None, training=True)


def test_error_running_mean_channels():
    with pytest.raises(
        ValueError, match=r"running_mean has shape \(4,\) but input of shape \(2, 3, 5\) has 3 channels"
    ):
        batch_norm(kw.zeros(2, 3, 5), kw.zeros(4), kw.ones(3))


def test_error_running_var_channels():
    with pytest.raises(ValueError, match=r"running_var has shape \(2,\) but input of shape \(2, 3\) has 3 channels"):
        batch_norm(kw.zeros(2, 3), kw.zeros(3), kw.ones(2))


def test_error_weight_channels():
    with pytest.raises(ValueError, match=r"weight has shape \(5,\) but input of shape \(2, 3, 2, 2\) has 3 channels"):
        batch_norm(kw.zeros(2, 3, 2, 2), None, None, kw.ones(5), training=True)


def test_error_bias_channels():
    with pytest.raises(ValueError, match=r"bias has shape \(1,\) but input of shape \(2, 3\) has 3 channels"):
        batch_norm(kw.zeros(2, 3), None, None, None, kw.ones(1), training=True)


def test_error_eval_without_running_stats():
    with pytest.raises(ValueError, match="running_mean and running_var must be given when training=False"):
        batch_norm(kw.zeros(2, 3), None, None)


def test_error_input_1d():
    with pytest.raises(ValueError, match=r"input must be \(N, C\) or \(N, C, \*\), got shape \(3,\)"):
        batch_norm(kw.zeros(3), kw.zeros(3), kw.ones(3))


def test_error_dtype_mismatch():
    with pytest.raises(TypeError, match="running_mean has dtype float32 but input has dtype float64"):
        batch_norm(kw.zeros(2, 3, dtype=np.float64), kw.zeros(3), kw.ones(3, dtype=np.float64))


def test_error_eps_negative():
    with pytest.raises(ValueError, match=r"eps=-1\.0 must be non-negative"):
        batch_norm(kw.zeros(2, 3), kw.zeros(3), kw.ones(3), eps=-1.0)
