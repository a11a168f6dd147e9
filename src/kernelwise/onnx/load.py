"""Read an ONNX model as a kernelwise :class:`~kernelwise.nn.Module` that runs on kernelwise's own ops.

Float initializers become trainable :class:`~kernelwise.nn.Parameter` s (batch-norm running statistics
excepted: they stay constants), integer initializers and ``Constant`` nodes stay NumPy arrays. Each
operator is one function in :data:`OPS`; shape arithmetic on constants (``Shape``, ``Gather``, ...) runs
in NumPy, everything that touches a tensor runs as kernelwise ops, so autograd goes through the graph.

Initializers stored as external data are read only for a model given as a path, and only from files
inside the model's folder. No tensor (an initializer, a ``Constant``, a ``ConstantOfShape`` output or a
``Reshape`` target) may hold more than :data:`MAX_TENSOR_BYTES` bytes: a larger one is a DataError
raised before anything is allocated.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import nn
from ..errors import DataError, MissingDependencyError, UsageError
from ..nn import functional as F
from ..ops.geometry import ConvGeometry
from ..ops.shape import cat
from ..tensor import Tensor

__all__ = ["MAX_TENSOR_BYTES", "OPS", "WINDOWED", "OnnxModule", "OnnxNode", "Window", "load", "node_window"]

#: The largest tensor (elements times item size, in bytes) a model may declare: 2 GiB.
MAX_TENSOR_BYTES = 2**31

Value = Any  # a Tensor, a NumPy array (a constant) or None (an absent optional input)
Attrs = dict[str, Any]


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - the test suite skips without onnx
        raise MissingDependencyError("kernelwise.onnx.load needs the onnx package: pip install kernelwise[onnx]") from e
    return onnx


# --------------------------------------------------------------------------- value helpers
def _t(v: Value) -> Tensor:
    """A Tensor for ``v`` (a constant array is wrapped, without grad)."""
    return v if isinstance(v, Tensor) else Tensor(np.asarray(v))


def _c(v: Value) -> np.ndarray:
    """The values of ``v`` as a NumPy array (a Tensor is detached)."""
    return v.detach().numpy() if isinstance(v, Tensor) else np.asarray(v)


def _ints(v: Value) -> list[int]:
    return [int(i) for i in _c(v).reshape(-1)]


def _const(*values: Value) -> bool:
    """Whether every present value is a constant (then the node folds in NumPy)."""
    return all(not isinstance(v, Tensor) for v in values if v is not None)


def _opt(inputs: list[Value], i: int) -> Value:
    return inputs[i] if len(inputs) > i else None


def _pad_pairs(
    attrs: Attrs, spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...], dil: tuple[int, ...]
) -> list[tuple[int, int]]:
    """(before, after) per spatial dim from ``auto_pad`` or ``pads`` ([x1_begin, x2_begin, ..., x1_end, ...])."""
    nd = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for n, k, s, d in zip(spatial, kernel, strides, dil, strict=True):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            small = total // 2
            pairs.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return pairs
    if auto == "VALID":
        return [(0, 0)] * nd
    pads = list(attrs.get("pads", [0] * (2 * nd)))
    return [(pads[i], pads[i + nd]) for i in range(nd)]


def _widths(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """Spatial (before, after) pairs as F.pad's widths: the last dim first."""
    return tuple(p for lo_hi in reversed(pairs) for p in lo_hi)


def _spatial_check(x: Tensor, nd: int, op: str) -> None:
    if nd not in (1, 2):
        raise DataError(f"onnx load: {op} over {nd} spatial dims is not supported (1-D and 2-D only), input {x.shape}")


def _check_size(shape: Any, itemsize: int, what: str) -> tuple[int, ...]:
    """``shape`` as ints, or a DataError when a dim is negative or the tensor exceeds MAX_TENSOR_BYTES."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise DataError(f"onnx load: {what} has shape {dims} with a negative dim")
    count = 1
    for d in dims:  # Python ints: no overflow
        count *= d
    if count * itemsize > MAX_TENSOR_BYTES:
        raise DataError(
            f"onnx load: {what} of shape {dims} would take {count * itemsize} bytes, "
            f"over the limit of {MAX_TENSOR_BYTES} (kernelwise.onnx.load.MAX_TENSOR_BYTES)"
        )
    return tuple(dims)


# --------------------------------------------------------------------------- operators
def op_conv(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Conv: Y = X ⋆ W + B with group, strides, dilations, pads or auto_pad (SAME_UPPER/SAME_LOWER/VALID)."""
    x, w, b = _t(inputs[0]), _t(inputs[1]), _opt(inputs, 2)
    kernel, strides, pairs, dil, _ = node_window("Conv", attrs, x.shape, w.shape)
    nd = len(kernel)
    _spatial_check(x, nd, "Conv")
    if any(lo != hi for lo, hi in pairs):
        x, padding = F.pad(x, _widths(pairs)), (0,) * nd
    else:
        padding = tuple(lo for lo, _ in pairs)
    conv = F.conv1d if nd == 1 else F.conv2d
    return conv(x, w, None if b is None else _t(b), strides, padding, dil, int(attrs.get("group", 1)))


