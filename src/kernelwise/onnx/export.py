"""Write a kernelwise model as an ONNX graph: :func:`export`, the shape of ``torch.onnx.export``.

The model is walked, not traced: a ``Sequential`` in order, each known layer mapped to ONNX nodes by one
small function in ``_LAYERS`` (layer class -> emitter), and the known composite blocks
(:class:`kernelwise.models.BasicBlock`) emitted as their subgraph. The model runs in eval mode on the example
input while it is walked, so every intermediate shape is known. Anything else raises
:class:`~kernelwise.errors.UsageError` naming the module's class and its path in the model.

Needs the ``onnx`` package (``pip install kernelwise[onnx]``), imported on first use. Examples that run
ONNX Runtime are in ``tests/test_onnx_export.py``.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, UsageError, UsageTypeError
from ..files import write_bytes_atomic
from ..ops.geometry import ntuple, padding_pairs
from ..tensor import Tensor, no_grad

__all__ = ["DEFAULT_OPSET", "export"]

DEFAULT_OPSET = 17  # the oldest opset written: ONNX Runtime and most tools run it
_MIN_OPSET = 17


def _onnx() -> Any:
    """The ``onnx`` module, or MissingDependencyError saying how to install it."""
    try:
        import onnx
    except ImportError as error:  # pragma: no cover - the onnx extra is installed in the test environment
        raise MissingDependencyError(
            "kernelwise.onnx.export needs the onnx package: pip install kernelwise[onnx]"
        ) from error
    return onnx


class _Graph:
    """The nodes and initializers being written, with fresh names, and the opset they are written for."""

    def __init__(self, onnx: Any, opset: int) -> None:
        self.onnx = onnx
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._used: set[str] = set()

    def fresh(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... when it is taken."""
        candidate, i = name, 0
        while candidate in self._used:
            i += 1
            candidate = f"{name}_{i}"
        self._used.add(candidate)
        return candidate

    def constant(self, name: str, value: Any, dtype: Any = None) -> str:
        """An initializer holding ``value`` (a Tensor or array-like); its name."""
        array = value.numpy() if isinstance(value, Tensor) else np.asarray(value, dtype=dtype)
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        name = self.fresh(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], path: str, **attributes: Any) -> str:
        """Append one node of type ``op``; the name of its (single) output."""
        stem = f"/{path}/{op}" if path else f"/{op}"
        output = self.fresh(f"{stem}_output_0")
        name = self.fresh(stem)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attributes))
        return output


# A value flowing through the graph: its ONNX name and kernelwise's value for the example input.
_Value = tuple[str, np.ndarray]
_Emitter = Callable[[_Graph, Any, str, str, np.ndarray], str]


def _scalar(graph: _Graph, path: str, label: str, value: float, like: np.ndarray) -> str:
    """A 0-d initializer of ``like``'s dtype."""
    return graph.constant(f"{path}.{label}" if path else label, value, dtype=like.dtype)


