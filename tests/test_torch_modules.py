"""torch.nn's Module API, containers, lazy layers, activations and init on kernelwise: each case run in torch too.

The same program is written twice, once on ``kernelwise.nn`` and once on ``torch.nn``, and what it
observes (names, order, values, gradients, errors) is compared. Random initialisations are compared
by their distribution (the two random number generators differ), with bounds from the sample size.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise import nn
from kernelwise.devices import device
from parity import assert_close, check_parity

TN = torch.nn


def names(pairs: Any) -> list[str]:
    return [name for name, _ in pairs]


def kinds(modules: Any) -> list[str]:
    return [type(m).__name__ for m in modules]


# --------------------------------------------------------------------------- traversal
def build(lib: Any) -> Any:
    """A model with a module used twice, a shared parameter, buffers, a None child and a None parameter."""
    shared = lib.ReLU()
    head = lib.Linear(3, 2, bias=False)
    model = lib.Sequential(
        OrderedDict(
            features=lib.Sequential(lib.Conv2d(1, 3, 3), shared, lib.BatchNorm2d(3)),
            act=shared,
            pool=lib.AdaptiveAvgPool2d(1),
            flat=lib.Flatten(),
            head=head,
        )
    )
    model.tied = lib.Sequential(head)  # the same Linear (and so the same weight) under a second name
    model.register_buffer("steps", (kw if lib is nn else torch).zeros(1))
    model.register_buffer("scratch", (kw if lib is nn else torch).zeros(2), persistent=False)
    model.add_module("absent", None)
    return model


@pytest.mark.parametrize("remove_duplicate", [True, False])
def test_named_modules_parameters_and_buffers_match_torch(remove_duplicate: bool) -> None:
    k, t = build(nn), build(TN)
    assert names(k.named_modules(remove_duplicate=remove_duplicate)) == names(
        t.named_modules(remove_duplicate=remove_duplicate)
    )
    assert names(k.named_parameters(remove_duplicate=remove_duplicate)) == names(
        t.named_parameters(remove_duplicate=remove_duplicate)
    )
    assert names(k.named_buffers(remove_duplicate=remove_duplicate)) == names(
        t.named_buffers(remove_duplicate=remove_duplicate)
    )
    assert names(k.named_parameters(prefix="net")) == names(t.named_parameters(prefix="net"))
    assert names(k.named_buffers(recurse=False)) == names(t.named_buffers(recurse=False))
    assert names(k.features.named_parameters(recurse=False)) == names(t.features.named_parameters(recurse=False))
    assert names(k.named_children()) == names(t.named_children())
    assert kinds(k.children()) == kinds(t.children())
    assert kinds(k.modules()) == kinds(t.modules())
    assert len(list(k.parameters())) == len(list(t.parameters()))
    assert [b.shape for b in k.buffers()] == [tuple(b.shape) for b in t.buffers()]
    assert list(k.state_dict()) == list(t.state_dict())


def test_apply_initialises_like_the_textbook_loop() -> None:
    # d2l's train_ch6: net.apply(init_weights), with xavier_uniform_ on every Linear and Conv2d
    visited: dict[str, list[str]] = {"kw": [], "torch": []}

    def make_init(lib: Any, init: Any, log: list[str]) -> Any:
        def init_weights(m: Any) -> None:
            log.append(type(m).__name__)
            if type(m) == lib.Linear or type(m) == lib.Conv2d:  # noqa: E721  (the textbook's test)
                init.xavier_uniform_(m.weight)

        return init_weights

    k, t = build(nn), build(TN)
    assert k.apply(make_init(nn, nn.init, visited["kw"])) is k
    t.apply(make_init(TN, TN.init, visited["torch"]))
    assert visited["kw"] == visited["torch"]
    bound = math.sqrt(6 / (1 * 9 + 3 * 9))  # gain · √(6 / (fan_in + fan_out)) of the 3×1×3×3 weight
    assert np.abs(k.features[0].weight.numpy()).max() <= bound


def test_requires_grad_and_zero_grad_match_torch() -> None:
    k, t = build(nn), build(TN)
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32)
    assert k.requires_grad_(False) is k
    t.requires_grad_(False)
    assert [p.requires_grad for p in k.parameters()] == [p.requires_grad for p in t.parameters()] == [False] * 5
    k.requires_grad_()
    t.requires_grad_()
    k[:5](kw.tensor(x)).sum().backward()  # up to the head: "tied" is a second path to it, not a layer
    t[:5](torch.tensor(x)).sum().backward()
    k.zero_grad(set_to_none=False)
    t.zero_grad(set_to_none=False)
    assert [p.grad.numpy().tolist() for p in k.parameters()] == [p.grad.numpy().tolist() for p in t.parameters()]
    k.zero_grad()
    t.zero_grad()
    assert [p.grad for p in k.parameters()] == [p.grad for p in t.parameters()] == [None] * 5


def test_registration_matches_torch() -> None:
    for lib, lib_tensor in ((nn, kw), (TN, torch)):
        m = lib.Module()
        m.register_parameter("w", lib.Parameter(lib_tensor.ones(2)))
        m.register_parameter("unused", None)
        m.register_buffer("mean", lib_tensor.zeros(2))
        m.register_buffer("cache", lib_tensor.zeros(2), persistent=False)
        m.register_buffer("later", None)
        m.add_module("inner", lib.Linear(2, 2))
        m.add_module("missing", None)
        assert list(m.state_dict()) == ["w", "mean", "inner.weight", "inner.bias"], lib
        assert names(m.named_buffers()) == ["mean", "cache"], lib
        assert m.unused is None and m.missing is None and m.later is None, lib
        with pytest.raises(KeyError, match="already exists"):
            m.register_buffer("w", lib_tensor.zeros(1))
        with pytest.raises(KeyError, match="already exists"):
            m.register_parameter("mean", lib.Parameter(lib_tensor.ones(1)))
        with pytest.raises(KeyError, match="already exists"):
            m.add_module("w", lib.ReLU())


def test_load_state_dict_strict_false_reports_keys_as_torch() -> None:
    k, t = build(nn), build(TN)
    state = {name: value.detach().numpy() for name, value in t.state_dict().items()}
    del state["head.weight"]
    state["extra.weight"] = np.zeros(1, np.float32)
    k_result = k.load_state_dict(state, strict=False)
    t_result = t.load_state_dict({name: torch.from_numpy(v) for name, v in state.items()}, strict=False)
    assert k_result.missing_keys == t_result.missing_keys == ["head.weight"]
    assert k_result.unexpected_keys == t_result.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(k.features[0].weight.numpy(), t.features[0].weight.detach().numpy())
    with pytest.raises(ValueError, match=r"missing keys: head.weight; unexpected keys: extra.weight"):
        k.load_state_dict(state)
    with pytest.raises(ValueError, match=r"size mismatch for 'features.0.bias'"):  # strict=False keeps shape checks
        k.load_state_dict({"features.0.bias": np.zeros(4, np.float32)}, strict=False)


# --------------------------------------------------------------------------- device and dtype
def test_to_device_and_dtype_forms() -> None:
    model = build(nn)
    weight = model.features[0].weight
    assert model.to("cpu") is model and model.to(device("cpu")) is model and model.cpu() is model
    assert model.to(kw.float64) is model and weight.dtype == np.float64
    assert model.to("cpu", kw.float32) is model and weight.dtype == np.float32
    assert model.to(device="cpu", dtype="float64") is model and weight.dtype == np.float64
    assert model.to(kw.zeros(1)) is model and weight.dtype == np.float32  # to(tensor): the tensor's dtype
    assert model.double() is model and weight.dtype == np.float64
    assert model.half() is model and weight.dtype == np.float16
    assert model.float() is model and weight.dtype == np.float32
    assert model.features[2].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert model.features[0].weight is weight  # the same Parameter objects: an optimizer keeps working
    t_model = build(TN).double()
    assert [v.dtype for v in model.double().state_dict().values()] == [
        v.numpy().dtype for v in t_model.state_dict().values()
    ]


@pytest.mark.parametrize("call", [lambda m: m.to("cuda"), lambda m: m.to("cuda:0"), lambda m: m.cuda()])
def test_gpu_devices_are_a_clear_error(call: Any) -> None:
    with pytest.raises(RuntimeError, match="kernelwise has no GPU backend"):
        call(nn.Linear(2, 2))


def test_to_rejects_integer_dtypes_and_unknown_arguments() -> None:
    with pytest.raises(TypeError, match="only floating-point dtypes are accepted, got 'int64'"):
        nn.Linear(2, 2).to(kw.int64)
    with pytest.raises(TypeError, match="unexpected keyword"):
        nn.Linear(2, 2).to(dtype=kw.float64, layout="strided")


def test_train_and_eval_set_every_module() -> None:
    k, t = build(nn), build(TN)
    assert k.eval() is k
    t.eval()
    assert [m.training for m in k.modules()] == [m.training for m in t.modules()] == [False] * 9
    k.train()
    assert all(m.training for m in k.modules())


# --------------------------------------------------------------------------- containers
def container_ops(lib: Any) -> list[Any]:
    """The same list operations on a ModuleList and a Sequential; what each step leaves."""
    seen = []
    for container in (lib.ModuleList, lib.Sequential):
        ms = container([lib.ReLU(), lib.Tanh()]) if container is lib.ModuleList else container(lib.ReLU(), lib.Tanh())
        ms.append(lib.Sigmoid())
        ms.extend([lib.Identity(), lib.ELU()])
        ms.insert(1, lib.SiLU())
        ms.insert(4, lib.ReLU6())  # (torch.nn.ModuleList.insert mishandles negative indices)
        seen.append(kinds(ms))
        seen.append(names(ms.named_children()))
        del ms[0]
        del ms[1:3]
        seen.append(kinds(ms))
        seen.append(type(ms.pop(1)).__name__)
        seen.append((len(ms), type(ms[-1]).__name__, kinds(ms[::2]), type(ms[::2]).__name__))
        ms[0] = lib.Softplus()
        seen.append(names(ms.named_children()) + kinds(ms))
        both = ms + container([lib.Tanh()]) if container is lib.ModuleList else ms + container(lib.Tanh())
        seen.append(kinds(both))
        ms += both
        seen.append(kinds(ms))
    return seen


def test_module_list_and_sequential_operations_match_torch() -> None:
    assert container_ops(nn) == container_ops(TN)


def test_container_index_errors() -> None:
    blocks = nn.ModuleList([nn.ReLU()])
    with pytest.raises(IndexError, match="index 1 is out of range for ModuleList of length 1"):
        blocks[1]
    with pytest.raises(IndexError, match="insert: index 3 is out of range"):
        blocks.insert(3, nn.ReLU())
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        blocks.insert(0, 5)
    assert kinds(blocks.insert(-1, nn.Tanh())) == ["Tanh", "ReLU"]  # before the last, as list.insert
    with pytest.raises(ValueError, match=r"module name 'a\.b' must be non-empty and must not contain"):
        blocks.add_module("a.b", nn.ReLU())  # torch: a KeyError
    with pytest.raises(TypeError, match="indices must be integers or slices, got str"):
        del blocks["0"]


def module_dict_ops(lib: Any) -> list[Any]:
    md = lib.ModuleDict({"conv": lib.Conv2d(1, 2, 3), "act": lib.ReLU()})
    md.update([("fc", lib.Linear(2, 2)), ("act", lib.Tanh())])
    md["drop"] = lib.Dropout()
    seen: list[Any] = [list(md), list(md.keys()), kinds(md.values()), names(md.items()), "fc" in md, len(md)]
    seen.append(list(md.state_dict()))
    seen.append(type(md.pop("conv")).__name__)
    del md["fc"]
    seen.append((list(md), names(md.named_modules())))
    md.clear()
    seen.append(len(md))
    return seen


def test_module_dict_matches_torch() -> None:
    assert module_dict_ops(nn) == module_dict_ops(TN)
    with pytest.raises(ValueError, match=r"element 0 should be a \(name, module\) pair"):
        nn.ModuleDict(["conv"])


def test_parameter_list_matches_torch() -> None:
    k = nn.ParameterList([nn.Parameter(kw.ones(2, 3)), kw.zeros(4)])
    t = TN.ParameterList([TN.Parameter(torch.ones(2, 3)), torch.zeros(4)])
    k.append(kw.ones(1))
    t.append(torch.ones(1))
    assert list(k.state_dict()) == list(t.state_dict()) == ["0", "1", "2"]
    assert [type(p).__name__ for p in k] == [type(p).__name__ for p in t] == ["Parameter"] * 3
    assert [p.shape for p in k[1:]] == [tuple(p.shape) for p in t[1:]]
    assert "(0): Parameter containing: [float32 of size 2x3]" in repr(k)

    class Scales(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scales = nn.ParameterList([kw.ones(1), kw.ones(1)])

    assert names(Scales().named_parameters()) == ["scales.0", "scales.1"]
    with pytest.raises(TypeError, match="expected a Parameter or Tensor, got list"):
        k.append([1.0])


# --------------------------------------------------------------------------- shape layers
@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (("Identity",), (2, 3)),
        (("Flatten",), (2, 3, 4, 5)),
        (("Flatten", 0, 2), (2, 3, 4, 5)),
        (("Flatten", 2, -1), (2, 3, 4, 5)),
        (("Unflatten", 1, (3, 4)), (2, 12, 5)),
        (("Unflatten", -1, (2, -1)), (2, 3, 10)),
        (("Unflatten", 0, [2, 1]), (2, 3)),
    ],
)
def test_shape_layers_values_and_gradients_match_torch(module: tuple, shape: tuple[int, ...]) -> None:
    name, *args = module
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    k_x, t_x = kw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    k_out, t_out = getattr(nn, name)(*args)(k_x), getattr(TN, name)(*args)(t_x)
    assert k_out.shape == tuple(t_out.shape)
    np.testing.assert_array_equal(k_out.numpy(), t_out.detach().numpy())
    g = np.random.default_rng(2).standard_normal(k_out.shape).astype(np.float32)
    k_out.backward(g)
    t_out.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(k_x.grad.numpy(), t_x.grad.numpy())
    assert repr(getattr(nn, name)(*args)) == repr(getattr(TN, name)(*args)).replace("[2, 1]", "(2, 1)")


def test_unflatten_errors() -> None:
    with pytest.raises(ValueError, match=r"unflattened_size \(5, 2\) does not multiply to 12, the size of dim 1"):
        nn.Unflatten(1, (5, 2))(kw.zeros(2, 12))
    with pytest.raises(ValueError, match=r"unflattened_size \(-1, -1\) does not multiply"):
        nn.Unflatten(1, (-1, -1))(kw.zeros(2, 12))
    with pytest.raises(ValueError, match=r"dim=2 is out of range for input of shape \(2, 12\)"):
        nn.Unflatten(2, (3, 4))(kw.zeros(2, 12))
    with pytest.raises(TypeError, match="unflattened_size should be a tuple of ints"):
        nn.Unflatten(1, 12)


# --------------------------------------------------------------------------- lazy layers
LAZY = [
    # (lazy class, its arguments, the plain class's arguments with the inferred size first, input shape)
    ("LazyLinear", (3,), (5, 3), (4, 5)),
    ("LazyLinear", (2,), (6, 2), (6,)),
    ("LazyConv1d", (4, 3), (2, 4, 3), (2, 2, 9)),
    ("LazyConv1d", (4, 3), (2, 4, 3), (2, 9)),  # unbatched: C_in is dim 0
    ("LazyConv2d", (6, 3), (3, 6, 3), (2, 3, 8, 8)),
    ("LazyConv2d", (4, (3, 2)), (3, 4, (3, 2)), (3, 7, 6)),
    ("LazyConvTranspose2d", (2, 3), (4, 2, 3), (1, 4, 5, 5)),
    ("LazyConvTranspose1d", (2, 3), (4, 2, 3), (1, 4, 5)),
]
LAZY_KWARGS = {"LazyConv2d": dict(padding=1, bias=False), "LazyConvTranspose2d": dict(stride=2)}


@pytest.mark.parametrize(("name", "args", "plain_args", "shape"), LAZY, ids=[f"{c[0]}{c[3]}" for c in LAZY])
def test_lazy_layer_becomes_the_plain_layer_with_its_initialisation(
    name: str, args: tuple, plain_args: tuple, shape: tuple
) -> None:
    kwargs = LAZY_KWARGS.get(name, {})
    lazy = getattr(nn, name)(*args, **kwargs, generator=7)
    plain = getattr(nn, name.removeprefix("Lazy"))(*plain_args, **kwargs, generator=7)
    t_lazy = getattr(TN, name)(*args, **kwargs)
    assert repr(lazy) == repr(t_lazy)  # in_features=0 / in_channels 0 until the first call, as in torch
    assert list(lazy.state_dict()) == list(t_lazy.state_dict())
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    out = lazy(kw.tensor(x))
    t_out = t_lazy(torch.tensor(x))
    assert type(lazy) is type(plain) and repr(lazy) == repr(plain) == repr(t_lazy)
    assert out.shape == tuple(t_out.shape)
    for (key, value), (plain_key, plain_value) in zip(
        lazy.state_dict().items(), plain.state_dict().items(), strict=True
    ):
        assert key == plain_key
        np.testing.assert_array_equal(value.numpy(), plain_value.numpy())  # the same seed draws the same weights
    np.testing.assert_array_equal(out.numpy(), plain(kw.tensor(x)).numpy())
    # with torch's weights, torch's output
    lazy.load_state_dict({key: value.detach().numpy() for key, value in t_lazy.state_dict().items()})
    assert_close(lazy(kw.tensor(x)).numpy(), t_out.detach().numpy(), np.float32, terms=x.size)


def test_lazy_default_initialisation_is_torchs_distribution() -> None:
    # U(-1/√fan_in, 1/√fan_in) for weight and bias: the bound, mean 0 and variance bound²/3 within 5 standard errors
    fc = nn.LazyLinear(400, generator=0)
    fc(kw.zeros(1, 100))
    t_fc = TN.LazyLinear(400)
    t_fc(torch.zeros(1, 100))
    bound = 1 / math.sqrt(100)
    for w, t_w in ((fc.weight.numpy(), t_fc.weight.detach().numpy()), (fc.bias.numpy(), t_fc.bias.detach().numpy())):
        n = w.size
        assert np.abs(w).max() <= bound and np.abs(t_w).max() <= bound
        assert abs(w.mean()) < 5 * bound / math.sqrt(3 * n)  # the mean's standard error σ/√n, σ² = bound²/3
        var_se = math.sqrt((bound**4 / 5 - bound**4 / 9) / n)  # Var(x²) = E x⁴ − (E x²)² = b⁴/5 − b⁴/9
        assert abs(w.var() - bound**2 / 3) < 5 * var_se and abs(t_w.var() - bound**2 / 3) < 5 * var_se


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_optimizer_built_before_the_first_call_trains_as_in_torch(optimizer: str) -> None:
    # torch fills the uninitialized parameters in place, so an optimizer made before the dry run works
    net = nn.Sequential(nn.LazyConv2d(3, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    t_net = TN.Sequential(TN.LazyConv2d(3, 3), TN.ReLU(), TN.Flatten(), TN.LazyLinear(2))
    opt = getattr(kw.optim, optimizer)(net.parameters(), lr=0.1)
    t_opt = getattr(torch.optim, optimizer)(t_net.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for step in range(3):
        x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
        opt.zero_grad()
        t_opt.zero_grad()
        out, t_out = net(kw.tensor(x)), t_net(torch.tensor(x))
        if step == 0:  # torch's initial weights into the very objects the optimizer holds
            net.load_state_dict({key: value.detach().numpy() for key, value in t_net.state_dict().items()})
            out = net(kw.tensor(x))
        (out * out).mean().backward()
        (t_out * t_out).mean().backward()
        opt.step()
        t_opt.step()
    for key, value in t_net.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[key].numpy(), value.numpy(), rtol=1e-4, atol=1e-5, err_msg=key)
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in net.parameters()]


def test_lazy_layer_before_its_first_call() -> None:
    fc = nn.LazyLinear(3)
    assert [type(p).__name__ for p in fc.parameters()] == ["UninitializedParameter"] * 2
    with pytest.raises(
        ValueError, match=r"numel\(\) of an uninitialized parameter: .* run one batch through the model"
    ):
        sum(p.numel() for p in fc.parameters())
    with pytest.raises(ValueError, match="shape of an uninitialized parameter"):
        fc.weight.shape  # noqa: B018
    assert repr(fc.weight) == "<UninitializedParameter>"
    fc.double()  # the dtype is kept for the first call, as in torch
    fc(kw.zeros(2, 4, dtype=kw.float64))
    assert fc.weight.dtype == np.float64 and tuple(fc.weight.shape) == (3, 4)
    with pytest.raises(ValueError, match="in_channels=3 must be divisible by groups=2"):
        nn.LazyConv2d(4, 3, groups=2)(kw.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"LazyConv2d: expected a 3-d \(unbatched\) or 4-d \(batched\) input"):
        nn.LazyConv2d(4, 3)(kw.zeros(5, 5))
    layer = nn.LazyLinear(2, generator=np.random.default_rng(0))
    layer(kw.zeros(1, 3))
    assert not any(isinstance(v, np.random.Generator) for v in vars(layer).values())  # no generator left behind


def test_lazy_layer_loads_a_state_dict_before_its_first_call() -> None:
    t_fc = TN.Linear(5, 3)
    fc = nn.LazyLinear(3)
    fc.load_state_dict({key: value.detach().numpy() for key, value in t_fc.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    assert_close(fc(kw.tensor(x)).numpy(), t_fc(torch.tensor(x)).detach().numpy(), np.float32, terms=x.size)
    assert repr(fc) == repr(t_fc)
    both_lazy = nn.LazyLinear(3)
    both_lazy.load_state_dict(nn.LazyLinear(3).state_dict())  # nothing to copy yet, as in torch
    assert both_lazy.has_uninitialized_params()


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        ("LazyBatchNorm2d", {}, (4, 3, 5, 5)),
        ("LazyBatchNorm1d", {"momentum": None}, (6, 4)),
        ("LazyBatchNorm1d", {"affine": False}, (6, 2, 7)),
        ("LazyBatchNorm2d", {"track_running_stats": False}, (2, 3, 4, 4)),
    ],
)
def test_lazy_batchnorm_trains_and_evaluates_as_torchs(name: str, kwargs: dict, shape: tuple) -> None:
    bn, t_bn = getattr(nn, name)(**kwargs), getattr(TN, name)(**kwargs)
    assert repr(bn) == repr(t_bn) and list(bn.state_dict()) == list(t_bn.state_dict())
    assert [type(v).__name__ for v in bn.state_dict().values()] == [
        type(v).__name__ for v in t_bn.state_dict().values()
    ]  # UninitializedParameter / UninitializedBuffer / Tensor, as in torch
    rng = np.random.default_rng(4)
    for _ in range(2):
        x = rng.standard_normal(shape).astype(np.float32)
        check_parity(bn, t_bn, [x], np.float32)
    assert repr(bn) == repr(t_bn) and type(bn).__name__ == type(t_bn).__name__
    for key, value in t_bn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    bn.eval()
    t_bn.eval()
    check_parity(bn, t_bn, [rng.standard_normal(shape).astype(np.float32)], np.float32)


def test_lazy_batchnorm_loads_torch_statistics_before_its_first_call() -> None:
    t_bn = TN.BatchNorm2d(3)
    t_bn(torch.randn(4, 3, 2, 2) * 3 + 1)
    bn = nn.LazyBatchNorm2d()
    bn.load_state_dict({key: value.numpy() for key, value in t_bn.state_dict().items()})
    bn.eval()
    t_bn.eval()
    check_parity(bn, t_bn, [np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32)], np.float32)
    with pytest.raises(ValueError, match="shape of an uninitialized buffer"):
        nn.LazyBatchNorm1d().running_mean.shape  # noqa: B018
    with pytest.raises(ValueError, match=r"LazyBatchNorm2d: expected 4D input, got shape \(2, 3\)"):
        nn.LazyBatchNorm2d()(kw.zeros(2, 3))


# --------------------------------------------------------------------------- activations
ACTIVATIONS = [
    # (module name, arguments, functional name, the same arguments for F)
    ("ELU", (), "elu", ()),
    ("ELU", (0.5,), "elu", (0.5,)),
    ("SiLU", (), "silu", ()),
    ("ReLU6", (), "relu6", ()),
    ("Hardtanh", (), "hardtanh", ()),
    ("Hardtanh", (-2.0, 3.0), "hardtanh", (-2.0, 3.0)),
    ("Softplus", (), "softplus", ()),
    ("Softplus", (2.0, 5.0), "softplus", (2.0, 5.0)),
    ("Sigmoid", (), "sigmoid", ()),
    ("Tanh", (), "tanh", ()),
    ("LeakyReLU", (0.2,), "leaky_relu", (0.2,)),
    ("GELU", (), "gelu", ()),
    ("GELU", ("tanh",), "gelu", ()),
    ("Softmax", (1,), "softmax", (1,)),
    ("LogSoftmax", (-1,), "log_softmax", (-1,)),
    ("ReLU", (), "relu", ()),
]


def activation_input(dtype: Any) -> np.ndarray:
    """Random values plus the kinks and boundaries (0, ±1, -2, 3, 6, 2.5 = threshold/β) and large magnitudes."""
    special = [0.0, -1.0, 1.0, -2.0, 3.0, 6.0, 2.5, 20.0, -30.0, 40.0, -100.0, 1e-8, -1e-8, 5.0]
    x = np.random.default_rng(5).standard_normal(34) * 4
    return np.concatenate([special, x]).reshape(4, 12).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "args", "fn", "fn_args"), ACTIVATIONS, ids=[f"{c[0]}{c[1]}" for c in ACTIVATIONS])
def test_activation_values_and_gradients_match_torch(
    name: str, args: tuple, fn: str, fn_args: tuple, dtype: Any
) -> None:
    x = activation_input(dtype)
    kwargs = {"approximate": args[0]} if name == "GELU" and args else {}
    module, t_module = getattr(nn, name)(*args), getattr(TN, name)(*args)
    assert repr(module) == repr(t_module)
    check_parity(module, t_module, [x], dtype)
    check_parity(
        lambda t: getattr(kw.nn.functional, fn)(t, *fn_args, **kwargs),
        lambda t: getattr(torch.nn.functional, fn)(t, *fn_args, **kwargs),
        [x],
        dtype,
    )


def test_activation_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"min_val=2\.0 cannot be greater than max_val=1\.0"):
        kw.nn.functional.hardtanh(kw.zeros(2), 2.0, 1.0)
    with pytest.raises(ValueError, match="Hardtanh: min_val=1 cannot be greater than max_val=0"):
        nn.Hardtanh(1, 0)
    with pytest.raises(TypeError, match="alpha='1': expected a real number"):
        nn.ELU("1")
    with pytest.raises(TypeError, match=r"softplus\(\): beta must be a number"):
        kw.nn.functional.softplus(kw.zeros(1), beta=None)
    with pytest.raises(ValueError, match="beta must not be 0"):
        kw.nn.functional.softplus(kw.zeros(1), beta=0)
    with pytest.raises(TypeError, match="input"):
        kw.nn.functional.elu(kw.zeros(2, dtype=kw.int64))
    with pytest.raises(TypeError, match="input"):
        kw.nn.functional.silu([1.0])


@pytest.mark.parametrize("fn", ["elu", "silu", "softplus", "hardtanh", "relu6"])
def test_activation_gradcheck(fn: str) -> None:
    x = np.random.default_rng(6).standard_normal(20) * 3
    x = x[(np.abs(np.abs(x) - 1) > 1e-3) & (np.abs(x - 6) > 1e-3) & (np.abs(x) > 1e-3)]  # off the kinks
    assert kw.gradcheck(getattr(kw.nn.functional, fn), (kw.tensor(x, requires_grad=True),))


# --------------------------------------------------------------------------- init
INIT_NAMES = [
    "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_",
    "orthogonal_", "sparse_", "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]  # fmt: skip


def test_init_has_torchs_names() -> None:
    assert all(hasattr(TN.init, name) and callable(getattr(nn.init, name)) for name in INIT_NAMES)


def truncated_normal_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of N(mean, std²) restricted to [a, b], by numerical integration."""
    x = np.linspace(a, b, 200_001)
    density = np.exp(-0.5 * ((x - mean) / std) ** 2)
    density /= np.trapezoid(density, x)
    mu = np.trapezoid(x * density, x)
    return mu, np.trapezoid((x - mu) ** 2 * density, x), np.trapezoid((x - mu) ** 4 * density, x)


