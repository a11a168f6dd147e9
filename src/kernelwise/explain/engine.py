"""Every number an explanation shows comes from here: the engine's layers and autograd.

The written-out formulas are checked against these functions before anything is shown
(:func:`check`): forward with the engine's conv and pooling, backward with ``.backward()``.
Arrays are unbatched, (C, *spatial), and float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import kernelwise as kw
import kernelwise.nn.functional as F

from ..errors import UsageError
from ..ops import resample


class FormulaMismatch(RuntimeError):
    """The written-out formulas disagree with the engine: the explanation is not shown."""


def check(what: str, formulas: np.ndarray, engine: np.ndarray, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    """Raise :class:`FormulaMismatch` unless the formulas' numbers equal the engine's (a UsageError when
    the engine's are NaN: infinite numbers given, whose inf - inf or inf·0 has no value to show).

    Example:
        >>> check("Z", np.array([1.0, 2.0]), np.array([1.0, 2.0]))
        >>> check("Z", np.array([1.0, 2.0]), np.array([1.0, 3.0]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        kernelwise.explain.engine.FormulaMismatch: Z: the written-out formulas give [1. 2.] but the engine ...
    """
    formulas, engine = np.asarray(formulas, dtype=float), np.asarray(engine, dtype=float)
    if formulas.shape != engine.shape:
        raise FormulaMismatch(f"{what}: the formulas give shape {formulas.shape} but the engine {engine.shape}")
    if np.isnan(engine).any():  # --values refuses NaN and finite numbers that could overflow: inf met inf or 0
        raise UsageError(
            f"{what}: the infinite numbers given meet as inf - inf or inf·0, which is undefined (NaN); "
            "give finite --values"
        )
    if np.isnan(formulas).any():
        raise FormulaMismatch(f"{what}: no formula for the entries at {np.argwhere(np.isnan(formulas)).tolist()}")
    if not np.allclose(formulas, engine, rtol=rtol, atol=atol):
        diff = np.abs(formulas - engine)
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise FormulaMismatch(
            f"{what}: the written-out formulas give {formulas} but the engine gives {engine} "
            f"(largest difference {diff[worst]:g} at index {tuple(int(i) for i in worst)})"
        )


def _tensor(a: np.ndarray | None, grad: bool) -> kw.Tensor | None:
    return None if a is None else kw.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _grads(*tensors: kw.Tensor | None) -> list[np.ndarray | None]:
    return [None if t is None or t.grad is None else t.grad.numpy() for t in tensors]


def conv(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    grad: np.ndarray | None = None,
) -> dict[str, np.ndarray | None]:
    """Z = conv(A, W) + B with the engine; with ``grad`` = dL/dZ also dL/dA, dL/dW, dL/dB by autograd.

    Shape: x (C, *size), w (O, C, *kernel), b (O,), grad (O, *out).
    """
    fn = {1: F.conv1d, 2: F.conv2d}[x.ndim - 1]
    X, W, B = _tensor(x, grad is not None), _tensor(w, grad is not None), _tensor(b, grad is not None)
    y = fn(X, W, B, stride=stride, padding=padding, dilation=dilation)
    out: dict[str, np.ndarray | None] = {"y": y.numpy()}
    if grad is not None:
        y.backward(kw.tensor(np.asarray(grad, dtype=np.float64)))
        out["grad_x"], out["grad_w"], out["grad_b"] = _grads(X, W, B)
    return out


def conv_transpose(
    x: np.ndarray, w: np.ndarray, stride: Any = 1, padding: Any = 0, output_padding: Any = 0, dilation: Any = 1
) -> np.ndarray:
    """Y = conv_transpose(X, W) with the engine. Shape: x (C_in, *size), w (C_in, C_out, *kernel)."""
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[x.ndim - 1]
    return fn(_tensor(x, False), _tensor(w, False), None, stride, padding, output_padding, 1, dilation).numpy()


def conv_transpose_grads(
    x: np.ndarray,
    w: np.ndarray,
    grad: np.ndarray,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """dL/dX and dL/dW of Y = conv_transpose(X, W) given dL/dY = ``grad``, by the engine's autograd.

    Shape: x (C_in, *size), w (C_in, C_out, *kernel), grad (C_out, *out).
    """
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[x.ndim - 1]
    X, W = _tensor(x, True), _tensor(w, True)
    fn(X, W, None, stride, padding, output_padding, 1, dilation).backward(kw.tensor(np.asarray(grad, np.float64)))
    return X.grad.numpy(), W.grad.numpy()


POOLS = {
    ("max", 1): F.max_pool1d,
    ("max", 2): F.max_pool2d,
    ("min", 1): F.min_pool1d,
    ("min", 2): F.min_pool2d,
    ("mean", 1): F.avg_pool1d,
    ("mean", 2): F.avg_pool2d,
}


def pool(
    x: np.ndarray,
    reducer: str,
    kernel_size: Any,
    stride: Any,
    padding: Any = 0,
    dilation: Any = 1,
    grad: np.ndarray | None = None,
) -> dict[str, np.ndarray | None]:
    """max / mean / min pooling with the engine; with ``grad`` = dL/dZ also dL/dA by autograd.

    Shape: x (C, *size) -> y (C, *out).
    """
    fn = POOLS[(reducer, x.ndim - 1)]
    X = _tensor(x, grad is not None)
    if reducer == "mean":
        if dilation not in (1, (1,), (1, 1)):
            raise UsageError(f"mean pooling has no dilation (as avg_pool in PyTorch), got dilation={dilation}")
        y = fn(X, kernel_size, stride, padding)
    else:
        y = fn(X, kernel_size, stride, padding, dilation)
    out: dict[str, np.ndarray | None] = {"y": y.numpy()}
    if grad is not None:
        y.backward(kw.tensor(np.asarray(grad, dtype=np.float64)))
        out["grad_x"] = X.grad.numpy()
    return out


def downsample(y: np.ndarray, factor: tuple[int, ...], grad: np.ndarray | None = None) -> dict[str, Any]:
    """Keep every s-th entry (dims after the channel); with ``grad`` its backward, zero insertion, by autograd."""
    Y = _tensor(y, grad is not None)
    z = resample.downsample(Y, factor)
    out: dict[str, Any] = {"y": z.numpy()}
    if grad is not None:
        z.backward(kw.tensor(np.asarray(grad, dtype=np.float64)))
        out["grad_x"] = Y.grad.numpy()
    return out


def upsample_zeros(x: np.ndarray, factor: tuple[int, ...], size: tuple[int, ...] | None = None) -> np.ndarray:
    """Put s - 1 zeros between entries (dims after the channel), up to ``size``."""
    return resample.upsample_zeros(_tensor(x, False), factor, size).numpy()


def chain_rule(x: float, y: float, z: float) -> dict[str, float]:
    """f = (x + y)·z with autograd: q, f and df/dq, df/dx, df/dy, df/dz."""
    X, Y, Z = (kw.tensor(np.float64(v), requires_grad=True) for v in (x, y, z))
    q = X + Y
    q.retain_grad()
    f = q * Z
    f.backward()
    return {
        "q": q.item(),
        "f": f.item(),
        "df/dq": q.grad.item(),
        "df/dx": X.grad.item(),
        "df/dy": Y.grad.item(),
        "df/dz": Z.grad.item(),
    }


def rng_normal(generator: Any, *shape: int) -> np.ndarray:
    """Standard normal float64 numbers for the checks (continuous values: no ties in max/min pooling)."""
    return kw.random.generator(generator).standard_normal(shape)


def pad(x: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Zero-pad the spatial dims of (C, *spatial) by (before, after) pairs, with the engine's ``pad``."""
    flat: list[int] = []
    for lo, hi in reversed(pairs):  # F.pad order: last dim first
        flat += [lo, hi]
    return resample.pad(_tensor(x, False), tuple(flat)).numpy()


def grad_weight_as_conv(
    x: np.ndarray, grad: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], padding: Any, dilation: Any
) -> dict[str, np.ndarray]:
    """dL/dW = X ⋆ dL/dO: the padded input correlated with the output gradient as the kernel.

    The gradient's taps are s apart (its dilation is the stride) and the input's step is the dilation;
    rows that the floor dropped make the result larger than the kernel, so it is cut to ``kernel``.
    Shape: x (C, *size), grad (O, *out) -> (O, C, *kernel).
    """
    fn = {1: F.conv1d, 2: F.conv2d}[x.ndim - 1]
    x_pad = pad(x, padding)
    y = fn(
        _tensor(x_pad[:, None], False), _tensor(grad[:, None], False), None, dilation, 0, stride
    ).numpy()  # (C, O, ...)
    y = y[(slice(None), slice(None), *(slice(0, k) for k in kernel))]
    return {"x_pad": x_pad, "grad_w": np.ascontiguousarray(y.swapaxes(0, 1))}


def grad_input_as_full_conv(
    grad: np.ndarray,
    w: np.ndarray,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> dict[str, np.ndarray]:
    """dL/dX = full convolution of rot180(W) with dL/dO (zero-inserted for the stride), cropped by the padding.

    Shape: grad (O, *out), w (O, C, *kernel) -> (C, *size); also the padded gradient (O, ...) and the
    rotated kernel (C, O, *kernel) that the full convolution uses.
    """
    nd = len(size)
    kernel = w.shape[2:]
    reach = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))  # how far the kernel overhangs
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(size, padding, strict=True))
    up = upsample_zeros(grad, stride, tuple(p - r for p, r in zip(padded, reach, strict=True)))
    full = pad(up, tuple((r, r) for r in reach))  # the padded gradient of the slides
    w_rot = np.ascontiguousarray(w[(Ellipsis, *[slice(None, None, -1)] * nd)].swapaxes(0, 1))  # rot180, in <-> out
    fn = {1: F.conv1d, 2: F.conv2d}[nd]
    grad_pad = fn(_tensor(full, False), _tensor(w_rot, False), None, 1, 0, dilation).numpy()  # (C, *padded)
    crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(size, padding, strict=True))
    return {"full": full, "w_rot": w_rot, "grad_x": grad_pad[(slice(None), *crop)]}
