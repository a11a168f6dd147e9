"""The PyTorch-compatible functional API: ``import kernelwise.nn.functional as F``.

Same names, argument names, defaults and semantics as ``torch.nn.functional`` for
this subset, plus what PyTorch lacks: ``padding='full'``, ``min_pool1d/2d``,
``downsample`` and ``upsample_zeros``. Each function checks its arguments (clear
``ValueError``/``TypeError`` naming the argument and the shapes) and then applies
one Function from ``kernelwise.ops``.
"""

from ..ops.activation import (
    dropout,
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, fold, unfold
from ..ops.geometry import conv_output_size
from ..ops.linear import linear
from ..ops.loss import cross_entropy, mse_loss, nll_loss
from ..ops.norm import batch_norm
from ..ops.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
    max_unpool1d,
    max_unpool2d,
    min_pool1d,
    min_pool2d,
)
from ..ops.resample import downsample, pad, upsample_zeros

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "conv_transpose1d",
    "conv_transpose2d",
    "cross_entropy",
    "downsample",
    "dropout",
    "elu",
    "fold",
    "gelu",
    "hardtanh",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool1d",
    "max_pool2d",
    "max_unpool1d",
    "max_unpool2d",
    "min_pool1d",
    "min_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "relu6",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
    "unfold",
    "upsample_zeros",
]