def uniform_moments(low: float, high: float) -> tuple[float, float, float]:
    half = (high - low) / 2
    return (low + high) / 2, half**2 / 3, half**4 / 5  # E(x − μ)² = h²/3, E(x − μ)⁴ = h⁴/5 on [μ − h, μ + h]


def normal_moments(mean: float, std: float) -> tuple[float, float, float]:
    return mean, std**2, 3 * std**4


W_SHAPE = (64, 32, 3, 3)  # fan_in 288, fan_out 576, 18,432 draws
FAN_IN, FAN_OUT = 32 * 9, 64 * 9
XAVIER_BOUND = 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT))  # gain · √(6 / (fan_in + fan_out)), gain 2
KAIMING_BOUND = math.sqrt(2) * math.sqrt(3 / FAN_IN)  # gain · √(3 / fan_in), leaky_relu with a=0: gain √2
INIT_CASES = [
    # (function, arguments, the distribution by hand: (mean, variance, fourth central moment), bound or None)
    ("uniform_", dict(a=-2.0, b=3.0), uniform_moments(-2, 3), (-2, 3)),
    ("normal_", dict(mean=1.0, std=0.5), normal_moments(1, 0.5), None),
    ("xavier_uniform_", dict(gain=2.0), uniform_moments(-XAVIER_BOUND, XAVIER_BOUND), None),
    ("xavier_normal_", dict(gain=0.5), normal_moments(0, 0.5 * (2 / (FAN_IN + FAN_OUT)) ** 0.5), None),
    ("kaiming_uniform_", dict(), uniform_moments(-KAIMING_BOUND, KAIMING_BOUND), None),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), uniform_moments(-(1 / FAN_IN) ** 0.5, (1 / FAN_IN) ** 0.5), None),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"), normal_moments(0, (2 / FAN_OUT) ** 0.5), None),
    ("kaiming_normal_", dict(nonlinearity="tanh"), normal_moments(0, 5 / 3 / FAN_IN**0.5), None),
    ("trunc_normal_", dict(), truncated_normal_moments(0, 1, -2, 2), (-2, 2)),
    ("trunc_normal_", dict(mean=0.5, std=2.0, a=-1.0, b=1.5), truncated_normal_moments(0.5, 2, -1, 1.5), (-1, 1.5)),
    ("trunc_normal_", dict(std=0.02), truncated_normal_moments(0, 0.02, -2, 2), (-2, 2)),
]  # fmt: skip


