"""Tensor basics: creation and dtype inference, attributes, operators' dtype rules, casts and errors.

Expected dtypes and values come from PyTorch (``torch.tensor`` on the same data) or are written by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernelwise as kw


def torch_dtype_as_numpy(t: torch.Tensor) -> np.dtype:
    return torch.empty(0, dtype=t.dtype).numpy().dtype


# --------------------------------------------------------------------------- creation and dtype inference
@pytest.mark.parametrize(
    "data",
    [
        1.5,
        3,
        True,
        [1.0, 2.0],
        [1, 2],
        [1, 2.5],
        [True, False],
        [True, 2],
        [[1.0, 2.0], [3.0, 4.0]],
        [],
        np.array([1.0, 2.0]),
        np.array([1.0, 2.0], dtype=np.float32),
        np.array([1, 2], dtype=np.int32),
        np.array([1, 2], dtype=np.int64),
        np.array([True, False]),
        np.float64(2.5),
    ],
    ids=repr,
)
def test_dtype_inference_matches_torch(data):
    expected = torch.tensor(data)
    t = kw.tensor(data)
    assert t.dtype == torch_dtype_as_numpy(expected)
    assert t.shape == tuple(expected.shape)
    np.testing.assert_array_equal(t.numpy(), expected.numpy())


def test_numpy_float64_stays_float64():
    assert kw.tensor(np.zeros((2, 3))).dtype == np.float64
    assert kw.tensor(np.zeros((2, 3)), requires_grad=True).dtype == np.float64


def test_python_floats_become_float32():
    assert kw.tensor([0.1, 0.2]).dtype == np.float32
    assert kw.tensor(0.1).dtype == np.float32


def test_dtype_argument_converts():
    t = kw.tensor([1, 2], dtype=kw.float64)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = kw.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 1.0


@pytest.mark.parametrize(
    "data",
    [np.array([1, "a"], dtype=object), [1 + 2j], np.array([1j]), "abc", ["a", "b"], None],
    ids=["object", "complex-list", "complex-array", "string", "string-list", "none"],
)
def test_unsupported_data_is_type_error(data):
    with pytest.raises(TypeError, match="dtype"):
        kw.tensor(data)


def test_ragged_list_is_value_error():
    with pytest.raises(ValueError, match="ragged"):
        kw.tensor([[1.0, 2.0], [3.0]])


def test_requires_grad_on_integer_tensor_is_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        kw.tensor([1, 2], requires_grad=True)


def test_requires_grad_on_bool_tensor_is_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        kw.tensor([True], requires_grad=True)


def test_bad_dtype_argument_is_type_error():
    with pytest.raises(TypeError, match="dtype"):
        kw.tensor([1.0], dtype="not-a-dtype")


# --------------------------------------------------------------------------- attributes and conversion
def test_attributes():
    t = kw.tensor(np.zeros((2, 3, 4), dtype=np.float32), requires_grad=True)
    assert t.shape == (2, 3, 4)
    assert isinstance(t.shape, tuple)
    assert t.ndim == 3
    assert t.dtype == np.float32
    assert t.requires_grad is True
    assert t.grad is None
    assert t.is_leaf
    assert len(t) == 2
    assert t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3


def test_numpy_works_with_and_without_grad():
    a = np.array([1.0, 2.0])
    for rg in (False, True):
        t = kw.tensor(a, requires_grad=rg)
        out = t.numpy()
        assert isinstance(out, np.ndarray)
        np.testing.assert_array_equal(out, a)
        y = t * 2
        np.testing.assert_array_equal(y.numpy(), 2 * a)


def test_item_returns_python_number():
    assert kw.tensor(2.5).item() == 2.5
    assert isinstance(kw.tensor(2.5).item(), float)
    assert kw.tensor([7]).item() == 7
    assert isinstance(kw.tensor(3).item(), int)


def test_item_on_many_elements_is_value_error():
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        kw.tensor([1.0, 2.0]).item()


def test_detach_shares_memory_and_cuts_graph():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).detach()
    assert not y.requires_grad
    assert y.is_leaf
    z = x.detach()
    z.numpy()[0] = 5.0  # shares memory, as torch's detach
    assert x.numpy()[0] == 5.0


def test_len_of_0d_is_type_error():
    with pytest.raises(TypeError, match="0-d"):
        len(kw.tensor(1.0))


def test_truth_value_of_many_elements_is_value_error():
    with pytest.raises(ValueError, match=r"truth value.*\(2,\).*ambiguous"):
        bool(kw.tensor([1.0, 2.0]))


def test_repr_is_readable():
    r = repr(kw.tensor([1.0, 2.0], requires_grad=True))
    assert r.startswith("tensor(")
    assert "1." in r and "2." in r
    assert "requires_grad=True" in r
    assert "requires_grad" not in repr(kw.tensor([1.0, 2.0]))
    assert "dtype=float64" in repr(kw.tensor(np.array([1.0])))  # as torch shows non-default dtypes


def test_repr_matches_torch_for_simple_cases():
    for data, rg in (([1.0, 2.0], True), ([1.0, 2.0], False), ([1, 2], False)):
        assert repr(kw.tensor(data, requires_grad=rg)) == repr(torch.tensor(data, requires_grad=rg))


# --------------------------------------------------------------------------- dtype rules of operators
def test_float32_ops_stay_float32():
    x = kw.tensor(np.array([[0.5, 1.5], [2.0, 3.0]], dtype=np.float32), requires_grad=True)
    outs = [
        x + 1,
        x * 2.5,
        1 - x,
        x / 3,
        2 / x,
        x**2,
        2**x,
        x @ x,
        -x,
        x.exp(),
        x.log(),
        x.sqrt(),
        x.abs(),
        x.clamp(0.6, 2.5),
        x.sum(),
        x.mean(dim=0),
        x.max(),
        x.reshape(4),
        x.T,
        x[0],
        x.relu(),
        x.sigmoid(),
        x.tanh(),
        kw.where(x > 1, x, 0.0),
        kw.cat([x, x]),
    ]
    for out in outs:
        assert out.dtype == np.float32, out
    loss = sum((o.sum() for o in outs[1:]), outs[0].sum())
    loss.backward()
    assert x.grad.dtype == np.float32


def test_gradients_have_the_tensors_dtype():
    for dt in (np.float32, np.float64):
        x = kw.tensor(np.array([1.0, 2.0], dtype=dt), requires_grad=True)
        (x * 2).sum().backward()
        assert x.grad.dtype == dt
        assert isinstance(x.grad, kw.Tensor)
        assert not x.grad.requires_grad


def test_python_scalar_takes_the_tensors_dtype():
    x64 = kw.tensor(np.array([1.0, 2.0]))
    assert (x64 + 1.5).dtype == np.float64
    assert (x64 * 2).dtype == np.float64
    assert (3.0 / x64).dtype == np.float64
    x32 = kw.tensor([1.0, 2.0])
    assert (x32 + 1.5).dtype == np.float32
    assert (x32 + np.float64(1.5)).dtype == np.float32  # numpy scalars are weak too, as in torch


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda m: m.tensor([1, 2]) + 1.5, None),
        (lambda m: m.tensor([1, 2]) * 2, None),
        (lambda m: m.tensor([1, 2]) / 2, None),
        (lambda m: 3 / m.tensor([1, 2]), None),
        (lambda m: m.tensor([1, 2]) + m.tensor([1.0, 2.0]), None),
        (lambda m: m.tensor([1.0, 2.0]) - m.tensor([1, 2]), None),
        (lambda m: m.tensor([True, False]) + 1, None),
        (lambda m: m.tensor([1, 2]) / m.tensor([2, 4]), None),
    ],
    ids=["int+float", "int*int", "int/int-scalar", "int-scalar/int", "int+f32", "f32-int", "bool+int", "int/int"],
)
def test_integer_promotion_matches_torch(make, expected):
    ours, ref = make(kw), make(torch)
    assert ours.dtype == torch_dtype_as_numpy(ref)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


def test_mixed_float32_float64_is_type_error():
    with pytest.raises(TypeError, match=r"mixed float dtypes.*\.double\(\)"):
        kw.tensor([1.0]) + kw.tensor(np.array([1.0]))


def test_mixed_float_dtypes_in_cat_is_type_error():
    with pytest.raises(TypeError, match="mixed float dtypes"):
        kw.cat([kw.tensor([1.0]), kw.tensor(np.array([1.0]))])


def test_cat_promotes_int_and_float_like_torch():
    ours = kw.cat([kw.tensor([1, 2]), kw.tensor([1.5])])
    ref = torch.cat([torch.tensor([1, 2]), torch.tensor([1.5])])
    assert ours.dtype == torch_dtype_as_numpy(ref) == np.float32
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_unsupported_operand_is_type_error():
    with pytest.raises(TypeError, match="unsupported operand type str"):
        kw.tensor([1.0]) + "a"


# --------------------------------------------------------------------------- ndarray and scalar operands
@pytest.mark.parametrize(
    "op",
    [
        lambda a, t: a + t,
        lambda a, t: a - t,
        lambda a, t: a * t,
        lambda a, t: a / t,
        lambda a, t: a**t,
        lambda a, t: t - a,
        lambda a, t: t / a,
    ],
    ids=["radd", "rsub", "rmul", "rtruediv", "rpow", "sub", "truediv"],
)
def test_ndarray_with_tensor_gives_tensor(op):
    a = np.array([[1.5, 2.0, 0.5]], dtype=np.float32)
    x = np.array([0.5, 1.0, 2.0], dtype=np.float32)
    t = kw.tensor(x, requires_grad=True)
    out = op(a, t)
    assert isinstance(out, kw.Tensor)
    assert out.dtype == np.float32
    tt = torch.tensor(x, requires_grad=True)
    ref = op(torch.tensor(a), tt)  # torch does not take ndarray operands with grad; same values as a tensor
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-6)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_ndarray_matmul_tensor_gives_tensor():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = kw.tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    out = a @ t
    assert isinstance(out, kw.Tensor)
    np.testing.assert_allclose(out.numpy(), a @ np.ones((3, 2)))
    out.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.repeat(a.sum(0)[:, None], 2, axis=1))  # dL/dB = Aᵀ @ 1


def test_float64_ndarray_with_float32_tensor_is_type_error():
    with pytest.raises(TypeError, match="mixed float dtypes"):
        np.ones(2) + kw.tensor([1.0, 2.0])


@pytest.mark.parametrize(
    "op",
    [lambda t: 2 + t, lambda t: 2 - t, lambda t: 2 * t, lambda t: 2 / t, lambda t: 2**t, lambda t: -t],
    ids=["radd", "rsub", "rmul", "rdiv", "rpow", "neg"],
)
def test_reflected_operators_with_python_scalars(op):
    x = np.array([0.5, 1.0, 3.0], dtype=np.float32)
    ours, ref = op(kw.tensor(x)), op(torch.tensor(x))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
        lambda a, b: a == b,
        lambda a, b: a != b,
        lambda a, b: a > 1.0,
        lambda a, b: 1.0 < a,  # noqa: SIM300  (the reflected comparison is the point)
    ],
    ids=["lt", "le", "gt", "ge", "eq", "ne", "gt-scalar", "scalar-lt"],
)
def test_comparisons_are_bool_without_grad(op):
    a = np.array([[0.0, 1.0, 2.0]], dtype=np.float32)
    b = np.array([[1.0], [0.0]], dtype=np.float32)
    ours = op(kw.tensor(a, requires_grad=True), kw.tensor(b, requires_grad=True))
    ref = op(torch.tensor(a), torch.tensor(b))
    assert ours.dtype == np.bool_
    assert not ours.requires_grad
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


# --------------------------------------------------------------------------- casts and index functions
def test_casts():
    x = kw.tensor([1.7, -2.2])
    assert x.float() is x
    assert x.double().dtype == np.float64
    assert x.long().dtype == np.int64
    np.testing.assert_array_equal(x.long().numpy(), torch.tensor([1.7, -2.2]).long().numpy())
    assert x.to(kw.float64).dtype == np.float64
    assert x.to(np.int32).dtype == np.int32
    assert kw.tensor([1, 2]).float().dtype == np.float32


def test_float_to_double_cast_passes_gradient_back_in_float32():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * kw.tensor(np.array([3.0, 4.0]))
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_integer_cast_ends_the_graph():
    x = kw.tensor([1.5, 2.5], requires_grad=True)
    assert not x.long().requires_grad
    assert not torch.tensor([1.5, 2.5], requires_grad=True).long().requires_grad


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.argmax(),
        lambda t: t.argmin(),
        lambda t: t.argmax(dim=1),
        lambda t: t.argmin(dim=0),
        lambda t: t.argmax(dim=1, keepdim=True),
        lambda t: t.argmin(dim=-1, keepdim=True),
    ],
    ids=["argmax", "argmin", "argmax-dim1", "argmin-dim0", "argmax-keepdim", "argmin-keepdim"],
)
def test_argmax_argmin_match_torch(call):
    a = np.array([[0.5, 3.0, -1.0, 2.0], [4.0, -2.0, 1.0, 0.0], [1.0, 1.5, 9.0, -3.0]], dtype=np.float32)
    ours, ref = call(kw.tensor(a, requires_grad=True)), call(torch.tensor(a))
    assert ours.dtype == np.int64
    assert not ours.requires_grad
    assert ours.shape == tuple(ref.shape)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


# --------------------------------------------------------------------------- no_grad
def test_no_grad_context():
    w = kw.tensor([1.0, 2.0], requires_grad=True)
    with kw.no_grad():
        y = w * 2
        assert not kw.is_grad_enabled()
    assert kw.is_grad_enabled()
    assert not y.requires_grad
    assert w.requires_grad


def test_no_grad_decorator():
    @kw.no_grad()
    def double(t):
        return t * 2

    w = kw.tensor([1.0], requires_grad=True)
    assert not double(w).requires_grad
    assert (w * 2).requires_grad
    assert double.__name__ == "double"


def test_no_grad_restores_state_after_exception():
    with pytest.raises(ZeroDivisionError), kw.no_grad():
        1 / 0  # noqa: B018
    assert kw.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    w = kw.tensor([1.0], requires_grad=True)
    with kw.no_grad(), kw.enable_grad():
        assert (w * 2).requires_grad


# --------------------------------------------------------------------------- error messages
def test_reshape_wrong_size_is_value_error():
    with pytest.raises(ValueError, match=r"cannot reshape.*\(2, 3\).*\(4, 2\)"):
        kw.ones(2, 3).reshape(4, 2)


def test_reshape_two_unknowns_is_value_error():
    with pytest.raises(ValueError, match="invalid shape"):
        kw.ones(2, 3).reshape(-1, -1)


def test_permute_wrong_count_is_value_error():
    with pytest.raises(ValueError, match="must name all 3 dimensions"):
        kw.ones(2, 3, 4).permute(1, 0)


def test_permute_repeated_dim_is_value_error():
    with pytest.raises(ValueError, match="repeats"):
        kw.ones(2, 3).permute(0, 0)


def test_transpose_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="dim1=2 is out of range"):
        kw.ones(2, 3).transpose(0, 2)


def test_flatten_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="end_dim=2 is out of range"):
        kw.ones(2, 3).flatten(0, 2)


def test_flatten_start_after_end_is_value_error():
    with pytest.raises(ValueError, match="start_dim=2 comes after end_dim=1"):
        kw.ones(2, 3, 4).flatten(2, 1)


def test_unsqueeze_out_of_range_is_value_error():
    with pytest.raises(ValueError, match=r"dim=3 is out of range.*\(2,\)"):
        kw.ones(2).unsqueeze(3)


def test_squeeze_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        kw.ones(2, 1).squeeze(2)


def test_sum_axis_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="axis=2 is out of range for a tensor of 2 dimensions"):
        kw.ones(2, 3).sum(dim=2)


def test_sum_repeated_axis_is_value_error():
    with pytest.raises(ValueError, match="repeats"):
        kw.ones(2, 3).sum(dim=(1, -1))


def test_mean_of_integers_is_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        kw.tensor([1, 2]).mean()


def test_max_of_empty_is_value_error():
    with pytest.raises(ValueError, match=r"empty"):
        kw.zeros(0).max()


def test_clip_without_bounds_is_value_error():
    with pytest.raises(ValueError, match="min and max"):
        kw.ones(2).clip()


def test_matmul_inner_mismatch_is_value_error():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        kw.ones(2, 3) @ kw.ones(4, 5)


def test_matmul_0d_is_value_error():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        kw.tensor(2.0) @ kw.ones(3)


def test_cat_shape_mismatch_is_value_error():
    with pytest.raises(ValueError, match=r"\(2, 3\), \(2, 4\).*outside dimension 0"):
        kw.cat([kw.ones(2, 3), kw.ones(2, 4)], dim=0)


def test_cat_empty_is_value_error():
    with pytest.raises(ValueError, match="non-empty"):
        kw.cat([])


def test_stack_shape_mismatch_is_value_error():
    with pytest.raises(ValueError, match=r"same shape.*\(2,\), \(3,\)"):
        kw.stack([kw.ones(2), kw.ones(3)])


def test_where_non_bool_condition_is_type_error():
    with pytest.raises(TypeError, match="condition must be a bool"):
        kw.where(kw.ones(2), kw.ones(2), kw.zeros(2))


def test_index_out_of_range_is_index_error():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        kw.ones(2, 3)[5]


def test_setitem_on_requires_grad_is_runtime_error():
    x = kw.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 3.0


def test_setitem_without_grad_writes():
    x = kw.tensor([1.0, 2.0, 3.0])
    x[kw.tensor([0, 2])] = 0.0
    np.testing.assert_array_equal(x.numpy(), [0.0, 2.0, 0.0])


def test_creation_helpers():
    assert kw.zeros(2, 3).shape == (2, 3) and kw.zeros(2, 3).dtype == np.float32
    assert kw.ones((2,), dtype=kw.float64).dtype == np.float64
    np.testing.assert_array_equal(kw.full((2,), 7.0).numpy(), [7.0, 7.0])
    np.testing.assert_array_equal(kw.arange(3).numpy(), torch.arange(3).numpy())
    assert kw.arange(3).dtype == np.int64
    assert kw.zeros_like(kw.tensor(np.ones(2))).dtype == np.float64


def test_negative_size_is_value_error():
    with pytest.raises(ValueError, match="non-negative"):
        kw.zeros(2, -1)


def test_contiguous_copies_only_a_non_contiguous_tensor_and_passes_the_gradient() -> None:
    memory = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    t = kw.Tensor(memory.transpose(2, 0, 1), requires_grad=True)  # (2, 3, 4), batch last in memory
    tt = torch.from_numpy(memory.copy()).permute(2, 0, 1).requires_grad_(True)
    assert t.is_contiguous() is tt.is_contiguous() is False
    c, tc = t.contiguous(), tt.contiguous()
    assert c.is_contiguous() and c.numpy().flags.c_contiguous and tc.is_contiguous()
    np.testing.assert_array_equal(c.numpy(), tc.detach().numpy())
    (c * kw.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))).sum().backward()
    (tc * torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    already = kw.ones(2, 3)
    assert already.is_contiguous() and already.contiguous() is already
