"""The torch API that CNN programs use, each checked against PyTorch itself.

``same`` runs one expression with ``m = kw`` and with ``m = torch`` on tensors made from the same
arrays and compares what comes back (values, dtypes, shapes, named tuples, Python numbers) and
the gradient of every input. Devices, creation, in-place rules, grad modes and the PyTorch names
that have no meaning here are checked against what torch does on this (CPU-only) machine.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise.devices import as_device, parse_to

TOL = {np.dtype("float32"): {"rtol": 1e-6, "atol": 1e-7}, np.dtype("float64"): {"rtol": 1e-12, "atol": 1e-12}}


def np_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty(0, dtype=dtype).numpy().dtype


def assert_same(ours: Any, ref: Any, where: str = "output") -> None:
    """``ours`` (kernelwise) equals ``ref`` (torch): tensors by dtype, shape and value; the rest by type and value."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, kw.Tensor), f"{where}: {type(ours).__name__}, torch gives a Tensor"
        assert ours.dtype == np_dtype(ref.dtype), f"{where}: dtype {ours.dtype}, torch {ref.dtype}"
        assert ours.shape == tuple(ref.shape), f"{where}: shape {ours.shape}, torch {tuple(ref.shape)}"
        tol = TOL.get(ours.dtype, {"rtol": 0, "atol": 0})
        np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), **tol, err_msg=where)
    elif isinstance(ref, tuple) and hasattr(ref, "values") and hasattr(ref, "indices"):  # torch.return_types
        assert type(ours).__name__ == type(ref).__name__, f"{where}: {type(ours).__name__}, torch {type(ref).__name__}"
        assert isinstance(ours, tuple) and len(ours) == 2
        assert_same(ours.values, ref.values, f"{where}.values")
        assert_same(ours.indices, ref.indices, f"{where}.indices")
    elif isinstance(ref, tuple | list):
        assert type(ours) is type(ref) or isinstance(ref, torch.Size), f"{where}: {type(ours)} vs {type(ref)}"
        assert len(ours) == len(ref), where
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(ref), f"{where}: {type(ours).__name__} {ours!r}, torch {type(ref).__name__} {ref!r}"
        assert ours == ref or (ours != ours and ref != ref), f"{where}: {ours!r}, torch {ref!r}"


