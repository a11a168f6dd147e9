"""Every optimizer and learning-rate schedule against torch.optim, step by step, on grids of their options.

The optimizers get the same parameters and the same fixed random gradients as PyTorch's
(no forward pass, so nothing feeds rounding back into the gradients) and are compared
after every step, parameters and state, in float32 and float64. The tolerance is a few
units in the last place of each array's largest value: both sides round every
elementwise operation once, but PyTorch's CPU kernels fuse some multiply-adds and order a
few products differently, and an entry that cancels to near zero (a weight crossing
zero) keeps the absolute error of the larger operands it came from. Centered RMSprop
divides by √(v - ḡ²), which cancels where the recent gradients agree: the rounding of v
and ḡ grows by κ/2, κ = v / (v - ḡ²) (up to 40 with α = 0.3 here), and so does the
tolerance there.

The schedules are plain float64 arithmetic, the same expressions in the same order as
PyTorch's, so their learning rates (and OneCycleLR's momenta) must be equal, bit for bit,
over 30 steps. Resuming (``state_dict`` saved after 5 steps through ``kernelwise.trainstate``,
loaded into fresh objects, 5 more steps) must give the same bits as 10 steps in one go.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise import nn, optim, trainstate
from kernelwise.optim import lr_scheduler

DTYPES = [np.float32, np.float64]
SHAPES = [(3, 4), (5,), (2, 1, 3), (7, 3)]
STEPS = 10
ULPS = 8  # the largest difference measured is under 5 ulps (of an array's largest entry)


def close(actual: np.ndarray, expected: np.ndarray, what: str, ulps: float = ULPS) -> None:
    """Equal to ``ulps`` units in the last place of the largest |expected| (the scale of the array)."""
    assert actual.dtype == expected.dtype, what
    scale = float(np.abs(expected).max(initial=0.0))
    tolerance = ulps * np.finfo(expected.dtype).eps * scale
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance, err_msg=what)


def grid(**options: list[Any]) -> list[dict[str, Any]]:
    """Every combination of the options (the first value of each is the default and is left out)."""
    names = list(options)
    combos = []
    for values in itertools.product(*options.values()):
        combos.append({n: v for n, v, default in zip(names, values, (o[0] for o in options.values())) if v != default})
    return combos


def _valid_sgd(kwargs: dict[str, Any]) -> bool:
    return not kwargs.get("nesterov") or (kwargs.get("momentum", 0) > 0 and kwargs.get("dampening", 0) == 0)


OPTIMIZER_GRID: list[tuple[str, dict[str, Any]]] = [
    *(
        ("SGD", {"lr": 0.1, **o})
        for o in grid(
            momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True], weight_decay=[0, 0.1], maximize=[False, True]
        )
        if _valid_sgd(o) and not (o.get("dampening") and not o.get("momentum"))
    ),
    *(
        (cls, {"lr": 0.01, **o})
        for cls in ("Adam", "AdamW")
        for o in grid(  # weight_decay: Adam's default 0 or AdamW's 1e-2 (0.01 is never passed), or 0.1
            betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0.01, 0.1], amsgrad=[False, True], maximize=[False, True]
        )
    ),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.01, "eps": 1e-3, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True}),
    *(
        ("Adadelta", o)
        for o in grid(
            lr=[1.0, 0.5], rho=[0.9, 0.5, 1.0], eps=[1e-6, 1e-3], weight_decay=[0, 0.1], maximize=[False, True]
        )
    ),
    *(
        ("RMSprop", o)
        for o in grid(
            alpha=[0.99, 0.3],
            momentum=[0, 0.9],
            centered=[False, True],
            weight_decay=[0, 0.1],
            maximize=[False, True],
        )
    ),
    ("RMSprop", {"lr": 0.001, "eps": 1e-3, "centered": True, "momentum": 0.5}),
    *(
        ("Adagrad", {"lr": 0.1, **o})
        for o in grid(
            lr_decay=[0, 0.1],
            weight_decay=[0, 0.1],
            initial_accumulator_value=[0, 0.5],
            eps=[1e-10, 1e-3],
            maximize=[False, True],
        )
    ),
]


def _id(cls: str, kwargs: dict[str, Any]) -> str:
    return cls + "".join(f"-{k}={v}" for k, v in kwargs.items())


def make_params(dtype: Any, seed: int = 0) -> tuple[list[nn.Parameter], list[torch.nn.Parameter]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [nn.Parameter(a.copy()) for a in arrays], [torch.nn.Parameter(torch.tensor(a)) for a in arrays]


def give_gradients(
    rng: np.random.Generator, k_params: list[nn.Parameter], t_params: list[torch.Tensor], skip: int | None = None
) -> None:
    """The same random gradient to both frameworks; parameter ``skip`` gets none (both leave it alone)."""
    for i, (k_p, t_p) in enumerate(zip(k_params, t_params)):
        if i == skip:
            k_p.grad = t_p.grad = None
            continue
        grad = rng.standard_normal(k_p.shape).astype(k_p.dtype)
        k_p.grad, t_p.grad = kw.Tensor(grad.copy()), torch.tensor(grad)


def compare_state(
    k_opt: optim.Optimizer, t_opt: torch.optim.Optimizer, k_p: Any, t_p: Any, what: str, ulps: float = ULPS
) -> None:
    theirs = {k: v for k, v in t_opt.state[t_p].items() if v is not None}
    ours = k_opt.state.get(k_p, {})
    assert set(ours) == set(theirs), what
    for key, value in theirs.items():
        if key == "step":
            assert ours[key] == value.item(), f"{what}: step"
        else:
            close(ours[key], value.numpy(), f"{what}: state {key!r}", ulps)


def cancellation(t_opt: torch.optim.Optimizer) -> float:
    """κ/2 = v / (v - ḡ²) / 2 at its largest in centered RMSprop's state (1 elsewhere): how much rounding grows."""
    kappa = 2.0
    for state in t_opt.state.values():
        if "grad_avg" in state:
            v, g_avg = state["square_avg"].double(), state["grad_avg"].double()
            kappa = max(kappa, (v / (v - g_avg * g_avg)).max().item())
    return kappa / 2


