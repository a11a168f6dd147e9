"""Learning-rate schedules, with ``torch.optim.lr_scheduler``'s names, arguments and rules.

A scheduler changes ``group["lr"]`` of its optimizer's parameter groups each
time ``step()`` is called (once per epoch, after ``optimizer.step()``; OneCycleLR
once per batch; ReduceLROnPlateau with the metric it watches, ``step(metric)``).
StepLR, MultiStepLR, ExponentialLR and CosineAnnealingLR follow PyTorch's
recursive rules, which update the current learning rate and so compose with
other changes made to it; left alone they give the closed forms written in each
class. LambdaLR and OneCycleLR set it from the closed form.

``state_dict()`` is plain numbers, strings and lists (JSON), so a run can be
resumed; LambdaLR's functions are not saved (as in PyTorch): make them again.

Example:
    >>> import kernelwise as kw
    >>> w = kw.nn.Parameter(kw.zeros(1))
    >>> opt = kw.optim.SGD([w], lr=1.0)
    >>> sched = kw.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(sched.get_last_lr()[0])
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError
from .optimizer import Optimizer, _check_flag, _check_number

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "StepLR",
]


def _plain_number(value: Any) -> Any:
    """A saved list entry as a plain Python number: ints (epochs) stay ints, the rest become floats."""
    if value is None or isinstance(value, bool | str):
        return value
    return int(value) if isinstance(value, int | np.integer) else float(value)


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise UsageTypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"{name}={value!r}: expected a real number")
    return float(value)


def _check_count(name: str, value: Any, low: int, rule: str | None = None) -> int:
    """``value`` as a Python int >= ``low``, or an error naming the argument (``rule`` words the bound)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise UsageError(f"{name}={value!r}: must be {rule or f'an int >= {low}'}")
    return int(value)


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[float]:
    """One number per parameter group: a list or tuple of that length, or one number for all."""
    n = len(optimizer.param_groups)
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise UsageError(f"{name}: expected one value per parameter group ({n}), got {len(value)}")
        return [_check_real(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return [_check_real(name, value)] * n


class LRScheduler:
    """Base class: keeps ``last_epoch`` and ``base_lrs`` and writes ``get_lr()`` into the groups.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last epoch done; -1 starts a new schedule (and
            records each group's ``lr`` as its ``initial_lr``).
    """

    _state_keys: tuple[str, ...] = ("base_lrs", "last_epoch", "_step_count", "_last_lr")
    _hyperparameters: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise UsageError(f"last_epoch={last_epoch!r}: must be an int >= -1")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise UsageError(
                        f"last_epoch={last_epoch}: param_groups[{i}] has no 'initial_lr'; "
                        "load the optimizer's state_dict before resuming a schedule"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # the first step, made here, keeps the optimizer's learning rates
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for epoch ``last_epoch`` (computed by each schedule)."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and set each group's ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers and lists: epoch counters, base and last learning rates, hyperparameters."""
        keys = (*self._state_keys, *self._hyperparameters)
        return {key: (list(v) if isinstance(v := getattr(self, key), list) else v) for key in keys}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (load the optimizer's state too, to resume)."""
        expected = set(self.state_dict())
        if not isinstance(state_dict, dict) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise UsageError(f"state_dict: expected the keys {sorted(expected)}, got {got}")
        for key, value in state_dict.items():
            if isinstance(value, list | tuple | np.ndarray):
                value = [_plain_number(v) for v in value]
            setattr(self, key, value)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Closed form: lr_t = base_lr · gamma^⌊t / step_size⌋.

    Args:
        optimizer: the optimizer.
        step_size: period of the decay, in epochs.
        gamma: multiplicative factor of the decay.
        last_epoch: index of the last epoch done (-1: start).
    """

    _hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = _check_count("step_size", step_size, 1, rule="a positive int")
        self.gamma = _check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]  # at t = k · step_size: lr_t = gamma · lr_{t-1}


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate along a half cosine from ``base_lr`` to ``eta_min`` in ``T_max`` epochs.

    Closed form (SGDR without restarts): η_t = η_min + (η_max - η_min) · (1 + cos(π t / T_max)) / 2;
    after T_max it rises again, with period 2·T_max, as in PyTorch.

    Args:
        optimizer: the optimizer.
        T_max: number of epochs of the half period.
        eta_min: the smallest learning rate.
        last_epoch: index of the last epoch done (-1: start).

    Example:
        >>> import kernelwise as kw
        >>> opt = kw.optim.SGD([kw.nn.Parameter(kw.zeros(1))], lr=1.0)
        >>> sched = kw.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(round(sched.get_last_lr()[0], 6))
        ...     sched.step()
        >>> lrs
        [1.0, 0.853553, 0.5, 0.146447, 0.0]
    """

    _hyperparameters = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = _check_count("T_max", T_max, 1, rule="a positive int")
        self.eta_min = _check_real("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:  # resumed at epoch t: the closed form
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(t * math.pi / T)) / 2 for base_lr in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # leaving the minimum, where the ratio below would divide by zero
            return [
                group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for base_lr, group in zip(self.base_lrs, groups)
            ]
        # η_t - η_min = (η_{t-1} - η_min) · (1 + cos(π t / T)) / (1 + cos(π (t - 1) / T))
        return [
            (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (group["lr"] - eta_min) + eta_min
            for group in groups
        ]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone epoch.

    Closed form: lr_t = base_lr · gamma^(number of milestones <= t). A milestone listed
    k times multiplies by gamma^k, as in PyTorch.

    Args:
        optimizer: the optimizer.
        milestones: epoch indices (ints >= 0, any order).
        gamma: multiplicative factor of the decay.
        last_epoch: index of the last epoch done (-1: start).

    Example:
        >>> import kernelwise as kw
        >>> opt = kw.optim.SGD([kw.nn.Parameter(kw.zeros(1))], lr=1.0)
        >>> sched = kw.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     sched.step()
        >>> lrs
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    _hyperparameters = ("milestones", "gamma")

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if isinstance(milestones, str | bytes | dict) or not isinstance(milestones, Iterable):
            raise UsageTypeError(f"milestones={milestones!r}: expected a list of epoch indices")
        self.milestones = sorted(_check_count(f"milestones[{i}]", m, 0) for i, m in enumerate(milestones))
        self.gamma = _check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        k = self.milestones.count(self.last_epoch)
        if k == 0:
            return lrs
        return [lr * self.gamma**k for lr in lrs]  # at a milestone t (listed k times): lr_t = gamma^k · lr_{t-1}


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch.

    Closed form: lr_t = base_lr · gamma^t.

    Args:
        optimizer: the optimizer.
        gamma: multiplicative factor of the decay.
        last_epoch: index of the last epoch done (-1: start).

    Example:
        >>> import kernelwise as kw
        >>> opt = kw.optim.SGD([kw.nn.Parameter(kw.zeros(1))], lr=1.0)
        >>> sched = kw.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> for _ in range(3):
        ...     sched.step()
        >>> sched.get_last_lr()
        [0.125]
    """

    _hyperparameters = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self._is_initial:
            return lrs
        return [lr * self.gamma for lr in lrs]  # lr_t = gamma · lr_{t-1}


class LambdaLR(LRScheduler):
    """Set the learning rate to the initial one times a function of the epoch: lr_t = base_lr · λ(t).

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch index, or a list of them (one per parameter group).
        last_epoch: index of the last epoch done (-1: start).

    The functions are not part of :meth:`state_dict` (as in PyTorch): a resumed run
    makes the scheduler with the same functions, then loads the state.

    Example:
        >>> import kernelwise as kw
        >>> opt = kw.optim.SGD([kw.nn.Parameter(kw.zeros(1))], lr=0.5)
        >>> sched = kw.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda epoch: 1 / (epoch + 1))
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     sched.step()
        >>> lrs
        [0.5, 0.25, 0.16666666666666666, 0.125]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, list | tuple):
            if len(lr_lambda) != n:
                raise UsageError(f"lr_lambda: expected one function per parameter group ({n}), got {len(lr_lambda)}")
            names = [f"lr_lambda[{i}]" for i in range(n)]
        else:
            lr_lambda, names = [lr_lambda] * n, ["lr_lambda"] * n
        for name, fn in zip(names, lr_lambda):
            if not callable(fn):
                raise UsageTypeError(f"{name}={fn!r}: expected a function of the epoch")
        self.lr_lambdas: list[Callable[[int], float]] = list(lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]  # base_lr · λ(t)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017): warm up to ``max_lr``, then anneal far below the start.

    Stepped once per batch. The learning rate goes from initial_lr = max_lr / div_factor
    up to max_lr over the first ``pct_start`` of the ``total_steps``, then down to
    min_lr = initial_lr / final_div_factor; with ``three_phase`` it comes back down to
    initial_lr symmetrically and only the third phase goes on to min_lr. Within a phase
    from a to b, at the fraction p of it: a cosine, b + (a - b)·(1 + cos πp)/2, or a
    line, a + (b - a)·p. With ``cycle_momentum`` the momentum (SGD's and RMSprop's
    ``momentum``, Adam's β1) moves the other way, from ``max_momentum`` down to
    ``base_momentum`` while the learning rate rises. The phase boundaries and the
    per-group values (``initial_lr``, ``max_lr``, ``min_lr``, ``max_momentum``,
    ``base_momentum``) are PyTorch's and live in the optimizer's parameter groups.

    Args:
        optimizer: the optimizer.
        max_lr: the peak learning rate (one number, or one per parameter group).
        total_steps: the number of steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs: the number of epochs (with ``steps_per_epoch``: total_steps = epochs · steps_per_epoch).
        steps_per_epoch: the number of steps (batches) per epoch.
        pct_start: the fraction of the cycle spent raising the learning rate, in [0, 1].
        anneal_strategy: ``"cos"`` or ``"linear"``.
        cycle_momentum: cycle the momentum inversely to the learning rate.
        base_momentum: the momentum at the peak learning rate.
        max_momentum: the momentum at the start and at the end.
        div_factor: initial_lr = max_lr / div_factor.
        final_div_factor: min_lr = initial_lr / final_div_factor.
        three_phase: use the paper's three phases instead of fastai's two.
        last_epoch: the index of the last batch done (-1: start).

    Example:
        >>> import kernelwise as kw
        >>> opt = kw.optim.SGD([kw.nn.Parameter(kw.zeros(1))], lr=0.1, momentum=0.9)
        >>> sched = kw.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="linear")
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(round(sched.get_last_lr()[0], 6))
        ...     opt.step()
        ...     sched.step()
        >>> lrs   # from 1/25 up to 1 at step 0.3·5 - 1 = 0.5, then down to 1/25/1e4 at step 4
        [0.04, 0.857143, 0.57143, 0.285717, 4e-06]
    """

    _hyperparameters = ("total_steps", "pct_start", "anneal_strategy", "three_phase", "cycle_momentum", "use_beta1")

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = _check_count("total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _check_count("epochs", epochs, 1) * _check_count("steps_per_epoch", steps_per_epoch, 1)
        else:
            raise UsageError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
        self.pct_start = _check_number("pct_start", pct_start, 0)
        if self.pct_start > 1:
            raise UsageError(f"pct_start={pct_start!r}: must be in [0, 1]")
        if anneal_strategy not in ("cos", "linear"):
            raise UsageError(f"anneal_strategy={anneal_strategy!r}: must be 'cos' or 'linear'")
        self.anneal_strategy = anneal_strategy
        self.three_phase = _check_flag("three_phase", three_phase)
        self.cycle_momentum = _check_flag("cycle_momentum", cycle_momentum)
        div_factor = _check_number("div_factor", div_factor, 0, low_inclusive=False)
        final_div_factor = _check_number("final_div_factor", final_div_factor, 0, low_inclusive=False)
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for peak, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = peak / div_factor  # the cycle starts at max_lr / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor  # and ends at initial_lr / final_div_factor
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and not self.use_beta1:
                raise UsageError(
                    f"cycle_momentum=True: {type(optimizer).__name__} has no momentum or betas to cycle; "
                    "pass cycle_momentum=False"
                )
            highs = _per_group("max_momentum", optimizer, max_momentum)
            lows = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for high, low, group in zip(highs, lows, optimizer.param_groups):
                    self._set_momentum(group, high)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        self._locate(self.total_steps)  # a phase of no steps is an error now, not at the end of the run
        super().__init__(optimizer, last_epoch)

    def _phases(self) -> list[tuple[float, str, str, str, str]]:
        """Each phase as (its last step, and the group keys of its start and end lr and momentum)."""
        peak = float(self.pct_start * self.total_steps) - 1  # the step at which the warm-up reaches max_lr
        last = self.total_steps - 1
        if self.three_phase:
            back = float(2 * self.pct_start * self.total_steps) - 2  # back down at initial_lr
            return [
                (peak, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (back, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (last, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        return [
            (peak, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (last, "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]

    def _locate(self, t: int) -> tuple[tuple[float, str, str, str, str], float]:
        """The phase that step ``t`` falls in, and the fraction p of it done at ``t``."""
        phases = self._phases()
        start = 0.0
        for i, phase in enumerate(phases):
            end = phase[0]
            if t <= end or i == len(phases) - 1:
                if end == start:
                    raise UsageError(
                        f"OneCycleLR: pct_start={self.pct_start} with total_steps={self.total_steps} "
                        f"leaves phase {i + 1} of the cycle no steps"
                    )
                return phase, (t - start) / (end - start)  # p = (t - t_start) / (t_end - t_start)
            start = end
        raise AssertionError("unreachable: the last phase takes every later step")

    def _anneal(self, start: float, end: float, p: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * p) + 1)  # b + (a - b)·(1 + cos πp)/2
        return (end - start) * p + start  # a + (b - a)·p

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])  # Adam's β1
        else:
            group["momentum"] = momentum

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_steps:
            raise UsageError(
                f"OneCycleLR: step {self.last_epoch} is past the end of the cycle (total_steps={self.total_steps})"
            )
        (_, lr_start, lr_end, momentum_start, momentum_end), p = self._locate(self.last_epoch)
        lrs = []
        for group in self.optimizer.param_groups:
            lrs.append(self._anneal(group[lr_start], group[lr_end], p))
            if self.cycle_momentum:
                self._set_momentum(group, self._anneal(group[momentum_start], group[momentum_end], p))
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving.

    Call ``step(metric)`` once per epoch with the watched value (a validation loss, an
    accuracy). A value is an improvement when it beats the best so far by the threshold:
    in ``"min"`` mode, below best·(1 - threshold) (``"rel"``) or best - threshold
    (``"abs"``); in ``"max"`` mode, above best·(1 + threshold) or best + threshold. After
    more than ``patience`` epochs in a row without one, lr ← max(lr · factor, min_lr) in
    each group (unless that changes it by ``eps`` or less), and the next ``cooldown``
    epochs are not counted.

    Args:
        optimizer: the optimizer.
        mode: ``"min"`` (the metric should fall) or ``"max"`` (it should rise).
        factor: the multiplier of the learning rate, in [0, 1).
        patience: the number of epochs without improvement to tolerate.
        threshold: the margin an improvement must have.
        threshold_mode: ``"rel"`` (a fraction of best) or ``"abs"``.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lowest learning rate (one number, or one per parameter group).
        eps: the smallest change of the learning rate that is made.

    Example:
        >>> import kernelwise as kw
        >>> opt = kw.optim.SGD([kw.nn.Parameter(kw.zeros(1))], lr=1.0)
        >>> sched = kw.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
        >>> lrs = []
        >>> for val_loss in [3.0, 2.0, 2.0, 2.5, 1.0, 1.5, 1.5]:
        ...     sched.step(val_loss)
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    """

    _state_keys = ("last_epoch", "_last_lr")
    _hyperparameters = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lrs",
        "default_min_lr",
        "eps",
        "best",
        "num_bad_epochs",
        "cooldown_counter",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise UsageError(f"mode={mode!r}: must be 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise UsageError(f"threshold_mode={threshold_mode!r}: must be 'rel' or 'abs'")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = _check_number("factor", factor, 0, high=1)
        self.patience = _check_count("patience", patience, 0)
        self.threshold = _check_number("threshold", threshold, 0)
        self.cooldown = _check_count("cooldown", cooldown, 0)
        self.eps = _check_number("eps", eps, 0)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != n:
                raise UsageError(f"min_lr: expected one value per parameter group ({n}), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = [_check_number(f"min_lr[{i}]", v, 0) for i, v in enumerate(min_lr)]
        else:
            self.default_min_lr = _check_number("min_lr", min_lr, 0)
            self.min_lrs = [self.default_min_lr] * n
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.best = math.inf if mode == "min" else -math.inf  # the worst value there is
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record this epoch's value of the watched metric; reduce the learning rates on a plateau."""
        if isinstance(metrics, str | bytes):
            raise UsageTypeError(f"metrics={metrics!r}: expected a number (the watched metric)")
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise UsageTypeError(f"metrics={metrics!r}: expected a number (the watched metric)") from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise UsageError(
                    f"min_lr: {len(self.min_lrs)} values, but the optimizer now has {len(groups)} parameter groups"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)  # lr ← max(lr · factor, min_lr)
            if old_lr - new_lr > self.eps:  # changes of eps or less are not made
                group["lr"] = new_lr
