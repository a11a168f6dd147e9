"""Pooling indices and their inverse: return_indices, max_unpool1d/2d and the layers, against torch.

Indices are PyTorch's: each window's winner as its position in the flattened spatial input of its channel.
They are compared exactly; values too (pooling and unpooling copy them); gradients through overlapping
windows sum a few terms in another order (float64: rtol 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import kernelwise as kw
import kernelwise.nn.functional as F
from parity import check_parity


def _distinct(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Distinct values (no ties), so that every winner is unambiguous."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) / 7


def _compare_pool_with_indices(kw_fn, torch_fn, x: np.ndarray, **options) -> None:
    xk, xt = kw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, indices = kw_fn(xk, **options, return_indices=True)
    ty, tindices = torch_fn(xt, **options, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())
    assert indices.dtype == np.int64 and indices.shape == y.shape and not indices.requires_grad
    grad_out = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(grad_out)
    ty.backward(torch.from_numpy(grad_out))
    np.testing.assert_allclose(xk.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


POOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1),
]


@pytest.mark.parametrize("options", POOL2D)
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (3, 6, 5)])  # batched and unbatched
def test_max_pool2d_return_indices_as_torch(options, shape) -> None:
    _compare_pool_with_indices(F.max_pool2d, TF.max_pool2d, _distinct(shape), **options)


@pytest.mark.parametrize(
    "options",
    [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, dilation=3, ceil_mode=True)],
)
@pytest.mark.parametrize("shape", [(2, 3, 11), (3, 10)])
def test_max_pool1d_return_indices_as_torch(options, shape) -> None:
    _compare_pool_with_indices(F.max_pool1d, TF.max_pool1d, _distinct(shape), **options)


def test_max_pool_indices_with_ties_follow_torch() -> None:
    """Many ties (values 0..2): the first tap in row-major window order wins, in both."""
    x = np.random.default_rng(2).integers(0, 3, size=(2, 2, 8, 7)).astype(np.float64)
    _compare_pool_with_indices(F.max_pool2d, TF.max_pool2d, x, kernel_size=3, stride=2, padding=1)


@pytest.mark.parametrize("output_size", [1, 3, 4, (2, 5), (None, 3)])
def test_adaptive_max_pool2d_return_indices_as_torch(output_size) -> None:
    x = _distinct((2, 3, 7, 9))
    x[1, 2, 1, 1] = x[1, 2, 2, 2] = np.nan  # a window with two NaNs: the last wins, as torch
    _compare_pool_with_indices(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, output_size=output_size)


@pytest.mark.parametrize("output_size", [1, 3, 4])
def test_adaptive_max_pool1d_return_indices_as_torch(output_size) -> None:
    x = _distinct((2, 3, 10))
    x[0, 1, 3] = x[0, 1, 5] = np.nan
    _compare_pool_with_indices(F.adaptive_max_pool1d, TF.adaptive_max_pool1d, x, output_size=output_size)


# --------------------------------------------------------------------------- max_unpool
@pytest.mark.parametrize(
    ("shape", "options", "output_size"),
    [
        ((2, 3, 8, 6), dict(kernel_size=2), None),
        ((2, 3, 9, 7), dict(kernel_size=2), (9, 7)),  # the row and column the floor dropped
        ((2, 3, 9, 7), dict(kernel_size=2), (2, 3, 9, 7)),  # output_size as the full shape
        ((2, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1), None),  # overlapping windows: shared indices
        ((3, 8, 6), dict(kernel_size=(2, 3), stride=(2, 1)), None),  # unbatched
    ],
)
def test_max_unpool2d_as_torch_values_and_gradients(shape, options, output_size) -> None:
    """Unpool the pooled values at their indices; the gradient of the input gathers dL/dy at them."""
    x = _distinct(shape)
    y, indices = TF.max_pool2d(torch.tensor(x), **options, return_indices=True)
    check_parity(
        lambda v, i: F.max_unpool2d(v, i, **options, output_size=output_size),
        lambda v, i: TF.max_unpool2d(v, i, **options, output_size=output_size),
        [y.numpy(), indices.numpy()],
        np.float64,
    )


@pytest.mark.parametrize(
    ("shape", "options", "output_size"),
    [
        ((2, 3, 8), dict(kernel_size=2), None),
        ((2, 3, 9), dict(kernel_size=2), [9]),
        ((2, 3, 9), dict(kernel_size=3, stride=2, padding=1), (2, 3, 9)),
        ((3, 10), dict(kernel_size=2, stride=3), None),
    ],
)
def test_max_unpool1d_as_torch_values_and_gradients(shape, options, output_size) -> None:
    x = _distinct(shape)
    y, indices = TF.max_pool1d(torch.tensor(x), **options, return_indices=True)
    check_parity(
        lambda v, i: F.max_unpool1d(v, i, **options, output_size=output_size),
        lambda v, i: TF.max_unpool1d(v, i, **options, output_size=output_size),
        [y.numpy(), indices.numpy()],
        np.float32,
    )


def test_pool_then_unpool_gradient_as_torch() -> None:
    """The whole round trip differentiated: dL/dx reaches each window's maximum once per window it won."""
    x = _distinct((2, 2, 7, 8))

    def roundtrip(functional):
        def run(t):
            y, indices = functional.max_pool2d(t, 3, 2, 1, return_indices=True)
            return functional.max_unpool2d(y * y, indices, 3, 2, 1, output_size=t.shape)

        return run

    check_parity(roundtrip(F), roundtrip(TF), [x], np.float64)