# --------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("cls", "kwargs"), OPTIMIZER_GRID, ids=[_id(*o) for o in OPTIMIZER_GRID])
def test_optimizer_matches_torch_every_step(cls: str, kwargs: dict[str, Any], dtype: Any) -> None:
    k_params, t_params = make_params(dtype)
    k_opt, t_opt = getattr(optim, cls)(k_params, **kwargs), getattr(torch.optim, cls)(t_params, **kwargs)
    arrays = [p.numpy() for p in k_params]
    rng = np.random.default_rng(1)
    growth = 1.0
    for step in range(STEPS):
        give_gradients(rng, k_params, t_params, skip=1 if step == 3 else None)
        k_opt.step()
        t_opt.step()
        growth = max(growth, cancellation(t_opt))  # (errors carried in the momentum keep the largest so far)
        for i, (k_p, t_p) in enumerate(zip(k_params, t_params)):
            what = f"parameter {i} after step {step + 1}"
            close(k_p.numpy(), t_p.detach().numpy(), what, ULPS * growth)
            compare_state(k_opt, t_opt, k_p, t_p, what, ULPS * growth)
    assert all(p.numpy() is a and p.dtype == dtype for p, a in zip(k_params, arrays))  # in place, no upcast


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        ("Adadelta", {"rho": 0.8, "weight_decay": 0.1}),
        ("RMSprop", {"momentum": 0.9, "centered": True}),
        ("Adagrad", {"initial_accumulator_value": 0.25, "lr_decay": 0.01}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}),
        ("Adam", {"amsgrad": True, "maximize": True, "decoupled_weight_decay": True, "weight_decay": 0.1}),
        ("AdamW", {"amsgrad": True, "maximize": True}),
    ],
)
def test_state_dict_layout_matches_torch(cls: str, kwargs: dict[str, Any]) -> None:
    k_params, t_params = make_params(np.float64)
    groups = lambda ps: [{"params": ps[:2], "lr": 0.05}, {"params": ps[2:]}]  # noqa: E731
    k_opt, t_opt = (
        getattr(optim, cls)(groups(k_params), **kwargs),
        getattr(torch.optim, cls)(groups(t_params), **kwargs),
    )
    for made in (True, False):  # just made (Adagrad's state exists already), then after two steps
        if not made:
            rng = np.random.default_rng(3)
            for _ in range(2):
                give_gradients(rng, k_params, t_params)
                k_opt.step()
                t_opt.step()
        ours, theirs = k_opt.state_dict(), t_opt.state_dict()
        t_state = {i: {k: v for k, v in s.items() if v is not None} for i, s in theirs["state"].items()}
        assert set(ours["state"]) == {i for i, s in t_state.items() if s}
        for index, state in ours["state"].items():
            assert set(state) == set(t_state[index])
            for key, value in state.items():
                expected = t_state[index][key]
                if key == "step":
                    assert value == expected.item()
                else:
                    close(value, expected.numpy(), f"state {key!r} of parameter {index}")
        for k_group, t_group in zip(ours["param_groups"], theirs["param_groups"]):
            for key, value in k_group.items():  # every hyperparameter kernelwise keeps, torch keeps, equal
                expected = t_group[key]
                assert value == (list(expected) if isinstance(expected, tuple) else expected), key


