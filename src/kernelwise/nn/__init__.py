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

from . import functional, init
from .activation import (
    ELU,
    GELU,
    Dropout,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .lazy import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyConv1d,
    LazyConv2d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyLinear,
)
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import (
    Flatten,
    Identity,
    Module,
    ModuleDict,
    ModuleList,
    Parameter,
    ParameterList,
    Sequential,
    Unflatten,
    UninitializedBuffer,
    UninitializedParameter,
)
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    Downsample,
    MaxPool1d,
    MaxPool2d,
    MaxUnpool1d,
    MaxUnpool2d,
    MinPool1d,
    MinPool2d,
    UpsampleZeros,
)

__all__ = [
    "ELU",
    "GELU",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "CrossEntropyLoss",
    "Downsample",
    "Dropout",
    "Flatten",
    "Hardtanh",
    "Identity",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyLinear",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool1d",
    "MaxPool2d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MinPool1d",
    "MinPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ParameterList",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "Unflatten",
    "UninitializedBuffer",
    "UninitializedParameter",
    "UpsampleZeros",
    "functional",
    "init",
]