@pytest.mark.parametrize(("fn", "kwargs", "moments", "bounds"), INIT_CASES, ids=[f"{c[0]}{c[1]}" for c in INIT_CASES])
def test_init_distribution_moments_within_sampling_error(fn: str, kwargs: dict, moments: tuple, bounds: Any) -> None:
    # the RNGs differ from torch's: both samples must fit the distribution worked out by hand, within 5 standard
    # errors of the mean (σ/√n) and of the variance (√((μ₄ − σ⁴)/n)); torch's passing shows the formulas are its own
    mean, var, mu4 = moments
    n = math.prod(W_SHAPE)
    samples = {
        "kernelwise": getattr(nn.init, fn)(kw.zeros(*W_SHAPE), **kwargs, generator=11).numpy().astype(np.float64),
        "torch": getattr(TN.init, fn)(torch.zeros(W_SHAPE), **kwargs).numpy().astype(np.float64),
    }
    for who, w in samples.items():
        assert abs(w.mean() - mean) < 5 * math.sqrt(var / n), who
        assert abs(w.var() - var) < 5 * math.sqrt((mu4 - var**2) / n), who
        if bounds is not None:
            assert bounds[0] <= w.min() and w.max() <= bounds[1], who


@pytest.mark.parametrize(("shape", "gain"), [((6, 4), 1.0), ((4, 6), 2.0), ((8, 2, 2, 2), 0.5), ((5, 5), 1.0)])
def test_orthogonal_gives_orthonormal_rows_or_columns_as_torch(shape: tuple[int, ...], gain: float) -> None:
    for w in (
        nn.init.orthogonal_(kw.zeros(*shape, dtype=kw.float64), gain, generator=1).numpy(),
        TN.init.orthogonal_(torch.zeros(shape, dtype=torch.float64), gain).numpy(),
    ):
        m = w.reshape(shape[0], -1)
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(gram, gain**2 * np.eye(min(m.shape)), atol=1e-12)