def op_convtranspose(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """ConvTranspose: the gradient of Conv as a layer, with group, strides, dilations, pads, output_padding."""
    x, w, b = _t(inputs[0]), _t(inputs[1]), _opt(inputs, 2)
    kernel = tuple(w.shape[2:])
    nd = len(kernel)
    _spatial_check(x, nd, "ConvTranspose")
    if "output_shape" in attrs or attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise DataError("onnx load: ConvTranspose with output_shape or auto_pad SAME_* is not supported; give pads")
    strides = tuple(attrs.get("strides", [1] * nd))
    dil = tuple(attrs.get("dilations", [1] * nd))
    out_pad = tuple(attrs.get("output_padding", [0] * nd))
    pads = list(attrs.get("pads", [0] * (2 * nd))) if attrs.get("auto_pad", "NOTSET") == "NOTSET" else [0] * (2 * nd)
    pairs = [(pads[i], pads[i + nd]) for i in range(nd)]
    symmetric = all(lo == hi for lo, hi in pairs)
    padding = tuple(lo for lo, _ in pairs) if symmetric else (0,) * nd
    conv = F.conv_transpose1d if nd == 1 else F.conv_transpose2d
    bias = None if b is None else _t(b)
    y = conv(x, w, bias, strides, padding, out_pad, int(attrs.get("group", 1)), dil)
    if symmetric:
        return y
    crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pairs, y.shape[2:], strict=True))
    return y[(slice(None), slice(None), *crop)]


