"""``torch.jit``'s inference functions: a module frozen for inference, and optimized for it.

kernelwise has no compiler and no TorchScript; these two take any :class:`~kernelwise.nn.Module` and
return a new one that computes the same function (the original is left as it was):

* :func:`freeze`: a copy in eval mode whose parameters and buffers are read-only arrays of its own
  (:mod:`kernelwise.ops.frozen`). What a convolution derives from its weights alone (Winograd's
  transformed kernel, the GEMM operand [W | b], whether W holds a NaN or inf) is then computed on the
  first call and kept, instead of on every forward.
* :func:`optimize_for_inference`: :func:`freeze`, after folding each eval-mode BatchNorm into the
  convolution before it, as ONNX Runtime and ``torch.jit.optimize_for_inference`` do:

      BN(X ⋆ W + b) = (X ⋆ W + b - μ)·α + β = X ⋆ (W·α) + ((b - μ)·α + β),   α = γ / √(σ² + eps)

  one pass less over the activation per pair; the new weights are computed in float64 and rounded
  once. In an ONNX graph (:func:`kernelwise.onnx.load`) a Conv whose only reader is a
  BatchNormalization is folded; in an ``nn.Sequential`` a Conv1d/Conv2d directly followed by a
  BatchNorm1d/2d with running statistics (the BatchNorm becomes ``nn.Identity``). The outputs differ
  from the unfolded module's by float32 rounding only. In an ONNX graph a Relu whose input only it reads
  and that a Conv, BatchNormalization, Add or Sum of two or more inputs has just made, runs in place on
  that new array, max(y, 0) without allocating another (when no gradient is recorded).

A frozen module cannot be trained: its arrays refuse every write (an optimizer step, ``load_state_dict``).

Example:
    >>> import kernelwise as kw
    >>> _ = kw.manual_seed(0)
    >>> model = kw.nn.Sequential(kw.nn.Conv2d(3, 8, 3), kw.nn.BatchNorm2d(8), kw.nn.ReLU()).eval()
    >>> fast = kw.jit.optimize_for_inference(model)
    >>> fast[1]
    Identity()
    >>> x = kw.randn(2, 3, 10, 10)
    >>> with kw.no_grad():
    ...     bool((fast(x) - model(x)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np

from . import nn
from .errors import UsageError, UsageTypeError
from .nn.conv import _Conv
from .nn.normalization import _BatchNorm
from .ops.frozen import freeze_array

__all__ = ["freeze", "optimize_for_inference"]


def freeze(mod: nn.Module, preserved_attrs: Any = None, optimize_numerics: bool = True) -> nn.Module:
    """A copy of ``mod`` (in eval mode) whose parameters and buffers can no longer change.

    Its arrays are read-only copies (``requires_grad`` False), so what the convolutions derive from
    their weights is computed once (see the module). ``preserved_attrs`` and ``optimize_numerics`` are
    accepted for PyTorch's signature: every attribute is kept, and freezing changes no numerics.

    Example:
        >>> import kernelwise as kw
        >>> frozen = kw.jit.freeze(kw.nn.Linear(2, 1).eval())
        >>> frozen.weight.requires_grad, frozen.weight.numpy().flags.writeable
        (False, False)
    """
    _check_module(mod, "freeze")
    frozen = copy.deepcopy(mod)
    _freeze_arrays(frozen)
    return frozen


def optimize_for_inference(mod: nn.Module, other_methods: Any = None) -> nn.Module:
    """:func:`freeze`, with every eval-mode BatchNorm folded into the convolution before it (see the module).

    ``other_methods`` is accepted for PyTorch's signature (every method is kept).
    """
    from .onnx.load import OnnxModule

    _check_module(mod, "optimize_for_inference")
    optimized = copy.deepcopy(mod)
    for module in optimized.modules():
        if isinstance(module, OnnxModule):
            _fold_onnx(module)
            _relu_in_place(module)
        elif isinstance(module, nn.Sequential):
            _fold_sequential(module)
    _freeze_arrays(optimized)
    return optimized


def _check_module(mod: Any, fn: str) -> None:
    if not isinstance(mod, nn.Module):
        raise UsageTypeError(f"{fn}(): expected a kernelwise.nn.Module, got {type(mod).__name__}")
    if mod.training:
        raise UsageError(f"{fn}(): the module is in training mode; call .eval() on it first (as torch.jit.{fn})")


def _freeze_arrays(mod: nn.Module) -> None:
    """Every parameter and buffer of ``mod`` (and an ONNX graph's constants) a frozen array; no gradients."""
    from .onnx.load import OnnxModule

    mod.eval()
    for tensor in (*mod.parameters(), *mod.buffers()):
        tensor._array = freeze_array(tensor._array)
        tensor.requires_grad = False
        tensor.grad = None
    for module in mod.modules():
        if isinstance(module, OnnxModule):
            module._constants = {k: freeze_array(v) for k, v in module._constants.items()}


def fold_conv_bn(
    w: np.ndarray,
    b: np.ndarray | None,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The weights of one convolution computing BatchNorm(X ⋆ W + b) in eval mode: (W·α, (b - μ)·α + β).

    α = γ/√(σ² + eps) per output channel, in float64, each result rounded once to W's dtype.

    Example:
        >>> w, b = np.ones((2, 1, 1, 1), np.float32), np.array([1.0, 2.0], np.float32)
        >>> w2, b2 = fold_conv_bn(w, b, np.array([1.0, 0.0]), np.array([3.0, 15.0]), 1.0, None, np.array([0.5, 0.0]))
        >>> w2.ravel().tolist(), b2.tolist()  # α = 1/2 and 1/4
        ([0.5, 0.25], [0.5, 0.5])
    """
    alpha = (1.0 if gamma is None else gamma.astype(np.float64)) / np.sqrt(var.astype(np.float64) + eps)  # α = γ/σ
    w_folded = w.astype(np.float64) * alpha.reshape(-1, *[1] * (w.ndim - 1))  # W·α, per output channel
    b_folded = ((0.0 if b is None else b.astype(np.float64)) - mean) * alpha + (0.0 if beta is None else beta)
    return w_folded.astype(w.dtype), b_folded.astype(w.dtype)  # (b - μ)·α + β


def _fold_sequential(seq: nn.Sequential) -> None:
    """Fold each Conv1d/Conv2d directly followed by a BatchNorm with running statistics (which becomes Identity)."""
    for (_, conv), (bn_name, bn) in itertools.pairwise(list(seq.named_children())):
        if not (isinstance(conv, _Conv) and isinstance(bn, _BatchNorm)) or bn.running_mean is None:
            continue
        if conv.weight.ndim not in bn._input_dims or conv.out_channels != bn.num_features:
            continue  # Conv2d with BatchNorm2d, Conv1d with BatchNorm1d, one BatchNorm channel per filter
        w, b = fold_conv_bn(
            conv.weight._array,
            None if conv.bias is None else conv.bias._array,
            bn.running_mean._array,
            bn.running_var._array,
            bn.eps,
            None if bn.weight is None else bn.weight._array,
            None if getattr(bn, "bias", None) is None else bn.bias._array,
        )
        conv.weight = nn.Parameter(w)
        conv.bias = nn.Parameter(b)
        setattr(seq, bn_name, nn.Identity())


def _links(nodes: list[Any]) -> tuple[dict[str, int], dict[str, Any]]:
    """How many inputs of ``nodes`` read each value, and the node that makes each value."""
    readers: dict[str, int] = {}
    for node in nodes:
        for name in node.inputs:
            readers[name] = readers.get(name, 0) + 1
    return readers, {out: node for node in nodes for out in node.outputs}


def _fold_onnx(graph: Any) -> None:
    """Fold each Conv whose output only a BatchNormalization reads (and that holds its own weights) into it."""
    from .onnx.load import OnnxNode, _attribute_name

    readers, producer = _links(graph._nodes)
    nodes = []
    for node in graph._nodes:
        conv = producer.get(node.inputs[0]) if node.inputs else None
        if (
            node.op_type != "BatchNormalization"
            or conv is None
            or conv.op_type != "Conv"
            or len([n for n in node.outputs if n]) != 1  # inference: no batch statistics asked for
            or readers[conv.outputs[0]] != 1
            or conv.outputs[0] in graph.output_names
            or not all(readers.get(n) == 1 and n in graph._param_of for n in conv.inputs[1:] if n)
            or not all(graph.onnx_value(n) is not None for n in node.inputs[1:5])
        ):
            nodes.append(node)
            continue
        scale, beta, mean, var = (graph.onnx_value(n) for n in node.inputs[1:5])
        w_name, b_name = conv.inputs[1], conv.inputs[2] if len(conv.inputs) > 2 and conv.inputs[2] else None
        w, b = fold_conv_bn(
            graph.onnx_value(w_name),
            None if b_name is None else graph.onnx_value(b_name),
            mean,
            var,
            float(node.attrs.get("epsilon", 1e-5)),
            scale,
            beta,
        )
        getattr(graph, graph._param_of[w_name])._array = w
        if b_name is None:
            b_name = f"{w_name}/folded_bias"
            name = graph._param_of[b_name] = _attribute_name(b_name, graph._param_of.values())
            graph.register_parameter(name, nn.Parameter(b))
        else:
            getattr(graph, graph._param_of[b_name])._array = b
        fused = OnnxNode(conv.name, "Conv", conv.fn, conv.attrs, [conv.inputs[0], w_name, b_name], node.outputs)
        nodes[nodes.index(conv)] = fused  # the Conv runs where it stood, writing the BatchNormalization's output
    graph._nodes = nodes
    graph.onnx_names = {v: k for k, v in graph._param_of.items()}


#: ONNX operators whose output is always a new array (Sum of one input returns it: not listed for that).
_FRESH_OUTPUT = {"Conv", "BatchNormalization", "Add", "Sum"}


def _relu_in_place(graph: Any) -> None:
    """Each Relu whose input only it reads, made by a Conv/BatchNormalization/Add/Sum, fused into its maker."""
    from .onnx.load import OnnxNode

    readers, producer = _links(graph._nodes)
    nodes = []
    for node in graph._nodes:
        maker = producer.get(node.inputs[0]) if node.op_type == "Relu" else None
        if (
            maker is None
            or maker.op_type not in _FRESH_OUTPUT
            or (maker.op_type == "Sum" and len(maker.inputs) < 2)
            or readers[node.inputs[0]] != 1
            or node.inputs[0] in graph.output_names
            or maker not in nodes
        ):
            nodes.append(node)
            continue
        fused = OnnxNode(
            maker.name, f"{maker.op_type}+Relu", _then_relu(maker.fn), maker.attrs, maker.inputs, node.outputs
        )
        nodes[nodes.index(maker)] = fused
    graph._nodes = nodes


def _then_relu(fn: Any) -> Any:
    """The ONNX operator ``fn`` followed by max(y, 0), in place on its new output when no gradient is recorded."""
    from .nn import functional as F
    from .ops.layout import zeros_like_view
    from .tensor import Tensor

    def op(inputs: list[Any], attrs: dict[str, Any], opset: int) -> Any:
        y = fn(inputs, attrs, opset)
        if not isinstance(y, Tensor):  # constants folded to an array
            return np.maximum(y, 0)
        if y.requires_grad:
            return F.relu(y)
        np.maximum(y._array, zeros_like_view(y._array), out=y._array)  # max(y, 0) in y's own new memory
        return y

    return op
