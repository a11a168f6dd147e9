"""The fully connected layer: y = x·Wᵀ + b, the MLP's vector-to-vector map."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UsageError
from ..random import generator as _generator
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, add_weight_and_bias

__all__ = ["Linear"]


class Linear(Module):
    """y = x·Wᵀ + b over the last dimension.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: add a learned bias b.
        device: ``'cpu'`` or None (kernelwise computes on the CPU only).
        dtype: dtype of the parameters (None: float32).
        generator: seed, ``numpy.random.Generator`` or None (default generator) for the initial weights.

    Shape:
        (*, in_features) -> (*, out_features); weight (out_features, in_features), bias (out_features,).

    Example:
        >>> import kernelwise as kw
        >>> fc = kw.nn.Linear(400, 120, generator=0)
        >>> fc, fc(kw.zeros(8, 400)).shape
        (Linear(in_features=400, out_features=120, bias=True), (8, 120))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        device: Any = None,
        dtype: Any = np.float32,
        generator: Any = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise UsageError(f"{name}={value!r}: must be a non-negative int")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        add_weight_and_bias(self, bias, device, dtype)
        self.reset_parameters(generator)

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes of the weight, (out_features, in_features), and of the bias, (out_features,)."""
        return {"weight": (self.out_features, self.in_features), "bias": (self.out_features,)}

    def reset_parameters(self, generator: Any = None) -> None:
        """PyTorch's default: weight and bias from U(-1/√in_features, 1/√in_features).

        ``kaiming_uniform_(a=√5)`` has gain √(2 / (1 + 5)) = 1/√3, so its bound
        √3 · gain / √fan_in is 1/√fan_in. The weight is drawn first, then the bias.
        """
        rng = _generator(generator)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