class Window(NamedTuple):
    """Where a windowed node's kernel lands: kernel, strides, (before, after) pads per spatial dim, dilations,
    ceil_mode."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pairs: list[tuple[int, int]]
    dilations: tuple[int, ...]
    ceil_mode: bool


#: The operators that slide a window over the input (the explainer writes their output-size formulas).
WINDOWED = ("Conv", "MaxPool", "AveragePool", "LpPool")


def node_window(op_type: str, attrs: Attrs, x_shape: tuple[int, ...], w_shape: tuple[int, ...] = ()) -> Window:
    """The window of a ``Conv`` (kernel from the weight's shape ``w_shape``) or pooling node on an input of
    shape ``x_shape`` (N, C, *spatial)."""
    kernel = tuple(int(k) for k in (w_shape[2:] if op_type == "Conv" else attrs["kernel_shape"]))
    nd = len(kernel)
    strides = tuple(attrs.get("strides", [1] * nd))
    dil = tuple(attrs.get("dilations", [1] * nd))
    pairs = _pad_pairs(attrs, tuple(x_shape[2:]), kernel, strides, dil)
    return Window(kernel, strides, pairs, dil, bool(attrs.get("ceil_mode", 0)))


def _pool_args(x: Tensor, attrs: Attrs, op: str) -> tuple:
    window = node_window(op, attrs, x.shape)
    kernel, strides, pairs, dil = window.kernel, window.strides, window.pairs, window.dilations
    nd = len(kernel)
    _spatial_check(x, nd, op)
    fits = all(lo == hi and lo <= k // 2 for (lo, hi), k in zip(pairs, kernel, strict=True))
    return kernel, nd, strides, dil, pairs, fits


def op_maxpool(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """MaxPool: the largest value of each window (kernel_shape, strides, pads, dilations, ceil_mode)."""
    x = _t(inputs[0])
    kernel, nd, strides, dil, pairs, fits = _pool_args(x, attrs, "MaxPool")
    padding: tuple[int, ...] = tuple(lo for lo, _ in pairs)
    if not fits:  # asymmetric or wide padding: pad with -inf first
        x, padding = F.pad(x, _widths(pairs), value=float("-inf")), (0,) * nd
    pool = F.max_pool1d if nd == 1 else F.max_pool2d
    return pool(x, kernel, strides, padding, dil, bool(attrs.get("ceil_mode", 0)))


def _window_sums(x: Tensor, attrs: Attrs, op: str, counted_pads: bool) -> tuple[Tensor, np.ndarray]:
    """The sum of each window (any pads, dilations, ceil_mode) and the number of taps it counts.

    One depthwise convolution with a kernel of ones, dilated as the window is, over the input padded with
    zeros (and, under ceil_mode, past the end as far as the last window reaches); the counts are the same
    convolution over a mask of the counted positions: the input, and the pads when ``counted_pads``.
    """
    window = node_window(op, attrs, x.shape)
    kernel, nd, channels = window.kernel, len(window.kernel), x.shape[1]
    _spatial_check(x, nd, op)
    geometry = ConvGeometry.make(
        tuple(x.shape[2:]), kernel, window.strides, tuple(window.pairs), window.dilations, window.ceil_mode, check=False
    )
    beyond = [max(r - p, 0) for r, p in zip(geometry.reach, geometry.padded, strict=True)]  # ceil_mode's overhang
    pairs = [(lo, hi + b) for (lo, hi), b in zip(window.pairs, beyond, strict=True)]
    conv = F.conv1d if nd == 1 else F.conv2d
    ones = Tensor(np.ones((channels, 1, *kernel), dtype=x.dtype))
    sums = conv(F.pad(x, _widths(pairs)), ones, None, window.strides, 0, window.dilations, channels)
    counted = np.zeros((1, 1, *(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pairs, strict=True))), x.dtype)
    inside = pairs if not counted_pads else [(0, b) for b in beyond]
    counted[(..., *(slice(lo, n - hi) for (lo, hi), n in zip(inside, counted.shape[2:], strict=True)))] = 1
    counts = conv(Tensor(counted), Tensor(ones._array[:1]), None, window.strides, 0, window.dilations).numpy()
    return sums, counts


def op_averagepool(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """AveragePool: the mean of each window; count_include_pad (default 0) counts the pads in the divisor."""
    x = _t(inputs[0])
    kernel, nd, strides, dil, pairs, fits = _pool_args(x, attrs, "AveragePool")
    include = bool(attrs.get("count_include_pad", 0))
    if fits and all(d == 1 for d in dil):
        pool = F.avg_pool1d if nd == 1 else F.avg_pool2d
        return pool(x, kernel, strides, tuple(lo for lo, _ in pairs), bool(attrs.get("ceil_mode", 0)), include)
    sums, counts = _window_sums(x, attrs, "AveragePool", include)
    return sums / counts


def op_lppool(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """LpPool: the p-norm of each window, (Σ |x|^p)^(1/p) (p default 2), zero pads counted."""
    x = _t(inputs[0])
    p = float(attrs.get("p", 2))
    total, _ = _window_sums(x * x if p == 2 else x.abs() ** p, attrs, "LpPool", True)
    return total.sqrt() if p == 2 else total ** (1.0 / p)


def op_globalaveragepool(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """GlobalAveragePool: the mean over all spatial dims, kept as size 1."""
    x = _t(inputs[0])
    return x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)


def op_globalmaxpool(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """GlobalMaxPool: the maximum over all spatial dims, kept as size 1."""
    x = _t(inputs[0])
    return x.amax(dim=tuple(range(2, x.ndim)), keepdim=True)


def op_batchnormalization(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """BatchNormalization (inference): Y = (X - mean) / sqrt(var + epsilon) · scale + B."""
    x, scale, bias, mean, var = (_t(v) for v in inputs[:5])
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=float(attrs.get("epsilon", 1e-5)))


def op_instancenormalization(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """InstanceNormalization: each (sample, channel) normalised over its spatial dims, · scale + B."""
    x, scale, bias = _t(inputs[0]), _t(inputs[1]), _t(inputs[2])
    dims = tuple(range(2, x.ndim))
    centred = x - x.mean(dim=dims, keepdim=True)
    var = (centred * centred).mean(dim=dims, keepdim=True)
    per_channel = (scale.shape[0],) + (1,) * len(dims)
    normed = centred / (var + float(attrs.get("epsilon", 1e-5))).sqrt()
    return normed * scale.reshape(per_channel) + bias.reshape(per_channel)


def op_gemm(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Gemm: Y = alpha · A' @ B' + beta · C, A' = Aᵀ if transA, B' = Bᵀ if transB."""
    a, b, c = _t(inputs[0]), _t(inputs[1]), _opt(inputs, 2)
    if attrs.get("transA", 0):
        a = a.transpose(0, 1)
    if attrs.get("transB", 0):
        b = b.transpose(0, 1)
    y = a.matmul(b)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        c = _t(c)
        y = y + (c if beta == 1.0 else c * beta)
    return y


def op_matmul(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """MatMul: numpy.matmul semantics (batched, broadcasting)."""
    if _const(*inputs):
        return np.matmul(_c(inputs[0]), _c(inputs[1]))
    return _t(inputs[0]).matmul(_t(inputs[1]))


def _binary(np_op: Callable[[Any, Any], Any], tensor_op: Callable[[Tensor, Any], Tensor]) -> Callable[..., Value]:
    def op(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
        a, b = inputs[0], inputs[1]
        if attrs.get("broadcast") and "axis" in attrs:  # opset < 7: B aligned at axis
            bc = _c(b)
            b = np.reshape(bc, bc.shape + (1,) * (np.ndim(_c(a)) - int(attrs["axis"]) - bc.ndim))
        if _const(a, b):
            return np_op(_c(a), _c(b))
        if isinstance(a, Tensor):
            return tensor_op(a, b if isinstance(b, Tensor) else np.asarray(b, dtype=a.dtype))
        return tensor_op(_t(np.asarray(a, dtype=b.dtype)), b)

    return op


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(np.result_type(a, b), np.integer):
        return np.trunc(a / b).astype(np.result_type(a, b))  # integer Div truncates toward zero
    return a / b


op_add = _binary(np.add, lambda a, b: a + b)
op_add.__doc__ = "Add: A + B, multidirectional broadcasting."
op_sub = _binary(np.subtract, lambda a, b: a - b)
op_sub.__doc__ = "Sub: A - B, multidirectional broadcasting."
op_mul = _binary(np.multiply, lambda a, b: a * b)
op_mul.__doc__ = "Mul: A · B, multidirectional broadcasting."
op_div = _binary(_int_div, lambda a, b: a / b)
op_div.__doc__ = "Div: A / B, multidirectional broadcasting (integers truncate)."


def _variadic(np_op: Callable[[Any, Any], Any], tensor_op: Callable[[Tensor, Tensor], Tensor]) -> Callable[..., Value]:
    def op(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
        if _const(*inputs):
            out = _c(inputs[0])
            for v in inputs[1:]:
                out = np_op(out, _c(v))
            return out
        y = _t(inputs[0])
        for v in inputs[1:]:
            y = tensor_op(y, _t(v))
        return y

    return op


op_sum = _variadic(np.add, lambda a, b: a + b)
op_sum.__doc__ = "Sum: the elementwise sum of all inputs (broadcasting)."
op_max = _variadic(np.maximum, lambda a, b: a.maximum(b))
op_max.__doc__ = "Max: the elementwise maximum of all inputs (broadcasting)."
op_min = _variadic(np.minimum, lambda a, b: a.minimum(b))
op_min.__doc__ = "Min: the elementwise minimum of all inputs (broadcasting)."


def op_concat(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Concat: the inputs joined along ``axis``."""
    axis = int(attrs.get("axis", 1))
    present = [v for v in inputs if v is not None]
    if _const(*present):
        return np.concatenate([_c(v) for v in present], axis=axis)
    dtype = next(v.dtype for v in present if isinstance(v, Tensor))
    return cat([v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=dtype)) for v in present], dim=axis)


def _reshape(v: Value, shape: tuple[int, ...]) -> Value:
    return _c(v).reshape(shape) if not isinstance(v, Tensor) else v.reshape(shape)


def _shape(v: Value) -> tuple[int, ...]:
    return tuple(v.shape) if isinstance(v, Tensor) else np.shape(v)


def op_flatten(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Flatten: to 2-D (prod(shape[:axis]), prod(shape[axis:])), axis default 1."""
    shape = _shape(inputs[0])
    axis = int(attrs.get("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    return _reshape(inputs[0], (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))


def op_reshape(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Reshape: to ``shape`` (input from opset 5); 0 copies the input's dim unless allowzero, -1 is inferred."""
    old = _shape(inputs[0])
    new = _ints(inputs[1]) if len(inputs) > 1 else list(attrs["shape"])
    if not attrs.get("allowzero", 0):
        new = [old[i] if d == 0 and i < len(old) else d for i, d in enumerate(new)]
    if any(d < -1 for d in new) or new.count(-1) > 1:
        raise DataError(f"onnx load: Reshape target {new} has a dim below -1 or more than one -1")
    itemsize = np.dtype(inputs[0].dtype if isinstance(inputs[0], Tensor) else _c(inputs[0]).dtype).itemsize
    _check_size([d for d in new if d != -1], itemsize, "Reshape target")
    return _reshape(inputs[0], tuple(new))


def op_transpose(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Transpose: dims permuted by ``perm`` (default: reversed)."""
    x = inputs[0]
    perm = tuple(attrs.get("perm", range(len(_shape(x)) - 1, -1, -1)))
    return x.permute(*perm) if isinstance(x, Tensor) else np.transpose(_c(x), perm)


def _axes(inputs: list[Value], attrs: Attrs, opset: int, since: int) -> list[int] | None:
    if opset >= since:
        return None if _opt(inputs, 1) is None else _ints(inputs[1])
    return list(attrs["axes"]) if "axes" in attrs else None


def op_squeeze(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Squeeze: drop the size-1 dims in ``axes`` (all size-1 dims without); axes an input from opset 13."""
    shape = _shape(inputs[0])
    axes = _axes(inputs, attrs, opset, 13)
    drop = {a % len(shape) for a in axes} if axes is not None else {i for i, n in enumerate(shape) if n == 1}
    return _reshape(inputs[0], tuple(n for i, n in enumerate(shape) if i not in drop))


def op_unsqueeze(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Unsqueeze: insert size-1 dims at ``axes`` (of the output); axes an input from opset 13."""
    shape = list(_shape(inputs[0]))
    axes = _axes(inputs, attrs, opset, 13) or []
    rank = len(shape) + len(axes)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return _reshape(inputs[0], tuple(shape))


def _softmax_like(fn: Callable[..., Tensor]) -> Callable[..., Value]:
    def op(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
        x = _t(inputs[0])
        if opset >= 13:
            return fn(x, dim=int(attrs.get("axis", -1)))
        axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)  # before 13: coerced to 2-D at axis
        flat = x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))
        return fn(flat, dim=1).reshape(tuple(x.shape))

    return op


op_softmax = _softmax_like(F.softmax)
op_softmax.__doc__ = "Softmax: along axis (default -1) from opset 13; before 13, over the 2-D coercion at axis (1)."
op_logsoftmax = _softmax_like(F.log_softmax)
op_logsoftmax.__doc__ = "LogSoftmax: log of Softmax, with Softmax's axis rules."


def op_dropout(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Dropout (inference): the input unchanged, and an all-true mask."""
    return inputs[0], np.ones(_shape(inputs[0]), dtype=bool)


def op_identity(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Identity: the input."""
    return inputs[0]


def op_constant(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Constant: the array in value (or value_float(s), value_int(s)), a constant."""
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            v = attrs[key]
            dtype = np.float32 if "float" in key else np.int64
            return v if isinstance(v, np.ndarray) else np.asarray(v, dtype=dtype)
    raise DataError(f"onnx load: Constant with attributes {sorted(attrs)} is not supported")


def op_constantofshape(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """ConstantOfShape: an array of the input's shape filled with value (default float32 0)."""
    value = attrs.get("value", np.zeros(1, dtype=np.float32))
    shape = _check_size(_ints(inputs[0]), value.dtype.itemsize, "ConstantOfShape output")
    return np.full(shape, value.reshape(-1)[0], dtype=value.dtype)


def op_clip(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Clip: X limited to [min, max]; attributes before opset 11, optional inputs after."""
    if opset < 11:
        lo, hi = attrs.get("min"), attrs.get("max")
    else:
        lo, hi = (None if v is None else _c(v).item() for v in (_opt(inputs, 1), _opt(inputs, 2)))
    if _const(inputs[0]):
        return np.clip(_c(inputs[0]), lo, hi)
    return inputs[0].clamp(min=lo, max=hi)


def _unary(np_op: Callable[[np.ndarray], np.ndarray], tensor_op: Callable[..., Tensor]) -> Callable[..., Value]:
    def op(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
        if _const(inputs[0]):
            return np_op(_c(inputs[0]))
        return tensor_op(inputs[0])

    return op


op_relu = _unary(lambda a: np.maximum(a, 0), F.relu)
op_relu.__doc__ = "Relu: max(x, 0)."
op_sigmoid = _unary(lambda a: 1 / (1 + np.exp(-a)), F.sigmoid)
op_sigmoid.__doc__ = "Sigmoid: 1 / (1 + e^-x)."
op_tanh = _unary(np.tanh, F.tanh)
op_tanh.__doc__ = "Tanh: tanh(x)."
op_neg = _unary(np.negative, lambda t: -t)
op_neg.__doc__ = "Neg: -x."
op_exp = _unary(np.exp, lambda t: t.exp())
op_exp.__doc__ = "Exp: e^x."
op_log = _unary(np.log, lambda t: t.log())
op_log.__doc__ = "Log: ln x."
op_sqrt = _unary(np.sqrt, lambda t: t.sqrt())
op_sqrt.__doc__ = "Sqrt: √x."
op_abs = _unary(np.abs, lambda t: t.abs())
op_abs.__doc__ = "Abs: |x|."


def op_leakyrelu(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """LeakyRelu: x for x >= 0, alpha·x otherwise (alpha default 0.01)."""
    return F.leaky_relu(_t(inputs[0]), float(attrs.get("alpha", 0.01)))


def op_elu(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Elu: x for x > 0, alpha·(e^x - 1) otherwise (alpha default 1)."""
    return F.elu(_t(inputs[0]), float(attrs.get("alpha", 1.0)))


def op_selu(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Selu: gamma·x for x > 0, gamma·alpha·(e^x - 1) otherwise."""
    alpha = float(attrs.get("alpha", 1.67326319217681884765625))
    gamma = float(attrs.get("gamma", 1.05070102214813232421875))
    return F.elu(_t(inputs[0]), alpha) * gamma


def op_softplus(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Softplus: ln(1 + e^x)."""
    return F.softplus(_t(inputs[0]), 1.0, 20.0)


def op_softsign(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Softsign: x / (1 + |x|)."""
    x = _t(inputs[0])
    return x / (x.abs() + 1.0)


def op_hardsigmoid(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """HardSigmoid: max(0, min(1, alpha·x + beta)) (alpha default 0.2, beta 0.5)."""
    alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
    return (_t(inputs[0]) * alpha + beta).clamp(min=0.0, max=1.0)


def op_prelu(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """PRelu: x for x >= 0, slope·x otherwise (slope broadcast to x)."""
    x, slope = _t(inputs[0]), _t(inputs[1])
    if opset < 7 and slope.ndim == 1 and x.ndim > 2 and slope.shape[0] == x.shape[1]:  # a slope per channel
        slope = slope.reshape((slope.shape[0],) + (1,) * (x.ndim - 2))
    positive = F.relu(x)
    return positive + slope * (x - positive)


def op_lrn(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """LRN: x / (bias + alpha/size · Σ x² over the size channels around c)^beta."""
    x = _t(inputs[0])
    size = int(attrs["size"])
    alpha, beta, bias = (float(attrs.get(k, d)) for k, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    channels = x.shape[1]
    widths = (0, 0) * (x.ndim - 2) + (lo, hi)
    sq = F.pad(x * x, widths)
    total = sq[:, 0:channels]
    for i in range(1, size):
        total = total + sq[:, i : i + channels]
    return x * ((total * (alpha / size) + bias).log() * -beta).exp()


def op_pad(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Pad: pads [x1_begin, ..., x1_end, ...] (attribute before opset 11), mode constant/reflect/edge."""
    x = inputs[0]
    rank = len(_shape(x))
    if opset < 11:
        pads, value = list(attrs["pads"]), float(attrs.get("value", 0.0))
        axes = list(range(rank))
    else:
        pads = _ints(inputs[1])
        value = 0.0 if _opt(inputs, 2) is None else _c(inputs[2]).item()
        axes = list(range(rank)) if _opt(inputs, 3) is None else [a % rank for a in _ints(inputs[3])]
    mode = attrs.get("mode", "constant")
    pairs = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pairs[a] = (pads[i], pads[i + len(axes)])
    if _const(x):
        kind = {"constant": "constant", "reflect": "reflect", "edge": "edge"}[mode]
        extra = {"constant_values": value} if mode == "constant" else {}
        return np.pad(_c(x), pairs, mode=kind, **extra)
    kw_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}.get(mode)
    if kw_mode is None:
        raise DataError(f"onnx load: Pad mode={mode!r} is not supported")
    first = next((i for i, p in enumerate(pairs) if p != (0, 0)), rank)
    return F.pad(x, _widths(pairs[first:]), kw_mode, value if kw_mode == "constant" else None)


def op_shape(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Shape: the input's shape as int64 (start/end from opset 15)."""
    shape = _shape(inputs[0])
    return np.asarray(shape[attrs.get("start", 0) : attrs.get("end", len(shape))], dtype=np.int64)


def op_gather(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Gather: entries of data along axis (default 0) at indices (negative counts from the end)."""
    data, indices = inputs[0], _c(inputs[1]).astype(np.int64)
    axis = int(attrs.get("axis", 0)) % len(_shape(data))
    indices = np.where(indices < 0, indices + _shape(data)[axis], indices)
    if _const(data):
        return np.take(_c(data), indices, axis=axis)
    flat = data[(slice(None),) * axis + (indices.reshape(-1),)]
    shape = _shape(data)
    return flat.reshape(shape[:axis] + indices.shape + shape[axis + 1 :])


def op_slice(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Slice: data[starts:ends:steps] along axes (attributes before opset 10, inputs after)."""
    x = inputs[0]
    rank = len(_shape(x))
    if opset < 10:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes, steps = list(attrs.get("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = _ints(inputs[1]), _ints(inputs[2])
        axes = list(range(len(starts))) if _opt(inputs, 3) is None else _ints(inputs[3])
        steps = [1] * len(starts) if _opt(inputs, 4) is None else _ints(inputs[4])
    index: list[slice] = [slice(None)] * rank
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        n = _shape(x)[a % rank]
        s, e = max(min(s, n), -n - 1), max(min(e, n), -n - 1)  # clamp the INT_MAX / INT_MIN markers
        index[a % rank] = slice(s, None if st < 0 and e < -n else e, st)
    return x[tuple(index)] if isinstance(x, Tensor) else _c(x)[tuple(index)]


def op_cast(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Cast: the input converted to the element type ``to``."""
    from onnx.helper import tensor_dtype_to_np_dtype

    dtype = np.dtype(tensor_dtype_to_np_dtype(int(attrs["to"])))
    x = inputs[0]
    if isinstance(x, Tensor) and dtype in (np.float32, np.float64):
        return x.float() if dtype == np.float32 else x.double()
    return _c(x).astype(dtype)


def op_split(inputs: list[Value], attrs: Attrs, opset: int) -> Value:
    """Split: the input cut along axis into parts of ``split`` sizes (input from opset 13) or equal parts."""
    x, axis = inputs[0], int(attrs.get("axis", 0))
    shape = _shape(x)
    axis %= len(shape)
    split = _ints(inputs[1]) if opset >= 13 and _opt(inputs, 1) is not None else attrs.get("split")
    if split is None:
        parts = int(attrs.get("num_outputs", attrs.get("_outputs", 1)))
        size = -(-shape[axis] // parts)
        split = [min(size, shape[axis] - i * size) for i in range(parts)]
    out, start = [], 0
    for n in split:
        index = (slice(None),) * axis + (slice(start, start + n),)
        out.append(x[index] if isinstance(x, Tensor) else _c(x)[index])
        start += n
    return tuple(out)


OpFn = Callable[[list[Value], Attrs, int], Value]

#: The supported operators, by ONNX op type: fn(inputs, attributes, opset) -> output(s).
OPS: dict[str, OpFn] = {
    "Abs": op_abs,
    "Add": op_add,
    "AveragePool": op_averagepool,
    "BatchNormalization": op_batchnormalization,
    "Cast": op_cast,
    "Clip": op_clip,
    "Concat": op_concat,
    "Constant": op_constant,
    "ConstantOfShape": op_constantofshape,
    "Conv": op_conv,
    "ConvTranspose": op_convtranspose,
    "Div": op_div,
    "Dropout": op_dropout,
    "Elu": op_elu,
    "Exp": op_exp,
    "Flatten": op_flatten,
    "Gather": op_gather,
    "Gemm": op_gemm,
    "GlobalAveragePool": op_globalaveragepool,
    "GlobalMaxPool": op_globalmaxpool,
    "HardSigmoid": op_hardsigmoid,
    "Identity": op_identity,
    "InstanceNormalization": op_instancenormalization,
    "LRN": op_lrn,
    "LeakyRelu": op_leakyrelu,
    "Log": op_log,
    "LpPool": op_lppool,
    "LogSoftmax": op_logsoftmax,
    "MatMul": op_matmul,
    "Max": op_max,
    "MaxPool": op_maxpool,
    "Min": op_min,
    "Mul": op_mul,
    "Neg": op_neg,
    "PRelu": op_prelu,
    "Pad": op_pad,
    "Relu": op_relu,
    "Reshape": op_reshape,
    "Shape": op_shape,
    "Selu": op_selu,
    "Sigmoid": op_sigmoid,
    "Slice": op_slice,
    "Softmax": op_softmax,
    "Softplus": op_softplus,
    "Softsign": op_softsign,
    "Split": op_split,
    "Sqrt": op_sqrt,
    "Squeeze": op_squeeze,
    "Sub": op_sub,
    "Sum": op_sum,
    "Tanh": op_tanh,
    "Transpose": op_transpose,
    "Unsqueeze": op_unsqueeze,
}

#: Inputs that stay constants even when they hold floats: (op type, input position).
_CONSTANT_INPUTS = {("BatchNormalization", 3), ("BatchNormalization", 4)}


# --------------------------------------------------------------------------- the module
class OnnxNode:
    """One graph node, ready to run: its name (``OP_i`` when the file gives none), operator, operator
    function, attributes and the names of its input and output values."""

    def __init__(self, name: str, op_type: str, fn: OpFn, attrs: Attrs, inputs: list[str], outputs: list[str]):
        self.name, self.op_type, self.fn, self.attrs = name, op_type, fn, attrs
        self.inputs, self.outputs = inputs, outputs


class OnnxModule(nn.Module):
    """An ONNX graph run with kernelwise ops; ``forward(*inputs)`` takes the graph inputs in order.

    Float initializers are Parameters (named after the initializer, other characters than letters,
    digits and ``_`` replaced by ``_``); ``onnx_names`` maps each parameter name back. BatchNormalization
    and Dropout run as in inference whatever ``training`` says.
    """

    def __init__(
        self,
        nodes: list[OnnxNode],
        params: dict[str, np.ndarray],
        constants: dict[str, np.ndarray],
        inputs: list[str],
        outputs: list[str],
        opset: int,
    ):
        super().__init__()
        self._nodes, self._constants, self._opset = nodes, constants, opset
        self.input_names, self.output_names = inputs, outputs
        self._param_of: dict[str, str] = {}
        for onnx_name, array in params.items():
            name = _attribute_name(onnx_name, self._param_of.values())
            self.register_parameter(name, nn.Parameter(array))
            self._param_of[onnx_name] = name
        self.onnx_names = {v: k for k, v in self._param_of.items()}

    def extra_repr(self) -> str:
        return f"inputs={self.input_names}, outputs={self.output_names}, nodes={len(self._nodes)}, opset={self._opset}"

    @property
    def nodes(self) -> list[OnnxNode]:
        """The graph's nodes in the order they run."""
        return list(self._nodes)

    def onnx_value(self, onnx_name: str) -> np.ndarray | None:
        """The values of the initializer named ``onnx_name`` (a Parameter's or a constant's), or None."""
        if onnx_name in self._param_of:
            return getattr(self, self._param_of[onnx_name]).detach().numpy()
        return self._constants.get(onnx_name)

    def forward(self, *inputs: Any) -> Any:
        return self.run(*inputs)

    def run(self, *inputs: Any, visit: Callable[[OnnxNode, list[Value], tuple[Value, ...]], None] | None = None) -> Any:
        """Run the graph on ``inputs``; ``visit(node, inputs, outputs)``, if given, sees each node's values
        as it runs (the explainer draws them)."""
        if len(inputs) != len(self.input_names):
            raise UsageError(
                f"onnx model: forward takes {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}"
            )
        values: dict[str, Value] = dict(self._constants)
        values.update({k: getattr(self, v) for k, v in self._param_of.items()})
        values.update({n: _t(v) for n, v in zip(self.input_names, inputs, strict=True)})
        values[""] = None
        for node in self._nodes:
            args = [values[n] for n in node.inputs]
            try:
                out = node.fn(args, node.attrs, self._opset)
            except (DataError, UsageError) as e:
                raise type(e)(f"onnx node {node.name!r} ({node.op_type}): {e}") from e
            outs = out if isinstance(out, tuple) else (out,)
            if any(node.outputs[len(outs) :]):
                raise DataError(
                    f"onnx node {node.name!r} ({node.op_type}): asks for {len(node.outputs)} outputs, "
                    f"kernelwise computes {len(outs)}"
                )
            for name, v in zip(node.outputs, outs, strict=False):
                values[name] = v
            if visit is not None:
                visit(node, args, outs)
        results = tuple(_t(values[n]) for n in self.output_names)
        return results[0] if len(results) == 1 else results


def _attribute_name(onnx_name: str, taken: Any) -> str:
    base = re.sub(r"\W", "_", onnx_name) or "param"
    if base[0].isdigit():
        base = "p_" + base
    name, i = base, 1
    taken = set(taken)
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


# --------------------------------------------------------------------------- reading
def _read_bytes(f: Any) -> bytes:
    if isinstance(f, bytes | bytearray | memoryview):
        return bytes(f)
    if isinstance(f, str | os.PathLike):
        try:
            with open(f, "rb") as fh:
                return fh.read()
        except OSError as e:
            raise DataError(f"onnx load: cannot read {os.fspath(f)!r}: {e.strerror}") from e
    if isinstance(f, io.IOBase) or hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, bytes):
            raise UsageError("onnx load: the file object must be opened in binary mode ('rb')")
        return data
    raise UsageError(f"onnx load: f must be a path, a binary file object or bytes, got {type(f).__name__}")


def _parse(data: bytes, where: str) -> Any:
    onnx = _onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise DataError(f"onnx load: {where} is not a readable ONNX model (truncated or corrupt): {e}") from e
    if not model.ir_version or not model.HasField("graph") or not model.graph.output:
        raise DataError(f"onnx load: {where} is not an ONNX model (no IR version, graph or graph outputs)")
    return model


def _opset(model: Any) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def _attributes(node: Any) -> Attrs:
    from onnx import helper

    attrs: Attrs = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif hasattr(v, "data_type"):  # a TensorProto
            v = _array(v, f"attribute {a.name!r} of node {node.name!r}")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        attrs[a.name] = v
    return attrs


def _itemsize(tensor: Any) -> int:
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        dtype = np.dtype(tensor_dtype_to_np_dtype(tensor.data_type))
    except Exception:
        return 1  # an unknown element type: numpy_helper names it below
    return 1 if dtype.kind == "O" else dtype.itemsize


def _array(tensor: Any, what: str) -> np.ndarray:
    from onnx import TensorProto, numpy_helper

    _check_size(tensor.dims, _itemsize(tensor), f"{what} {tensor.name!r}")
    if tensor.data_location == TensorProto.EXTERNAL:
        raise DataError(f"onnx load: {what} {tensor.name!r} stores its data in an external file, not allowed here")
    try:
        return np.array(numpy_helper.to_array(tensor))
    except Exception as e:
        dims = list(tensor.dims)
        raise DataError(f"onnx load: {what} {tensor.name!r} of shape {dims}: its data does not match: {e}") from e


def _read_external(tensor: Any, folder: str | None) -> None:
    """Fill ``tensor``'s raw_data from its external file, which must lie inside ``folder`` (the model's)."""
    from onnx import TensorProto

    name, dims = tensor.name, list(tensor.dims)
    if folder is None:
        raise DataError(
            f"onnx load: initializer {name!r} stores its data in an external file; load the model from its path"
        )
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError as e:
        raise DataError(f"onnx load: initializer {name!r}: bad external offset or length: {e}") from e
    expected = _check_size(dims, _itemsize(tensor), f"initializer {name!r}")
    if length is None:
        length = int(np.prod(expected, dtype=object)) * _itemsize(tensor)
    if offset < 0 or length < 0:
        raise DataError(f"onnx load: initializer {name!r}: negative external offset {offset} or length {length}")
    if not location or os.path.isabs(location) or ".." in re.split(r"[\\/]", location):
        raise DataError(
            f"onnx load: initializer {name!r} refers to external file {location!r}, outside the model's folder"
        )
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, path]) != root:
        raise DataError(
            f"onnx load: initializer {name!r} refers to external file {location!r}, which resolves outside "
            "the model's folder"
        )
    try:
        size = os.path.getsize(path)
        if size < offset + length:
            raise DataError(
                f"onnx load: initializer {name!r} of shape {dims}: external file {location!r} has {size} bytes, "
                f"fewer than offset {offset} + length {length}"
            )
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
    except OSError as e:
        raise DataError(f"onnx load: initializer {name!r}: cannot read external file {location!r}: {e.strerror}") from e
    tensor.raw_data = data
    del tensor.external_data[:]
    tensor.data_location = TensorProto.DEFAULT


def _sorted_nodes(graph: Any, known: set[str]) -> list[Any]:
    """The nodes in an order where each runs after its inputs' producers (Kahn); a cycle is a DataError."""
    nodes = list(graph.node)
    producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}
    waiting = [
        {producer[x] for x in n.input if x and x not in known and x in producer and producer[x] != i}
        for i, n in enumerate(nodes)
    ]
    for n in nodes:
        for x in n.input:
            if x and x not in known and x not in producer:
                raise DataError(f"onnx load: node {n.name!r} ({n.op_type}) reads {x!r}, which nothing produces")
        if any(x in n.output for x in n.input if x):
            raise DataError(f"onnx load: node {n.name!r} ({n.op_type}) reads its own output: the graph has a cycle")
    users: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for i, deps in enumerate(waiting):
        for d in deps:
            users[d].append(i)
    ready = [i for i, deps in enumerate(waiting) if not deps]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for u in users[i]:
            waiting[u].discard(i)
            if not waiting[u]:
                ready.append(u)
    if len(order) < len(nodes):
        stuck = next(nodes[i] for i in range(len(nodes)) if i not in set(order))
        raise DataError(f"onnx load: the graph has a cycle through node {stuck.name!r} ({stuck.op_type})")
    return [nodes[i] for i in order]


def load(f: Any) -> OnnxModule:
    """Read an ONNX model (a path, a binary file object or bytes) as a kernelwise Module.

    The Module's ``forward(*inputs)`` takes Tensors in the graph's input order and returns one Tensor,
    or a tuple for several outputs. Float initializers are trainable Parameters.

    Raises:
        DataError: the file is not an ONNX model, an initializer is malformed, larger than
            :data:`MAX_TENSOR_BYTES` or stored in an external file that is missing, too short or outside
            the model's folder (external data needs ``f`` to be a path), the graph has a cycle, or it uses
            an operator kernelwise does not support (named with the opset and the node).
    """
    onnx_pb = _onnx()
    where = repr(os.fspath(f)) if isinstance(f, str | os.PathLike) else "the data"
    model = _parse(_read_bytes(f), where)
    graph, opset = model.graph, _opset(model)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
            domain = f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
            raise DataError(
                f"onnx load: operator {node.op_type!r}{domain} of node {node.name!r} is not supported "
                f"(model opset {opset}); supported: {', '.join(sorted(OPS))}"
            )
    for node in graph.node:
        if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
            raise DataError(
                f"onnx load: MaxPool node {node.name!r} asks for its Indices output, which is not supported"
            )
    kept_constant = {x for n in graph.node for i, x in enumerate(n.input) if (n.op_type, i) in _CONSTANT_INPUTS and x}
    params: dict[str, np.ndarray] = {}
    constants: dict[str, np.ndarray] = {}
    folder = os.path.dirname(os.path.abspath(os.fspath(f))) if isinstance(f, str | os.PathLike) else None
    for init in graph.initializer:
        if init.data_location == onnx_pb.TensorProto.EXTERNAL:
            _read_external(init, folder)
        array = _array(init, "initializer")
        if np.issubdtype(array.dtype, np.floating) and init.name not in kept_constant:
            params[init.name] = array
        else:
            constants[init.name] = array
    for n in graph.node:  # a ConstantOfShape of a constant shape: its size is known now
        if n.op_type == "ConstantOfShape" and n.input and n.input[0] in constants:
            value = _attributes(n).get("value", np.zeros(1, dtype=np.float32))
            what = f"ConstantOfShape output of node {n.name!r}"
            _check_size(_ints(constants[n.input[0]]), np.asarray(value).dtype.itemsize, what)
    inputs = [i.name for i in graph.input if i.name not in params and i.name not in constants]
    ordered = _sorted_nodes(graph, set(inputs) | set(params) | set(constants))
    nodes = []
    for i, n in enumerate(ordered):
        attrs = _attributes(n)
        if n.op_type == "Split":
            attrs["_outputs"] = len(n.output)
        nodes.append(
            OnnxNode(n.name or f"{n.op_type}_{i}", n.op_type, OPS[n.op_type], attrs, list(n.input), list(n.output))
        )
    return OnnxModule(nodes, params, constants, inputs, [o.name for o in graph.output], opset)
