"""Finite-difference gradient checks: does a Function's backward match its forward?

``gradcheck(fn, inputs)`` compares, for every input that requires grad, the
gradient that ``backward`` computes against central differences

    dL/dx[i] ≈ (L(x + eps·e_i) - L(x - eps·e_i)) / (2·eps),   L = Σ v · fn(inputs)

for a fixed random projection ``v`` of the output (one vector-Jacobian product,
checked element by element). Use float64 inputs: float32 has too few digits for
finite differences. Defaults are PyTorch's (eps 1e-6, atol 1e-5, rtol 1e-3).

Example:
    >>> import kernelwise as kw, numpy as np
    >>> x = kw.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    >>> kw.gradcheck(lambda t: (t * t).exp(), (x,))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import UsageError, UsageTypeError
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Raised when an analytical gradient differs from the numerical one."""


def _outputs(result: Any) -> list[Tensor]:
    items = result if isinstance(result, tuple | list) else (result,)
    return [t for t in items if isinstance(t, Tensor)]


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check ``backward`` of ``fn`` against central finite differences.

    Args:
        fn: takes ``*inputs`` and returns a Tensor (or a tuple of Tensors).
        inputs: the arguments; those that are float64 Tensors with ``requires_grad`` are checked.
        eps, atol, rtol: step and tolerances, |analytical - numerical| <= atol + rtol·|numerical|.
        raise_exception: raise :class:`GradcheckError` on a mismatch (else return False).
        seed: seed of the random output projection.

    Returns:
        True when every gradient matches.
    """
    inputs = tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise UsageError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise UsageTypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 for finite differences")

    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*inputs))
    projections = [rng.standard_normal(o.shape) for o in outs]

    def loss_value() -> float:
        with no_grad():
            return float(sum(np.sum(v * o._array) for v, o in zip(projections, _outputs(fn(*inputs)), strict=True)))

    for i in checked:
        inputs[i].grad = None
    total = None
    for v, o in zip(projections, outs, strict=True):
        if o.requires_grad:
            term = (o * Tensor(v.astype(o.dtype))).sum()
            total = term if total is None else total + term
    if total is None:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    total.backward()

    for i in checked:
        x = inputs[i]
        analytical = np.zeros(x.shape) if x.grad is None else x.grad._array
        numerical = np.zeros(x.shape)
        for k in np.ndindex(x.shape):  # perturb one element in place, then restore it
            old = x._array[k]
            x._array[k] = old + eps
            up = loss_value()
            x._array[k] = old - eps
            down = loss_value()
            x._array[k] = old
            numerical[k] = (up - down) / (2 * eps)
        bad = np.abs(analytical - numerical) > atol + rtol * np.abs(numerical)
        if bad.any():
            k = np.unravel_index(np.argmax(bad), x.shape)
            msg = (
                f"gradcheck: gradient of input {i} (shape {x.shape}) differs at {k}: "
                f"analytical {analytical[k]:.8g}, numerical {numerical[k]:.8g} "
                f"({int(bad.sum())} of {bad.size} elements out of tolerance)"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
