"""Learning-rate schedules: StepLR and CosineAnnealingLR, as in ``torch.optim.lr_scheduler``.

A scheduler changes ``group["lr"]`` of its optimizer's parameter groups each
time ``step()`` is called (once per epoch, after ``optimizer.step()``). Both
follow PyTorch's recursive rules, which update the current learning rate and
so compose with other changes made to it; left alone they give the closed forms
written in each class.

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
from typing import Any

import numpy as np

from .optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "StepLR"]


class LRScheduler:
    """Base class: keeps ``last_epoch`` and ``base_lrs`` and writes ``get_lr()`` into the groups.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last epoch done; -1 starts a new schedule (and
            records each group's ``lr`` as its ``initial_lr``).
    """

    _hyperparameters: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"last_epoch={last_epoch!r}: must be an int >= -1")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
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
        keys = ("base_lrs", "last_epoch", "_step_count", "_last_lr", *self._hyperparameters)
        return {key: (list(v) if isinstance(v := getattr(self, key), list) else v) for key in keys}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (load the optimizer's state too, to resume)."""
        expected = set(self.state_dict())
        if not isinstance(state_dict, dict) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"state_dict: expected the keys {sorted(expected)}, got {got}")
        for key, value in state_dict.items():
            if isinstance(value, list | tuple | np.ndarray):
                value = [float(v) for v in value]
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
        if isinstance(step_size, bool) or not isinstance(step_size, int | np.integer) or step_size < 1:
            raise ValueError(f"step_size={step_size!r}: must be a positive int")
        if isinstance(gamma, bool) or not isinstance(gamma, int | float | np.integer | np.floating):
            raise TypeError(f"gamma={gamma!r}: expected a real number")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
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
        if isinstance(T_max, bool) or not isinstance(T_max, int | np.integer) or T_max < 1:
            raise ValueError(f"T_max={T_max!r}: must be a positive int")
        if isinstance(eta_min, bool) or not isinstance(eta_min, int | float | np.integer | np.floating):
            raise TypeError(f"eta_min={eta_min!r}: expected a real number")
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
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
