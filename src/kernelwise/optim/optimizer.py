"""Optimizers: SGD (with momentum and Nesterov), Adam, AdamW, Adagrad, Adadelta and RMSprop.

Each optimizer's update rule is written as the formulas of ``torch.optim``'s
documented algorithm, one per line, applied to one parameter at a time:
``θ`` the parameter, ``g`` its gradient, ``γ`` the learning rate, ``λ`` the
weight decay. Parameters are updated in place (their arrays) in their own
dtype: hyperparameters are Python floats, which NumPy does not let upcast a
float32 array. With ``maximize=True`` every optimizer climbs: it steps along
``-g`` (the gradient negated before anything else, as in PyTorch).

``state_dict()`` is plain data (dicts, lists, numbers and NumPy arrays, with
parameters replaced by their index), so a run can be saved without pickle and
resumed with ``load_state_dict``.

Example:
    >>> import kernelwise as kw
    >>> w = kw.nn.Parameter(kw.tensor([1.0, -2.0]))
    >>> opt = kw.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()   # dL/dw = 2w
    >>> opt.step()
    >>> w.data.tolist()             # w - 0.1 · 2w
    [0.800000011920929, -1.600000023841858]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

from ..errors import UsageError, UsageTypeError
from ..nn.module import Parameter
from ..tensor import Tensor, enable_grad

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]

_Check = Callable[[str, Any], Any]  # check(name, value): the value validated and normalised, or an error naming it


def _check_number(name: str, value: Any, low: float, low_inclusive: bool = True, high: float | None = None) -> float:
    """``value`` as a Python float in [low, high), or a clear error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"{name}={value!r}: expected a real number")
    value = float(value)
    too_low = value < low if low_inclusive else value <= low
    if too_low or (high is not None and value >= high) or math.isnan(value):
        rule = f"{'>=' if low_inclusive else '>'} {low:g}" if high is None else f"in [{low:g}, {high:g})"
        raise UsageError(f"{name}={value!r}: must be {rule}")
    return value


def _check_flag(name: str, value: Any) -> bool:
    """``value`` as a Python bool, or a TypeError naming the argument (no truthy strings or numbers)."""
    if not isinstance(value, bool | np.bool_):
        raise UsageTypeError(f"{name}={value!r}: expected True or False")
    return bool(value)


def _non_negative(name: str, value: Any) -> float:
    """A number >= 0 (a learning rate, a decay, an epsilon)."""
    return _check_number(name, value, 0)


def _real(name: str, value: Any) -> float:
    """Any real number."""
    return _check_number(name, value, -math.inf)


def _decay_rate(name: str, value: Any) -> float:
    """A number in [0, 1] (the weight of the old value in a moving average)."""
    value = _check_number(name, value, 0)
    if value > 1:
        raise UsageError(f"{name}={value!r}: must be in [0, 1]")
    return value