def test_layers_return_indices_and_unpool_as_torch() -> None:
    x = _distinct((2, 3, 9, 7))
    pool, unpool = kw.nn.MaxPool2d(2, return_indices=True), kw.nn.MaxUnpool2d(2)
    tpool, tunpool = torch.nn.MaxPool2d(2, return_indices=True), torch.nn.MaxUnpool2d(2)
    assert repr(pool) == repr(tpool) and repr(unpool) == repr(tunpool)
    (y, indices), (ty, tindices) = pool(kw.tensor(x)), tpool(torch.tensor(x))
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())
    out, tout = unpool(y, indices, output_size=(2, 3, 9, 7)), tunpool(ty, tindices, output_size=[2, 3, 9, 7])
    np.testing.assert_array_equal(out.numpy(), tout.numpy())

    pool1, unpool1 = kw.nn.MaxPool1d(3, 2, 1, return_indices=True), kw.nn.MaxUnpool1d(3, 2, 1)
    tpool1, tunpool1 = torch.nn.MaxPool1d(3, 2, 1, return_indices=True), torch.nn.MaxUnpool1d(3, 2, 1)
    assert repr(unpool1) == repr(tunpool1)
    signal = _distinct((2, 3, 10))
    out1 = unpool1(*pool1(kw.tensor(signal)), output_size=signal.shape)
    tout1 = tunpool1(*tpool1(torch.tensor(signal)), output_size=signal.shape)
    np.testing.assert_array_equal(out1.numpy(), tout1.numpy())

    for kw_layer, torch_layer in [
        (kw.nn.AdaptiveMaxPool2d((2, 3), return_indices=True), torch.nn.AdaptiveMaxPool2d((2, 3), return_indices=True)),
        (kw.nn.AdaptiveMaxPool1d(4, return_indices=True), torch.nn.AdaptiveMaxPool1d(4, return_indices=True)),
    ]:
        data = x if isinstance(kw_layer, kw.nn.AdaptiveMaxPool2d) else signal
        (v, i), (tv, ti) = kw_layer(kw.tensor(data)), torch_layer(torch.tensor(data))
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_min_pool_indices_are_max_pool_indices_of_the_negated_input() -> None:
    x = np.random.default_rng(3).integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)  # ties
    x[0, 0, :2, :2] = np.inf
    (_, indices), (_, tindices) = (
        F.min_pool2d(kw.tensor(x), 3, 2, 1, return_indices=True),
        TF.max_pool2d(torch.tensor(-x), 3, 2, 1, return_indices=True),
    )
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())


# --------------------------------------------------------------------------- errors
def _pooled() -> tuple:
    return F.max_pool2d(kw.tensor(_distinct((1, 2, 4, 4))), 2, return_indices=True)


def test_error_unpool_indices_of_another_shape() -> None:
    y, indices = _pooled()
    with pytest.raises(ValueError, match=r"max_unpool2d: indices of shape \(1, 2, 2, 1\) must have the shape of input"):
        F.max_unpool2d(y, indices[..., :1], 2)


def test_error_unpool_float_indices() -> None:
    y, indices = _pooled()
    with pytest.raises(TypeError, match=r"max_unpool2d: indices must have an integer dtype .* got float64"):
        F.max_unpool2d(y, indices.double(), 2)


def test_error_unpool_index_out_of_range() -> None:
    y, indices = _pooled()
    with pytest.raises(ValueError, match=r"index 1\d in indices is out of range for output size \(4, 4\)"):
        F.max_unpool2d(y, indices + 16, 2)
    with pytest.raises(RuntimeError, match="invalid max index"):  # torch refuses it too
        TF.max_unpool2d(torch.tensor(y.numpy()), torch.tensor(indices.numpy()) + 16, 2)


@pytest.mark.parametrize("output_size", [(6, 4), (2, 2), (1, 2, 4, 4, 4)])
def test_error_unpool_output_size_out_of_reach(output_size) -> None:
    """output_size must lie within stride of (H_in - 1)·S + k - 2P, as torch says."""
    y, indices = _pooled()
    with pytest.raises(ValueError, match=r"max_unpool2d: (invalid output_size|output_size=)"):
        F.max_unpool2d(y, indices, 2, output_size=output_size)
    with pytest.raises(ValueError):
        TF.max_unpool2d(torch.tensor(y.numpy()), torch.tensor(indices.numpy()), 2, output_size=output_size)


def test_error_unpool_input_of_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"max_unpool1d: input must be 2-D \(C, L\) or 3-D \(N, C, L\)"):
        F.max_unpool1d(kw.ones(4), kw.tensor(np.zeros(4, dtype=np.int64)), 2)