def test_maximize_climbs_by_hand() -> None:
    # f(w) = -(w - 3)², df/dw = -2(w - 3); gradient ascent with γ = 0.25 halves the distance to 3 each step
    w = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([w], lr=0.25, maximize=True)
    for _ in range(3):
        w.grad = kw.tensor(-2 * (w.numpy() - 3))
        opt.step()
    assert w.numpy().tolist() == [3 - 2 / 8]


def test_adagrad_lr_decay_by_hand() -> None:
    # g = 1 every step: s_t = t, γ̃_t = γ / (1 + (t - 1)η), θ_t = θ_{t-1} - γ̃_t / (√t + ε)
    w = nn.Parameter(np.array([0.0]))
    opt = optim.Adagrad([w], lr=1.0, lr_decay=0.5, eps=0.0)
    for _ in range(3):
        w.grad = kw.tensor(np.array([1.0]))
        opt.step()
    expected = -(1 / 1 / 1 + 1 / 1.5 / math.sqrt(2) + 1 / 2 / math.sqrt(3))
    assert w.numpy().tolist() == pytest.approx([expected], rel=1e-15)


def test_rmsprop_centered_by_hand() -> None:
    # α = 0.5, g = 2 then 4: v = 2, 9; ḡ = 1, 2.5; √(v - ḡ²) = 1, √2.75
    w = nn.Parameter(np.array([0.0]))
    opt = optim.RMSprop([w], lr=0.1, alpha=0.5, eps=0.0, centered=True)
    for g in (2.0, 4.0):
        w.grad = kw.tensor(np.array([g]))
        opt.step()
    assert w.numpy().tolist() == pytest.approx([-0.1 * 2 / 1 - 0.1 * 4 / math.sqrt(2.75)], rel=1e-15)


# --------------------------------------------------------------------------- schedules
def two_groups_k(optimizer: str = "SGD", **kwargs: Any) -> optim.Optimizer:
    params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
    return getattr(optim, optimizer)([{"params": params[:1], "lr": 0.1}, {"params": params[1:]}], lr=0.03, **kwargs)


def two_groups_t(optimizer: str = "SGD", **kwargs: Any) -> torch.optim.Optimizer:
    params = [
        torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)),
        torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)),
    ]
    return getattr(torch.optim, optimizer)(
        [{"params": params[:1], "lr": 0.1}, {"params": params[1:]}], lr=0.03, **kwargs
    )


def momenta(opt: Any) -> list[float]:
    return [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups]


def lr_equal(ours: list[float], theirs: list[float], what: str) -> None:
    assert ours == theirs, what


def run_both(
    k_sched: Any, t_sched: Any, k_opt: Any, t_opt: Any, steps: int, grads: bool = False, metrics: list | None = None
) -> None:
    """Step both, comparing the learning rates (and momenta, and with ``grads`` the parameters) at every step."""
    rng = np.random.default_rng(5)
    k_params = [p for g in k_opt.param_groups for p in g["params"]]
    t_params = [p for g in t_opt.param_groups for p in g["params"]]
    for step in range(steps):
        what = f"step {step}"
        lr_equal(k_sched.get_last_lr(), t_sched.get_last_lr(), what)
        assert [g["lr"] for g in k_opt.param_groups] == k_sched.get_last_lr()
        lr_equal(momenta(k_opt), momenta(t_opt), what)
        if grads:
            give_gradients(rng, k_params, t_params)
        k_opt.step()
        t_opt.step()
        if grads:
            for k_p, t_p in zip(k_params, t_params):
                close(k_p.numpy(), t_p.detach().numpy(), what)
        if metrics is None:
            k_sched.step()
            t_sched.step()
        else:
            k_sched.step(metrics[step])
            t_sched.step(metrics[step])
    lr_equal(k_sched.get_last_lr(), t_sched.get_last_lr(), "the end")