def _pads(pairs: tuple[tuple[int, int], ...]) -> list[int]:
    """(before, after) pairs per dimension -> ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end].

    Example:
        >>> _pads(((1, 2), (0, 3)))
        [1, 0, 2, 3]
    """
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def _param(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ------------------------------------------------------------------------------------------ layers
def _weight_and_bias(graph: _Graph, m: Any, path: str) -> list[str]:
    """The layer's weight (and bias, if it has one) as initializers named after their place in the model."""
    names = [graph.constant(_param(path, "weight"), m.weight)]
    if m.bias is not None:
        names.append(graph.constant(_param(path, "bias"), m.bias))
    return names


def _conv(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Conv1d/Conv2d -> Conv, padding strings as explicit pads."""
    pairs = padding_pairs(m.padding, m.kernel_size, m.stride, m.dilation, type(m).__name__)
    inputs = [x, *_weight_and_bias(graph, m, path)]
    return graph.node(
        "Conv",
        inputs,
        path,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        dilations=list(m.dilation),
        pads=_pads(pairs),
        group=m.groups,
    )


def _conv_transpose(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """ConvTranspose1d/2d -> ConvTranspose (the weight layout (C_in, C_out/g, *k) is ONNX's)."""
    inputs = [x, *_weight_and_bias(graph, m, path)]
    return graph.node(
        "ConvTranspose",
        inputs,
        path,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        dilations=list(m.dilation),
        pads=list(m.padding) * 2,
        output_padding=list(m.output_padding),
        group=m.groups,
    )


def _linear(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Linear -> Gemm (transB=1) for (N, in) input, MatMul (+ Add) for more dimensions."""
    if value.ndim == 2:
        inputs = [x, *_weight_and_bias(graph, m, path)]
        return graph.node("Gemm", inputs, path, transB=1)
    out = graph.node("MatMul", [x, graph.constant(_param(path, "weight_t"), m.weight.numpy().T)], path)
    if m.bias is not None:
        out = graph.node("Add", [out, graph.constant(_param(path, "bias"), m.bias)], path)
    return out


def _batch_norm(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """BatchNorm1d/2d in eval -> BatchNormalization with the running statistics."""
    if m.running_mean is None:
        raise UsageError(
            f"cannot export {type(m).__name__} at {path or 'the top'}: without running statistics "
            "(track_running_stats=False) it normalises with each batch's statistics, even in eval mode"
        )
    c = m.num_features
    dtype = m.running_mean.numpy().dtype
    scale = m.weight if m.weight is not None else np.ones(c, dtype)
    bias = m.bias if m.bias is not None else np.zeros(c, dtype)
    inputs = [
        x,
        graph.constant(_param(path, "weight"), scale, dtype),
        graph.constant(_param(path, "bias"), bias, dtype),
        graph.constant(_param(path, "running_mean"), m.running_mean),
        graph.constant(_param(path, "running_var"), m.running_var),
    ]
    return graph.node("BatchNormalization", inputs, path, epsilon=float(m.eps))


def _unary(op: str, **fixed: Any) -> _Emitter:
    """A layer that is one ONNX node of type ``op`` with fixed attributes."""

    def emit(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
        return graph.node(op, [x], path, **fixed)

    emit.__doc__ = f"-> {op}"
    return emit


def _leaky_relu(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    return graph.node("LeakyRelu", [x], path, alpha=float(m.negative_slope))


def _elu(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    return graph.node("Elu", [x], path, alpha=float(m.alpha))


def _hardtanh(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Hardtanh (and ReLU6) -> Clip(min_val, max_val)."""
    low, high = _scalar(graph, path, "min", m.min_val, value), _scalar(graph, path, "max", m.max_val, value)
    return graph.node("Clip", [x, low, high], path)


def _silu(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """SiLU -> x · Sigmoid(x)."""
    return graph.node("Mul", [x, graph.node("Sigmoid", [x], path)], path)


def _gelu(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """GELU -> Gelu from opset 20; before it, 0.5·x·(1 + erf(x/√2)) or the tanh approximation."""
    if graph.opset >= 20:
        return graph.node("Gelu", [x], path, approximate=m.approximate)
    if m.approximate == "tanh":  # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        cube = graph.node("Mul", [graph.node("Mul", [x, x], path), x], path)
        inner = graph.node(
            "Add", [x, graph.node("Mul", [cube, _scalar(graph, path, "c", 0.044715, value)], path)], path
        )
        core = graph.node(
            "Tanh", [graph.node("Mul", [inner, _scalar(graph, path, "k", math.sqrt(2 / math.pi), value)], path)], path
        )
    else:
        core = graph.node(
            "Erf", [graph.node("Div", [x, _scalar(graph, path, "sqrt2", math.sqrt(2), value)], path)], path
        )
    one_plus = graph.node("Add", [core, _scalar(graph, path, "one", 1.0, value)], path)
    return graph.node("Mul", [graph.node("Mul", [x, one_plus], path), _scalar(graph, path, "half", 0.5, value)], path)


def _softplus(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Softplus -> Where(βx > threshold, x, Softplus(βx)/β)."""
    bx = x if m.beta == 1 else graph.node("Mul", [x, _scalar(graph, path, "beta", m.beta, value)], path)
    soft = graph.node("Softplus", [bx], path)
    if m.beta != 1:
        soft = graph.node("Div", [soft, _scalar(graph, path, "beta", m.beta, value)], path)
    linear = graph.node("Greater", [bx, _scalar(graph, path, "threshold", m.threshold, value)], path)
    return graph.node("Where", [linear, x, soft], path)


def _softmax_axis(m: Any, value: np.ndarray) -> int:
    """``dim``, or PyTorch's implicit choice for None (0 for 0-, 1- and 3-d input, else 1)."""
    if m.dim is not None:
        return int(m.dim)
    return 0 if value.ndim in (0, 1, 3) else 1


def _softmax(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    return graph.node("Softmax", [x], path, axis=_softmax_axis(m, value))


def _log_softmax(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    return graph.node("LogSoftmax", [x], path, axis=_softmax_axis(m, value))


def _identity(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Identity and Dropout (eval: the identity) write no node."""
    return x


def _window(m: Any, nd: int) -> dict[str, Any]:
    """A pooling layer's kernel_shape, strides, pads and ceil_mode as ONNX attributes."""
    kernel = ntuple(m.kernel_size, nd, "kernel_size")
    stride = ntuple(m.stride if m.stride is not None else m.kernel_size, nd, "stride")
    padding = ntuple(m.padding, nd, "padding")
    return {
        "kernel_shape": list(kernel),
        "strides": list(stride),
        "pads": list(padding) * 2,
        "ceil_mode": int(m.ceil_mode),
    }


def _pooled(graph: _Graph, op: str, x: str, path: str, value: np.ndarray, window: dict[str, Any], **extra: Any) -> str:
    """One pooling node; with ceil_mode, a Slice drops a last window that starts in the end padding.

    PyTorch drops such a window; ONNX's shape rule keeps it (ceil((L + 2P - d·(k - 1) - 1) / S) + 1).
    """
    out = graph.node(op, [x], path, **window, **extra)
    if not window["ceil_mode"]:
        return out
    dilation = extra.get("dilations", [1] * len(window["kernel_shape"]))
    spans = zip(value.shape[2:], window["kernel_shape"], window["strides"], window["pads"], dilation, strict=False)
    onnx_sizes, kept = [], []
    for size, k, stride, pad, d in spans:
        n = -(-(size + 2 * pad - d * (k - 1) - 1) // stride) + 1
        onnx_sizes.append(n)
        kept.append(n - 1 if (n - 1) * stride >= size + pad else n)
    if kept == onnx_sizes:
        return out
    nd = len(kept)
    starts = graph.constant(_param(path, "starts"), np.zeros(nd, dtype=np.int64))
    ends = graph.constant(_param(path, "ends"), np.array(kept, dtype=np.int64))
    axes = graph.constant(_param(path, "axes"), np.arange(2, 2 + nd, dtype=np.int64))
    return graph.node("Slice", [out, starts, ends, axes], path)


def _max_pool(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """MaxPool1d/2d -> MaxPool."""
    nd = value.ndim - 2
    return _pooled(graph, "MaxPool", x, path, value, _window(m, nd), dilations=list(ntuple(m.dilation, nd, "dilation")))


def _min_pool(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """MinPool1d/2d -> Neg, MaxPool, Neg."""
    nd = value.ndim - 2
    negated = graph.node("Neg", [x], path)
    dilations = list(ntuple(m.dilation, nd, "dilation"))
    pooled = _pooled(graph, "MaxPool", negated, path, value, _window(m, nd), dilations=dilations)
    return graph.node("Neg", [pooled], path)


def _avg_pool(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """AvgPool1d/2d -> AveragePool (divisor_override: the window sum scaled, without ceil_mode)."""
    nd = value.ndim - 2
    window = _window(m, nd)
    override = getattr(m, "divisor_override", None)
    if override is None:
        return _pooled(graph, "AveragePool", x, path, value, window, count_include_pad=int(m.count_include_pad))
    if m.ceil_mode:
        raise UsageError(f"cannot export {type(m).__name__} at {path or 'the top'}: divisor_override with ceil_mode")
    mean = graph.node("AveragePool", [x], path, count_include_pad=1, **window)
    factor = math.prod(window["kernel_shape"]) / override
    return graph.node("Mul", [mean, _scalar(graph, path, "divisor", factor, value)], path)


def _adaptive_pool(op: str, global_op: str) -> _Emitter:
    """Adaptive pooling -> ``global_op`` for output 1, ``op`` when each output size divides the input's."""

    def emit(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
        spatial = value.shape[2:]
        wanted = m.output_size if isinstance(m.output_size, tuple | list) else (m.output_size,) * len(spatial)
        out = [s if o is None else int(o) for s, o in zip(spatial, wanted, strict=True)]
        if all(o == 1 for o in out):
            return graph.node(global_op, [x], path)
        if any(o < 1 or s % o for s, o in zip(spatial, out, strict=True)):
            raise UsageError(
                f"cannot export {type(m).__name__} at {path or 'the top'}: output_size={m.output_size!r} "
                f"for input size {tuple(spatial)} (only 1, or sizes that divide the input's, map to ONNX pooling)"
            )
        kernel = [s // o for s, o in zip(spatial, out, strict=True)]
        return graph.node(op, [x], path, kernel_shape=kernel, strides=kernel)

    emit.__doc__ = f"-> {global_op} or {op}"
    return emit


def _flatten(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Flatten -> Flatten(axis=1) for (start_dim=1, end_dim=-1); otherwise Reshape keeping the batch size."""
    ndim = value.ndim
    start, end = m.start_dim % ndim, m.end_dim % ndim
    if start == 1 and end == ndim - 1:
        return graph.node("Flatten", [x], path, axis=1)
    kept = [*value.shape[:start], -1, *value.shape[end + 1 :]]
    if start > 0:
        kept[0] = 0  # copy the (dynamic) batch size
    shape = graph.constant(_param(path, "shape"), np.array(kept, dtype=np.int64))
    return graph.node("Reshape", [x, shape], path)


def _unflatten(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Unflatten -> Reshape keeping the batch size (splitting the batch dimension itself is not exported)."""
    d = m.dim % value.ndim
    if d == 0:
        raise UsageError(f"cannot export Unflatten at {path!r}: it splits the batch dimension (dim={m.dim})")
    sizes = [0, *value.shape[1:d], *m.unflattened_size, *value.shape[d + 1 :]]
    shape = graph.constant(_param(path, "shape"), np.array(sizes, dtype=np.int64))
    return graph.node("Reshape", [x, shape], path)


def _spatial_factors(m: Any, path: str, value: np.ndarray) -> list[int]:
    """A resampling layer's factor for each dimension after (N, C)."""
    nd = value.ndim - 2
    if isinstance(m.factor, tuple):
        if len(m.factor) > nd:
            raise UsageError(
                f"cannot export {type(m).__name__} at {path!r}: factor={m.factor} reaches the batch or channel "
                f"dimension of input of shape {value.shape}"
            )
        return [1] * (nd - len(m.factor)) + list(m.factor)
    return [m.factor] * nd


def _downsample(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """Downsample -> Slice with steps (every factor-th sample from the first)."""
    factors = _spatial_factors(m, path, value)
    nd = len(factors)
    starts = graph.constant(_param(path, "starts"), np.zeros(nd, dtype=np.int64))
    ends = graph.constant(_param(path, "ends"), np.array(value.shape[2:], dtype=np.int64))
    axes = graph.constant(_param(path, "axes"), np.arange(2, 2 + nd, dtype=np.int64))
    steps = graph.constant(_param(path, "steps"), np.array(factors, dtype=np.int64))
    return graph.node("Slice", [x, starts, ends, axes, steps], path)


def _upsample_zeros(graph: _Graph, m: Any, path: str, x: str, value: np.ndarray) -> str:
    """UpsampleZeros -> ConvTranspose per channel with a 1-tap kernel of ones, stride = factor (exact)."""
    factors = _spatial_factors(m, path, value)
    channels = value.shape[1]
    ones = np.ones((channels, 1, *[1] * len(factors)), dtype=value.dtype)
    weight = graph.constant(_param(path, "ones"), ones)
    return graph.node(
        "ConvTranspose", [x, weight], path, kernel_shape=[1] * len(factors), strides=factors, group=channels
    )


@functools.cache
def _layers() -> dict[type, _Emitter]:
    """Layer class -> the function that writes its nodes."""
    from .. import nn

    return {
        nn.Conv1d: _conv,
        nn.Conv2d: _conv,
        nn.ConvTranspose1d: _conv_transpose,
        nn.ConvTranspose2d: _conv_transpose,
        nn.Linear: _linear,
        nn.BatchNorm1d: _batch_norm,
        nn.BatchNorm2d: _batch_norm,
        nn.ReLU: _unary("Relu"),
        nn.Sigmoid: _unary("Sigmoid"),
        nn.Tanh: _unary("Tanh"),
        nn.LeakyReLU: _leaky_relu,
        nn.ELU: _elu,
        nn.GELU: _gelu,
        nn.SiLU: _silu,
        nn.Softplus: _softplus,
        nn.Hardtanh: _hardtanh,
        nn.ReLU6: _hardtanh,
        nn.Softmax: _softmax,
        nn.LogSoftmax: _log_softmax,
        nn.Dropout: _identity,
        nn.Identity: _identity,
        nn.Flatten: _flatten,
        nn.Unflatten: _unflatten,
        nn.Downsample: _downsample,
        nn.UpsampleZeros: _upsample_zeros,
        nn.MaxPool1d: _max_pool,
        nn.MaxPool2d: _max_pool,
        nn.MinPool1d: _min_pool,
        nn.MinPool2d: _min_pool,
        nn.AvgPool1d: _avg_pool,
        nn.AvgPool2d: _avg_pool,
        nn.AdaptiveAvgPool1d: _adaptive_pool("AveragePool", "GlobalAveragePool"),
        nn.AdaptiveAvgPool2d: _adaptive_pool("AveragePool", "GlobalAveragePool"),
        nn.AdaptiveMaxPool1d: _adaptive_pool("MaxPool", "GlobalMaxPool"),
        nn.AdaptiveMaxPool2d: _adaptive_pool("MaxPool", "GlobalMaxPool"),
    }


# -------------------------------------------------------------------------------------- composites
def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _sequential(graph: _Graph, m: Any, path: str, x: _Value) -> _Value:
    """Sequential: each child in order."""
    for name, child in m._modules.items():
        if child is not None:
            x = _emit(graph, child, _child(path, name), x)
    return x


def _basic_block(graph: _Graph, m: Any, path: str, x: _Value) -> _Value:
    """BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), as its forward."""
    h = x
    for name in ("conv1", "bn1", "relu", "conv2", "bn2"):
        h = _emit(graph, getattr(m, name), _child(path, name), h)
    skip = _emit(graph, m.shortcut, _child(path, "shortcut"), x)
    summed = (graph.node("Add", [h[0], skip[0]], path), h[1] + skip[1])
    return _emit(graph, m.relu, _child(path, "relu"), summed)


@functools.cache
def _composites() -> dict[type, Callable[[_Graph, Any, str, _Value], _Value]]:
    """Composite class -> the function that writes its subgraph from its children."""
    from .. import nn
    from ..models import BasicBlock

    return {nn.Sequential: _sequential, BasicBlock: _basic_block}


def _lookup(table: dict[type, Any], module: Any) -> Any:
    """The entry for ``module``'s class: its own, a lazy layer's ``cls_to_become``, or a parent's when the
    subclass keeps the parent's ``forward`` (ReLU6 is a Hardtanh)."""
    cls = type(module)
    cls = getattr(module, "cls_to_become", None) or cls
    for parent in cls.__mro__:
        if parent in table and (parent is cls or cls.forward is parent.forward):
            return table[parent]
    return None


def _emit(graph: _Graph, module: Any, path: str, x: _Value) -> _Value:
    """Write ``module`` applied to ``x``; the output's name and kernelwise's value for it."""
    composite = _lookup(_composites(), module)
    if composite is not None:
        return composite(graph, module, path, x)
    layer = _lookup(_layers(), module)
    if layer is None:
        where = f"at {path!r}" if path else "(the model itself)"
        raise UsageError(
            f"cannot export {type(module).__name__} {where}: kernelwise.onnx.export knows Sequential, "
            "BasicBlock and the built-in layers, not this module"
        )
    if getattr(module, "return_indices", False):
        raise UsageError(f"cannot export {type(module).__name__} at {path!r} with return_indices=True (two outputs)")
    name, value = x
    out = module(Tensor(value))
    if not isinstance(out, Tensor):
        raise UsageError(f"cannot export {type(module).__name__} at {path!r}: it returns {type(out).__name__}")
    return layer(graph, module, path, name, value), out.numpy()


# ------------------------------------------------------------------------------------------ export
def _example(args: Any) -> np.ndarray:
    """The example input: a Tensor or array, or a tuple holding one."""
    if isinstance(args, tuple | list):
        if len(args) != 1:
            raise UsageError(f"args: kernelwise.onnx.export takes one input, got a sequence of {len(args)}")
        args = args[0]
    array = args.numpy() if isinstance(args, Tensor) else np.asarray(args)
    if array.dtype.kind != "f":
        raise UsageTypeError(f"args: expected a floating-point input, got dtype {array.dtype}")
    if array.ndim < 1:
        raise UsageError(f"args: expected an input with a batch dimension, got shape {array.shape}")
    return array


def _one_name(names: Any, default: str, argument: str) -> str:
    if names is None:
        return default
    if isinstance(names, str) or len(names) != 1:
        raise UsageError(f"{argument}={names!r}: expected a list of one name")
    return str(names[0])


def _value_info(onnx: Any, name: str, array: np.ndarray, dynamic_batch: bool) -> Any:
    shape: list[Any] = list(array.shape)
    if dynamic_batch:
        shape[0] = "batch"
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
    return onnx.helper.make_tensor_value_info(name, elem_type, shape)


def _rename(nodes: list[Any], old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` in every node's inputs and outputs."""
    for node in nodes:
        for field in (node.input, node.output):
            for i, name in enumerate(field):
                if name == old:
                    field[i] = new


def _build(model: Any, example: np.ndarray, input_name: str, output_name: str, dynamic_batch: bool, opset: int) -> Any:
    """The ModelProto of ``model`` (already in eval mode) for inputs like ``example``."""
    onnx = _onnx()
    graph = _Graph(onnx, opset)
    graph.fresh(input_name)
    graph.fresh(output_name)
    with no_grad():
        out, value = _emit(graph, model, "", (input_name, example))
    if out == input_name:  # nothing but identities: the output is the input, passed on
        graph.nodes.append(onnx.helper.make_node("Identity", [input_name], [output_name], name="/Identity"))
    else:
        _rename(graph.nodes, out, output_name)
    graph = onnx.helper.make_graph(
        graph.nodes,
        "kernelwise",
        [_value_info(onnx, input_name, example, dynamic_batch)],
        [_value_info(onnx, output_name, value, dynamic_batch)],
        initializer=graph.initializers,
    )
    opset_ids = [onnx.helper.make_opsetid("", opset)]
    ir_version = onnx.helper.find_min_ir_version_for(opset_ids)
    return onnx.helper.make_model(graph, opset_imports=opset_ids, ir_version=ir_version, producer_name="kernelwise")


def _check_opset(onnx: Any, opset: int | None) -> int:
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not _MIN_OPSET <= opset <= newest:
        raise UsageError(f"opset={opset!r}: expected an int from {_MIN_OPSET} to {newest}")
    return opset


def _training_modes(model: Any) -> list[tuple[Any, bool]]:
    return [(module, module.training) for module in model.modules()]


def export(
    model: Any,
    args: Any,
    f: str | os.PathLike | io.IOBase | Any,
    *,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    dynamic_batch: bool = True,
    opset: int | None = None,
    metadata: dict[str, str] | None = None,
) -> Any:
    """Write ``model`` as an ONNX model to ``f``, as ``torch.onnx.export``; return the ``onnx.ModelProto``.

    Args:
        model: a kernelwise Module made of Sequential, BasicBlock and the built-in layers (convolutions,
            pooling, BatchNorm, Linear, activations, Softmax, Dropout, Flatten, Identity).
        args: an example input Tensor (or a tuple of one) with the batch dimension first; the model runs
            on it in eval mode (its training flags are restored afterwards) so every shape is known.
        f: a path (written atomically) or a binary file object.
        input_names, output_names: one name each (default ``["input"]``, ``["output"]``).
        dynamic_batch: the batch dimension is the symbol ``"batch"`` (default); False fixes it to the
            example's.
        opset: the ONNX opset, at least 17 (default 17; GELU is one ``Gelu`` node from 20).
        metadata: text key/value pairs stored in the model's ``metadata_props`` (e.g. the input's
            normalisation and the class names, which ``kernelwise predict MODEL.onnx`` reads).

    Raises:
        UsageError: a module that cannot be exported, named with its path in the model.
        MissingDependencyError: the ``onnx`` package is not installed.
    """
    onnx = _onnx()
    opset = _check_opset(onnx, opset)
    example = _example(args)
    input_name = _one_name(input_names, "input", "input_names")
    output_name = _one_name(output_names, "output", "output_names")
    modes = _training_modes(model)
    model.eval()
    try:
        proto = _build(model, example, input_name, output_name, bool(dynamic_batch), opset)
    finally:
        for module, training in modes:
            module.training = training
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise UsageTypeError("metadata: expected a dict of str keys and str values")
        onnx.helper.set_model_props(proto, metadata)
    data = proto.SerializeToString()
    if isinstance(f, str | os.PathLike):
        write_bytes_atomic(f, data)
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise UsageTypeError(f"f={f!r}: expected a path or a binary file object")
    return proto
