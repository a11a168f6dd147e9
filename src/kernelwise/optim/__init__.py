"""Optimizers and learning-rate schedules, with ``torch.optim``'s names and update rules.

Example:
    >>> import kernelwise as kw
    >>> model = kw.nn.Linear(3, 1, generator=0)
    >>> opt = kw.optim.Adam(model.parameters(), lr=1e-2)
    >>> sched = kw.optim.lr_scheduler.StepLR(opt, step_size=10)
    >>> loss = model(kw.ones(4, 3)).sum()
    >>> opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.01]
"""

from . import lr_scheduler, optimizer
from .lr_scheduler import *  # noqa: F403 (the schedules: lr_scheduler.__all__)
from .optimizer import *  # noqa: F403 (the optimizers: optimizer.__all__)

__all__ = [*optimizer.__all__, *lr_scheduler.__all__, "lr_scheduler"]