@pytest.mark.parametrize(
    ("fn", "shape", "args"),
    [
        ("eye_", (3, 5), ()),
        ("eye_", (4, 2), ()),
        ("dirac_", (4, 3, 3), ()),
        ("dirac_", (6, 2, 3, 4), (2,)),
        ("dirac_", (2, 4, 3, 3, 3), ()),
        ("constant_", (2, 3), (0.25,)),
        ("ones_", (2, 3), ()),
        ("zeros_", (2, 3), ()),
    ],
)
def test_deterministic_inits_equal_torchs(fn: str, shape: tuple[int, ...], args: tuple) -> None:
    w = getattr(nn.init, fn)(kw.full(shape, 7.0), *args)
    t_w = getattr(TN.init, fn)(torch.full(shape, 7.0), *args)
    np.testing.assert_array_equal(w.numpy(), t_w.numpy())


def test_dirac_convolution_passes_its_input_through() -> None:
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(conv(kw.tensor(x)).numpy(), x)


def test_sparse_zeros_per_column_as_torch() -> None:
    w = nn.init.sparse_(kw.zeros(50, 40), sparsity=0.1, std=0.5, generator=2).numpy()
    t_w = TN.init.sparse_(torch.zeros(50, 40), sparsity=0.1, std=0.5).numpy()
    assert ((w == 0).sum(axis=0) == (t_w == 0).sum(axis=0)).all()  # ceil(0.1 · 50) = 5 in every column
    nonzero = w[w != 0]
    assert abs(nonzero.std() - 0.5) < 5 * math.sqrt(2 * 0.5**4 / nonzero.size) / (2 * 0.5)


