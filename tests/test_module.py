"""Module, Parameter and containers: registration, traversal, modes, state_dict, dtype and repr, against torch.nn."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise import nn

TN = torch.nn


def small_kw() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, generator=0),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8, 3, generator=1),
    )


def small_torch() -> torch.nn.Sequential:
    return TN.Sequential(
        TN.Conv2d(1, 2, 3, padding=1), TN.BatchNorm2d(2), TN.ReLU(), TN.MaxPool2d(2), TN.Flatten(), TN.Linear(8, 3)
    )


class KwBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(1, 2, 3, generator=0), nn.ReLU())
        self.register_buffer("steps", kw.zeros(1))
        self.register_buffer("scratch", kw.zeros(2), persistent=False)
        self.head = nn.ModuleList([nn.Linear(2, 2, generator=1), nn.Linear(2, 1, bias=False, generator=2)])
        self.scale = nn.Parameter(kw.ones(1))

    def forward(self, x: kw.Tensor) -> kw.Tensor:
        return self.head[1](self.head[0](self.features(x).mean(axis=2))) * self.scale


class TorchBlock(TN.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = TN.Sequential(TN.Conv1d(1, 2, 3), TN.ReLU())
        self.register_buffer("steps", torch.zeros(1))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.head = TN.ModuleList([TN.Linear(2, 2), TN.Linear(2, 1, bias=False)])
        self.scale = TN.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head[1](self.head[0](self.features(x).mean(2))) * self.scale


def kind(m: object) -> str:
    """The class name, with the Kw/Torch prefix of the test blocks removed."""
    return type(m).__name__.removeprefix("Kw").removeprefix("Torch")


def numpy_state(t_mod: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in t_mod.state_dict().items()}


# --------------------------------------------------------------------------- Parameter
def test_parameter_is_a_leaf_tensor_sharing_memory() -> None:
    data = np.array([1.0, 2.0], dtype=np.float32)
    p = nn.Parameter(data)
    assert isinstance(p, kw.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.numpy(), data)
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])
    assert type(p * 2) is kw.Tensor  # results of operations are plain tensors


def test_parameter_rejects_integer_data() -> None:
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        nn.Parameter(kw.tensor([1, 2]))


# --------------------------------------------------------------------------- names and traversal
def test_names_and_traversal_match_torch() -> None:
    k, t = KwBlock(), TorchBlock()
    assert [n for n, _ in k.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in k.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in k.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in k.named_modules()] == [n for n, _ in t.named_modules()]
    assert [kind(m) for m in k.modules()] == [kind(m) for m in t.modules()]
    assert [n for n, _ in k.named_parameters(recurse=False)] == ["scale"]
    assert list(k.state_dict()) == list(t.state_dict())  # the non-persistent buffer is left out
    assert len(list(k.parameters())) == 6 and len(list(k.buffers())) == 2
    assert next(n for n, _ in k.named_parameters(prefix="model")) == "model.scale"  # own parameters first


def test_shared_parameters_and_modules_are_listed_once() -> None:
    shared = nn.Linear(2, 2, generator=0)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    t_shared = TN.Linear(2, 2)
    t_model = TN.Sequential(t_shared, TN.ReLU(), t_shared)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in t_model.named_parameters()]
    assert [n for n, _ in model.named_modules()] == [n for n, _ in t_model.named_modules()]
    assert list(model.state_dict()) == list(t_model.state_dict())  # saved under both names
    model.load_state_dict(numpy_state(t_model))
    np.testing.assert_array_equal(shared.weight.numpy(), t_shared.weight.detach().numpy())


def test_apply_visits_children_first_like_torch() -> None:
    seen, t_seen = [], []
    KwBlock().apply(lambda m: seen.append(kind(m)))
    TorchBlock().apply(lambda m: t_seen.append(kind(m)))
    assert seen == t_seen


def test_reassigning_and_deleting_attributes() -> None:
    m = nn.Module()
    m.w = nn.Parameter(kw.zeros(2))
    m.w = None  # a declared but absent parameter
    assert m.w is None and list(m.named_parameters()) == []
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'w' \(Parameter or None expected\)"):
        m.w = kw.zeros(2)
    m.child = nn.ReLU()
    with pytest.raises(TypeError, match=r"cannot assign int as child module 'child'"):
        m.child = 3
    m.child = nn.Parameter(kw.zeros(1))  # a Parameter replaces the module
    assert "child" in dict(m.named_parameters()) and list(m.children()) == []
    del m.child
    assert list(m.named_parameters()) == []
    m.register_buffer("stat", kw.zeros(1))
    with pytest.raises(TypeError, match=r"cannot assign list as buffer 'stat' \(Tensor or None expected\)"):
        m.stat = [1.0]
    m.stat = kw.ones(1)
    assert m.state_dict()["stat"].tolist() == [1.0]
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        _ = m.missing


def test_registration_errors() -> None:
    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(kw.zeros(1))

    with pytest.raises(AttributeError, match=r"before Early.__init__\(\) has called super"):
        Early()
    m = nn.Module()
    with pytest.raises(TypeError, match="cannot assign ndarray as buffer 'b'"):
        m.register_buffer("b", np.zeros(1))
    with pytest.raises(ValueError, match=r"buffer name 'a.b' must be non-empty and must not contain"):
        m.register_buffer("a.b", kw.zeros(1))
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'p'"):
        m.register_parameter("p", kw.zeros(1))
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        m.add_module("c", 1)
    m.x = 1
    with pytest.raises(KeyError, match="attribute 'x' already exists"):
        m.register_buffer("x", kw.zeros(1))


def test_forward_must_be_defined() -> None:
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(kw.zeros(1))


# --------------------------------------------------------------------------- modes and gradients
def test_train_and_eval_are_recursive() -> None:
    model = KwBlock()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.features.train(False)
    assert model.training and not model.features[0].training
    with pytest.raises(TypeError, match="mode should be a bool, got str"):
        model.train("no")


def test_zero_grad_set_to_none_or_zeros() -> None:
    model = KwBlock()
    model(kw.ones(2, 1, 5)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_switches_all_parameters() -> None:
    model = small_kw().requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------- state_dict
def test_state_dict_keys_and_dtypes_match_torch() -> None:
    k_state, t_state = small_kw().state_dict(), small_torch().state_dict()
    assert isinstance(k_state, OrderedDict)
    assert list(k_state) == list(t_state)
    assert list(k_state) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
        "5.weight",
        "5.bias",
    ]
    for key, value in t_state.items():
        assert k_state[key].shape == tuple(value.shape), key
        assert k_state[key].dtype == value.numpy().dtype, key  # num_batches_tracked is int64
        assert not k_state[key].requires_grad


def test_state_dict_shares_memory_with_the_module() -> None:
    model = small_kw()
    state = model.state_dict()
    assert np.shares_memory(state["0.weight"].numpy(), model[0].weight.numpy())
    assert model.state_dict(keep_vars=True)["0.weight"] is model[0].weight


def test_load_state_dict_from_torch_gives_torch_outputs() -> None:
    k_model, t_model = small_kw(), small_torch()
    t_model.train()
    t_model(torch.randn(4, 1, 4, 4))  # move the running statistics away from their start
    k_model.load_state_dict(numpy_state(t_model))
    k_model.eval()
    t_model.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(
        k_model(kw.tensor(x)).numpy(), t_model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    assert k_model[1].num_batches_tracked.item() == 1


def test_load_state_dict_copies_in_place() -> None:
    model = small_kw()
    weight = model[0].weight
    state = {k: v.numpy().copy() + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert model[0].weight is weight  # same object: an optimizer built before still updates it
    np.testing.assert_array_equal(weight.numpy(), state["0.weight"])
    state["0.weight"][...] = 0
    assert weight.numpy().any()  # copied, not aliased


def test_load_state_dict_accepts_tensors_from_another_model() -> None:
    a, b = small_kw(), small_kw()
    a[0].weight.numpy()[...] = 3.0
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b[0].weight.numpy(), a[0].weight.numpy())


def test_load_state_dict_missing_and_unexpected_keys() -> None:
    model = small_kw()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    del state["1.running_var"]
    state["7.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"missing keys: 1.running_var; unexpected keys: 7.weight"):
        model.load_state_dict(state)
    state["0.bias"] += 5
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["1.running_var"] and result.unexpected_keys == ["7.weight"]
    np.testing.assert_array_equal(model[0].bias.numpy(), state["0.bias"])


def test_load_state_dict_missing_key_alone() -> None:
    model = small_kw()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items() if k != "5.bias"}
    with pytest.raises(ValueError, match=r"load_state_dict for Sequential: missing keys: 5.bias$"):
        model.load_state_dict(state)


def test_load_state_dict_shape_mismatch_names_key_and_shapes() -> None:
    model = small_kw()
    before = model[0].bias.numpy().copy()
    state = {k: v.numpy().copy() + 1 for k, v in model.state_dict().items()}
    state["5.weight"] = np.zeros((3, 9), np.float32)
    with pytest.raises(
        ValueError,
        match=r"size mismatch for '5.weight': the checkpoint has shape \(3, 9\), the module has shape \(3, 8\)",
    ):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].bias.numpy(), before)  # nothing was copied


def test_load_state_dict_casts_dtypes_as_torch() -> None:
    # torch copies each value into the module's tensor with a cast: float64 into float32, int32 into int64
    k_model, t_model = small_kw(), small_torch()
    state = {
        k: v.astype(np.float64 if v.dtype.kind == "f" else np.int32) + 0.1 for k, v in numpy_state(t_model).items()
    }
    state["1.num_batches_tracked"] = np.array(3, dtype=np.int32)
    k_model.load_state_dict(state)
    t_model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    for (key, value), (t_key, t_value) in zip(k_model.state_dict().items(), t_model.state_dict().items(), strict=True):
        assert key == t_key and value.dtype == t_value.numpy().dtype, key
        np.testing.assert_array_equal(value.numpy(), t_value.numpy(), err_msg=key)
    with pytest.raises(TypeError, match=r"'0.weight' has dtype complex128; values should be real numbers"):
        k_model.load_state_dict({**state, "0.weight": state["0.weight"].astype(np.complex128)})


def test_load_state_dict_rejects_non_arrays() -> None:
    model = nn.Linear(2, 1)
    with pytest.raises(TypeError, match=r"'weight' should be a Tensor or NumPy array, got list"):
        model.load_state_dict({"weight": [[1.0, 2.0]], "bias": np.zeros(1, np.float32)})
    with pytest.raises(TypeError, match="expected a mapping of names to tensors, got list"):
        model.load_state_dict([("weight", 1)])


# --------------------------------------------------------------------------- dtype
def test_to_double_converts_floats_and_keeps_objects() -> None:
    model = small_kw()
    weight = model[0].weight
    model(kw.ones(2, 1, 4, 4)).sum().backward()
    assert model.double() is model
    assert model[0].weight is weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype, as in torch
    assert model(kw.tensor(np.ones((2, 1, 4, 4)))).dtype == np.float64
    assert model.float()[5].bias.dtype == np.float32
    with pytest.raises(TypeError, match="only floating-point dtypes are accepted, got 'int64'"):
        model.to("int64")


# --------------------------------------------------------------------------- containers
def test_sequential_indexing_like_torch() -> None:
    k, t = small_kw(), small_torch()
    assert len(k) == len(t) == 6
    assert isinstance(k[0], nn.Conv2d) and isinstance(k[-1], nn.Linear)
    assert [type(m).__name__ for m in k] == [type(m).__name__ for m in t]
    assert list(k[2:5].state_dict()) == list(t[2:5].state_dict())
    assert [n for n, _ in k[1:].named_modules()] == [n for n, _ in t[1:].named_modules()]  # keys kept
    k.append(nn.Softmax(dim=1))
    t.append(TN.Softmax(dim=1))
    assert repr(k) == repr(t)
    k[2] = nn.Tanh()
    assert isinstance(k[2], nn.Tanh)
    with pytest.raises(IndexError, match="index 9 is out of range for Sequential of length 7"):
        k[9]
    with pytest.raises(TypeError, match="Sequential indices must be integers or slices, got str"):
        k["0"]


def test_sequential_from_ordered_dict_and_forward() -> None:
    k = nn.Sequential(OrderedDict([("body", nn.Linear(2, 2, generator=0)), ("act", nn.ReLU())]))
    t = TN.Sequential(OrderedDict([("body", TN.Linear(2, 2)), ("act", TN.ReLU())]))
    assert list(k.state_dict()) == list(t.state_dict()) == ["body.weight", "body.bias"]
    k.load_state_dict(numpy_state(t))
    x = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    np.testing.assert_allclose(k(kw.tensor(x)).numpy(), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_module_list_like_torch() -> None:
    k = nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()])
    t = TN.ModuleList([TN.ReLU(), TN.ReLU(), TN.Tanh()])
    assert repr(k) == repr(t)
    k.extend([nn.Linear(2, 3)])
    t.extend([TN.Linear(2, 3)])
    assert repr(k) == repr(t) and len(k) == 4
    assert list(k.state_dict()) == list(t.state_dict()) == ["3.weight", "3.bias"]
    assert isinstance(k[-1], nn.Linear) and len(k[:2]) == 2
    assert repr(nn.ModuleList()) == repr(TN.ModuleList())
    with pytest.raises(NotImplementedError, match="ModuleList"):
        k(kw.zeros(1))
    with pytest.raises(TypeError, match=r"ModuleList.extend should be called with an iterable, got ReLU"):
        k.extend(nn.ReLU())


def test_nested_repr_matches_torch() -> None:
    k = nn.Sequential(small_kw(), nn.Sequential(nn.Dropout(0.1), nn.LogSoftmax(dim=1)))
    t = TN.Sequential(small_torch(), TN.Sequential(TN.Dropout(0.1), TN.LogSoftmax(dim=1)))
    assert repr(k) == repr(t)
    assert repr(KwBlock()).replace("Kw", "") == repr(TorchBlock()).replace("Torch", "")


def test_identity_and_flatten() -> None:
    x = kw.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert nn.Identity(3, a=1)(x) is x
    assert nn.Flatten()(x).shape == tuple(TN.Flatten()(torch.zeros(2, 3, 4)).shape) == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert repr(nn.Flatten(0, 1)) == repr(TN.Flatten(0, 1))
