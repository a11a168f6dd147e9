"""Optimizers and schedulers against torch.optim: the same parameters and gradients, step by step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise import nn, optim
from kernelwise.optim import lr_scheduler

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 2e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 6

OPTIMIZERS = [
    ("sgd", "SGD", {"lr": 0.1}),
    ("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("sgd_weight_decay", "SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("sgd_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("sgd_all", "SGD", {"lr": 0.02, "momentum": 0.7, "weight_decay": 0.05, "nesterov": True}),
    ("adam", "Adam", {"lr": 0.01}),
    ("adam_betas", "Adam", {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-6}),
    ("adam_weight_decay", "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam_amsgrad", "Adam", {"lr": 0.01, "amsgrad": True}),
    ("adam_amsgrad_weight_decay", "Adam", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.3}),
    ("adamw", "AdamW", {"lr": 0.01}),
    ("adamw_amsgrad", "AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True}),
]


def close(actual: np.ndarray, expected: np.ndarray, dtype: Any, what: str) -> None:
    np.testing.assert_allclose(actual, expected, **TOL[np.dtype(dtype).type], err_msg=what)


def make_params(dtype: Any, seed: int = 0) -> tuple[list[nn.Parameter], list[torch.nn.Parameter]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [nn.Parameter(a.copy()) for a in arrays], [torch.nn.Parameter(torch.tensor(a)) for a in arrays]


def torch_state(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, Any]:
    return {k: (v.item() if v.ndim == 0 else v.numpy()) for k, v in opt.state[p].items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "cls", "kwargs"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_matches_torch_step_by_step(name: str, cls: str, kwargs: dict, dtype: Any) -> None:
    k_params, t_params = make_params(dtype)
    k_opt, t_opt = getattr(optim, cls)(k_params, **kwargs), getattr(torch.optim, cls)(t_params, **kwargs)
    rng = np.random.default_rng(1)
    arrays = [p.numpy() for p in k_params]
    for step in range(STEPS):
        for i, (k_p, t_p) in enumerate(zip(k_params, t_params)):
            if step == 2 and i == 1:  # a parameter without a gradient is left alone by both
                k_p.grad = t_p.grad = None
                continue
            grad = rng.standard_normal(k_p.shape).astype(dtype)
            k_p.grad, t_p.grad = kw.Tensor(grad.copy()), torch.tensor(grad)
        k_opt.step()
        t_opt.step()
        for i, (k_p, t_p) in enumerate(zip(k_params, t_params)):
            close(k_p.numpy(), t_p.detach().numpy(), dtype, f"parameter {i} after step {step + 1}")
            assert k_p.dtype == dtype  # no float64 upcast
            ours, theirs = k_opt.state[k_p], torch_state(t_opt, t_p)
            assert set(ours) == set(theirs)
            for key, value in theirs.items():
                if key == "step":
                    assert ours[key] == value
                else:
                    assert ours[key].dtype == dtype
                    close(ours[key], value, dtype, f"state {key} of parameter {i} after step {step + 1}")
    assert all(p.numpy() is a for p, a in zip(k_params, arrays))  # updated in place


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_parameter_groups_match_torch(cls: str) -> None:
    k_params, t_params = make_params(np.float64)
    extra = {"momentum": 0.5} if cls == "SGD" else {"betas": (0.8, 0.99)}
    k_groups = [{"params": [k_params[0]], "lr": 0.3, **extra}, {"params": k_params[1:]}]
    t_groups = [{"params": [t_params[0]], "lr": 0.3, **extra}, {"params": t_params[1:]}]
    k_opt, t_opt = getattr(optim, cls)(k_groups, lr=0.01), getattr(torch.optim, cls)(t_groups, lr=0.01)
    rng = np.random.default_rng(2)
    for _ in range(5):
        for k_p, t_p in zip(k_params, t_params):
            grad = rng.standard_normal(k_p.shape)
            k_p.grad, t_p.grad = kw.Tensor(grad.copy()), torch.tensor(grad)
        k_opt.step()
        t_opt.step()
    for k_p, t_p in zip(k_params, t_params):
        close(k_p.numpy(), t_p.detach().numpy(), np.float64, "parameter")
    # state_dict: the same layout as torch's (torch has a few more flags per group)
    ours, theirs = k_opt.state_dict(), t_opt.state_dict()
    assert set(ours) == set(theirs) == {"state", "param_groups"}
    # (torch's SGD without momentum keeps {"momentum_buffer": None}; kernelwise keeps no state there)
    t_state = {i: s for i, s in theirs["state"].items() if any(v is not None for v in s.values())}
    assert set(ours["state"]) == set(t_state) == ({0} if cls == "SGD" else {0, 1, 2})
    for k_group, t_group in zip(ours["param_groups"], theirs["param_groups"]):
        for key, value in k_group.items():
            assert key in t_group
            assert value == (list(t_group[key]) if isinstance(t_group[key], tuple) else t_group[key]), key
    for index, state in t_state.items():
        assert set(ours["state"][index]) == set(state)


def test_sgd_by_hand() -> None:
    # θ = 1, g = 1 each step, γ = 0.5, μ = 0.9: b1 = 1, b2 = 1.9; θ = 1 - 0.5 - 0.95
    w = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([w], lr=0.5, momentum=0.9)
    for _ in range(2):
        w.grad = kw.tensor(np.array([1.0]))
        opt.step()
    assert w.numpy().tolist() == pytest.approx([1 - 0.5 - 0.95], abs=1e-15)


def test_adam_first_step_by_hand() -> None:
    # m̂1 = g, v̂1 = g², so θ1 = θ0 - γ·g / (|g| + ε)
    w = nn.Parameter(np.array([1.0, -1.0]))
    opt = optim.Adam([w], lr=0.1, eps=1e-8)
    w.grad = kw.tensor(np.array([3.0, -0.5]))
    opt.step()
    np.testing.assert_allclose(w.numpy(), [1 - 0.1 * 3 / (3 + 1e-8), -1 + 0.1 * 0.5 / (0.5 + 1e-8)], rtol=1e-14)


def test_step_with_closure_and_zero_grad() -> None:
    model = nn.Linear(3, 1, generator=0)
    x, y = kw.ones(4, 3), kw.zeros(4, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def closure() -> kw.Tensor:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    second = opt.step(closure).item()
    assert second < first
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------------- schedulers
def run_schedule(make_sched: Any, torch_sched: Any, epochs: int) -> tuple[list, list]:
    k_opt = optim.SGD(
        [{"params": [nn.Parameter(kw.zeros(1))], "lr": 0.1}, {"params": [nn.Parameter(kw.zeros(1))], "lr": 0.03}]
    )
    t_opt = torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1}, {"params": [torch.nn.Parameter(torch.zeros(1))]}],
        lr=0.03,
    )
    k_sched, t_sched = make_sched(k_opt), torch_sched(t_opt)
    ours, theirs = [], []
    for _ in range(epochs):
        ours.append(k_sched.get_last_lr())
        theirs.append(t_sched.get_last_lr())
        assert [g["lr"] for g in k_opt.param_groups] == ours[-1]
        k_opt.step()
        t_opt.step()
        k_sched.step()
        t_sched.step()
    return ours, theirs


def test_step_lr_matches_torch() -> None:
    ours, theirs = run_schedule(
        lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        12,
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-15)
    closed_form = [[0.1 * 0.5 ** (t // 3), 0.03 * 0.5 ** (t // 3)] for t in range(12)]
    np.testing.assert_allclose(ours, closed_form, rtol=1e-14)


@pytest.mark.parametrize(("T_max", "eta_min"), [(5, 0.0), (4, 0.01), (1, 0.001)])
def test_cosine_annealing_matches_torch_and_closed_form(T_max: int, eta_min: float) -> None:
    epochs = 3 * T_max + 4  # past T_max: the schedule rises again with period 2·T_max
    ours, theirs = run_schedule(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min),
        epochs,
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
    closed_form = [
        [eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2 for base in (0.1, 0.03)]
        for t in range(epochs)
    ]
    np.testing.assert_allclose(ours, closed_form, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- resuming
def _plain(value: Any) -> bool:
    """Only dicts, lists, strings, numbers, bools and NumPy arrays: no objects that need pickle."""
    if isinstance(value, dict):
        return all(isinstance(k, int | str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, np.ndarray | int | float | bool | str) or value is None


@pytest.mark.parametrize(
    ("make_opt", "make_sched"),
    [
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), lambda o: lr_scheduler.StepLR(o, 2, 0.5)),
        (lambda p: optim.Adam(p, lr=0.05, amsgrad=True), lambda o: lr_scheduler.CosineAnnealingLR(o, 4, 0.001)),
        (lambda p: optim.AdamW(p, lr=0.05), lambda o: lr_scheduler.StepLR(o, 1, 0.9)),
    ],
    ids=["sgd_step", "adam_cosine", "adamw_step"],
)
def test_state_dict_round_trip_resumes_identically(make_opt: Any, make_sched: Any) -> None:
    x = kw.tensor(np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32))
    y = kw.tensor(np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32))

    def epoch(model: nn.Module, opt: optim.Optimizer, sched: lr_scheduler.LRScheduler) -> None:
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        sched.step()

    model = nn.Linear(3, 2, generator=0)
    opt = make_opt(model.parameters())
    sched = make_sched(opt)
    for _ in range(3):
        epoch(model, opt, sched)
    saved = (
        {k: v.numpy().copy() for k, v in model.state_dict().items()},
        opt.state_dict(),
        sched.state_dict(),
    )
    assert _plain(saved[1]) and _plain(saved[2])
    for _ in range(3):
        epoch(model, opt, sched)

    resumed = nn.Linear(3, 2, generator=99)
    resumed_opt = make_opt(resumed.parameters())
    resumed_sched = make_sched(resumed_opt)
    resumed.load_state_dict(saved[0])
    resumed_opt.load_state_dict(saved[1])
    resumed_sched.load_state_dict(saved[2])
    for _ in range(3):
        epoch(resumed, resumed_opt, resumed_sched)
    for (name, a), (_, b) in zip(model.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)  # bit-identical
    assert resumed_sched.get_last_lr() == sched.get_last_lr()
    assert resumed_sched.last_epoch == sched.last_epoch == 6


def test_state_dict_is_a_copy() -> None:
    p = nn.Parameter(kw.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = kw.ones(2)
    opt.step()
    saved = opt.state_dict()
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["momentum_buffer"], [1.0, 1.0])
    opt.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"][...] = 7
    assert opt.state[p]["momentum_buffer"].tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- errors
def _p() -> list[nn.Parameter]:
    return [nn.Parameter(kw.zeros(2))]


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: optim.SGD(_p(), lr=-0.1), ValueError, r"lr=-0.1: must be >= 0"),
        (lambda: optim.Adam(_p(), lr=-1), ValueError, r"lr=-1.0: must be >= 0"),
        (lambda: optim.SGD(_p(), lr="0.1"), TypeError, r"lr='0.1': expected a real number"),
        (lambda: optim.SGD(_p(), momentum=-0.5), ValueError, r"momentum=-0.5: must be >= 0"),
        (lambda: optim.SGD(_p(), weight_decay=-1), ValueError, r"weight_decay=-1.0: must be >= 0"),
        (lambda: optim.SGD(_p(), nesterov=True), ValueError, r"nesterov=True requires momentum > 0 and dampening = 0"),
        (
            lambda: optim.SGD(_p(), momentum=0.9, dampening=0.1, nesterov=True),
            ValueError,
            r"got momentum=0.9, dampening=0.1",
        ),
        (lambda: optim.Adam(_p(), betas=(1.0, 0.999)), ValueError, r"betas\[0\]=1.0: must be in \[0, 1\)"),
        (lambda: optim.Adam(_p(), betas=(0.9, -0.1)), ValueError, r"betas\[1\]=-0.1: must be in \[0, 1\)"),
        (lambda: optim.AdamW(_p(), betas=(0.9, 1.5)), ValueError, r"betas\[1\]=1.5"),
        (lambda: optim.Adam(_p(), betas=(0.9,)), ValueError, r"betas=\(0.9,\): expected a pair"),
        (lambda: optim.Adam(_p(), eps=-1e-8), ValueError, r"eps=-1e-08: must be >= 0"),
        (lambda: optim.AdamW(_p(), weight_decay=-0.01), ValueError, r"weight_decay=-0.01: must be >= 0"),
        (lambda: optim.SGD([], lr=0.1), ValueError, r"params: the optimizer got an empty parameter list"),
        (lambda: optim.Adam(iter([])), ValueError, r"empty parameter list"),
        (
            lambda: optim.SGD([kw.zeros(2, requires_grad=True)]),
            TypeError,
            r"params\[0\]: an optimizer can only optimize Parameters, got Tensor",
        ),
        (lambda: optim.SGD([*_p(), np.zeros(2)]), TypeError, r"params\[1\]: .* got ndarray"),
        (lambda: optim.SGD(_p()[0]), TypeError, r"params should be an iterable of Parameters .* got Parameter"),
        (lambda: optim.SGD([{"params": set(_p())}]), TypeError, r"ordered collection"),
        (lambda: optim.SGD(_p() * 2), ValueError, r"the same parameter more than once"),
        (lambda: optim.SGD([{"params": _p(), "lr": -2}]), ValueError, r"lr=-2.0: must be >= 0"),
        (lambda: optim.SGD([{"lr": 0.1}]), ValueError, r"a parameter group needs a 'params' entry"),
    ],
)
def test_optimizer_argument_errors(build: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_parameter_in_two_groups_is_an_error() -> None:
    p = _p()
    opt = optim.SGD(p)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": p})


def test_load_state_dict_errors() -> None:
    params = [*_p(), nn.Parameter(kw.zeros(3))]
    opt = optim.Adam(params)
    for p in params:
        p.grad = kw.ones(*p.shape)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="state_dict has 2 parameter groups, the optimizer has 1"):
        opt.load_state_dict({"state": {}, "param_groups": saved["param_groups"] * 2})
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters, the optimizer's has 2"):
        opt.load_state_dict({"state": {}, "param_groups": [{**saved["param_groups"][0], "params": [0]}]})
    with pytest.raises(ValueError, match="exactly the keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad = opt.state_dict()
    bad["param_groups"][0]["betas"] = [0.9, 1.0]
    with pytest.raises(ValueError, match=r"betas\[1\]=1.0: must be in \[0, 1\)"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][1]["exp_avg"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 1 has shape \(2,\), expected \(3,\)"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][0]["exp_avg_sq"] = bad["state"][0]["exp_avg_sq"].astype(np.float64)
    with pytest.raises(TypeError, match="state 'exp_avg_sq' of parameter 0 has dtype float64, expected float32"):
        opt.load_state_dict(bad)


def test_gradient_of_another_dtype_is_an_error() -> None:
    p = nn.Parameter(kw.zeros(2))
    p.grad = kw.tensor(np.zeros(2))
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\) and dtype float64 does not match"):
        optim.SGD([p]).step()


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, r"step_size=0: must be a positive int"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma="x"), TypeError, r"gamma='x': expected a real number"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, r"T_max=0: must be a positive int"),
        (lambda o: lr_scheduler.StepLR(o, 2, last_epoch=3), ValueError, r"param_groups\[0\] has no 'initial_lr'"),
        (lambda o: lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1)]), 2), TypeError, r"expected an Optimizer"),
    ],
)
def test_scheduler_argument_errors(build: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build(optim.SGD(_p(), lr=0.1))


def test_scheduler_load_state_dict_checks_keys() -> None:
    sched = lr_scheduler.StepLR(optim.SGD(_p(), lr=0.1), 2)
    with pytest.raises(ValueError, match=r"expected the keys .*'step_size'"):
        sched.load_state_dict({"last_epoch": 3})
