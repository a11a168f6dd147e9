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

from . import lr_scheduler
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)
from .optimizer import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "MultiStepLR",
    "OneCycleLR",
    "Optimizer",
    "RMSprop",
    "ReduceLROnPlateau",
    "StepLR",
    "lr_scheduler",
]
