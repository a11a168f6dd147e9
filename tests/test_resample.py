"""downsample, upsample_zeros and pad: hand-worked values, adjointness, PyTorch parity and gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import kernelwise as kw
from kernelwise.ops.resample import downsample, pad, upsample_zeros
from parity import distinct

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}


# --------------------------------------------------------------------------- downsample / upsample_zeros by hand
def test_downsample_1d_by_hand():
    x = kw.tensor(np.arange(1.0, 8.0).reshape(1, 1, 7), requires_grad=True)
    y = downsample(x, 3)
    assert y.tolist() == [[[1.0, 4.0, 7.0]]]
    y.backward(np.array([[[10.0, 20.0, 30.0]]]))
    assert x.grad.tolist() == [[[10.0, 0.0, 0.0, 20.0, 0.0, 0.0, 30.0]]]  # zero insertion


def test_downsample_2d_by_hand():
    x = kw.tensor(np.arange(20.0).reshape(1, 1, 4, 5), requires_grad=True)
    y = downsample(x, (2, 3))
    assert y.tolist() == [[[[0.0, 3.0], [10.0, 13.0]]]]
    y.sum().backward()
    expected = [[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]]
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_downsample_recitation_stride_1_to_stride_2():
    # "Stride 1 output -> drop intermediates -> stride 2 output"
    z = kw.tensor([[9.0, 9, 7], [2, 5, 6], [-7, 9, -10]])
    assert downsample(z, (2, 2)).tolist() == [[9.0, 7.0], [-7.0, -10.0]]


@pytest.mark.parametrize("shape", [(6, 7), (3, 6, 7), (2, 3, 6, 7)])
def test_downsample_tuple_factor_resamples_the_last_dims(shape):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    np.testing.assert_array_equal(downsample(kw.tensor(x), (2, 3)).numpy(), x[..., ::2, ::3])
    assert downsample(kw.tensor(x), (2, 3)).shape == (*shape[:-2], 3, 3)


def test_downsample_int_factor_covers_every_dim_after_batch_and_channels():
    x = np.arange(2 * 3 * 5 * 4 * 3.0).reshape(2, 3, 5, 4, 3)
    y = downsample(kw.tensor(x), 2)
    assert y.shape == (2, 3, 3, 2, 2)
    np.testing.assert_array_equal(y.numpy()[1, 2], x[1, 2, ::2, ::2, ::2])


def test_upsample_zeros_by_hand():
    x = kw.tensor([[[1.0, 2, 3]]], requires_grad=True)
    y = upsample_zeros(x, 3)
    assert y.tolist() == [[[1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0]]]  # (L - 1)·f + 1 = 7
    y.backward(np.arange(7.0).reshape(1, 1, 7).astype(np.float32))
    assert x.grad.tolist() == [[[0.0, 3.0, 6.0]]]  # backward: downsampling


def test_upsample_zeros_output_size_adds_trailing_zeros():
    x = kw.tensor([[[[1.0, 2], [3, 4]]]], requires_grad=True)
    y = upsample_zeros(x, 2, output_size=(4, 5))
    expected = [[1, 0, 2, 0, 0], [0, 0, 0, 0, 0], [3, 0, 4, 0, 0], [0, 0, 0, 0, 0]]
    np.testing.assert_array_equal(y.numpy()[0, 0], expected)
    y.backward(np.arange(20.0).reshape(1, 1, 4, 5).astype(np.float32))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.0, 2.0], [10.0, 12.0]])


def test_upsample_zeros_undoes_downsample_on_the_kept_samples():
    x = np.arange(1.0, 10.0).reshape(1, 1, 9)
    y = upsample_zeros(downsample(kw.tensor(x), 4), 4, output_size=9)
    assert y.tolist() == [[[1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 9.0]]]


@pytest.mark.parametrize(
    ("shape", "factor"),
    [((2, 3, 7), 2), ((2, 3, 8), 3), ((1, 2, 5, 6), 2), ((1, 2, 5, 6), (3, 2)), ((4, 5), (2, 4)), ((0, 2, 5), 2)],
)
def test_downsample_and_upsample_zeros_are_adjoint(shape, factor):
    # ⟨down(x), y⟩ = ⟨x, up(y)⟩ with up's output size = x's size; and ⟨up(u), v⟩ = ⟨u, down(v)⟩
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    down = downsample(kw.tensor(x), factor)
    y = rng.standard_normal(down.shape)
    nd = len(factor) if isinstance(factor, tuple) else len(shape) - 2
    up = upsample_zeros(kw.tensor(y), factor, output_size=shape[-nd:])
    assert up.shape == shape
    np.testing.assert_allclose(np.sum(down.numpy() * y), np.sum(x * up.numpy()), rtol=1e-10, atol=1e-10)
    v = rng.standard_normal(upsample_zeros(kw.tensor(y), factor).shape)
    lhs = np.sum(upsample_zeros(kw.tensor(y), factor).numpy() * v)
    np.testing.assert_allclose(lhs, np.sum(y * downsample(kw.tensor(v), factor).numpy()), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride", [2, 3])
def test_downsampled_stride_1_conv_equals_strided_conv_in_torch(stride):
    # the recitation's reading of stride: the strided output is the stride-1 output, downsampled
    rng = np.random.default_rng(1)
    x, w = torch.from_numpy(rng.standard_normal((2, 3, 9, 8))), torch.from_numpy(rng.standard_normal((4, 3, 3, 2)))
    dense = TF.conv2d(x, w, stride=1).numpy()
    strided = TF.conv2d(x, w, stride=stride).numpy()
    np.testing.assert_allclose(downsample(kw.tensor(dense), stride).numpy(), strided, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- pad against PyTorch
PAD_CASES = [
    # (shape, pad, mode, value)
    ((2, 3, 6), (1, 2), "constant", None),
    ((2, 3, 6), (0, 0), "constant", None),
    ((2, 3, 6), (-1, 2), "constant", None),
    ((2, 3, 6), (2, -3), "constant", 2.5),
    ((2, 3, 5, 6), (1, 0, 2, 1), "constant", -1.0),
    ((2, 3, 5, 6), (-1, -1, 1, 2), "constant", None),
    ((2, 3, 4, 5), (1, 1, 0, 2, 1, 0), "constant", None),
    ((3, 4), (1, 2), "constant", None),
    ((3, 4), (1, 2, 3, 4), "constant", 0.5),
    ((2, 3, 6), (2, 3), "reflect", None),
    ((2, 3, 6), (0, 5), "reflect", None),
    ((3, 6), (4, 1), "reflect", None),
    ((2, 3, 5, 6), (1, 2, 3, 0), "reflect", None),
    ((3, 5, 6), (5, 0, 4, 4), "reflect", None),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, 1, 2), "reflect", None),
    ((2, 3, 6), (2, 3), "replicate", None),
    ((2, 3, 6), (7, 0), "replicate", None),
    ((2, 3, 5, 6), (1, 2, 3, 0), "replicate", None),
    ((3, 5, 6), (0, 6, 2, 2), "replicate", None),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, 1, 2), "replicate", None),
    ((2, 3, 6), (2, 3), "circular", None),
    ((2, 3, 6), (6, 6), "circular", None),
    ((2, 3, 5, 6), (1, 2, 3, 0), "circular", None),
    ((3, 5, 6), (5, 1, 0, 5), "circular", None),
    ((1, 2, 3, 4, 5), (1, 2, 2, 0, 1, 2), "circular", None),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "pads", "mode", "value"), PAD_CASES)
def test_pad_matches_torch(shape, pads, mode, value, dtype):
    x = distinct(shape, dtype)
    xk = kw.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yk = pad(xk, pads, mode, value)
    yt = TF.pad(xt, pads, mode, value)
    assert yk.shape == tuple(yt.shape)
    np.testing.assert_array_equal(yk.numpy(), yt.detach().numpy())  # pad only copies values
    g = np.random.default_rng(2).standard_normal(yk.shape).astype(dtype)
    yk.backward(g)
    yt.backward(torch.from_numpy(g))
    assert xk.grad.dtype == dtype
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_non_contiguous_input_matches_torch(mode):
    x = distinct((2, 5, 3, 4)).transpose(0, 2, 3, 1)[..., ::2]  # (2, 3, 4, 3), strided
    assert not x.flags.c_contiguous
    xk = kw.Tensor(x, requires_grad=True)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    yk, yt = pad(xk, (2, 1, 0, 3), mode), TF.pad(xt, (2, 1, 0, 3), mode)
    np.testing.assert_array_equal(yk.numpy(), yt.detach().numpy())
    g = np.random.default_rng(3).standard_normal(yk.shape)
    yk.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_pad_reflect_gradient_by_hand():
    # reflect (2, 1) of [a, b, c] is [c, b, a, b, c, b]: b is copied three times, c twice
    x = kw.tensor([[[1.0, 2.0, 3.0]]], requires_grad=True)
    y = pad(x, (2, 1), "reflect")
    assert y.tolist() == [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
    y.sum().backward()
    assert x.grad.tolist() == [[[1.0, 3.0, 2.0]]]


# --------------------------------------------------------------------------- gradcheck (float64)
GRADCHECK = {
    "downsample": lambda x: downsample(x, (2, 3)),
    "upsample_zeros": lambda x: upsample_zeros(x, (3, 2)),
    "upsample_zeros output_size": lambda x: upsample_zeros(x, 2, output_size=(10, 11)),
    "pad constant": lambda x: pad(x, (1, 2, 0, 1), value=0.5),
    "pad constant cropping": lambda x: pad(x, (-1, 2, 1, -2)),
    "pad reflect": lambda x: pad(x, (3, 1, 2, 4), "reflect"),
    "pad replicate": lambda x: pad(x, (3, 1, 2, 4), "replicate"),
    "pad circular": lambda x: pad(x, (4, 1, 2, 5), "circular"),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    x = kw.tensor(distinct((1, 2, 5, 5), seed=4), requires_grad=True)
    assert kw.gradcheck(GRADCHECK[name], (x,))


# --------------------------------------------------------------------------- errors
X3 = kw.tensor(np.zeros((1, 2, 4)))


def test_error_int_factor_on_input_without_batch_and_channels():
    with pytest.raises(ValueError, match=r"downsample: an int factor .* at least 3 dims, got shape \(4, 5\)"):
        downsample(kw.tensor(np.zeros((4, 5))), 2)


def test_error_factor_not_positive():
    with pytest.raises(ValueError, match=r"factor=0: must be positive"):
        upsample_zeros(X3, 0)


def test_error_factor_too_many_dims():
    with pytest.raises(
        ValueError, match=r"downsample: factor=\(2, 2, 2, 2\) needs 1 to 3 entries .* shape \(1, 2, 4\)"
    ):
        downsample(X3, (2, 2, 2, 2))


def test_error_upsample_output_size_too_small():
    with pytest.raises(ValueError, match=r"output_size=\(6,\) is smaller than \(L - 1\)·factor \+ 1 = \(7,\)"):
        upsample_zeros(X3, 2, output_size=6)


def test_error_pad_odd_length():
    with pytest.raises(ValueError, match=r"pad=\(1, 2, 3\) has odd length 3"):
        pad(X3, (1, 2, 3))


def test_error_pad_too_many_entries():
    with pytest.raises(ValueError, match=r"pads 4 dims, but input of shape \(1, 2, 4\) has 3"):
        pad(X3, (1,) * 8)


def test_error_pad_unknown_mode():
    with pytest.raises(ValueError, match=r"mode='symmetric' is not one of"):
        pad(X3, (1, 1), "symmetric")


def test_error_pad_replicate_crops_everything():
    with pytest.raises(
        ValueError, match=r"replicate padding would leave 0 entries \(at least 1 needed\): pad \(-3, -1\)"
    ):
        pad(X3, (-3, -1), "replicate")


def test_error_pad_reflect_not_smaller_than_size():
    with pytest.raises(ValueError, match=r"reflect padding must be < the size of its dim: pad \(4, 0\) .* size 4"):
        pad(X3, (4, 0), "reflect")


def test_error_pad_circular_wraps_more_than_once():
    with pytest.raises(
        ValueError, match=r"circular padding must be <= the size of its dim after cropping \(4\): pad \(0, 5\)"
    ):
        pad(X3, (0, 5), "circular")


def test_error_pad_value_with_non_constant_mode():
    with pytest.raises(ValueError, match=r"mode='reflect' takes no value"):
        pad(X3, (1, 1), "reflect", value=1.0)


def test_error_pad_crops_below_zero():
    with pytest.raises(
        ValueError, match=r"would crop 5 entries, more than the dim holds: pad \(-3, -2\) for dim 2 of size 4"
    ):
        pad(X3, (-3, -2))


def test_error_pad_not_ints():
    with pytest.raises(TypeError, match=r"pad=\(1.5, 1\) must be a tuple of ints"):
        pad(X3, (1.5, 1))


def test_error_pad_complex_input():
    with pytest.raises(TypeError, match=r"complex128 is not supported"):
        pad(np.zeros((1, 2), dtype=complex), (1, 1))
