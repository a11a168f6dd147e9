"""nll_loss, cross_entropy and mse_loss: PyTorch parity, stability, gradcheck and the argument errors."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kernelwise as kw
from kernelwise.ops.loss import cross_entropy, mse_loss, nll_loss
from parity import check_parity

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]
C = 4


SHAPES = {"N,C": (5, C), "N,C,d1,d2": (2, C, 3, 2), "C": (C,)}


def index_case(shape_name, ignore, seed=0):
    """Logits, class-index targets (some ignored when ``ignore`` is -100) and a weight per class."""
    rng = np.random.default_rng(seed)
    shape = SHAPES[shape_name]
    x = rng.standard_normal(shape) * 2
    if len(shape) == 1:
        return x, np.array(0, dtype=np.int64), rng.uniform(0.5, 2.0, C)
    target = rng.integers(0, C, (shape[0], *shape[2:]))
    target.flat[[0, 2]] = 2  # class 2 occurs, so ignore_index=2 ignores something
    if ignore == -100:
        target.flat[1] = -100
    return x, target, rng.uniform(0.5, 2.0, C)


INDEX_CASES = list(itertools.product(SHAPES, [False, True], [-100, 2], REDUCTIONS))


def _case_id(case):
    shape, weighted, ignore, reduction = case
    return f"{shape}-{'weight' if weighted else 'noweight'}-ignore{ignore}-{reduction}"


# --------------------------------------------------------------------------- nll_loss
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", INDEX_CASES, ids=_case_id)
def test_parity_nll_loss(case, dtype):
    shape, weighted, ignore, reduction = case
    x, target, weight = index_case(shape, ignore)
    options = dict(ignore_index=ignore, reduction=reduction)
    check_parity(
        lambda i, t, w: nll_loss(i, t, w, **options),
        lambda i, t, w: F.nll_loss(i, t, w, **options),
        [x, target, weight if weighted else None],
        dtype,
        grad=[0],
    )


def test_nll_loss_hand_worked():
    logp = kw.tensor(np.array([[-0.5, -1.0, -3.0], [-2.0, -0.25, -1.0]]), requires_grad=True)
    w = kw.tensor(np.array([1.0, 3.0, 1.0]))
    loss = nll_loss(logp, kw.tensor([0, 1]), w)  # (1·0.5 + 3·0.25) / (1 + 3)
    assert loss.item() == pytest.approx(1.25 / 4, abs=1e-15)
    loss.backward()
    np.testing.assert_array_equal(logp.grad.numpy(), [[-0.25, 0, 0], [0, -0.75, 0]])


def test_nll_loss_all_ignored_mean_is_nan_as_torch():
    x, t = np.zeros((2, 3)), np.array([-100, -100])
    expected = F.nll_loss(torch.tensor(x), torch.tensor(t))
    assert torch.isnan(expected)
    assert np.isnan(nll_loss(kw.tensor(x), kw.tensor(t)).item())


# --------------------------------------------------------------------------- cross_entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("case", INDEX_CASES, ids=_case_id)
def test_parity_cross_entropy_indices(case, smoothing, dtype):
    shape, weighted, ignore, reduction = case
    x, target, weight = index_case(shape, ignore, seed=1)
    options = dict(ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
    check_parity(
        lambda i, t, w: cross_entropy(i, t, w, **options),
        lambda i, t, w: F.cross_entropy(i, t, w, **options),
        [x, target, weight if weighted else None],
        dtype,
        grad=[0],
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize(
    "case", list(itertools.product(SHAPES, [False, True], REDUCTIONS)), ids=lambda c: "-".join(map(str, c))
)
def test_parity_cross_entropy_probabilities(case, smoothing, dtype):
    shape_name, weighted, reduction = case
    rng = np.random.default_rng(2)
    shape = SHAPES[shape_name]
    x = rng.standard_normal(shape) * 2
    class_dim = 0 if len(shape) == 1 else 1
    target = rng.uniform(0, 1, shape)
    target /= target.sum(axis=class_dim, keepdims=True)
    options = dict(reduction=reduction, label_smoothing=smoothing)
    check_parity(
        lambda i, t, w: cross_entropy(i, t, w, **options),
        lambda i, t, w: F.cross_entropy(i, t, w, **options),
        [x, target, rng.uniform(0.5, 2.0, C) if weighted else None],
        dtype,
        grad=[0, 1],  # the loss is differentiable in the target probabilities too
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_stable_cross_entropy_with_large_logits(reduction, smoothing, dtype):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    target = np.array([1, 1, 2])
    t = kw.tensor(x.astype(dtype), requires_grad=True)
    loss = cross_entropy(t, kw.tensor(target), reduction=reduction, label_smoothing=smoothing)
    assert np.isfinite(loss.numpy()).all()
    loss.sum().backward()
    assert np.isfinite(t.grad.numpy()).all()
    options = dict(reduction=reduction, label_smoothing=smoothing)
    check_parity(
        lambda i, tt: cross_entropy(i, tt, **options),
        lambda i, tt: F.cross_entropy(i, tt, **options),
        [x, target],
        dtype,
    )


# --------------------------------------------------------------------------- mse_loss
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_parity_mse_loss(shape, reduction, dtype):
    rng = np.random.default_rng(3)
    check_parity(
        lambda a, b: mse_loss(a, b, reduction=reduction),
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        [np.asarray(rng.standard_normal(shape)), np.asarray(rng.standard_normal(shape))],
        dtype,
    )


def test_mse_loss_hand_worked():
    x = kw.tensor([1.0, 2.0, 4.0], requires_grad=True)
    loss = mse_loss(x, kw.tensor([1.0, 0.0, 1.0]))  # (0 + 4 + 9) / 3
    assert loss.item() == pytest.approx(13 / 3, rel=1e-7)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 4 / 3, 2.0], rtol=1e-7)  # 2(x - y)/n


# --------------------------------------------------------------------------- gradcheck
def _f64(a):
    return kw.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_nll_loss(reduction):
    x, target, weight = index_case("N,C,d1,d2", -100)
    w, t = kw.tensor(weight), kw.tensor(target)
    assert kw.gradcheck(lambda i: nll_loss(i, t, w, reduction=reduction), (_f64(x),))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradcheck_cross_entropy_label_smoothing(weighted, reduction):
    x, target, weight = index_case("N,C", -100, seed=4)
    w, t = (kw.tensor(weight) if weighted else None), kw.tensor(target)
    fn = lambda i: cross_entropy(i, t, w, reduction=reduction, label_smoothing=0.3)  # noqa: E731
    assert kw.gradcheck(fn, (_f64(x),))


def test_gradcheck_cross_entropy_probabilities():
    rng = np.random.default_rng(5)
    x, target = rng.standard_normal((2, C, 3)), rng.uniform(0, 1, (2, C, 3))
    w = kw.tensor(rng.uniform(0.5, 2, C))
    fn = lambda i, t: cross_entropy(i, t, w, label_smoothing=0.1)  # noqa: E731
    assert kw.gradcheck(fn, (_f64(x), _f64(target)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_mse_loss(reduction):
    rng = np.random.default_rng(6)
    fn = lambda a, b: mse_loss(a, b, reduction=reduction)  # noqa: E731
    assert kw.gradcheck(fn, (_f64(rng.standard_normal((3, 4))), _f64(rng.standard_normal((3, 4)))))


# --------------------------------------------------------------------------- errors
def test_error_target_out_of_range():
    with pytest.raises(ValueError, match=r"target value 4 is out of range \[0, 4\) for C=4"):
        cross_entropy(kw.zeros(3, 4), kw.tensor([0, 4, 1]))


def test_error_negative_target_not_ignored():
    with pytest.raises(ValueError, match=r"target value -1 is out of range \[0, 3\)"):
        nll_loss(kw.zeros(2, 3), kw.tensor([-1, 0]))


def test_error_batch_sizes_differ():
    with pytest.raises(ValueError, match=r"batch_size \(3\) to match target batch_size \(2\).*\(3, 4\).*\(2,\)"):
        cross_entropy(kw.zeros(3, 4), kw.tensor([0, 1]))


def test_error_spatial_shape_differs():
    with pytest.raises(ValueError, match=r"target shape \(2, 3\) does not match input shape \(2, 4, 5\)"):
        nll_loss(kw.zeros(2, 4, 5), kw.tensor(np.zeros((2, 3), dtype=np.int64)))


def test_error_index_target_not_integer():
    with pytest.raises(TypeError, match=r"integer dtype.*got float32"):
        cross_entropy(kw.zeros(3, 4), kw.tensor([0.0, 1.0, 2.0]))


def test_error_probability_target_not_float():
    with pytest.raises(TypeError, match="class probabilities and must be floating point, got int64"):
        cross_entropy(kw.zeros(2, 3), kw.tensor([[0, 1, 0], [1, 0, 0]]))


def test_error_target_wrong_ndim():
    with pytest.raises(ValueError, match=r"target of shape \(3, 1, 1\) must have one dimension less"):
        nll_loss(kw.zeros(3, 4), kw.tensor(np.zeros((3, 1, 1), dtype=np.int64)))


def test_error_unbatched_target_not_0d():
    with pytest.raises(ValueError, match=r"unbatched input of shape \(4,\) the target must be 0-d"):
        cross_entropy(kw.zeros(4), kw.tensor([1]))


def test_error_input_0d():
    with pytest.raises(ValueError, match="must have a class dimension"):
        nll_loss(kw.tensor(0.0), kw.tensor(0))


def test_error_weight_wrong_length():
    with pytest.raises(ValueError, match=r"weight: expected one weight per class, shape \(4,\).*got shape \(3,\)"):
        cross_entropy(kw.zeros(2, 4), kw.tensor([0, 1]), kw.ones(3))


def test_error_weight_dtype_mismatch():
    with pytest.raises(TypeError, match="weight: dtype float32 differs from input's float64"):
        nll_loss(kw.zeros(2, 4, dtype=np.float64), kw.tensor([0, 1]), kw.ones(4))


@pytest.mark.parametrize("smoothing", [-0.1, 1.1])
def test_error_label_smoothing_out_of_range(smoothing):
    with pytest.raises(ValueError, match=r"label_smoothing=.* must be in \[0, 1\]"):
        cross_entropy(kw.zeros(2, 4), kw.tensor([0, 1]), label_smoothing=smoothing)


@pytest.mark.parametrize(
    "call",
    [
        lambda: nll_loss(kw.zeros(2, 3), kw.tensor([0, 1]), reduction="avg"),
        lambda: cross_entropy(kw.zeros(2, 3), kw.tensor([0, 1]), reduction="avg"),
        lambda: mse_loss(kw.zeros(2), kw.zeros(2), reduction="avg"),
    ],
    ids=["nll_loss", "cross_entropy", "mse_loss"],
)
def test_error_unknown_reduction(call):
    with pytest.raises(ValueError, match="reduction='avg' is not one of 'none', 'mean', 'sum'"):
        call()


def test_error_mse_shape_mismatch():
    with pytest.raises(ValueError, match=r"input shape \(2, 3\) and target shape \(3,\) differ"):
        mse_loss(kw.zeros(2, 3), kw.zeros(3))


def test_error_mse_dtype_mismatch():
    with pytest.raises(TypeError, match="target dtype float64 differs from input's float32"):
        mse_loss(kw.zeros(3), kw.zeros(3, dtype=np.float64))


def test_error_positional_ignore_index_is_rejected():
    # torch's third positional argument after weight is the deprecated size_average: refuse positional use
    with pytest.raises(TypeError):
        cross_entropy(kw.zeros(2, 3), kw.tensor([0, 1]), None, -100)