SCHEDULES: list[tuple[str, str, dict[str, Any]]] = [
    ("step", "StepLR", {"step_size": 4, "gamma": 0.5}),
    ("cosine", "CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
    ("multistep", "MultiStepLR", {"milestones": [3, 10, 10, 25], "gamma": 0.3}),
    ("multistep_unsorted", "MultiStepLR", {"milestones": [20, 4, 9], "gamma": 0.5}),
    ("multistep_at_0", "MultiStepLR", {"milestones": [0, 5], "gamma": 0.5}),  # at 0: at once, as torch
    ("multistep_none", "MultiStepLR", {"milestones": []}),
    ("exponential", "ExponentialLR", {"gamma": 0.9}),
    ("exponential_up", "ExponentialLR", {"gamma": 1.05}),
    ("lambda", "LambdaLR", {"lr_lambda": lambda epoch: 0.95**epoch}),
    ("lambda_warmup", "LambdaLR", {"lr_lambda": lambda epoch: min(1.0, (epoch + 1) / 5)}),
    ("lambda_per_group", "LambdaLR", {"lr_lambda": [lambda e: 1 / (1 + e), lambda e: (e % 4) + 0.5]}),
]


@pytest.mark.parametrize(("name", "cls", "kwargs"), SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_torch(name: str, cls: str, kwargs: dict[str, Any]) -> None:
    k_opt, t_opt = two_groups_k(), two_groups_t()
    k_sched = getattr(lr_scheduler, cls)(k_opt, **kwargs)
    t_sched = getattr(torch.optim.lr_scheduler, cls)(t_opt, **kwargs)
    run_both(k_sched, t_sched, k_opt, t_opt, 30)


def test_schedule_closed_forms() -> None:
    opt = two_groups_k()
    multi = lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.5)
    lrs = []
    for _ in range(7):
        lrs.append(multi.get_last_lr()[0])
        multi.step()
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125]  # 5 listed twice: γ² at once
    opt = two_groups_k()
    expo = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    for _ in range(4):
        expo.step()
    assert expo.get_last_lr() == [0.1 / 16, 0.03 / 16]
    opt = two_groups_k()
    lam = lr_scheduler.LambdaLR(opt, lr_lambda=[lambda e: e, lambda e: 2.0])
    assert lam.get_last_lr() == [0.0, 0.06]  # λ(0) applies at once
    lam.step()
    assert lam.get_last_lr() == [0.1, 0.06]