def _betas(name: str, value: Any) -> tuple[float, float]:
    """A pair (beta1, beta2), each in [0, 1)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise UsageError(f"{name}={value!r}: expected a pair (beta1, beta2)")
    return (_check_number(f"{name}[0]", value[0], 0, high=1), _check_number(f"{name}[1]", value[1], 0, high=1))


_COMMON_CHECKS: dict[str, _Check] = {
    "lr": _non_negative,
    "weight_decay": _non_negative,
    "maximize": _check_flag,
}  # the hyperparameters every optimizer has; each class's ``_checks`` adds its own


def _hyperparameters(arguments: dict[str, Any]) -> dict[str, Any]:
    """A constructor's ``locals()`` as the optimizer's defaults: every argument but ``self`` and ``params``.

    Example:
        >>> _hyperparameters({"self": None, "params": [], "lr": 0.1, "maximize": False})
        {'lr': 0.1, 'maximize': False}
    """
    return {name: value for name, value in arguments.items() if name not in ("self", "params", "__class__")}


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad`` and ``state_dict``.

    Args:
        params: an iterable of Parameters, or of dicts (parameter groups) with a
            ``"params"`` entry and optional per-group hyperparameters.
        defaults: the hyperparameters of groups that do not set them.

    Subclasses define ``_checks`` (each hyperparameter's name and the function
    that validates and normalises it, ``check(name, value)``), ``_initial_state(theta,
    group)`` (a parameter's state before its first step) and ``_update(param, grad,
    group, state)`` (one step for one parameter; ``state`` is that parameter's dict
    in ``self.state``).
    """

    _checks: ClassVar[dict[str, _Check]] = {}

    def __init__(self, params: Iterable[Parameter] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.defaults = self._check_group(dict(defaults))
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor | dict):
            kind = type(params).__name__
            raise UsageTypeError(
                f"params should be an iterable of Parameters or of dicts (parameter groups), got {kind}"
            )
        groups = list(params)
        if not groups:
            raise UsageError("params: the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check_group(self, group: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise a group's hyperparameters (in place), one ``_checks`` entry each."""
        for name, check in self._checks.items():
            group[name] = check(name, group[name])
        return group

    def _initial_state(self, theta: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """A parameter's state before its first step (``theta`` its array); empty by default."""
        return {}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with its own hyperparameters where it sets them."""
        if not isinstance(param_group, dict):
            raise UsageTypeError(f"param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise UsageError("param_group: a parameter group needs a 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise UsageTypeError("params: parameters must be in an ordered collection (a list), not a set")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise UsageTypeError(f"params[{i}]: an optimizer can only optimize Parameters, got {type(p).__name__}")
        if len({id(p) for p in params}) != len(params):
            raise UsageError("params: a parameter group contains the same parameter more than once")
        taken = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in taken for p in params):
            raise UsageError("params: some parameters appear in more than one parameter group")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        group = self._check_group(group)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: drop them (None) or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        Args:
            closure: optional function that re-evaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad._array
                if grad.shape != p.shape or grad.dtype != p.dtype:
                    raise UsageError(
                        f"a gradient of shape {grad.shape} and dtype {grad.dtype} does not match its parameter "
                        f"of shape {p.shape} and dtype {p.dtype}"
                    )
                if group.get("maximize", False):
                    grad = -grad  # maximize: step along -g, as if minimising -f
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(self._initial_state(p._array, group))
                self._update(p, grad, group, state)
        return loss

    def _update(self, param: Parameter, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are numbered in group order, as in PyTorch; arrays are copies.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for group in self.param_groups
            for p in group["params"]
            if (s := self.state.get(p))
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by :meth:`state_dict`.

        The groups must have the same sizes as this optimizer's; state arrays must
        have their parameter's shape and dtype. Arrays are copied.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise UsageError("state_dict: expected a dict with exactly the keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise UsageError(
                f"state_dict has {len(saved_groups)} parameter groups, the optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, Parameter] = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise UsageError(
                    f"state_dict: parameter group {i} has {len(saved['params'])} parameters, "
                    f"the optimizer's has {len(group['params'])}"
                )
            by_index.update(zip((int(k) for k in saved["params"]), group["params"]))
        new_state: dict[Parameter, dict[str, Any]] = {}
        for key, saved_state in state_dict["state"].items():
            if int(key) not in by_index:
                raise UsageError(f"state_dict: state for parameter {key} which no parameter group lists")
            p = by_index[int(key)]
            new_state[p] = {name: self._load_value(name, value, p, key) for name, value in saved_state.items()}
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            hyperparameters = {k: v for k, v in saved.items() if k != "params"}
            restored = self._check_group({**{k: v for k, v in group.items() if k != "params"}, **hyperparameters})
            restored["params"] = group["params"]
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    @staticmethod
    def _load_value(name: str, value: Any, p: Parameter, key: Any) -> Any:
        if name == "step":
            return int(value)  # the step count is a number (a 0-d array after some file formats)
        value = np.asarray(value)
        if value.shape != p.shape:
            raise UsageError(
                f"state_dict: state {name!r} of parameter {key} has shape {value.shape}, expected {p.shape}"
            )
        if value.dtype != p.dtype:
            raise UsageTypeError(
                f"state_dict: state {name!r} of parameter {key} has dtype {value.dtype}, expected {p.dtype}"
            )
        return np.array(value, copy=True)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join([*lines, ")"])


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (torch.optim.SGD's algorithm).

    Args:
        params: Parameters or parameter groups.
        lr: learning rate γ.
        momentum: momentum factor μ.
        dampening: dampening τ of the momentum.
        weight_decay: L2 penalty λ.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: maximize the objective (step along -g).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([1.0]))
        >>> opt = kw.optim.SGD([w], lr=0.5, momentum=0.9)
        >>> for _ in range(2):
        ...     w.grad = kw.tensor([1.0])
        ...     opt.step()
        >>> w.data.tolist()  # 1 - 0.5·1 - 0.5·(0.9·1 + 1)
        [-0.44999998807907104]
    """

    _checks: ClassVar[dict[str, _Check]] = {
        **_COMMON_CHECKS,
        "momentum": _non_negative,
        "dampening": _real,
        "nesterov": _check_flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, _hyperparameters(locals()))

    def _check_group(self, group: dict[str, Any]) -> dict[str, Any]:
        group = super()._check_group(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise UsageError(
                f"nesterov=True requires momentum > 0 and dampening = 0, "
                f"got momentum={group['momentum']}, dampening={group['dampening']}"
            )
        return group

    def _update(self, param: Parameter, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, mu, tau, lam = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        theta, g = param._array, grad
        if lam != 0:
            g = g + lam * theta  # g_t = g_t + λ θ_{t-1}
        if mu != 0:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = g.copy()  # b_1 = g_1
            else:
                b *= mu
                b += (1 - tau) * g  # b_t = μ b_{t-1} + (1 - τ) g_t
            g = g + mu * b if group["nesterov"] else b  # Nesterov: g_t = g_t + μ b_t, else g_t = b_t
        theta -= lr * g  # θ_t = θ_{t-1} - γ g_t


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), torch.optim.Adam's algorithm, optionally AMSGrad.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate γ.
        betas: (β1, β2), the decay rates of the moving averages of g and g², each in [0, 1).
        eps: ε added to √v̂ for numerical stability.
        weight_decay: L2 penalty λ, added to the gradient (or, with ``decoupled_weight_decay``, AdamW's decay).
        amsgrad: use the maximum of all v_t so far (Reddi et al., 2018).
        maximize: maximize the objective (step along -g).
        decoupled_weight_decay: shrink the weights by γλ instead (AdamW's rule).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([1.0, -1.0]))
        >>> opt = kw.optim.Adam([w], lr=0.1)
        >>> w.grad = kw.tensor([3.0, -0.5])
        >>> opt.step()
        >>> [round(v, 6) for v in w.data.tolist()]  # the first step moves each weight by about γ
        [0.9, -0.9]
    """

    _checks: ClassVar[dict[str, _Check]] = {
        **_COMMON_CHECKS,
        "eps": _non_negative,
        "betas": _betas,
        "amsgrad": _check_flag,
        "decoupled_weight_decay": _check_flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(params, _hyperparameters(locals()))

    def _initial_state(self, theta: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": 0, "exp_avg": np.zeros_like(theta), "exp_avg_sq": np.zeros_like(theta)}  # m_0 = v_0 = 0
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(theta)  # v_0^max = 0
        return state

    def _update(self, param: Parameter, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, lam = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        theta, g = param._array, grad
        state["step"] += 1
        t = state["step"]
        if lam != 0:
            if group["decoupled_weight_decay"]:
                theta *= 1 - lr * lam  # AdamW: θ_t = θ_{t-1} - γ λ θ_{t-1}
            else:
                g = g + lam * theta  # Adam: g_t = g_t + λ θ_{t-1}
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g  # m_t = β1 m_{t-1} + (1 - β1) g_t
        v *= beta2
        v += (1 - beta2) * g * g  # v_t = β2 v_{t-1} + (1 - β2) g_t²
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])  # v_t^max = max(v_{t-1}^max, v_t)
        bias_correction1 = 1 - beta1**t  # m̂_t = m_t / (1 - β1^t)
        bias_correction2 = 1 - beta2**t  # v̂_t = v_t / (1 - β2^t)
        denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps  # √v̂_t + ε
        theta -= (lr / bias_correction1) * m / denom  # θ_t = θ_{t-1} - γ m̂_t / (√v̂_t + ε)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), torch.optim.AdamW's algorithm.

    The weights shrink by γλ at each step, θ ← θ - γλθ, instead of adding λθ to
    the gradient; arguments as :class:`Adam`, with ``weight_decay=1e-2``.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([2.0]))
        >>> opt = kw.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = kw.tensor([0.0])   # no gradient: only the decay acts
        >>> opt.step()
        >>> round(w.data.item(), 6)       # 2 · (1 - 0.1 · 0.5)
        1.9
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, **_hyperparameters(locals()), decoupled_weight_decay=True)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), torch.optim.Adagrad's algorithm: each weight's step shrinks with its gradients.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate γ.
        lr_decay: decay η of the learning rate, γ̃_t = γ / (1 + (t - 1) η).
        weight_decay: L2 penalty λ, added to the gradient.
        initial_accumulator_value: the starting value s_0 of the sum of squared gradients.
        eps: ε added to √s for numerical stability.
        maximize: maximize the objective (step along -g).

    The state (``step`` and ``sum``) is made when the optimizer is, as in PyTorch.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([1.0, 1.0]))
        >>> opt = kw.optim.Adagrad([w], lr=0.5)
        >>> for g in ([3.0, -1.0], [4.0, -1.0]):
        ...     w.grad = kw.tensor(g)
        ...     opt.step()
        >>> [round(v, 4) for v in w.data.tolist()]  # 1 - 0.5·3/3 - 0.5·4/5 and 1 + 0.5·1/1 + 0.5·1/√2
        [0.1, 1.8536]
    """

    _checks: ClassVar[dict[str, _Check]] = {
        **_COMMON_CHECKS,
        "lr_decay": _non_negative,
        "initial_accumulator_value": _non_negative,
        "eps": _non_negative,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, _hyperparameters(locals()))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._initial_state(p._array, group)

    def _initial_state(self, theta: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(theta, group["initial_accumulator_value"])}  # s_0

    def _update(self, param: Parameter, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, eta, lam, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        theta, g = param._array, grad
        state["step"] += 1
        t = state["step"]
        if lam != 0:
            g = g + lam * theta  # g_t = g_t + λ θ_{t-1}
        clr = lr / (1 + (t - 1) * eta)  # γ̃_t = γ / (1 + (t - 1) η)
        s = state["sum"]
        s += g * g  # s_t = s_{t-1} + g_t²
        theta -= clr * g / (np.sqrt(s) + eps)  # θ_t = θ_{t-1} - γ̃_t g_t / (√s_t + ε)


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), torch.optim.Adadelta's algorithm: steps scaled by the RMS of past steps.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate γ, a factor on the step Δx (1 in the paper).
        rho: decay ρ of the moving averages of g² and Δx², in [0, 1].
        eps: ε added inside both square roots.
        weight_decay: L2 penalty λ, added to the gradient.
        maximize: maximize the objective (step along -g).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([1.0], dtype=kw.float64))
        >>> opt = kw.optim.Adadelta([w], rho=0.5, eps=1e-2)
        >>> w.grad = kw.tensor([2.0], dtype=kw.float64)
        >>> opt.step()   # v = 0.5·4 = 2, Δx = √(0 + 0.01) / √(2 + 0.01) · 2
        >>> round(w.data.item(), 4)
        0.8589
    """

    _checks: ClassVar[dict[str, _Check]] = {**_COMMON_CHECKS, "rho": _decay_rate, "eps": _non_negative}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, _hyperparameters(locals()))

    def _initial_state(self, theta: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "square_avg": np.zeros_like(theta), "acc_delta": np.zeros_like(theta)}  # v_0 = u_0 = 0

    def _update(self, param: Parameter, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, rho, eps, lam = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        theta, g = param._array, grad
        state["step"] += 1
        if lam != 0:
            g = g + lam * theta  # g_t = g_t + λ θ_{t-1}
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * g * g  # v_t = ρ v_{t-1} + (1 - ρ) g_t²
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g  # Δx_t = √(u_{t-1} + ε) / √(v_t + ε) · g_t
        u *= rho
        u += (1 - rho) * delta * delta  # u_t = ρ u_{t-1} + (1 - ρ) Δx_t²
        theta -= lr * delta  # θ_t = θ_{t-1} - γ Δx_t


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), torch.optim.RMSprop's algorithm, optionally centered and with momentum.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate γ.
        alpha: decay α of the moving average of g², in [0, 1].
        eps: ε added to the root for numerical stability.
        weight_decay: L2 penalty λ, added to the gradient.
        momentum: momentum factor μ.
        centered: divide by the root of the variance estimate, v - ḡ² (ḡ the moving average of g).
        maximize: maximize the objective (step along -g).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([1.0], dtype=kw.float64))
        >>> opt = kw.optim.RMSprop([w], lr=0.1, alpha=0.75, eps=0.0)
        >>> w.grad = kw.tensor([2.0], dtype=kw.float64)
        >>> opt.step()   # v = 0.25·4 = 1, θ = 1 - 0.1·2/√1
        >>> round(w.data.item(), 12)
        0.8
    """

    _checks: ClassVar[dict[str, _Check]] = {
        **_COMMON_CHECKS,
        "alpha": _decay_rate,
        "eps": _non_negative,
        "momentum": _non_negative,
        "centered": _check_flag,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, _hyperparameters(locals()))

    def _initial_state(self, theta: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": 0, "square_avg": np.zeros_like(theta)}  # v_0 = 0
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(theta)  # b_0 = 0
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(theta)  # ḡ_0 = 0
        return state

    def _update(self, param: Parameter, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, alpha, eps, lam, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        theta, g = param._array, grad
        state["step"] += 1
        if lam != 0:
            g = g + lam * theta  # g_t = g_t + λ θ_{t-1}
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g  # v_t = α v_{t-1} + (1 - α) g_t²
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg += (1 - alpha) * (g - g_avg)  # ḡ_t = α ḡ_{t-1} + (1 - α) g_t
            denom = np.sqrt(v - g_avg * g_avg) + eps  # √(v_t - ḡ_t²) + ε
        else:
            denom = np.sqrt(v) + eps  # √v_t + ε
        if mu > 0:
            b = state.setdefault("momentum_buffer", np.zeros_like(theta))  # (momentum switched on later: b = 0)
            b *= mu
            b += g / denom  # b_t = μ b_{t-1} + g_t / (√ṽ_t + ε)
            theta -= lr * b  # θ_t = θ_{t-1} - γ b_t
        else:
            theta -= lr * g / denom  # θ_t = θ_{t-1} - γ g_t / (√ṽ_t + ε)
