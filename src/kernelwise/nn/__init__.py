"""Neural-network building blocks: layers (Modules), their functional forms and initialisation.

``kernelwise.nn.functional`` holds the stateless operations; the layers here
hold hyperparameters and parameters and call them. Names, arguments, defaults,
``state_dict`` keys and ``repr`` follow ``torch.nn``.

Example:
    >>> import kernelwise as kw
    >>> from kernelwise import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3, generator=0), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten())
    >>> model(kw.zeros(4, 1, 5, 5)).shape
    (4, 18)
"""

from . import activation, conv, functional, init, lazy, linear, loss, module, normalization, parallel, pooling
from .activation import *  # noqa: F403 (each module's __all__, gathered below)
from .conv import *  # noqa: F403
from .lazy import *  # noqa: F403
from .linear import *  # noqa: F403
from .loss import *  # noqa: F403
from .module import *  # noqa: F403
from .normalization import *  # noqa: F403
from .parallel import DistributedDataParallel
from .pooling import *  # noqa: F403

__all__ = [
    *activation.__all__,
    *conv.__all__,
    *lazy.__all__,
    *linear.__all__,
    *loss.__all__,
    *module.__all__,
    *normalization.__all__,
    *pooling.__all__,
    "DistributedDataParallel",
    "functional",
    "init",
    "parallel",
]
