"""The generic elementwise activation: one Function behind every activation.

``_Activation`` runs an activation from its two formulas, y = f(x) and dy/dx; the
activations themselves are in :mod:`kernelwise.ops.elementwise` (ReLU, sigmoid,
tanh) and :mod:`kernelwise.ops.activation` (the rest).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Function


class _Activation(Function):
    """y = f(x) elementwise, dL/dx = dL/dy · f'(x): the one Function of every activation.

    A subclass writes the two formulas, ``formula(x, **params)`` (y) and
    ``derivative(x, y, **params)`` (dy/dx, from x or from y, whichever is
    simpler); the keyword arguments of ``apply`` are the parameters. The
    derivative is taken in the forward pass, only when a gradient is wanted, and
    is all that is kept: a bool mask where it is 0 or 1, else an array in y's dtype.

    Example:
        >>> import kernelwise as kw
        >>> class _Cube(_Activation):
        ...     formula = staticmethod(lambda x: x**3)
        ...     derivative = staticmethod(lambda x, y: 3 * x**2)
        >>> x = kw.tensor([2.0], requires_grad=True)
        >>> _Cube.apply(x).sum().backward()
        >>> x.grad.tolist()
        [12.0]
    """

    @staticmethod
    def formula(x: np.ndarray, **params: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def derivative(x: np.ndarray, y: np.ndarray, **params: Any) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: np.ndarray, **params: Any) -> np.ndarray:
        out = self.formula(x, **params)
        if self.requires_grad:
            dy_dx = np.asarray(self.derivative(x, out, **params))
            self.dy_dx = dy_dx if dy_dx.dtype == bool else dy_dx.astype(out.dtype, copy=False)
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.dy_dx  # dL/dx = dL/dy · dy/dx