ONE_CYCLE = [
    {"max_lr": 1.0, "total_steps": 30},
    {"max_lr": [0.5, 2.0], "total_steps": 30, "anneal_strategy": "linear"},
    {"max_lr": 1.0, "epochs": 5, "steps_per_epoch": 6, "three_phase": True},
    {"max_lr": 1.0, "total_steps": 30, "three_phase": True, "anneal_strategy": "linear", "pct_start": 0.4},
    {"max_lr": 0.3, "total_steps": 29, "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0},
    {"max_lr": 0.3, "total_steps": 30, "base_momentum": [0.8, 0.7], "max_momentum": 0.99},
    {"max_lr": 0.3, "total_steps": 30, "cycle_momentum": False},
    {"max_lr": 0.3, "total_steps": 30, "pct_start": 1.0 - 1 / 30},
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE, ids=[f"onecycle{i}" for i in range(len(ONE_CYCLE))])
@pytest.mark.parametrize(
    ("optimizer", "opt_kwargs"),
    [("SGD", {"momentum": 0.9}), ("Adam", {}), ("RMSprop", {}), ("AdamW", {"amsgrad": True})],
    ids=["sgd", "adam", "rmsprop", "adamw"],
)
def test_one_cycle_matches_torch(kwargs: dict[str, Any], optimizer: str, opt_kwargs: dict[str, Any]) -> None:
    # the learning rates, the momenta (SGD's and RMSprop's momentum, Adam's β1) and the parameters, every step
    k_opt, t_opt = two_groups_k(optimizer, **opt_kwargs), two_groups_t(optimizer, **opt_kwargs)
    k_sched = lr_scheduler.OneCycleLR(k_opt, **kwargs)
    t_sched = torch.optim.lr_scheduler.OneCycleLR(t_opt, **kwargs)
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    run_both(k_sched, t_sched, k_opt, t_opt, total, grads=True)
    with pytest.raises(ValueError, match=rf"step {total + 1} is past the end of the cycle \(total_steps={total}\)"):
        k_sched.step()


PLATEAU = [
    {},
    {"mode": "max", "patience": 2},
    {"patience": 1, "threshold": 0.1, "threshold_mode": "abs"},
    {"mode": "max", "patience": 0, "threshold": 0.05, "threshold_mode": "abs", "cooldown": 2},
    {"patience": 2, "cooldown": 3, "factor": 0.5, "min_lr": 0.01},
    {"patience": 0, "factor": 0.5, "min_lr": [0.02, 0.001]},
    {"patience": 0, "factor": 0.9, "eps": 0.005},  # a change of eps or less is not made
    {"patience": 1, "threshold": 0.2},
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[f"plateau{i}" for i in range(len(PLATEAU))])
def test_reduce_lr_on_plateau_matches_torch(kwargs: dict[str, Any]) -> None:
    # a scripted metric: falls, stalls, rises, falls by less than the thresholds, jumps, and stays put
    metric = [5.0, 4.0, 4.0, 3.9, 3.95, 4.1, 3.0, 2.99, 2.98, 2.98, 3.5, 2.0, 1.95, 1.9, 1.9, 1.9, 1.9, 1.9]
    metric += [1.9 - 0.01 * i for i in range(12)] + [1.79] * 12  # (the last: past the default patience of 10)
    if kwargs.get("mode") == "max":
        metric = [10 - m for m in metric]
    k_opt, t_opt = two_groups_k(), two_groups_t()
    k_sched = lr_scheduler.ReduceLROnPlateau(k_opt, **kwargs)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    run_both(k_sched, t_sched, k_opt, t_opt, len(metric), metrics=metric)
    for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
        assert getattr(k_sched, key) == getattr(t_sched, key), key
    assert k_sched.get_last_lr() != [0.1, 0.03]  # the script does reduce it


def test_reduce_lr_on_plateau_by_hand() -> None:
    opt = two_groups_k()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1)
    lrs = []
    for loss in [1.0] * 8 + [0.5]:
        sched.step(kw.tensor(loss))  # a 0-d tensor is a metric too
        lrs.append(sched.get_last_lr())
    # the first value is the best; bad epochs 1, 2, 3 > patience: halve; a cooldown epoch (not counted);
    # bad epochs 1, 2, 3: halve again; an improvement changes nothing
    assert [lr[0] for lr in lrs] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025]
    assert lrs[-1] == [0.1 / 4, 0.03 / 4]


# --------------------------------------------------------------------------- resuming
class Weights(nn.Module):
    def __init__(self, dtype: Any) -> None:
        super().__init__()
        rng = np.random.default_rng(7)
        self.a = nn.Parameter(rng.standard_normal((3, 4)).astype(dtype))
        self.b = nn.Parameter(rng.standard_normal(5).astype(dtype))