@pytest.mark.parametrize("fn", ["trunc_normal_", "orthogonal_", "sparse_"])
def test_new_inits_reproducible_per_seed(fn: str) -> None:
    args = (0.2,) if fn == "sparse_" else ()
    a = getattr(nn.init, fn)(kw.zeros(6, 5), *args, generator=3).numpy()
    b = getattr(nn.init, fn)(kw.zeros(6, 5), *args, generator=3).numpy()
    c = getattr(nn.init, fn)(kw.zeros(6, 5), *args, generator=4).numpy()
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize(
    ("fn", "shape", "kwargs"),
    [
        ("eye_", (2, 2, 2), {}),
        ("dirac_", (2, 2), {}),
        ("dirac_", (3, 2, 3), {"groups": 2}),
        ("orthogonal_", (3,), {}),
        ("sparse_", (2, 2, 2), {"sparsity": 0.1}),
    ],
)
def test_init_shape_errors_as_torch(fn: str, shape: tuple[int, ...], kwargs: dict) -> None:
    with pytest.raises(ValueError):
        getattr(TN.init, fn)(torch.zeros(shape), **kwargs)
    with pytest.raises(ValueError, match=fn):
        getattr(nn.init, fn)(kw.zeros(*shape), **kwargs)
    with pytest.raises(ValueError, match=r"the range \[a, b\] = \[1, 0\] is empty"):
        nn.init.trunc_normal_(kw.zeros(3), a=1, b=0)