def same(fn: Callable, *arrays: Any, grad: bool = True, seed: int = 0) -> None:
    """Compare ``fn(kw, *kernelwise_tensors)`` with ``fn(torch, *torch_tensors)``, then the input gradients.

    Float arrays become tensors that require grad (when ``grad``); when torch's output (or the
    ``values`` of a named tuple) requires grad, the gradient flows back from it for a fixed random
    upstream gradient.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    needs = [grad and a.dtype.kind == "f" for a in arrays]
    ours_in = [kw.tensor(a.copy(), requires_grad=n) for a, n in zip(arrays, needs, strict=True)]
    ref_in = [torch.tensor(a.copy(), requires_grad=n) for a, n in zip(arrays, needs, strict=True)]
    ours, ref = fn(kw, *ours_in), fn(torch, *ref_in)
    assert_same(ours, ref)
    ours_out = ours.values if hasattr(ours, "values") and isinstance(ours, tuple) else ours
    ref_out = ref.values if hasattr(ref, "values") and isinstance(ref, tuple) else ref
    if not (isinstance(ref_out, torch.Tensor) and ref_out.requires_grad):  # nothing to differentiate
        assert not (isinstance(ours_out, kw.Tensor) and ours_out.requires_grad), "torch's output needs no grad"
        return
    upstream = np.random.default_rng(seed).standard_normal(ref_out.shape).astype(np_dtype(ref_out.dtype))
    ours_out.backward(upstream)
    ref_out.backward(torch.from_numpy(upstream))
    for i, (x, xt) in enumerate(zip(ours_in, ref_in, strict=True)):
        if xt.grad is None:
            assert x.grad is None, f"input {i}: torch gives no gradient"
        else:
            assert_same(x.grad, xt.grad, f"gradient of input {i}")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


X34 = rng().standard_normal((3, 4)).astype(np.float32)
X234 = rng(1).standard_normal((2, 3, 4)).astype(np.float32)
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
INTS = np.array([[3, 1, 2], [0, 5, 5]], dtype=np.int64)


# --------------------------------------------------------------------------- devices
@pytest.mark.parametrize("args", [("cpu",), ("cuda",), ("cuda:1",), ("cuda", 0), ("cpu:0",), ("mps",), ("cpu", 0)])
def test_device_names_like_torch(args):
    ours, ref = kw.device(*args), torch.device(*args)
    assert (repr(ours), str(ours), ours.type, ours.index) == (repr(ref), str(ref), ref.type, ref.index)
    assert (ours == kw.device(str(ours))) is (ref == torch.device(str(ref))) is True
    assert (ours == str(ours)) is (ref == str(ref))  # a device never equals a string, in torch as here
    assert hash(ours) == hash(kw.device(*args))


def test_device_errors():
    with pytest.raises(ValueError, match=r"expected one of cpu, cuda.*got 'gpu'"):
        kw.device("gpu")
    with pytest.raises(ValueError, match="invalid device string 'cpu:x'"):
        kw.device("cpu:x")
    with pytest.raises(TypeError, match="expected a string"):
        kw.device(3.5)


def test_no_accelerator_like_torch_on_this_machine():
    assert kw.cuda.is_available() is torch.cuda.is_available() is False
    assert kw.cuda.device_count() == torch.cuda.device_count() == 0
    assert kw.accelerator.is_available() is torch.accelerator.is_available() is False
    assert kw.accelerator.current_accelerator() is torch.accelerator.current_accelerator() is None
    assert kw.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert kw.backends.cudnn.is_available() is torch.backends.cudnn.is_available() is False
    kw.cuda.manual_seed(0), kw.cuda.manual_seed_all(0), kw.cuda.empty_cache()  # no-ops, as in torch without CUDA


def test_tensor_device_and_to_like_torch():
    x, xt = kw.tensor([1.5, -2.0]), torch.tensor([1.5, -2.0])
    assert str(x.device) == str(xt.device) == "cpu" and x.device == kw.device("cpu") and x.device.type == "cpu"
    assert x.is_cuda is xt.is_cuda is False
    for args, kwargs in [
        (("cpu",), {}),
        ((kw.device("cpu"),), {}),
        ((), {"device": "cpu"}),
        ((kw.float32,), {}),
        (("cpu", kw.float32), {"non_blocking": True}),
        ((x,), {}),
        ((), {}),
    ]:
        targs = tuple(torch.device("cpu") if isinstance(a, kw.device) else a for a in args)
        targs = tuple(xt if a is x else torch.float32 if a is kw.float32 else a for a in targs)
        assert (x.to(*args, **kwargs) is x) is (xt.to(*targs, **kwargs) is xt) is True
    assert x.to("cpu", copy=True) is not x and xt.to("cpu", copy=True) is not xt
    assert x.cpu() is x
    same(lambda m, a: a.to("cpu", m.float64) * 2, X34)
    same(lambda m, a: a.to(device="cpu", dtype=m.int64), X34 * 3, grad=False)
    same(lambda m, a, b: a.to(b), X34, INTS, grad=False)
    same(lambda m, a: a.to(m.float64, copy=True), X34)


def test_gpu_requests_say_there_is_no_gpu():
    x = kw.zeros(2)
    for use in (
        lambda: x.to("cuda"),
        lambda: x.to("cuda:0", kw.float64),
        lambda: x.to(kw.device("cuda")),
        lambda: x.cuda(),
        lambda: kw.zeros(2, device="cuda"),
        lambda: kw.tensor([1.0], device=kw.device("mps")),
        lambda: as_device(0),
        lambda: kw.cuda.synchronize(),
        lambda: kw.cuda.current_device(),
    ):
        with pytest.raises(NotImplementedError, match="kernelwise has no GPU backend; it computes on the CPU only"):
            use()
    with pytest.raises(RuntimeError):  # what torch raises is a RuntimeError too (or an AssertionError)
        x.to("cuda")


def test_parse_to_reads_every_form():
    assert parse_to() == (None, None, False, False)
    assert parse_to(kw.float64) == (None, np.dtype("float64"), False, False)
    assert parse_to("cpu", kw.int64, True, True) == (kw.device("cpu"), np.dtype("int64"), True, True)
    assert parse_to(device="cpu", dtype="float32", copy=True) == (kw.device("cpu"), np.dtype("float32"), False, True)
    assert parse_to(kw.zeros(1, dtype=kw.int32)) == (kw.device("cpu"), np.dtype("int32"), False, False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        parse_to(devcie="cpu")
    with pytest.raises(TypeError, match="dtype: 'cpu' is not a dtype"):
        parse_to("cpu", "cpu")
    with pytest.raises(TypeError, match="got arguments"):
        parse_to(kw.float32, True, False, True)
    with pytest.raises(TypeError, match="dtype is given twice"):
        parse_to(kw.float32, dtype=kw.float64)
    with pytest.raises(TypeError, match="dtype: 'fp32' is not a dtype"):
        kw.zeros(1).to("fp32")


# --------------------------------------------------------------------------- creation
@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.zeros(2, 3),
        lambda m: m.zeros((2, 3)),
        lambda m: m.zeros([2, 3], dtype=m.int64),
        lambda m: m.zeros(size=(2, 3)),
        lambda m: m.zeros(m.zeros(4, 5).shape),
        lambda m: m.zeros(()),
        lambda m: m.zeros(m.tensor(3)),
        lambda m: m.ones(4, dtype=m.float64),
        lambda m: m.ones(2, 0),
        lambda m: m.empty(2, 3).shape,
        lambda m: m.empty(3, dtype=m.uint8).dtype == m.uint8,
        lambda m: m.full((2, 2), 7),
        lambda m: m.full((2,), 1.5),
        lambda m: m.full([2], True),
        lambda m: m.full((3,), 2, dtype=m.float64),
        lambda m: m.eye(3),
        lambda m: m.eye(2, 4, dtype=m.int64),
        lambda m: m.arange(5),
        lambda m: m.arange(2, 9, 3),
        lambda m: m.arange(0, -5, -1.5),
        lambda m: m.arange(0.1, 2.3, 0.2),
        lambda m: m.arange(5.0),
        lambda m: m.arange(m.tensor(4)),
        lambda m: m.arange(1, 4, dtype=m.float64),
        lambda m: m.arange(3, 3),
        lambda m: m.linspace(0, 1, 7),
        lambda m: m.linspace(-3.3, 7.1, 13),
        lambda m: m.linspace(0, 10, 5, dtype=m.int64),
        lambda m: m.linspace(2, 5, 1),
        lambda m: m.linspace(0, 1, 0),
        lambda m: m.linspace(1, -1, 4, dtype=m.float64),
        lambda m: m.zeros_like(m.ones(2, 3, dtype=m.int64)),
        lambda m: m.ones_like(m.zeros(2), dtype=m.float64),
        lambda m: m.full_like(m.zeros(2, 2), 3.5),
        lambda m: m.full_like(m.zeros(3, dtype=m.int32), 4),
        lambda m: m.empty_like(m.zeros(2, dtype=m.float64)).shape,
        lambda m: m.rand(2, 3).shape,
        lambda m: m.rand(2, 3).dtype == m.float32,
        lambda m: m.randn(size=(4,), dtype=m.float64).dtype == m.float64,
        lambda m: m.rand_like(m.zeros(2, 2, dtype=m.float64)).dtype == m.float64,
        lambda m: m.randn_like(m.zeros(5)).shape,
        lambda m: m.tensor([1, 2], dtype=m.float32, device="cpu"),
        lambda m: m.zeros(2, requires_grad=True).requires_grad,
        lambda m: m.randn(3, requires_grad=True).requires_grad,
        lambda m: m.get_default_dtype() == m.float32,
        lambda m: m.is_tensor(m.zeros(1)) and not m.is_tensor([1.0]),
        lambda m: m.zeros(1, device=m.device("cpu")),
    ],
)
def test_creation_like_torch(make):
    """Same dtype, shape and values as torch (integers exactly; floats within TOL: torch's vectorised
    arange and linspace compute lane by lane and can differ from start + i·step in the last bit)."""
    assert_same(make(kw), make(torch))


def test_dtype_names_are_torch_dtypes():
    for name in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"):
        assert getattr(kw, name if name != "bool" else "bool_") == np_dtype(getattr(torch, name))
    for short in ("float", "double", "half", "long", "int", "short", "bool"):
        assert getattr(kw, short) == np_dtype(getattr(torch, short)), short


def test_random_creation_is_seeded_and_in_range():
    g = kw.Generator()
    a = kw.rand(1000, generator=g.manual_seed(3))
    assert g.initial_seed() == 3 and isinstance(g, np.random.Generator)
    np.testing.assert_array_equal(a.numpy(), kw.rand(1000, generator=kw.Generator().manual_seed(3)).numpy())
    assert a.numpy().min() >= 0 and a.numpy().max() < 1 and abs(a.numpy().mean() - 0.5) < 0.05
    n = kw.randn(20000, generator=np.random.default_rng(0)).numpy()
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    kw.manual_seed(5)
    b = kw.randn(4, 4)
    kw.manual_seed(5)
    np.testing.assert_array_equal(b.numpy(), kw.randn(4, 4).numpy())
    w = kw.nn.init.uniform_(kw.zeros(3), generator=kw.Generator().manual_seed(1))  # any numpy Generator works
    assert w.shape == (3,)


def test_creation_errors():
    with pytest.raises(ValueError, match=r"zeros\(\): size \(2, -1\) must be non-negative"):
        kw.zeros(2, -1)
    with pytest.raises(TypeError, match=r"ones\(\): size must be ints"):
        kw.ones(2.5)
    with pytest.raises(TypeError, match="the size is given twice"):
        kw.zeros(2, size=(2,))
    with pytest.raises(TypeError, match=r"rand\(\): dtype must be a floating-point dtype, got int64"):
        kw.rand(2, dtype=kw.int64)
    with pytest.raises(TypeError, match=r"randn_like\(\): dtype must be a floating-point dtype"):
        kw.randn_like(kw.zeros(2, dtype=kw.int64))
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        kw.zeros(2, dtype=kw.int64, requires_grad=True)
    with pytest.raises(ValueError, match="inconsistent with the sign of step"):
        kw.arange(0, 5, -1)
    with pytest.raises(ValueError, match="step must be nonzero"):
        kw.arange(0, 5, 0)
    with pytest.raises(ValueError, match="steps must be a non-negative int"):
        kw.linspace(0, 1, -2)
    with pytest.raises(TypeError, match=r"expected a numpy\.ndarray"):
        kw.from_numpy([1, 2])
    with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative int"):
        kw.Generator().manual_seed(-1)


def test_from_numpy_and_as_tensor_share_memory_like_torch():
    for m in (kw, torch):
        a = np.arange(4.0)
        t = m.from_numpy(a)
        a[0] = 9
        t[1] = 7
        assert t.tolist() == [9.0, 7.0, 2.0, 3.0] and a[1] == 7 and t.dtype == m.float64
        b = np.ones(3, dtype=np.float32)
        shared = m.as_tensor(b)
        b[0] = 5
        assert shared[0].item() == 5
        assert m.as_tensor(b, dtype=m.float64)[0].item() == 5 and m.as_tensor([1, 2]).dtype == m.int64
        x = m.zeros(2)
        assert m.as_tensor(x) is x


# --------------------------------------------------------------------------- functions and methods
CASES = [
    # flatten, shapes
    ("flatten", lambda m, x: m.flatten(x, 1), [X234]),
    ("flatten-method", lambda m, x: x.flatten(1), [X234]),
    ("flatten-range", lambda m, x: m.flatten(x, 0, 1), [X234]),
    ("view", lambda m, x: x.view(4, 6), [X234]),
    ("view-as", lambda m, x, y: x.view_as(y) * y, [X234, X234.reshape(6, 4)]),
    ("reshape-as", lambda m, x, y: x.reshape_as(y), [X234, X234.reshape(4, 6)]),
    ("reshape-fn", lambda m, x: m.reshape(x, (3, -1)), [X234]),
    ("expand", lambda m, x: x.expand(2, 3, 4), [X34[:, :1]]),
    ("expand-minus1", lambda m, x: x.expand(5, -1, 4), [X34[:, :1]]),
    ("expand-as", lambda m, x, y: x.expand_as(y) * y, [X34[:1], X234]),
    ("transpose", lambda m, x: m.transpose(x, 0, 2), [X234]),
    ("permute", lambda m, x: m.permute(x, (2, 0, 1)), [X234]),
    ("squeeze", lambda m, x: m.squeeze(x), [X34[:, None, :1]]),
    ("squeeze-dim", lambda m, x: m.squeeze(x, 1), [X34[:, None]]),
    ("unsqueeze", lambda m, x: m.unsqueeze(x, -1), [X34]),
    # max / min: a value, (values, indices) along a dimension, elementwise with a tensor
    ("max-all", lambda m, x: m.max(x), [X34]),
    ("max-all-ties", lambda m, x: x.max(), [TIES]),
    ("max-dim", lambda m, x: m.max(x, 1), [X34]),
    ("max-dim-ties", lambda m, x: m.max(x, 1), [TIES]),
    ("max-dim0-ties-keepdim", lambda m, x: x.max(0, keepdim=True), [TIES]),
    ("max-dim-keyword", lambda m, x: x.max(dim=-1, keepdim=False), [TIES]),
    ("max-axis", lambda m, x: m.max(x, axis=1), [X34]),
    ("max-0d", lambda m, x: m.max(x[0, 0], 0), [X34]),
    ("min-dim-ties", lambda m, x: m.min(x, dim=1), [TIES]),
    ("min-dim-method", lambda m, x: x.min(0), [X34]),
    ("min-all", lambda m, x: x.min(), [TIES]),
    ("max-elementwise", lambda m, x, y: m.max(x, y), [TIES, TIES[::-1].copy()]),
    ("min-elementwise", lambda m, x, y: x.min(y), [TIES, TIES[::-1].copy()]),
    ("maximum-broadcast", lambda m, x, y: m.maximum(x, y), [TIES, TIES[1]]),
    ("minimum", lambda m, x, y: m.minimum(x, y), [X34, TIES]),
    ("amax-dims", lambda m, x: m.amax(x, (0, 2)), [X234]),
    ("amin-ties", lambda m, x: x.amin(1, keepdim=True), [TIES]),
    ("max-ints", lambda m, x: m.max(x, 1), [INTS]),
    # arg-extremes, sort, top-k
    ("argmax", lambda m, x: m.argmax(x), [TIES]),
    ("argmax-dim", lambda m, x: x.argmax(dim=1), [TIES]),
    ("argmax-keepdim", lambda m, x: m.argmax(x, 1, keepdim=True), [TIES]),
    ("argmax-axis-d2l", lambda m, x: x.argmax(axis=1), [X34]),
    ("argmin-dim0", lambda m, x: m.argmin(x, 0), [TIES]),
    ("sort", lambda m, x: m.sort(x), [X34]),
    ("sort-descending-dim0", lambda m, x: x.sort(0, descending=True), [X34]),
    ("sort-stable-ties", lambda m, x: m.sort(x, stable=True), [TIES]),
    ("sort-stable-ties-descending", lambda m, x: m.sort(x, descending=True, stable=True), [TIES]),
    ("sort-ints", lambda m, x: x.sort(descending=True, stable=True), [INTS]),
    ("argsort", lambda m, x: m.argsort(x, dim=0), [X34]),
    ("argsort-descending", lambda m, x: x.argsort(descending=True), [X34]),
    ("topk", lambda m, x: m.topk(x, 2), [X34]),
    ("topk-smallest-dim0", lambda m, x: x.topk(2, dim=0, largest=False), [X34]),
    ("topk-all", lambda m, x: m.topk(x, 4), [X34]),
    # comparisons
    ("eq-method", lambda m, x, y: x.eq(y), [TIES, TIES[::-1].copy()]),
    ("eq-fn-number", lambda m, x: m.eq(x, 2.0), [TIES]),
    ("ne", lambda m, x, y: m.ne(x, y), [TIES, TIES[::-1].copy()]),
    ("lt", lambda m, x: x.lt(2), [TIES]),
    ("le", lambda m, x, y: m.le(x, y), [TIES, TIES[1]]),
    ("gt", lambda m, x: m.gt(x, 0.5), [X34]),
    ("ge", lambda m, x, y: x.ge(y), [TIES, TIES[::-1].copy()]),
    ("operators", lambda m, x, y: ((x == y), (x != y), (x < y), (x <= y), (x > y), (x >= y)), [TIES, TIES[1]]),
    # reductions
    ("sum-dim", lambda m, x: x.sum(dim=1), [X234]),
    ("sum-dims-keepdim", lambda m, x: m.sum(x, dim=(0, 2), keepdim=True), [X234]),
    ("sum-axis", lambda m, x: x.sum(axis=0), [X234]),
    ("sum-positional", lambda m, x: x.sum(1, True), [X234]),
    ("sum-bool", lambda m, x: (x > 0).sum(), [X34]),
    ("sum-uint8", lambda m, x: x.sum(), [INTS.astype(np.uint8)]),
    ("sum-int32-dim", lambda m, x: x.sum(0), [INTS.astype(np.int32)]),
    ("mean", lambda m, x: m.mean(x), [X234]),
    ("mean-dim-keepdim", lambda m, x: m.mean(x, dim=-1, keepdim=True), [X234]),
    ("mean-axis", lambda m, x: x.mean(axis=(0, 1)), [X234]),
    ("numel", lambda m, x: (m.numel(x), x.numel(), x.dim()), [X234]),
    # clamp
    ("clamp-numbers", lambda m, x: m.clamp(x, -0.5, 0.5), [X34]),
    ("clamp-min", lambda m, x: x.clamp(min=0.0), [X34]),
    ("clip-max", lambda m, x: m.clip(x, max=0.2), [X34]),
    ("clamp-at-bounds", lambda m, x: x.clamp(1.0, 3.0), [TIES]),
    ("clamp-tensors", lambda m, x, lo, hi: x.clamp(lo, hi), [X34, X34[0] - 0.5, X34[:, :1] + 0.5]),
    ("clamp-tensor-min", lambda m, x, lo: m.clamp(x, min=lo), [X34, X34[1]]),
    ("clamp-tensor-max", lambda m, x, hi: x.clamp(max=hi), [X34, X34[:, 2:3]]),
    ("clamp-min-above-max", lambda m, x: x.clamp(1.0, -1.0), [X34]),
    ("clamp-crossed-tensors", lambda m, x, lo, hi: x.clamp(lo, hi), [X34, X34[0] + 0.3, X34[0] - 0.3]),
    ("clamp-ints-float-bound", lambda m, x: x.clamp(min=0.5), [INTS]),
    # math as functions
    ("exp", lambda m, x: m.exp(x), [X34]),
    ("log", lambda m, x: m.log(x), [np.abs(X34) + 0.5]),
    ("sqrt", lambda m, x: m.sqrt(x), [np.abs(X34) + 0.5]),
    ("abs", lambda m, x: m.abs(x), [X34]),
    ("sigmoid", lambda m, x: m.sigmoid(x), [X34]),
    ("tanh", lambda m, x: m.tanh(x), [X34]),
    ("relu", lambda m, x: m.relu(x), [X34]),
    ("softmax", lambda m, x: m.softmax(x, 1), [X34]),
    ("softmax-method", lambda m, x: x.softmax(dim=0), [X34]),
    ("log-softmax", lambda m, x: m.log_softmax(x, dim=-1), [X234]),
    ("log-softmax-method", lambda m, x: x.log_softmax(1), [X34]),
    ("matmul", lambda m, x, y: m.matmul(x, y), [X34, X34.T.copy()]),
    ("matmul-method", lambda m, x, y: x.matmul(y), [X234, X34.T.copy()]),
    ("mm", lambda m, x, y: m.mm(x, y), [X34, X34.T.copy()]),
    ("mm-method", lambda m, x, y: x.mm(y), [X34.T.copy(), X34]),
    ("bmm", lambda m, x, y: m.bmm(x, y), [X234, X234.transpose(0, 2, 1).copy()]),
    ("cat", lambda m, x, y: m.cat([x, y], dim=1), [X34, X34[:, :2]]),
    ("stack", lambda m, x, y: m.stack((x, y), 1), [X34, X34 * 2]),
    ("where", lambda m, x, y: m.where(x > 0, x, y), [X34, TIES]),
    # conversions
    ("float", lambda m, x: x.float(), [INTS]),
    ("double", lambda m, x: x.double(), [X34]),
    ("long", lambda m, x: x.long(), [X34 * 3]),
    ("int", lambda m, x: x.int(), [X34 * 3]),
    ("bool", lambda m, x: x.bool(), [INTS]),
    ("type-dtype", lambda m, x: x.type(m.float64), [X34]),
    ("type-name", lambda m, x: x.type("torch.IntTensor"), [X34 * 3]),
    ("detach-clone", lambda m, x: (x.detach(), x.clone() * 2), [X34]),
    ("item-tolist", lambda m, x: (x[0, 1].item(), x.tolist(), x[0, 0].tolist()), [X34]),
    ("item-int", lambda m, x: (x[1, 1].item(), int(x[0, 0]), float(x[0, 1])), [INTS]),
    ("size", lambda m, x: (x.size(), x.size(1), x.size(-1), x.shape, x.shape[1:], x.shape + (5,)), [X234]),  # noqa: RUF005
]


@pytest.mark.parametrize(("fn", "arrays"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_torch(fn, arrays):
    same(fn, *arrays)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"])
def test_type_names_like_torch(dtype):
    t = torch.zeros(2, dtype=getattr(torch, dtype))
    x = kw.zeros(2, dtype=getattr(kw, dtype if dtype != "bool" else "bool_"))
    assert x.type() == t.type()
    assert x.type(t.type()).dtype == x.dtype and x.type(x.dtype) is x


def test_size_is_a_tuple_with_numel():
    s = kw.zeros(2, 3, 4).shape
    assert isinstance(s, tuple) and isinstance(s, kw.Size) and s == (2, 3, 4) and s.numel() == 24
    assert isinstance(s[1:], kw.Size) and isinstance(s + (1,), kw.Size) and isinstance((1,) + s, kw.Size)  # noqa: RUF005
    assert isinstance(s[0], int) and kw.Size([2, 3]) == torch.Size([2, 3]) and kw.Size([]).numel() == 1
    assert list(kw.zeros(5, 6).size()) == list(torch.zeros(5, 6).size())
    with pytest.raises(ValueError, match="dim=3 is out of range for a tensor of 3 dimensions"):
        kw.zeros(2, 3, 4).size(3)
    with pytest.raises(TypeError, match="Size: expected a sequence of ints"):
        kw.Size([2.5])


def test_integer_tensors_are_indices_like_torch():
    classes = ("plane", "car", "bird", "cat")
    for m in (kw, torch):
        labels = m.tensor([3, 0, 2])
        assert [classes[labels[j]] for j in range(3)] == ["cat", "plane", "bird"]
        assert classes[m.tensor([1])] == "car" and classes[m.tensor(True)] == "car"
        assert list(range(m.tensor(3))) == [0, 1, 2]
        with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
            classes[m.tensor(1.0)]
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            classes[m.tensor([1, 2])]


def test_max_along_a_dimension_sends_the_gradient_to_its_index():
    """torch.max(x, dim): the whole gradient of each row goes to the index it returns (the first maximum)."""
    x = kw.tensor(TIES, requires_grad=True)
    values, indices = kw.max(x, 1)
    values.sum().backward()
    expected = np.zeros_like(TIES)
    expected[[0, 1, 2], [1, 0, 0]] = 1  # first of the tied maxima in each row
    np.testing.assert_array_equal(indices.numpy(), [1, 0, 0])
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    xt = torch.tensor(TIES, requires_grad=True)
    torch.max(xt, 1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_max_and_min_with_nan_like_torch():
    nan = np.array([[1.0, np.nan, 3.0], [2.0, 1.0, np.nan], [0.0, 4.0, 2.0]], dtype=np.float32)
    same(lambda m, x: (m.max(x, 1), m.min(x, 1), x.argmax(1), x.argmin(1), m.sort(x), m.max(x)), nan, grad=False)
    same(lambda m, x, y: m.maximum(x, y), nan, nan[::-1].copy())
    same(lambda m, x, y: m.minimum(x, y), nan, nan.T.copy())


def test_reduction_errors():
    x = kw.zeros(2, 3)
    with pytest.raises(
        TypeError, match=r"max\(\): dim must be an int, got \(0, 1\) \(for several dimensions use amax\)"
    ):
        x.max((0, 1))
    with pytest.raises(ValueError, match=r"min\(\): dimension 1 of the tensor of shape \(2, 0\) is empty"):
        kw.zeros(2, 0).min(1)
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        kw.max(x, 2)
    with pytest.raises(ValueError, match=r"topk\(\): k=4 must be an int from 0 to 3"):
        kw.topk(x, 4)
    with pytest.raises(ValueError, match=r"expand\(\): cannot expand shape \(2, 3\) to \(2, 4\)"):
        x.expand(2, 4)
    with pytest.raises(ValueError, match=r"expand\(\): sizes \(3,\) have fewer dimensions"):
        x.expand(3)
    with pytest.raises(ValueError, match=r"mm\(\): both operands must be 2-D tensors, got shapes \(2, 3\) and \(3,\)"):
        kw.mm(x, kw.zeros(3))
    with pytest.raises(ValueError, match=r"bmm\(\): both operands must be 3-D tensors with the same batch size"):
        kw.bmm(kw.zeros(2, 3, 4), kw.zeros(3, 4, 5))
    with pytest.raises(TypeError, match=r"exp\(\): input must be a Tensor, got list"):
        kw.exp([1.0])
    with pytest.raises(ValueError, match=r"clamp\(\): at least one of min and max must be given"):
        x.clamp()
    with pytest.raises(TypeError, match=r"unknown type name 'torch\.cuda\.FloatTensor'"):
        x.type("torch.cuda.FloatTensor")


# --------------------------------------------------------------------------- in place
INPLACE = [
    ("zero", lambda m, x: x.zero_()),
    ("fill", lambda m, x: x.fill_(2.5)),
    ("fill-tensor", lambda m, x: x.fill_(m.tensor(-1.0))),
    ("add", lambda m, x: x.add_(1.5)),
    ("add-tensor-alpha", lambda m, x: x.add_(m.ones(4) * 3, alpha=0.5)),
    ("add-float64-into-float32", lambda m, x: x.add_(m.ones(3, 4, dtype=m.float64) / 3)),
    ("add-int-tensor", lambda m, x: x.add_(m.tensor([1, 2, 3, 4]))),
    ("sub-alpha", lambda m, x: x.sub_(m.full((3, 1), 2.0), alpha=2)),
    ("mul", lambda m, x: x.mul_(m.tensor([1.0, -2.0, 0.5, 4.0]))),
    ("mul-number", lambda m, x: x.mul_(0.1)),
    ("div", lambda m, x: x.div_(3.0)),
    ("copy", lambda m, x: x.copy_(m.arange(4.0))),
    ("copy-ints", lambda m, x: x.copy_(m.tensor([[1], [2], [3]]))),
    ("clamp", lambda m, x: x.clamp_(-0.5, 0.5)),
    ("clamp-tensor", lambda m, x: x.clamp_(min=m.zeros(4))),
    ("chain", lambda m, x: x.mul_(2).add_(1).clamp_(max=1.0)),
]


@pytest.mark.parametrize(("fn",), [(c[1],) for c in INPLACE], ids=[c[0] for c in INPLACE])
def test_in_place_like_torch(fn):
    x, xt = kw.tensor(X34.copy()), torch.tensor(X34.copy())
    out, ref = fn(kw, x), fn(torch, xt)
    assert out is x and ref is xt
    assert_same(x, xt)


def test_in_place_on_integers_like_torch():
    for m in (kw, torch):
        a = m.tensor([1, 2])
        a.mul_(3).add_(1)
        assert a.tolist() == [4, 7] and a.dtype == m.int64
        a.fill_(2.7)  # fill_ casts, as copy_ does
        assert a.tolist() == [2, 2]
        b = m.tensor([True, False])
        b.copy_(m.tensor([0, 5]))
        assert b.tolist() == [False, True]
    with pytest.raises(TypeError, match=r"add_\(\): the result type float64 cannot be written into a int64 tensor"):
        kw.tensor([1, 2]).add_(0.5)
    with pytest.raises(TypeError, match=r"mul_\(\): the result type int64 cannot be written into a bool tensor"):
        kw.tensor([True]).mul_(2)
    with pytest.raises(TypeError, match=r"div_\(\): true division cannot be written into a int64 tensor"):
        kw.tensor([1, 2]).div_(2)
    with pytest.raises(TypeError, match=r"clamp_\(\): the result type float32 cannot be written into a int64"):
        kw.tensor([1, 2]).clamp_(min=0.5)
    with pytest.raises(
        ValueError, match=r"add_\(\): a value of shape \(3, 3\) does not broadcast to the tensor's shape"
    ):
        kw.zeros(2, 3).add_(kw.ones(3, 3))


def test_in_place_rules_for_grad_like_torch():
    for m in (kw, torch):
        w = m.ones(3, requires_grad=True)
        for use in (
            lambda w: w.zero_(),
            lambda w: w.fill_(2),
            lambda w: w.add_(1),
            lambda w: w.mul_(2),
            lambda w: w.copy_(w),
        ):
            with pytest.raises(RuntimeError, match=r"a leaf .* that requires grad is being used in an in-place"):
                use(w)
        with m.no_grad():
            w.add_(1).mul_(2)
        assert w.tolist() == [4.0, 4.0, 4.0] and w.requires_grad and w.is_leaf
        (w * 2).sum().backward()
        with m.no_grad():
            w.sub_(w.grad, alpha=0.5)  # an SGD step
        assert w.tolist() == [3.0, 3.0, 3.0]
        w.grad.zero_()
        assert w.grad.tolist() == [0.0, 0.0, 0.0]
    y = kw.ones(2, requires_grad=True) * 2  # torch records this; kernelwise refuses it with a message
    with pytest.raises(RuntimeError, match="kernelwise does not record in-place operations in the graph"):
        y.add_(1)
    acc = kw.zeros(2)
    with pytest.raises(RuntimeError, match="kernelwise does not record in-place operations"):
        acc.add_(kw.ones(2, requires_grad=True))


def test_grad_attributes_and_backward_with_gradient_like_torch():
    for m in (kw, torch):
        x = m.tensor([1.0, 2.0, 3.0])
        assert x.requires_grad is False and x.grad is None
        assert x.requires_grad_() is x and x.requires_grad
        y = x * x
        y.backward(m.tensor([1.0, 0.5, -1.0]))
        assert isinstance(x.grad, m.Tensor) and x.grad.tolist() == [2.0, 2.0, -6.0]
        assert x.grad.requires_grad is False
        x.requires_grad_(False)
        assert not x.requires_grad


# --------------------------------------------------------------------------- grad modes
def test_grad_modes_nest_like_torch():
    """The same sequence of modes in both: is_grad_enabled and requires_grad of a result agree at each step."""

    def trace(m):
        w = m.ones(1, requires_grad=True)
        seen = []

        def probe():
            seen.append((m.is_grad_enabled(), (w * 2).requires_grad))

        probe()
        with m.no_grad():
            probe()
            with m.enable_grad():
                probe()
                with m.set_grad_enabled(False):
                    probe()
                probe()
            with m.inference_mode():
                probe()
            with m.inference_mode(False):
                probe()
            probe()
        with m.set_grad_enabled(True):
            probe()
        m.set_grad_enabled(False)  # a plain call switches at once
        probe()
        m.set_grad_enabled(True)
        probe()

        @m.no_grad
        def bare():
            probe()

        @m.no_grad()
        def called():
            probe()

        @m.enable_grad()
        def enabled():
            probe()

        @m.set_grad_enabled(False)
        def switched_off():
            probe()

        @m.inference_mode
        def inferring():
            probe()

        probe()  # decorating changed nothing yet
        bare(), called(), switched_off(), inferring()
        with m.no_grad():
            enabled()
            probe()
        probe()
        return seen

    assert trace(kw) == trace(torch)


def test_grad_mode_is_restored_after_an_exception():
    for m in (kw, torch):
        with pytest.raises(ZeroDivisionError), m.no_grad():
            _ = 1 / 0
        assert m.is_grad_enabled()

        @m.no_grad()
        def fails():
            raise KeyError

        with pytest.raises(KeyError):
            fails()
        assert m.is_grad_enabled()


def test_grad_mode_arguments():
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be a bool, got 'no'"):
        kw.set_grad_enabled("no")
    with pytest.raises(TypeError, match="inference_mode: mode must be a bool"):
        kw.inference_mode(3)
    assert kw.is_grad_enabled()


# --------------------------------------------------------------------------- names without meaning here
def test_unsupported_names_raise_naming_themselves():
    for use, name in (
        (lambda: kw.cuda.Stream(), "kernelwise.cuda.Stream"),
        (lambda: kw.cuda.Event(enable_timing=True), "kernelwise.cuda.Event"),
        (lambda: kw.compile(kw.nn.Linear(2, 2)), "kernelwise.compile"),
        (lambda: kw.autocast(device_type="cpu", dtype=kw.float16), "kernelwise.autocast"),
    ):
        with pytest.raises(NotImplementedError, match=name):
            use()


def test_amp_is_disabled_as_torch_disables_it_without_cuda():
    loss = kw.tensor(2.0, requires_grad=True) * 3
    ref_loss = torch.tensor(2.0, requires_grad=True) * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from kernelwise.cuda.amp import GradScaler, autocast

        for ours, ref in (
            (kw.amp.GradScaler("cuda"), torch.amp.GradScaler("cuda")),
            (GradScaler(), torch.cuda.amp.GradScaler()),
        ):
            assert ours.is_enabled() is ref.is_enabled() is False
            assert ours.get_scale() == ref.get_scale() == 1.0
            assert ours.scale(loss) is loss and ref.scale(ref_loss) is ref_loss
            assert ours.state_dict() == ref.state_dict() == {}
        with kw.autocast(device_type="cuda", dtype=kw.float16), autocast():
            y = kw.ones(2, 2) @ kw.ones(2, 2)
        assert y.dtype == kw.float32
        with kw.autocast(device_type="cpu", enabled=False):
            pass
    with pytest.warns(UserWarning, match="Disabling autocast"):
        kw.autocast("cuda")
    opt = kw.optim.SGD([kw.nn.Parameter(kw.ones(1))], lr=0.5)
    opt.param_groups[0]["params"][0].grad = kw.ones(1)
    with pytest.warns(UserWarning, match="Disabling"):
        scaler = kw.amp.GradScaler()
    scaler.step(opt), scaler.update(), scaler.unscale_(opt)
    assert opt.param_groups[0]["params"][0].tolist() == [0.5]


def test_backends_flags_are_settable():
    import kernelwise.backends.cudnn as cudnn

    before = (cudnn.benchmark, cudnn.deterministic)
    assert before == (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    try:
        kw.backends.cudnn.benchmark = True
        kw.backends.cudnn.deterministic = True
        assert cudnn.benchmark and cudnn.deterministic
    finally:
        cudnn.benchmark, cudnn.deterministic = before


# --------------------------------------------------------------------------- programs
def evaluate_like_the_tutorials(m, outputs, labels, target):
    """The evaluation code of the CIFAR-10 tutorial, the MNIST example and d2l, as written for torch."""
    classes = ("plane", "car", "bird", "cat")
    correct = total = 0
    with m.no_grad():
        _, predicted = m.max(outputs, 1)  # CIFAR-10 tutorial
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
        correct_pred = {name: 0 for name in classes}
        total_pred = {name: 0 for name in classes}
        for label, prediction in zip(labels, predicted, strict=True):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1
        accuracy = {name: 100 * float(correct_pred[name]) / max(total_pred[name], 1) for name in classes}
        pred = outputs.argmax(dim=1, keepdim=True)  # MNIST example
        mnist_correct = pred.eq(target.view_as(pred)).sum().item()
        cmp = outputs.argmax(axis=1).type(labels.dtype) == labels  # d2l.accuracy
        d2l_correct = float(cmp.type(labels.dtype).sum())
        shown = " ".join(f"{classes[labels[j]]:5s}" for j in range(4))
    return correct, total, accuracy, mnist_correct, d2l_correct, shown, outputs.shape[1:], labels.numel()


def test_tutorial_evaluation_code_runs_the_same():
    outputs = rng(3).standard_normal((8, 4)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    ours = evaluate_like_the_tutorials(kw, kw.tensor(outputs), kw.tensor(labels), kw.tensor(labels))
    ref = evaluate_like_the_tutorials(torch, torch.tensor(outputs), torch.tensor(labels), torch.tensor(labels))
    assert ours[:-2] == ref[:-2] and tuple(ours[-2]) == tuple(ref[-2]) and ours[-1] == ref[-1]


def test_save_load_state_dict_like_the_tutorial():
    net = kw.nn.Sequential(kw.nn.Conv2d(1, 2, 3), kw.nn.Flatten(), kw.nn.Linear(8, 3))
    buffer = io.BytesIO()
    kw.save(net.state_dict(), buffer)
    buffer.seek(0)
    other = kw.nn.Sequential(kw.nn.Conv2d(1, 2, 3), kw.nn.Flatten(), kw.nn.Linear(8, 3))
    other.load_state_dict(kw.load(buffer, weights_only=True))
    x = kw.randn(2, 1, 4, 4)
    np.testing.assert_array_equal(other(x).detach().numpy(), net(x).detach().numpy())