RESUME = [
    ("Adadelta", {"rho": 0.8, "weight_decay": 0.01}, "ExponentialLR", {"gamma": 0.8}),
    ("RMSprop", {"momentum": 0.9, "centered": True}, "OneCycleLR", {"max_lr": 0.05, "total_steps": 10}),
    ("RMSprop", {"weight_decay": 0.1}, "CosineAnnealingLR", {"T_max": 4}),
    ("Adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.1}, "MultiStepLR", {"milestones": [2, 6, 6]}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}, "LambdaLR", {}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "dampening": 0.5}, "StepLR", {"step_size": 3}),
    ("Adam", {"amsgrad": True}, "OneCycleLR", {"max_lr": 0.1, "epochs": 2, "steps_per_epoch": 5, "three_phase": True}),
    ("AdamW", {"lr": 0.1, "maximize": True}, "ReduceLROnPlateau", {"patience": 0, "factor": 0.5, "cooldown": 1}),
]


def _sched(cls: str, opt: optim.Optimizer, kwargs: dict[str, Any]) -> Any:
    if cls == "LambdaLR":
        kwargs = {"lr_lambda": lambda e: 1 / (1 + e) ** 0.5}
    return getattr(lr_scheduler, cls)(opt, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(
    ("cls", "kwargs", "sched_cls", "sched_kwargs"), RESUME, ids=[r[0] + "-" + r[2] for r in RESUME]
)
def test_resume_through_trainstate_is_bit_identical(
    cls: str, kwargs: dict[str, Any], sched_cls: str, sched_kwargs: dict[str, Any], dtype: Any, tmp_path: Any
) -> None:
    grads = np.random.default_rng(11)
    steps = [[grads.standard_normal(s).astype(dtype) for s in ((3, 4), (5,))] for _ in range(STEPS)]
    metric = [3.0, 2.0, 2.5, 2.5, 1.0, 1.2, 1.2, 1.2, 0.5, 0.6]

    def run(model: Weights, opt: optim.Optimizer, sched: Any, first: int, last: int) -> list[list[float]]:
        lrs = []
        for t in range(first, last):
            model.a.grad, model.b.grad = kw.Tensor(steps[t][0].copy()), kw.Tensor(steps[t][1].copy())
            opt.step()
            sched.step(metric[t]) if sched_cls == "ReduceLROnPlateau" else sched.step()
            lrs.append(sched.get_last_lr())
        return lrs

    def fresh() -> tuple[Weights, optim.Optimizer, Any]:
        model = Weights(dtype)
        opt = getattr(optim, cls)(model.parameters(), **kwargs)
        return model, opt, _sched(sched_cls, opt, sched_kwargs)

    whole = fresh()
    whole_lrs = run(*whole, 0, STEPS)

    first = fresh()
    lrs = run(*first, 0, 5)
    trainstate.save(tmp_path, trainstate.capture(first[0], first[1], first[2], epoch=5, steps=5, history=[]))
    second = fresh()
    run(*second, 0, 2)  # a different state, overwritten by the saved one
    trainstate.apply(trainstate.load_latest(tmp_path), *second)
    lrs += run(*second, 5, STEPS)

    assert lrs == whole_lrs
    for (name, a), (_, b) in zip(whole[0].state_dict().items(), second[0].state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)  # the same bits
    assert whole[1].param_groups[0].keys() == second[1].param_groups[0].keys()
    for key, value in whole[1].param_groups[0].items():
        if key != "params":
            assert second[1].param_groups[0][key] == value, key
    for p, q in zip(whole[0].parameters(), second[0].parameters()):
        assert whole[1].state[p].keys() == second[1].state[q].keys()
        for key, value in whole[1].state[p].items():
            np.testing.assert_array_equal(value, second[1].state[q][key], err_msg=key)
    assert whole[2].state_dict() == second[2].state_dict()


# --------------------------------------------------------------------------- errors
def _p() -> list[nn.Parameter]:
    return [nn.Parameter(kw.zeros(2))]


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: optim.Adadelta(_p(), lr=-1.0), ValueError, r"lr=-1.0: must be >= 0"),
        (lambda: optim.Adadelta(_p(), rho=1.5), ValueError, r"rho=1.5: must be in \[0, 1\]"),
        (lambda: optim.Adadelta(_p(), rho=-0.1), ValueError, r"rho=-0.1: must be >= 0"),
        (lambda: optim.Adadelta(_p(), eps=-1e-6), ValueError, r"eps=-1e-06: must be >= 0"),
        (lambda: optim.Adadelta(_p(), weight_decay=-0.1), ValueError, r"weight_decay=-0.1: must be >= 0"),
        (lambda: optim.Adadelta(_p(), rho="0.9"), TypeError, r"rho='0.9': expected a real number"),
        (lambda: optim.Adadelta(_p(), maximize="yes"), TypeError, r"maximize='yes': expected True or False"),
        (lambda: optim.RMSprop(_p(), lr=-0.01), ValueError, r"lr=-0.01: must be >= 0"),
        (lambda: optim.RMSprop(_p(), alpha=1.01), ValueError, r"alpha=1.01: must be in \[0, 1\]"),
        (lambda: optim.RMSprop(_p(), alpha=-0.5), ValueError, r"alpha=-0.5: must be >= 0"),
        (lambda: optim.RMSprop(_p(), eps=-1.0), ValueError, r"eps=-1.0: must be >= 0"),
        (lambda: optim.RMSprop(_p(), momentum=-0.9), ValueError, r"momentum=-0.9: must be >= 0"),
        (lambda: optim.RMSprop(_p(), weight_decay=-1), ValueError, r"weight_decay=-1.0: must be >= 0"),
        (lambda: optim.RMSprop(_p(), centered=None), TypeError, r"centered=None: expected True or False"),
        (lambda: optim.Adagrad(_p(), lr=-0.1), ValueError, r"lr=-0.1: must be >= 0"),
        (lambda: optim.Adagrad(_p(), lr_decay=-0.1), ValueError, r"lr_decay=-0.1: must be >= 0"),
        (lambda: optim.Adagrad(_p(), weight_decay=-0.1), ValueError, r"weight_decay=-0.1: must be >= 0"),
        (
            lambda: optim.Adagrad(_p(), initial_accumulator_value=-1),
            ValueError,
            r"initial_accumulator_value=-1.0: must be >= 0",
        ),
        (lambda: optim.Adagrad(_p(), eps=-1e-10), ValueError, r"eps=-1e-10: must be >= 0"),
        (lambda: optim.SGD(_p(), lr=0.1, nesterov=True), ValueError, r"nesterov=True requires momentum > 0"),
        (
            lambda: optim.SGD(_p(), lr=0.1, momentum=0.9, dampening=0.5, nesterov=True),
            ValueError,
            r"requires momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.5",
        ),
        (lambda: optim.SGD(_p(), nesterov="no"), TypeError, r"nesterov='no': expected True or False"),
        (lambda: optim.SGD(_p(), maximize=1.0), TypeError, r"maximize=1.0: expected True or False"),
        (lambda: optim.Adam(_p(), amsgrad="x"), TypeError, r"amsgrad='x': expected True or False"),
        (lambda: optim.Adam(_p(), decoupled_weight_decay=None), TypeError, r"decoupled_weight_decay=None"),
        (lambda: optim.AdamW(_p(), maximize=[]), TypeError, r"maximize=\[\]: expected True or False"),
        (lambda: optim.RMSprop([{"params": _p(), "alpha": 2.0}]), ValueError, r"alpha=2.0: must be in \[0, 1\]"),
    ],
)
def test_optimizer_argument_errors(build: Callable[[], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def _opt(cls: str = "SGD") -> optim.Optimizer:
    return two_groups_k(cls)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: lr_scheduler.MultiStepLR(_opt(), milestones=[2, -1]), ValueError, r"milestones\[1\]=-1: must be"),
        (
            lambda: lr_scheduler.MultiStepLR(_opt(), milestones=[1.5]),
            ValueError,
            r"milestones\[0\]=1.5: must be an int",
        ),
        (lambda: lr_scheduler.MultiStepLR(_opt(), milestones=5), TypeError, r"milestones=5: expected a list"),
        (lambda: lr_scheduler.MultiStepLR(_opt(), [2], gamma="x"), TypeError, r"gamma='x': expected a real number"),
        (lambda: lr_scheduler.ExponentialLR(_opt(), gamma=None), TypeError, r"gamma=None: expected a real number"),
        (lambda: lr_scheduler.ExponentialLR([], gamma=0.9), TypeError, r"optimizer: expected an Optimizer, got list"),
        (lambda: lr_scheduler.LambdaLR(_opt(), lr_lambda=0.5), TypeError, r"lr_lambda=0.5: expected a function"),
        (
            lambda: lr_scheduler.LambdaLR(_opt(), lr_lambda=[lambda e: 1.0]),
            ValueError,
            r"lr_lambda: expected one function per parameter group \(2\), got 1",
        ),
        (lambda: lr_scheduler.LambdaLR(_opt(), [abs, 2]), TypeError, r"lr_lambda\[1\]=2: expected a function"),
        (lambda: lr_scheduler.OneCycleLR(_opt(), max_lr=1.0), ValueError, r"give total_steps, or both epochs"),
        (lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, epochs=3), ValueError, r"give total_steps, or both epochs"),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, total_steps=0),
            ValueError,
            r"total_steps=0: must be an int >= 1",
        ),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, epochs=0, steps_per_epoch=5),
            ValueError,
            r"epochs=0: must be an int >= 1",
        ),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, epochs=2, steps_per_epoch=2.5),
            ValueError,
            r"steps_per_epoch=2.5: must be an int >= 1",
        ),
        (lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, pct_start=1.5), ValueError, r"pct_start=1.5: must be in"),
        (lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, pct_start=-0.1), ValueError, r"pct_start=-0.1: must be"),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, anneal_strategy="exp"),
            ValueError,
            r"anneal_strategy='exp': must be 'cos' or 'linear'",
        ),
        (lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, div_factor=0), ValueError, r"div_factor=0.0: must be > 0"),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, final_div_factor=-1),
            ValueError,
            r"final_div_factor=-1.0: must be > 0",
        ),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), [1.0], 10),
            ValueError,
            r"max_lr: expected one value per parameter group \(2\), got 1",
        ),
        (lambda: lr_scheduler.OneCycleLR(_opt(), "1", 10), TypeError, r"max_lr='1': expected a real number"),
        (
            lambda: lr_scheduler.OneCycleLR(_opt("Adagrad"), 1.0, 10),
            ValueError,
            r"cycle_momentum=True: Adagrad has no momentum or betas to cycle",
        ),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, pct_start=0.1),  # torch: ZeroDivisionError
            ValueError,
            r"pct_start=0.1 with total_steps=10 leaves phase 1 of the cycle no steps",
        ),
        (
            lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, pct_start=1.0),  # torch: at the last step
            ValueError,
            r"pct_start=1.0 with total_steps=10 leaves phase 2 of the cycle no steps",
        ),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), mode="mean"), ValueError, r"mode='mean': must be 'min' or"),
        (
            lambda: lr_scheduler.ReduceLROnPlateau(_opt(), threshold_mode="pct"),
            ValueError,
            r"threshold_mode='pct': must be 'rel' or 'abs'",
        ),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), factor=1.0), ValueError, r"factor=1.0: must be in \[0, 1\)"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), factor=-0.5), ValueError, r"factor=-0.5: must be in"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), patience=-1), ValueError, r"patience=-1: must be an int >= 0"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), patience=2.5), ValueError, r"patience=2.5: must be an int"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), cooldown=-2), ValueError, r"cooldown=-2: must be an int >= 0"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), threshold=-1e-4), ValueError, r"threshold=-0.0001: must be"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), min_lr=-1), ValueError, r"min_lr=-1.0: must be >= 0"),
        (
            lambda: lr_scheduler.ReduceLROnPlateau(_opt(), min_lr=[0.1]),
            ValueError,
            r"min_lr: expected one value per parameter group \(2\), got 1",
        ),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), min_lr=[0, -1]), ValueError, r"min_lr\[1\]=-1.0: must be"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), eps=-1e-8), ValueError, r"eps=-1e-08: must be >= 0"),
        (lambda: lr_scheduler.ReduceLROnPlateau(object()), TypeError, r"optimizer: expected an Optimizer, got object"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt()).step("low"), TypeError, r"metrics='low': expected a number"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt()).step(None), TypeError, r"metrics=None: expected a number"),
        (lambda: lr_scheduler.ReduceLROnPlateau(_opt()).step(), TypeError, r"metrics"),
    ],
)
def test_scheduler_argument_errors(build: Callable[[], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_plateau_state_dict_checks_keys_and_is_plain() -> None:
    sched = lr_scheduler.ReduceLROnPlateau(_opt(), min_lr=[0.0, 0.001])
    saved = sched.state_dict()
    assert all(isinstance(v, int | float | str | list | type(None)) for v in saved.values())
    assert saved["best"] == math.inf and saved["mode"] == "min"
    with pytest.raises(ValueError, match=r"expected the keys .*'num_bad_epochs'"):
        sched.load_state_dict({"last_epoch": 3})
