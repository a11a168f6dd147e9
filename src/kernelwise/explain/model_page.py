"""``kernelwise explain model (RUN_DIR | MODEL.onnx) --html``: a whole network on one page, forward and backward.

In the spirit of CNN Explainer (Wang et al., VIS 2020), for any network the engine runs:

* **Overview**: the input, then every layer in the order it runs (its name, hyperparameters and output
  shape ``C×H×W``) with each channel's map as a thumbnail on the layer's colour scale, and the class
  probabilities. Several images (``--image`` repeated) are switched in the page.
* **Unit view**: a click on a unit of a convolution shows the window it reads in every input channel,
  the kernel, and the written-out sum folded per channel (a subtotal each; a grouped convolution's
  filter reads its group's channels only); pooling (adaptive pooling of any sizes too: PyTorch's window
  ⌊i·in/out⌋ .. ⌈(i+1)·in/out⌉ − 1 per axis, the clicked unit's own), activation, batch norm (running statistics:
  (x − mean)/√(var + ε)·γ + β), residual sum (Y = A + B, both operands and the layers they come from),
  flatten (which input unit an output unit is) and linear units, and the softmax, are written out too.
  The page's script recomputes each sum from the embedded numbers.
* **Backward**: the gradient maps dL/d(output) of every layer for L = −log softmax(z)[class], the
  predicted class or one chosen in the page, from kernelwise's autograd (``retain_grad`` on every
  layer's output); a click shows, for a convolution, dL/dW of the clicked filter as the correlation of
  the layer's input with dL/dZ, and the chain rule dL/dA[c,r,s] = Σ_o Σ dL/dZ[o,...]·W[o,c,p,q] for an
  input unit its window reads, any input channel ``c`` and any position of the window picked in the page
  (a clickable convolution embeds every filter; a sampled one, below, part of them); for the other layers
  the local rule: max (min) pooling sends dL/dY to its window's winner, the first input in row-major window
  order reaching the max (min), a NaN winning its window (the last NaN) and padding never (PyTorch's rule
  and the engine's, ``ops/_poolrules.py``), so ties (all-zero windows after a ReLU) go where autograd sends them.

Which layers: a run's model is run whole with every module's ``forward`` wrapped (and unwrapped after),
so each module that runs is one layer in the order it ran; a module with children is shown as a layer
only when it is a direct child of the model (a residual block: its inner layers first, then its
output, which includes the skip connection); a module called twice (a block's ReLU) is two layers. An
ONNX graph is one layer per node (``OnnxModule.run(visit=...)``).

The budget (what keeps a ResNet-50 page at a few MB):

* thumbnails: at most :data:`MAX_CHANNELS` channels per layer ("+N more"), block-averaged down to at
  most :data:`THUMB_SIDE` units a side (:data:`THUMB_STRIP` for strips; the side halved until all the
  page's thumbnails take at most :data:`THUMB_TOTAL` bytes), each number quantised to one
  byte on the layer's scale: forward ``lo + q·(hi − lo)/255``, backward ``(2q/255 − 1)·m`` with
  ``m = max |g|`` (so within half a step of the engine's value);
* exact numbers (float32, base64) only for what a click shows. Every convolution, pooling, activation
  and batch norm layer is clickable: first each gets a **sample** (below), reserved page-wide; then a
  layer is clickable whole (every unit of its shown channels, forward and backward) when its input,
  output, weights and output gradients (for every image and class) cost at most :data:`LAYER_LIMIT`
  numbers and the page's total (the other layers' samples included) stays under :data:`EXACT_BUDGET`,
  convolutions first, then flatten and linear layers, each in the order the layers run; a layer that is
  not whole keeps its sample (the page's footer lists them, e.g. "layer n7: 36 of 3,136 positions × 8
  channels clickable"); other layers that are not whole show their maps only;
* a convolution's sample: its first ``k`` output channels (``k`` of 16, 8, 4, 2, 1, at most the shown
  ones) at a grid of output positions, ``g`` evenly spaced rows and columns (``g`` from
  :data:`SAMPLE_GRID` down to 3, always the first, the middle and the last, so the padding is read; every
  row or column when there are at most ``g``). The page embeds the kernels ``W[0..k)`` once, the rows ×
  columns of the input those positions' windows read (every input channel), and the engine's output and
  output gradients at the sampled units. Of the (g, k) whose numbers fit the layer's share,
  ``max(SAMPLE_FLOOR, SAMPLE_BUDGET · n / N)`` with n = C_in·kh·kw the numbers one unit's sum reads and N
  their total over the convolutions (:data:`SAMPLE_FLOOR`, :data:`SAMPLE_BUDGET`), the one with
  the most units (then the most channels); when none fits, the one reading the fewest kernel and input
  numbers (then the most units). A click elsewhere snaps to the nearest sampled unit (hovering a map
  draws the sampled positions as dots); backward shows dL/dZ of the unit, and dL/dW and the chain rule
  as far as the backward budget (next) embeds them. The shares (and the floor, at most SAMPLE_BUDGET /
  number of convolutions) are scaled down until the samples fit EXACT_BUDGET (at the least one channel at
  3×3 positions each);
* a sampled convolution's backward, from its own budget :data:`BACKWARD_BUDGET` (ResNet-50 at 224×224:
  52 of its 53 convolutions, the 112×112 stem left out; its page 14.7 MB instead of 13.3): for its first
  ``f`` sampled filters the whole map of dL/dZ[o] and the engine's dL/dW[o] for the first
  :data:`BACKWARD_SHOWN` input channels of o's group (shown as the engine's); the whole input map of each
  such group's first channel (channel 0 when not grouped), so that dL/dW[o, that channel, p, q] is written
  out as the correlation of the input with dL/dZ[o] (every tap; the sum of tap (0, 0) term by term) and
  compared with the engine's in the page; and, at those channels × the sampled input rows and columns,
  the engine's dL/dA through the other filters (its autograd with dL/dZ of filters 0..f−1 set to 0), so
  that the chain rule for any tap of a clicked window is written out through filters 0..f−1 with the
  others' terms one number labelled as the engine's. Cost per image: the channels' input maps, and per
  class f·(H_out·W_out + BACKWARD_SHOWN·kh·kw) plus the rows × columns (:func:`_backward_cost`). Every
  sampled convolution first gets f = 1, the cheapest first, while the total fits; then, in the same order,
  as many of its sampled filters as still fit (16, 8, 4, 2); one that does not fit shows dL/dZ only;
* a pooling, activation or batch norm layer's sample: its shown channels at :data:`LOCAL_GRID` evenly
  spaced rows and columns (and the middle), with the input rows and columns they read in their own
  channel, the output and the output gradients there (backward: the local rule, dL/dA = dL/dY·f'(A)),
  in the order the layers run while the samples fit EXACT_BUDGET;
* backward for every class when there are at most :data:`MAX_CLASSES` and their gradient thumbnails
  take at most :data:`THUMB_BUDGET` bytes, else for the top :data:`TOP_CLASSES` of each image.

Checks before the page is written (:class:`~kernelwise.explain.engine.FormulaMismatch` otherwise): for
every clickable layer, every unit's written-out sum (forward, and for convolutions every dL/dW entry
and every dL/dA entry through the layer; for pooling, adaptive too, every dL/dA entry: mean pooling the sum
of its windows' dL/dY/n, max and min pooling the sum of dL/dY over the windows it wins, the winners by the rule
above from the embedded input, ties included) is evaluated in float64 from the embedded float32 numbers and
compared with the engine's value (its forward, its autograd) within float32 rounding; for every sampled
layer every sampled unit's sum (or value), from the embedded rows × columns of its input alone; for a
sampled pooling layer's backward each sampled unit's dL/dY sent to its window (its winner, or /n to each
input) from those rows × columns and the embedded dL/dY, against autograd's dL/dA through the layer with
dL/dY at the sampled units only; for a sampled convolution's backward every written-out dL/dW entry (from
the embedded whole maps alone) and every chain rule (written-out terms plus the engine's sum of the others,
against autograd's dL/dA); for a linear layer that is not whole a deterministic sample of
:data:`SAMPLE_UNITS` units; the softmax of the embedded logits against the engine's probabilities.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kernelwise as kw
import kernelwise.nn.functional as F

from ..errors import UsageError
from ..tensor import Tensor
from ._page import fill_page
from .engine import FormulaMismatch

THUMB_SIDE = 64  # a 2-D thumbnail has at most this many units a side (block means)
THUMB_STRIP = 256  # a strip (1-D maps, vectors) at most this many units long
MAX_CHANNELS = 16  # channels drawn per layer
EXACT_BUDGET = 1_200_000  # float32 numbers embedded exactly, page-wide (about 6.4 MB of base64)
THUMB_BUDGET = 4_000_000  # bytes of gradient thumbnails for every class; more classes: the top few only
THUMB_TOTAL = 5_000_000  # bytes of all thumbnails; more: the thumbnails' side is halved until they fit
LAYER_LIMIT = 500_000  # a layer whose clicks need more numbers than this shows its maps only
MAX_CLASSES = 10  # backward for every class up to this many classes
TOP_CLASSES = 3  # else for the most probable few of each image
SAMPLE_UNITS = 16  # units checked per layer that is not clickable
SAMPLE_GRID = 8  # a sampled convolution: about this many output rows and columns clickable (and the middle)
SAMPLE_BUDGET = 850_000  # exact numbers of all sampled convolutions together (shared by size of their sums)
SAMPLE_FLOOR = 14_000  # each sampled convolution may take at least this many
BACKWARD_BUDGET = 250_000  # exact numbers of the sampled convolutions' backward (dL/dW, chain rule), page-wide
BACKWARD_SHOWN = 8  # a sampled filter's dL/dW embedded for this many input channels (the grids a unit view draws)
LOCAL_GRID = 4  # a sampled pooling, activation or batch norm layer: about this many rows and columns
RANDOM = "random signal (seed 0)"  # the input of a 1-D model given none
EPS32 = float(np.finfo(np.float32).eps)
ACTIVATIONS = ("ReLU", "LeakyReLU", "Sigmoid", "Tanh")  # the activations whose formula the page writes out


# --------------------------------------------------------------------------- the layers
@dataclass
class Layer:
    """One layer as it ran: its input ``x`` and output ``y`` (batch of one), and what a unit view needs.

    ``kind`` is ``conv``, ``pool``, ``act``, ``bn`` (batch norm with its running statistics: ``bn``
    holds float64 ``mean``, ``var``, ``gamma``, ``beta`` per channel and ``eps``), ``add`` (a residual
    sum Y = A + B of two maps of one shape, ``x2`` the second operand), ``flatten`` (Y[f] = A[c,i,j]),
    ``linear`` or ``other``; ``window`` (for conv and pool) holds 2-D ``kernel``, ``stride``,
    ``dilation``, ``pad`` (before) and ``pad_after`` (1-D layers are 1×L), and for a convolution
    ``groups`` (a filter reads its group's C_in/groups channels); adaptive pooling is a pool with
    ``adaptive`` and ``out`` (the output size: the windows follow from it, ``kernel`` the largest);
    ``weight`` is (O, C, kh, kw) or (O, F) as the sum reads it, ``weight_param`` the Parameter whose
    ``grad`` autograd fills (``transposed`` when the Parameter is the weight's transpose, as in Gemm);
    ``rerun`` runs the layer again on another input (the engine's dL/dA through this layer alone).
    """

    name: str
    op: str
    kind: str
    hyper: str
    x: Tensor
    y: Tensor
    rerun: Callable[[Tensor], Tensor]
    window: dict[str, Any] | None = None
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    weight_param: Tensor | None = None
    transposed: bool = False
    act: dict[str, Any] | None = None
    block: bool = False
    bn: dict[str, Any] | None = None
    x2: Tensor | None = None


def _pair(v: Any, nd: int, fill: int) -> tuple[int, int]:
    """A 1-D or 2-D hyperparameter as (rows, columns); 1-D layers are one row (``fill`` for the rows)."""
    t = tuple(v) if isinstance(v, tuple | list) else (v,) * nd
    return (fill, int(t[0])) if nd == 1 else (int(t[0]), int(t[1]))


def _window(nd: int, kernel: Any, stride: Any, dilation: Any, pad: Any, pad_after: Any = None) -> dict[str, Any]:
    return {
        "nd": nd,
        "kernel": _pair(kernel, nd, 1),
        "stride": _pair(stride, nd, 1),
        "dilation": _pair(dilation, nd, 1),
        "pad": _pair(pad, nd, 0),
        "pad_after": _pair(pad if pad_after is None else pad_after, nd, 0),
        "groups": 1,
    }


def _size_text(v: tuple[int, int], nd: int) -> str:
    return str(v[1]) if nd == 1 else f"{v[0]}×{v[1]}"


def _window_text(w: dict[str, Any]) -> str:
    nd, parts = w["nd"], [f"stride {_size_text(w['stride'], w['nd'])}"]
    if any(w["pad"]) or any(w["pad_after"]):
        pad = w["pad"] if w["pad"] == w["pad_after"] else (*w["pad"], *w["pad_after"])
        parts.append("padding " + (_size_text(pad, nd) if len(pad) == 2 else ",".join(map(str, pad))))
    if w["dilation"] != (1, 1):
        parts.append(f"dilation {_size_text(w['dilation'], nd)}")
    if w.get("groups", 1) > 1:
        parts.append(f"groups {w['groups']}")
    return ", ".join(parts)


def _bn(layer: Layer, mean: Any, var: Any, gamma: Any, beta: Any, eps: float) -> Layer:
    """``layer`` as a batch norm unit: Y = (A − mean)/√(var + ε)·γ + β per channel (γ = 1, β = 0 when absent)."""

    def arr(v: Any, fill: float) -> np.ndarray:
        if v is None:
            return np.full(np.shape(mean), fill)
        return np.asarray(v.detach().numpy() if isinstance(v, Tensor) else v, dtype=np.float64).reshape(-1)

    mean = arr(mean, 0.0)
    layer.kind = "bn"
    layer.bn = {"mean": mean, "var": arr(var, 1.0), "gamma": arr(gamma, 1.0), "beta": arr(beta, 0.0), "eps": eps}
    layer.hyper = f"(x − mean)/√(var + ε)·γ + β, ε = {eps:g}"
    return layer


def _adaptive(layer: Layer, reducer: str, nd: int, indices: bool = False) -> Layer:
    """``layer`` as a pool with PyTorch's adaptive windows: along each axis output ``i`` reads the inputs
    start .. end − 1, start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉ (all of one size k = in/out when the input
    size is a multiple of the output size; else sizes that vary, windows that may overlap). The window's
    ``kernel`` is the largest window, ``out`` the output size."""
    (_, h, w), (_, oh, ow) = _map_shape(layer.x), _map_shape(layer.y)
    if indices or not oh or not ow:
        return layer
    kernel = tuple(max(-(-(i + 1) * n // m) - i * n // m for i in range(m)) for n, m in ((h, oh), (w, ow)))
    layer.kind = "pool"
    layer.window = _window(2, kernel, kernel, 1, 0)
    layer.window.update(nd=nd, reducer=reducer, count_pad=False, adaptive=True, out=(oh, ow))
    out = _size_text((oh, ow), nd)
    if h % oh == 0 and w % ow == 0:  # one window size: a pool of stride k
        layer.hyper = f"{reducer} of {_size_text(kernel, nd)} (adaptive to {out}), " + _window_text(layer.window)
    else:
        layer.hyper = (
            f"{reducer} of adaptive windows, {_size_text((h, w), nd)} → {out}: output i reads inputs "
            f"⌊i·in/out⌋ .. ⌈(i+1)·in/out⌉ − 1 (at most {_size_text(kernel, nd)})"
        )
    return layer


def _flatten(layer: Layer) -> Layer:
    """``layer`` as a flatten: output unit f is input unit (c, i, j) with f = (c·H + i)·W + j."""
    layer.kind = "flatten"
    layer.hyper = "Y[f] = A[c,i,j], f = (c·H + i)·W + j" if layer.x.ndim == 4 else "Y[f] = A[c,j], f = c·L + j"
    return layer


def _sum_operands(t: Any) -> list[Tensor] | None:
    """The two operands of ``t`` when autograd recorded it as a sum of two tensors of its own shape."""
    ctx = getattr(t, "_ctx", None)
    operands = list(getattr(ctx, "inputs", ()))
    if type(ctx).__name__ != "Add" or len(operands) != 2:
        return None
    return operands if all(isinstance(a, Tensor) and a.shape == t.shape for a in operands) else None


def _add_layer(
    name: str, y: Tensor, operands: list[Tensor], rerun: Callable[[Tensor], Tensor] | None = None, op: str = "Add"
) -> Layer:
    """A residual sum Y = A + B as a layer (``rerun`` adds B to another A)."""
    layer = Layer(name, op, "add", "Y = A + B", operands[0], y, rerun or (lambda t: t), x2=operands[1])
    if rerun is None:  # B as the layer holds it then (detached after the pass: no graph before it)
        layer.rerun = lambda t: t + layer.x2.detach()
    return layer


def bn_values(bn: dict[str, Any], x: np.ndarray, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x − mean[c])/√(var[c] + ε)·γ[c] + β[c] in float64 for values ``x`` of ``channels``, and its scale."""
    inv = 1 / np.sqrt(bn["var"][channels] + bn["eps"])
    g = bn["gamma"][channels]
    value = (x - bn["mean"][channels]) * inv * g + bn["beta"][channels]
    return value, (np.abs(x) + np.abs(bn["mean"][channels])) * inv * np.abs(g) + np.abs(bn["beta"][channels])


def _module_layer(name: str, m: Any, x: Tensor, y: Tensor, leaf: bool) -> Layer:
    """A module that ran as a :class:`Layer`."""
    op = type(m).__name__
    doc = (type(m).__doc__ or "").strip().split("\n")[0] if not leaf else ""
    what = m.extra_repr() if leaf else f"the block's output (its layers are above it){': ' + doc if doc else ''}"
    layer = Layer(name, op, "other", what, x, y, m, block=not leaf)
    if not leaf or not isinstance(x, Tensor) or not isinstance(y, Tensor):
        return layer
    nd = x.ndim - 2
    if op in ("Conv1d", "Conv2d") and not isinstance(m.padding, str) and m.padding_mode == "zeros":
        w = m.weight.detach().numpy()
        layer.kind, layer.weight_param = "conv", m.weight
        layer.weight = w.reshape(w.shape[0], w.shape[1], 1, -1) if nd == 1 else w
        layer.bias = None if m.bias is None else m.bias.detach().numpy()
        layer.window = _window(nd, m.kernel_size, m.stride, m.dilation, m.padding)
        layer.window["groups"] = int(m.groups)
        k = "×".join(map(str, w.shape[1:]))
        layer.hyper = f"{w.shape[0]} filters {k}, " + _window_text(layer.window)
    elif op in ("MaxPool1d", "MaxPool2d", "MinPool1d", "MinPool2d", "AvgPool1d", "AvgPool2d") and nd in (1, 2):
        reducer = {"Max": "max", "Min": "min", "Avg": "mean"}[op[:3]]
        layer.kind = "pool"
        layer.window = _window(nd, m.kernel_size, m.stride, getattr(m, "dilation", 1), m.padding)
        layer.window.update(reducer=reducer, count_pad=bool(getattr(m, "count_include_pad", False)))
        layer.hyper = f"{reducer} of {_size_text(layer.window['kernel'], nd)}, " + _window_text(layer.window)
        if getattr(m, "divisor_override", None) or getattr(m, "return_indices", False):
            layer.kind = "other"
    elif op.startswith("Adaptive") and op[-2:] in ("1d", "2d") and nd in (1, 2) and x.ndim == y.ndim:
        _adaptive(layer, "max" if "Max" in op else "mean", nd, getattr(m, "return_indices", False))
    elif op == "Flatten" and x.ndim in (3, 4) and y.ndim == 2 and m.start_dim == 1 and m.end_dim == -1:
        _flatten(layer)
    elif op in ("BatchNorm1d", "BatchNorm2d") and x.ndim >= 3 and not m.training and m.running_mean is not None:
        _bn(layer, m.running_mean, m.running_var, m.weight, m.bias, float(m.eps))
    elif op in ACTIVATIONS:
        layer.kind, layer.act = "act", {"name": op, "slope": float(getattr(m, "negative_slope", 0.0))}
        layer.hyper = {"ReLU": "max(0, x)", "LeakyReLU": f"x if x > 0 else {layer.act['slope']:g}·x"}.get(op, op)
    elif op == "Linear":
        layer.kind, layer.weight_param = "linear", m.weight
        layer.weight = m.weight.detach().numpy()
        layer.bias = None if m.bias is None else m.bias.detach().numpy()
        layer.hyper = f"{layer.weight.shape[1]} → {layer.weight.shape[0]}"
    return layer


def _module_layers(model: Any, x: Tensor) -> tuple[list[Layer], Tensor]:
    """Run ``model`` on ``x`` with every module's forward recorded: the layers in the order they ran."""
    layers: list[Layer] = []
    top = {name for name, _ in model.named_children()}
    calls: Counter[str] = Counter()
    wrapped = []
    for name, m in model.named_modules():
        leaf = next(iter(m.children()), None) is None
        if name == "" or (not leaf and name not in top) or type(m).__name__ in ("Identity", "Dropout"):
            continue

        def recorded(*args: Any, _m: Any = m, _name: str = name, _leaf: bool = leaf, _forward: Any = m.forward) -> Any:
            y = _forward(*args)
            operands = _sum_operands(args[0]) if args else None
            if operands is not None and all(layer.y is not args[0] for layer in layers):  # a sum in a forward
                where = _name.rsplit(".", 1)[0] + ".add" if "." in _name else "add"
                calls[where] += 1
                label = where if calls[where] == 1 else f"{where} (call {calls[where]})"
                layers.append(_add_layer(label, args[0], operands))
            calls[_name] += 1
            label = _name if calls[_name] == 1 else f"{_name} (call {calls[_name]})"
            layers.append(_module_layer(label, _m, args[0], y, _leaf))
            return y

        object.__setattr__(m, "forward", recorded)  # an instance attribute: Module.__call__ finds it first
        wrapped.append(m)
    try:
        out = model(x)
    finally:
        for m in wrapped:
            object.__delattr__(m, "forward")
    return layers, out


def _onnx_layer(node: Any, args: list[Any], y: Tensor, opset: int) -> Layer:
    """An ONNX node that ran as a :class:`Layer`."""
    from ..onnx.load import node_window

    x, op, attrs, rest = args[0], node.op_type, node.attrs, args[1:]

    def rerun(t: Tensor) -> Tensor:  # holds the node's other inputs (weights), not the graph before it
        out = node.fn([t, *rest], attrs, opset)
        return out[0] if isinstance(out, tuple) else out

    shown = ", ".join(f"{k}={v}" for k, v in attrs.items() if not isinstance(v, bytes | np.ndarray))
    layer = Layer(node.name, op, "other", shown, x, y, rerun)
    nd = x.ndim - 2
    if op == "Conv" and nd in (1, 2) and isinstance(args[1], Tensor):
        w = args[1].detach().numpy()
        win = node_window(op, attrs, tuple(x.shape), tuple(w.shape))
        layer.kind, layer.weight_param = "conv", args[1]
        layer.weight = w.reshape(w.shape[0], w.shape[1], 1, -1) if nd == 1 else w
        bias = args[2] if len(args) > 2 else None
        layer.bias = bias.detach().numpy() if isinstance(bias, Tensor) else None
        layer.window = _window(nd, win.kernel, win.strides, win.dilations, *zip(*win.pairs, strict=True))
        layer.window["groups"] = int(attrs.get("group", 1))
        layer.hyper = f"{w.shape[0]} filters {'×'.join(map(str, w.shape[1:]))}, " + _window_text(layer.window)
    elif op in ("MaxPool", "AveragePool") and nd in (1, 2) and len(node.outputs) == 1 and not attrs.get("ceil_mode"):
        win = node_window(op, attrs, tuple(x.shape))
        reducer = "max" if op == "MaxPool" else "mean"
        layer.kind = "pool"
        layer.window = _window(nd, win.kernel, win.strides, win.dilations, *zip(*win.pairs, strict=True))
        layer.window.update(reducer=reducer, count_pad=bool(attrs.get("count_include_pad", 0)))
        layer.hyper = f"{reducer} of {_size_text(layer.window['kernel'], nd)}, " + _window_text(layer.window)
    elif (
        op == "BatchNormalization"
        and nd in (1, 2)
        and len(node.outputs) == 1
        and not attrs.get("training_mode", 0)
        and len(rest) >= 4
        and all(isinstance(a, Tensor | np.ndarray) for a in rest[:4])
    ):
        _bn(layer, rest[2], rest[3], rest[0], rest[1], float(attrs.get("epsilon", 1e-5)))
    elif op in ("GlobalAveragePool", "GlobalMaxPool") and nd in (1, 2):
        _adaptive(layer, "max" if op == "GlobalMaxPool" else "mean", nd)
    elif (
        op in ("Add", "Sum") and len(rest) == 1 and isinstance(rest[0], Tensor) and x.shape == y.shape == rest[0].shape
    ):
        return _add_layer(node.name, y, [x, rest[0]], rerun, op)
    elif (op == "Flatten" and int(attrs.get("axis", 1)) == 1) or op == "Reshape":  # to (1, C·H·W): a flatten
        if x.ndim in (3, 4) and y.ndim == 2 and y.shape[1] == int(np.prod(x.shape[1:])):
            _flatten(layer)
    elif op in ("Relu", "Sigmoid", "Tanh", "LeakyRelu"):
        name = {"Relu": "ReLU", "LeakyRelu": "LeakyReLU"}.get(op, op)
        layer.kind, layer.act = "act", {"name": name, "slope": float(attrs.get("alpha", 0.01))}
        layer.hyper = {"ReLU": "max(0, x)", "LeakyReLU": f"x if x > 0 else {layer.act['slope']:g}·x"}.get(name, name)
    elif (
        op == "Gemm"
        and x.ndim == 2
        and isinstance(args[1], Tensor)
        and not attrs.get("transA", 0)
        and float(attrs.get("alpha", 1.0)) == 1.0
        and float(attrs.get("beta", 1.0)) == 1.0
    ):
        w = args[1].detach().numpy()
        layer.transposed = not attrs.get("transB", 0)
        layer.kind, layer.weight_param, layer.weight = "linear", args[1], w.T if layer.transposed else w
        bias = args[2] if len(args) > 2 else None
        layer.bias = bias.detach().numpy().reshape(-1) if isinstance(bias, Tensor) else None
        if layer.bias is not None and layer.bias.size != layer.weight.shape[0]:
            layer.kind = "other"
        layer.hyper = f"{layer.weight.shape[1]} → {layer.weight.shape[0]}"
    return layer


def _onnx_layers(module: Any, opset: int, x: Tensor) -> tuple[list[Layer], Tensor]:
    layers: list[Layer] = []

    def visit(node: Any, args: list[Any], outs: tuple[Any, ...]) -> None:
        y, first = outs[0], args[0] if args else None
        if not (isinstance(y, Tensor) and isinstance(first, Tensor)) or y is first:  # constants, identities
            return
        if y.ndim >= 2 and y.shape[0] == 1 and y.dtype.kind == "f":
            layers.append(_onnx_layer(node, args, y, opset))

    out = module.run(x, visit=visit)
    return layers, out[0] if isinstance(out, tuple) else out


# --------------------------------------------------------------------------- numbers
def as_map(a: np.ndarray) -> np.ndarray:
    """One sample's activation as (C, H, W): 2-D maps as they are, 1-D maps as (C, 1, L), vectors as (1, 1, F)."""
    a = np.asarray(a)
    if a.ndim == 3:
        return a
    if a.ndim == 2:
        return a[:, None, :]
    return a.reshape(1, 1, -1)


def shape_text(shape: tuple[int, ...]) -> str:
    """``(6, 28, 28)`` -> ``6×28×28``, as the page writes a layer's output shape (without the batch)."""
    return "×".join(map(str, shape))


def _b64(a: np.ndarray, dtype: Any) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def downsample(m: np.ndarray, side: int = THUMB_SIDE) -> tuple[np.ndarray, int]:
    """(C, H, W) -> block means of f×f units (f×1 along strips), at most ``side`` a side (THUMB_STRIP for strips).

    Example:
        >>> downsample(np.arange(16.0).reshape(1, 1, 16))[1], downsample(np.ones((2, 130, 100)))[0].shape
        (1, (2, 44, 34))
    """
    c, h, w = m.shape
    f = _factor(m.shape, side)
    if f <= 1:
        return m.astype(np.float64), 1
    fh = 1 if h == 1 else f
    hh, ww = math.ceil(h / fh), math.ceil(w / f)
    padded = np.full((c, hh * fh, ww * f), np.nan)
    padded[:, :h, :w] = m
    return np.nanmean(padded.reshape(c, hh, fh, ww, f), axis=(2, 4)), f


def _factor(shape: tuple[int, ...], side: int) -> int:
    """The downsampling factor of a (C, H, W) map's thumbnail: at most ``side`` units a side (strips: THUMB_STRIP)."""
    _, h, w = shape
    return max(1, math.ceil(w / THUMB_STRIP) if h == 1 else math.ceil(max(h, w) / side))


def thumbnail(m: np.ndarray, diverging: bool = False, side: int = THUMB_SIDE) -> dict[str, Any]:
    """The first MAX_CHANNELS channels of a (C, H, W) map, downsampled and quantised to one byte each.

    Forward: ``value = lo + q·(hi − lo)/255`` with lo, hi the whole layer's min and max; backward
    (``diverging``): ``value = (2q/255 − 1)·m`` with m the layer's largest |value| (0 sits in the middle).
    """
    shown, f = downsample(m[:MAX_CHANNELS].astype(np.float64), side)
    entry: dict[str, Any] = {"shape": list(shown.shape), "f": f, "channels": int(m.shape[0])}
    if diverging:
        top = float(np.abs(m).max()) if m.size else 0.0
        q = np.round((shown / top + 1) / 2 * 255) if top > 0 else np.full(shown.shape, 128.0)
        entry["m"] = top
    else:
        lo, hi = (float(m.min()), float(m.max())) if m.size else (0.0, 0.0)
        q = np.round((shown - lo) / (hi - lo) * 255) if hi > lo else np.zeros(shown.shape)
        entry.update(lo=lo, hi=hi)
    entry["q"] = _b64(np.clip(q, 0, 255).astype(np.uint8), np.uint8)
    return entry


class Arrays:
    """The exact numbers of the page: float32, base64, one entry per (tensor, channels kept) however many
    layers read it."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self._keys: dict[tuple[int, int | None], str] = {}
        self._held: list[Any] = []  # keeps every keyed object alive, so that no id is reused

    def add(self, a: np.ndarray, owner: Any = None, channels: int | None = None) -> str:
        """The key of ``a`` (its first ``channels`` channels), stored once per ``owner`` (a tensor) and ``channels``."""
        known = None if owner is None else (id(owner), channels)
        if known in self._keys:
            return self._keys[known]
        key = f"a{len(self.entries)}"
        a = np.asarray(a if channels is None else a[:channels], dtype=np.float32)
        self.entries[key] = {"shape": list(a.shape), "b64": _b64(a, np.float32)}
        if known is not None:
            self._keys[known] = key
            self._held.append(owner)
        return key


# --------------------------------------------------------------------------- the checks (float64, NumPy)
def _units(shape: tuple[int, ...], count: int | None) -> np.ndarray:
    """Every unit index (count None) or ``count`` of them chosen deterministically, as rows of (c, i, j)."""
    total = int(np.prod(shape))
    flat = np.arange(total) if count is None or total <= count else np.random.default_rng(0).choice(total, count, False)
    return np.stack(np.unravel_index(np.sort(flat), shape), axis=1)


def _axis(w: dict[str, Any], axis: int, positions: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The input indices the windows of output ``positions`` read along ``axis`` (0 rows, 1 columns), as
    (n, k), and which are taps inside the input: i·s + p·d − P for p < k; for an adaptive pool start + p for
    p < end − start, start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉ (k its largest window).

    Example:
        >>> _axis({"kernel": (1, 3), "adaptive": True, "out": (1, 3)}, 1, [0, 1, 2], 7)[0].tolist()
        [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    """
    i, k = np.asarray(positions)[:, None], w["kernel"][axis]
    if w.get("adaptive"):
        out = w["out"][axis]
        start, end = i * size // out, -(-(i + 1) * size // out)
        taps = start + np.arange(k)[None]
        return taps, taps < end
    taps = i * w["stride"][axis] + np.arange(k)[None] * w["dilation"][axis] - w["pad"][axis]
    return taps, (taps >= 0) & (taps < size)


def _gather(x: np.ndarray, w: dict[str, Any], units: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """The windows units (o, i, j) read in every channel of x (C, H, W): values (n, C, kh, kw), and inside."""
    rows, in_rows = _axis(w, 0, units[:, 1], x.shape[1])  # (n, kh)
    cols, in_cols = _axis(w, 1, units[:, 2], x.shape[2])  # (n, kw)
    inside = in_rows[:, :, None] & in_cols[:, None, :]
    r, c = np.clip(rows, 0, x.shape[1] - 1), np.clip(cols, 0, x.shape[2] - 1)
    values = x[:, r[:, :, None], c[:, None, :]].transpose(1, 0, 2, 3)  # (n, C, kh, kw)
    return np.where(inside[:, None], values, fill), inside


def _compare(what: str, written: np.ndarray, engine: np.ndarray, scale: np.ndarray, terms: int) -> None:
    """Written-out sums (float64) against the engine's float32 values, within float32 rounding of the sums.

    The engine's fast paths (Winograd, transformed tiles) mix the terms of neighbouring entries, so an
    entry whose own terms are all zero may come out as a few float32 steps of its neighbours: the
    tolerance includes a few steps of the largest Σ|terms| compared.
    """
    top = float(np.abs(scale).max()) if np.size(scale) else 0.0
    tol = 4 * (terms + 2) * EPS32 * (np.abs(scale) + np.abs(engine)) + 8 * EPS32 * top + 1e-30
    bad = np.abs(written - engine) > tol
    if bad.any():
        k = int(np.argmax(bad.reshape(-1)))
        raise FormulaMismatch(
            f"{what}: the written-out sum gives {written.reshape(-1)[k]!r} but the engine {engine.reshape(-1)[k]!r}"
        )


def conv_sums(x: np.ndarray, layer: Layer, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z[o,i,j] = Σ_c Σ_p Σ_q A[c, i·s+p·d−P, j·s+q·d−P]·W[o,c,p,q] + B[o] for units (o, i, j), in float64,
    and Σ|terms| (the scale of its rounding)."""
    sums, scale = np.empty(len(units)), np.empty(len(units))
    w = layer.weight.astype(np.float64)
    b = np.zeros(w.shape[0]) if layer.bias is None else layer.bias.astype(np.float64)
    for start in range(0, len(units), 2048):
        part = units[start : start + 2048]
        windows, _ = _gather(x, layer.window, part, 0.0)
        if w.shape[1] != x.shape[0]:  # grouped: a filter reads its group's channels
            first = part[:, 0] // (w.shape[0] // layer.window["groups"]) * w.shape[1]
            windows = windows[np.arange(len(part))[:, None], first[:, None] + np.arange(w.shape[1])]
        products = windows * w[part[:, 0]]
        sums[start : start + 2048] = products.sum(axis=(1, 2, 3)) + b[part[:, 0]]
        scale[start : start + 2048] = np.abs(products).sum(axis=(1, 2, 3)) + np.abs(b[part[:, 0]])
    return sums, scale


def pool_values(x: np.ndarray, window: dict[str, Any], units: np.ndarray) -> np.ndarray:
    """Max, min or mean of each unit's window in its own channel (the page's rule for the divisor)."""
    fill = {"max": -np.inf, "min": np.inf, "mean": 0.0}[window["reducer"]]
    windows, inside = _gather(x, window, units, fill)
    own = windows[np.arange(len(units)), units[:, 0]]  # (n, kh, kw)
    if window["reducer"] == "max":
        return own.max(axis=(1, 2))
    if window["reducer"] == "min":
        return own.min(axis=(1, 2))
    return own.sum(axis=(1, 2)) / _divisors(x.shape, window, units, inside)


def _divisors(shape: tuple[int, ...], window: dict[str, Any], units: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Mean pooling's divisor: the taps inside the input, or with count_include_pad inside the padded input."""
    if not window["count_pad"]:
        return inside.sum(axis=(1, 2))
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = window["kernel"], window["stride"], window["dilation"], window["pad"]
    ah, aw = window["pad_after"]
    rows = units[:, 1, None] * sh + np.arange(kh)[None] * dh - ph
    cols = units[:, 2, None] * sw + np.arange(kw)[None] * dw - pw
    in_rows = ((rows >= -ph) & (rows < shape[1] + ah)).sum(axis=1)
    in_cols = ((cols >= -pw) & (cols < shape[2] + aw)).sum(axis=1)
    return in_rows * in_cols


def activation(name: str, slope: float, x: np.ndarray) -> np.ndarray:
    """The activations the page writes out, in float64."""
    if name == "ReLU":
        return np.maximum(x, 0.0)
    if name == "LeakyReLU":
        return np.where(x > 0, x, slope * x)
    if name == "Sigmoid":
        return 1 / (1 + np.exp(-x))
    return np.tanh(x)


def conv_grad_weight(x: np.ndarray, layer: Layer, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW[o,c,p,q] = Σ_i Σ_j A[c, i·s+p·d−P, j·s+q·d−P]·dL/dZ[o,i,j] (dL/dW = X ⋆ dL/dO), and its Σ|terms|,
    for the filters ``grad`` holds (every filter, or the first ones)."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = (layer.window[k] for k in ("kernel", "stride", "dilation", "pad"))
    oh, ow = grad.shape[1:]
    xp = np.zeros((x.shape[0], x.shape[1] + ph + (oh - 1) * sh + kh * dh, x.shape[2] + pw + (ow - 1) * sw + kw * dw))
    xp[:, ph : ph + x.shape[1], pw : pw + x.shape[2]] = x
    groups, cg = layer.window["groups"], layer.weight.shape[1]
    og = layer.weight.shape[0] // groups
    gw, scale = np.zeros((grad.shape[0], cg, kh, kw)), np.zeros((grad.shape[0], cg, kh, kw))
    g = grad.reshape(grad.shape[0], -1)
    for p in range(kh):
        for q in range(kw):
            taps = xp[:, p * dh : p * dh + oh * sh : sh, q * dw : q * dw + ow * sw : sw].reshape(x.shape[0], -1)
            for n in range(groups):  # (O/g, C/g): Σ over the output positions, within the group
                go, tn = g[n * og : (n + 1) * og], taps[n * cg : (n + 1) * cg]
                gw[n * og : (n + 1) * og, :, p, q] = go @ tn.T
                scale[n * og : (n + 1) * og, :, p, q] = np.abs(go) @ np.abs(tn).T
    return gw, scale


def conv_grad_input(x_shape: tuple[int, ...], layer: Layer, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dA[c,r,s] = Σ_o Σ over the (i, j, p, q) with i·s+p·d−P = r, j·s+q·d−P = s of dL/dZ[o,i,j]·W[o,c,p,q],
    and its Σ|terms|, Σ_o over the filters ``grad`` holds (every filter, or the first ones)."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = (layer.window[k] for k in ("kernel", "stride", "dilation", "pad"))
    og = layer.weight.shape[0] // layer.window["groups"]
    w = layer.weight[: grad.shape[0]].astype(np.float64)
    oh, ow = grad.shape[1:]
    shape = (x_shape[0], x_shape[1] + ph + (oh - 1) * sh + kh * dh, x_shape[2] + pw + (ow - 1) * sw + kw * dw)
    ga, scale = np.zeros(shape), np.zeros(shape)
    groups, cg = layer.window["groups"], w.shape[1]
    for p in range(kh):
        for q in range(kw):
            for n in range(groups):  # the rot180 kernel reading the gradient, within the group
                gn, wn = grad[n * og : (n + 1) * og], w[n * og : (n + 1) * og, :, p, q]
                at = (
                    slice(n * cg, (n + 1) * cg),
                    slice(p * dh, p * dh + oh * sh, sh),
                    slice(q * dw, q * dw + ow * sw, sw),
                )
                ga[at] += np.einsum("ohw,oc->chw", gn, wn)
                scale[at] += np.einsum("ohw,oc->chw", np.abs(gn), np.abs(wn))
    crop = (slice(None), slice(ph, ph + x_shape[1]), slice(pw, pw + x_shape[2]))
    return ga[crop], scale[crop]


def check_forward(layer: Layer, x: np.ndarray, y: np.ndarray, every: bool, x2: np.ndarray | None = None) -> int:
    """The written-out forward sums of ``layer`` against the engine's output (every unit, or a sample);
    ``x2`` the second operand of a sum."""
    x, y = as_map(x).astype(np.float64), as_map(y).astype(np.float64)
    shown = y.shape if layer.kind in ("linear", "flatten") else (min(MAX_CHANNELS, y.shape[0]), *y.shape[1:])
    units = _units(shown, None) if every else _units(y.shape, SAMPLE_UNITS)  # every unit a click can show
    if layer.kind not in ("conv", "pool", "act", "bn", "linear", "add", "flatten"):
        return 0
    b = None if x2 is None else as_map(x2).astype(np.float64)
    _check_units(f"explain model --html: layer {layer.name} ({layer.op})", layer, x, y, units, b)
    return len(units)


def _check_units(
    where: str, layer: Layer, x: np.ndarray, y: np.ndarray, units: np.ndarray, x2: np.ndarray | None = None
) -> None:
    """The written-out value of each of ``units`` ((channel, row, column) rows) of ``layer`` on its input
    map ``x`` (and a sum's second operand ``x2``) against the engine's output map ``y`` (all float64), within
    float32 rounding of its terms."""
    engine = y[units[:, 0], units[:, 1], units[:, 2]]
    if layer.kind == "add":  # Y = A + B
        a, b = (m[units[:, 0], units[:, 1], units[:, 2]] for m in (x, x2))
        _compare(where, a + b, engine, np.abs(a) + np.abs(b), 2)
    elif layer.kind == "flatten":  # Y[f] = A[c,i,j], f = (c·H + i)·W + j: the same number
        _compare(where, x.reshape(-1)[units[:, 2]], engine, np.abs(engine), 0)
    elif layer.kind == "conv":
        sums, scale = conv_sums(x, layer, units)
        _compare(where, sums, engine, scale, int(np.prod(layer.weight.shape[1:])))
    elif layer.kind == "pool":
        terms = int(np.prod(layer.window["kernel"]))
        _compare(where, pool_values(x, layer.window, units), engine, np.abs(engine), terms)
    elif layer.kind == "act":
        value = x[units[:, 0], units[:, 1], units[:, 2]]
        _compare(where, activation(layer.act["name"], layer.act["slope"], value), engine, np.abs(value), 4)
    elif layer.kind == "bn":
        written, scale = bn_values(layer.bn, x[units[:, 0], units[:, 1], units[:, 2]], units[:, 0])
        _compare(where, written, engine, scale, 8)
    else:  # linear
        xs, w = x.reshape(-1), layer.weight.astype(np.float64)
        b = np.zeros(w.shape[0]) if layer.bias is None else layer.bias.astype(np.float64)
        o = units[:, 2]
        _compare(where, w[o] @ xs + b[o], engine, np.abs(w[o]) @ np.abs(xs) + np.abs(b[o]), w.shape[1])


def pool_winners(x: np.ndarray, window: dict[str, Any], units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input (row, column) of each max (min) pooling unit's winner in its own channel of x (C, H, W): the
    first tap, in the window's row-major order, reaching the window's max (min); a NaN wins its window (the last
    NaN); padding never wins (PyTorch's rule, and the engine's: ``ops/_poolrules.py``).

    Example:
        >>> w = _window(2, 2, 2, 1, 0)
        >>> w["reducer"] = "max"
        >>> x = np.array([[[0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 3.0, np.nan]]])
        >>> [a.tolist() for a in pool_winners(x, w, np.array([[0, 0, 0], [0, 0, 1]]))]  # a tie; a NaN
        [[0, 1], [0, 3]]
    """
    fill = {"max": -np.inf, "min": np.inf}[window["reducer"]]
    rows, _ = _axis(window, 0, units[:, 1], x.shape[1])  # (n, kh)
    cols, _ = _axis(window, 1, units[:, 2], x.shape[2])  # (n, kw)
    windows, inside = _gather(x, window, units, fill)
    n, width = len(units), cols.shape[1]
    own, inside = windows[np.arange(n), units[:, 0]].reshape(n, -1), inside.reshape(n, -1)  # (n, kh·kw) row-major
    best = own.max(axis=1) if window["reducer"] == "max" else own.min(axis=1)  # padding (±inf) beats no tap
    first = (inside & (own == best[:, None])).argmax(axis=1)  # the first tap inside the input reaching it
    nan = inside & np.isnan(own)
    last_nan = own.shape[1] - 1 - nan[:, ::-1].argmax(axis=1)
    tap = np.where(nan.any(axis=1), last_nan, first)  # tap = p·kw + q
    return rows[np.arange(n), tap // width], cols[np.arange(n), tap % width]


def pool_grad(
    window: dict[str, Any], x: np.ndarray, grad: np.ndarray, units: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pooling's dL/dA on x (C, H, W) in float64, and its Σ|terms|: each of ``units`` (default every unit of
    ``grad``) sends its dL/dY[c,i,j] to its window, summed over the windows that reach an input (windows may
    overlap): mean pooling dL/dY/n to each of its n inputs; max (min) pooling all of dL/dY to the window's
    winner (:func:`pool_winners`), dL/dA[c,r,s] = Σ over the windows whose winner is (r, s) of dL/dY."""
    units = _units(grad.shape, None) if units is None else units
    g = grad[units[:, 0], units[:, 1], units[:, 2]]
    ga, scale = np.zeros(x.shape), np.zeros(x.shape)
    if window["reducer"] in ("max", "min"):
        at = (units[:, 0], *pool_winners(x, window, units))
        np.add.at(ga, at, g)
        np.add.at(scale, at, np.abs(g))
        return ga, scale
    rows, in_rows = _axis(window, 0, units[:, 1], x.shape[1])
    cols, in_cols = _axis(window, 1, units[:, 2], x.shape[2])
    inside = in_rows[:, :, None] & in_cols[:, None, :]
    share = g / _divisors(x.shape, window, units, inside)
    n, p, q = np.nonzero(inside)
    at = (units[n, 0], rows[n, p], cols[n, q])
    np.add.at(ga, at, share[n])
    np.add.at(scale, at, np.abs(share[n]))
    return ga, scale


def check_backward(layer: Layer, x: np.ndarray, grad: np.ndarray, grad_w: Any, grad_x: np.ndarray, what: str) -> int:
    """The written-out backward sums of a clickable layer against autograd's: dL/dW (convolutions) and dL/dA."""
    xm, g, gx = as_map(x).astype(np.float64), as_map(grad).astype(np.float64), as_map(grad_x).astype(np.float64)
    where = f"explain model --html: layer {layer.name} ({layer.op}), {what}"
    if layer.kind == "conv":
        gw, scale = conv_grad_weight(xm, layer, g)
        engine = np.asarray(grad_w, dtype=np.float64).reshape(gw.shape)
        _compare(where + ", dL/dW", gw, engine, scale, g[0].size)
        ga, scale = conv_grad_input(xm.shape, layer, g)
        _compare(where + ", dL/dA", ga, gx, scale, g.shape[0] * int(np.prod(layer.window["kernel"])))
        return gw.size + ga.size
    if layer.kind == "act":  # dL/dA = dL/dY·f'(A), f' as the page writes it
        y = activation(layer.act["name"], layer.act["slope"], xm)
        local = {
            "ReLU": (xm > 0) * 1.0,
            "LeakyReLU": np.where(xm > 0, 1.0, layer.act["slope"]),
            "Sigmoid": y * (1 - y),
            "Tanh": 1 - y * y,
        }[layer.act["name"]]
        _compare(where + ", dL/dA", g * local, gx, np.abs(g), 8)
        return gx.size
    if layer.kind == "pool":  # each input: Σ over its windows of dL/dY/n (mean), of dL/dY where it wins (max, min)
        ga, scale = pool_grad(layer.window, xm, g)
        _compare(where + ", dL/dA", ga, gx, scale, int(np.prod(layer.window["kernel"])))
        return gx.size
    if layer.kind == "bn":  # dL/dA = dL/dY·γ/√(var + ε) (the running statistics are constants)
        local = (layer.bn["gamma"] / np.sqrt(layer.bn["var"] + layer.bn["eps"]))[: g.shape[0], None, None]
        _compare(where + ", dL/dA", g * local, gx, np.abs(g * local), 8)
        return gx.size
    if layer.kind == "add":  # dL/dA = dL/dB = dL/dY: the sum passes its gradient to both operands
        _compare(where + ", dL/dA", g, gx, np.abs(g), 1)
        gb = _grad_second(layer, np.asarray(grad, dtype=np.float32))
        _compare(where + ", dL/dB", g, as_map(gb).astype(np.float64), np.abs(g), 1)
        return 2 * gx.size
    if layer.kind == "flatten":  # dL/dA[c,i,j] = dL/dY[f]
        _compare(where + ", dL/dA", g.reshape(-1), gx.reshape(-1), np.abs(g.reshape(-1)), 0)
        return gx.size
    if layer.kind == "linear":  # dL/dA[f] = Σ_o dL/dZ[o]·W[o,f]; dL/dW[o,f] = dL/dZ[o]·A[f]
        w, gz, xs = layer.weight.astype(np.float64), g.reshape(-1), xm.reshape(-1)
        _compare(where + ", dL/dA", gz @ w, gx.reshape(-1), np.abs(gz) @ np.abs(w), w.shape[0])
        outer = np.outer(gz, xs)
        _compare(where + ", dL/dW", outer, np.asarray(grad_w, dtype=np.float64), np.abs(outer), 1)
        return gx.size + outer.size
    return 0


def check_sampled_backward(
    layer: Layer,
    x_back: np.ndarray,
    gz: np.ndarray,
    engine_w: np.ndarray,
    rest: np.ndarray,
    full: np.ndarray,
    sample: dict[str, Any],
    back: dict[str, Any],
    what: str,
) -> int:
    """The written-out backward of a sampled convolution against autograd's, from what the page embeds:
    dL/dW[o,c,p,q] of filters o < f (``gz``, dL/dZ of those filters, whole maps) for c the first input channel
    of o's group, the correlation of the whole map A[c] (``x_back``: the ``back`` channels) with dL/dZ[o],
    against the engine's ``engine_w``; the chain rule dL/dA[c,r,s] at the back channels × the sampled input
    rows × columns, written out through filters o < f plus ``rest`` (autograd's sum through the others),
    against ``full`` (autograd's dL/dA through the layer)."""
    chans, kb = back["channels"], back["filters"]
    x = np.zeros(_map_shape(layer.x))
    x[chans] = x_back  # the whole maps embedded, zeros elsewhere
    g = as_map(gz).astype(np.float64)
    where = f"explain model --html: layer {layer.name} ({layer.op}), sampled, {what}"
    gw, scale = conv_grad_weight(x, layer, g)  # [:, 0]: each filter's first channel of its group
    engine = np.asarray(engine_w, dtype=np.float64).reshape(-1, *gw.shape[1:])[:kb, 0]
    _compare(where + ", dL/dW", gw[:, 0], engine, scale[:, 0], g[0].size)
    ga, scale = conv_grad_input(x.shape, layer, g)
    at = np.ix_(chans, sample["in_rows"], sample["in_cols"])
    r = np.asarray(rest, dtype=np.float64)
    terms = kb * int(np.prod(layer.window["kernel"])) + 1
    _compare(where + ", dL/dA", ga[at] + r, as_map(full).astype(np.float64)[at], scale[at] + np.abs(r), terms)
    return gw[:, 0].size + r.size


# --------------------------------------------------------------------------- the page's data
@dataclass
class Source:
    """What runs: a run's model or an ONNX graph, its class names, and how an image becomes its input."""

    title: str
    names: list[str]
    run: Callable[[Tensor], tuple[list[Layer], Tensor]]
    prepare: Callable[[str], np.ndarray]
    notes: list[str] = field(default_factory=list)


def _run_source(run_dir: str | os.PathLike) -> Source:
    from ..names import class_names
    from ..runs import load_run, prepare_image

    model, meta = load_run(run_dir)
    model.eval()

    def prepare(path: str) -> np.ndarray:
        shape = tuple(meta["input_shape"])
        if path == RANDOM:  # a 1-D model without a signal given: a seeded one
            return np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        if len(shape) != 3:
            if not path.endswith(".npy"):
                raise UsageError(f"model {meta['model']} takes 1-D signals of shape {shape}: give a .npy file")
            signal = np.load(path, allow_pickle=False)
            if signal.size != int(np.prod(shape)):
                raise UsageError(f"{path}: {signal.size} numbers, model {meta['model']} takes {shape}")
            return signal.reshape(shape).astype(np.float32)
        return prepare_image(path, meta)[0]

    return Source(
        f"Inside {meta['model']}", class_names(meta), lambda x: _module_layers(model, x), prepare, [f"run {run_dir}"]
    )


def _onnx_source(path: str | os.PathLike) -> Source:
    from ..onnx.files import ImageModel, load_file, opset_of

    module, proto = load_file(path)
    module.eval()
    model = ImageModel.of(path, module, proto)
    opset = opset_of(proto)

    def prepare(image: str) -> np.ndarray:
        return model.prepare(image)[0][0]

    names = model.class_names or []
    return Source(f"Inside {Path(path).name}", names, lambda x: _onnx_layers(module, opset, x), prepare)


def _logits_of(layers: list[Layer], out: Tensor) -> Tensor:
    """The scores the loss reads: the output, or the input of a final Softmax."""
    if layers and layers[-1].op in ("Softmax", "LogSoftmax") and layers[-1].y is out:
        return layers[-1].x
    return out


def _backward_classes(probs: np.ndarray, layers: list[Layer], images: int) -> list[int]:
    """Every class when there are at most MAX_CLASSES and their gradient thumbnails fit THUMB_BUDGET, else the
    top few."""
    per_class = sum(thumb_bytes(_map_shape(layer.y), THUMB_SIDE) for layer in layers)
    if probs.size <= MAX_CLASSES and per_class * probs.size * images <= THUMB_BUDGET:
        return list(range(probs.size))
    return [int(i) for i in np.argsort(-probs)[:TOP_CLASSES]]


def thumb_bytes(shape: tuple[int, ...], side: int) -> int:
    """The bytes of one layer's thumbnail (as :func:`thumbnail` makes it) for a map of (C, H, W)."""
    c, h, w = shape
    f = _factor(shape, side)
    return min(c, MAX_CHANNELS) * math.ceil(h / (1 if h == 1 else f)) * math.ceil(w / f)


def _map_shape(t: Tensor) -> tuple[int, ...]:
    """The (C, H, W) shape :func:`as_map` gives one sample of ``t``."""
    s = tuple(t.shape[1:])
    return s if len(s) == 3 else (s[0], 1, s[1]) if len(s) == 2 else (1, 1, int(np.prod(s)))


def _thumb_side(passes: list[dict[str, Any]]) -> int:
    """THUMB_SIDE, halved until every thumbnail of the page (forward and every backward class) fits THUMB_TOTAL."""
    side = THUMB_SIDE
    while side > 8:
        sets = sum(1 + len(p["grads"]) for p in passes)
        if sets * sum(thumb_bytes(_map_shape(layer.y), side) for layer in passes[0]["layers"]) <= THUMB_TOTAL:
            break
        side //= 2
    return side


def _zero_grads(tensors: list[Tensor]) -> None:
    for t in tensors:
        t.grad = None


def _image_pass(source: Source, x: np.ndarray, images: int) -> dict[str, Any]:
    """One image forward and, for each class of the select, backward: every layer's numbers as NumPy."""
    with kw.enable_grad():
        image = Tensor(x[None].astype(np.float32)).requires_grad_()  # layers before any weight get dL/dY too
        layers, out = source.run(image)
        logits = _logits_of(layers, out)
        for layer in layers:
            if layer.y.requires_grad:
                layer.y.retain_grad()
        probs = F.softmax(logits.detach(), dim=1).numpy()[0]
        params = [layer.weight_param for layer in layers if layer.weight_param is not None]
        grads: dict[int, dict[str, list[Any]]] = {}
        for cls in _backward_classes(probs, layers, images):
            _zero_grads([layer.y for layer in layers] + params)
            loss = F.cross_entropy(logits, kw.tensor(np.array([cls])))  # L = −log softmax(z)[cls]
            loss.backward(retain_graph=True)
            grads[cls] = {
                "y": [np.zeros(layer.y.shape) if layer.y.grad is None else layer.y.grad.numpy()[0] for layer in layers],
                "w": [None if layer.weight_param is None else _grad_w(layer) for layer in layers],
            }
    detached: dict[int, Tensor] = {}  # the numbers without the graph, which can go; one tensor stays one tensor
    for layer in layers:
        layer.x = detached.setdefault(id(layer.x), layer.x.detach())
        if layer.x2 is not None:
            layer.x2 = detached.setdefault(id(layer.x2), layer.x2.detach())
        layer.y = detached.setdefault(id(layer.y), layer.y.detach())
    return {"layers": layers, "logits": logits.detach().numpy()[0], "probs": probs, "grads": grads}


def _grad_w(layer: Layer) -> np.ndarray | None:
    g = layer.weight_param.grad
    if g is None:
        return None
    g = g.numpy()
    return g.T if layer.transposed else g.reshape(layer.weight.shape)


def _grad_through(layer: Layer, grad: np.ndarray) -> np.ndarray:
    """The engine's dL/dA through this layer alone: the layer run again on a copy of its input, backward."""
    x = kw.tensor(layer.x.detach().numpy().copy(), requires_grad=True)
    with kw.enable_grad():
        y = layer.rerun(x)
        y.backward(kw.tensor(grad[None].astype(np.float32)))
    if layer.weight_param is not None:
        layer.weight_param.grad = None
    return x.grad.numpy()[0]


def _grad_second(layer: Layer, grad: np.ndarray) -> np.ndarray:
    """The engine's dL/dB of a sum Y = A + B: B + A run again on copies, backward."""
    a = kw.tensor(layer.x.detach().numpy().copy())
    b = kw.tensor(layer.x2.detach().numpy().copy(), requires_grad=True)
    with kw.enable_grad():
        (a + b).backward(kw.tensor(grad[None]))
    return b.grad.numpy()[0]


def _cost(layer: Layer, images: int, classes: int) -> int:
    """The exact numbers a clickable layer embeds: see :func:`_embedded`."""
    k = min(MAX_CHANNELS, _map_shape(layer.y)[0])
    x, y = layer.x.numel(), layer.y.numel()
    if layer.kind == "conv":
        o, per_filter = layer.weight.shape[0], int(np.prod(layer.weight.shape[1:]))
        return o * (per_filter + 1) + images * (x + y * k // o + classes * y)
    if layer.kind == "linear":
        return layer.weight.size + layer.weight.shape[0] + images * (x + y * (1 + classes))
    if layer.kind == "add":  # both operands
        return images * (2 * x + y * (1 + classes)) * k // _map_shape(layer.y)[0]
    return images * (x + y * (1 + classes)) * k // _map_shape(layer.y)[0]


def _spread(n: int, g: int) -> list[int]:
    """``g`` evenly spaced indices of ``range(n)`` with the first, the middle and the last (all when n <= g).

    Example:
        >>> _spread(56, 8), _spread(7, 8), _spread(7, 3)
        ([0, 8, 16, 24, 27, 31, 39, 47, 55], [0, 1, 2, 3, 4, 5, 6], [0, 3, 6])
    """
    if n <= g:
        return list(range(n))
    return sorted({round(k * (n - 1) / (g - 1)) for k in range(g)} | {(n - 1) // 2})


def _read(w: dict[str, Any], axis: int, positions: list[int], size: int) -> list[int]:
    """The input indices (inside the input) the windows of output ``positions`` read along ``axis``."""
    taps, inside = _axis(w, axis, positions, size)
    return sorted({int(t) for t in taps[inside]})


def _sample(layer: Layer, images: int, classes: int, cap: int) -> dict[str, Any]:
    """The sampled units of a convolution (see the module docstring): channels, output rows and columns,
    the input rows and columns they read, and ``cost``, the numbers they embed."""
    c_in, h_in, w_in = _map_shape(layer.x)
    o, oh, ow = _map_shape(layer.y)
    w = layer.window
    per_filter = int(np.prod(layer.weight.shape[1:]))
    best: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    for g in range(SAMPLE_GRID, 2, -1):
        rows, cols = _spread(oh, g), _spread(ow, g)
        in_rows, in_cols = _read(w, 0, rows, h_in), _read(w, 1, cols, w_in)
        for k in sorted({min(k, o, MAX_CHANNELS) for k in (16, 8, 4, 2, 1)}, reverse=True):
            units = k * len(rows) * len(cols)
            reads = k * per_filter + images * c_in * len(in_rows) * len(in_cols)  # kernels and input
            cost = reads + images * units * (1 + classes)
            key = (True, units, k, 0) if cost <= cap else (False, -reads, units, k)
            if best is None or key > best[0]:
                sample = {"channels": k, "rows": rows, "cols": cols, "in_rows": in_rows, "in_cols": in_cols}
                best = (key, {**sample, "cost": cost, "units": units, "positions": oh * ow})
    assert best is not None
    return best[1]


def _local_sample(layer: Layer, images: int, classes: int) -> dict[str, Any]:
    """The sampled units of a pooling, activation or batch norm layer: its shown channels at a grid of
    :data:`LOCAL_GRID` rows and columns (and the middle), and the input rows and columns they read (their
    own channel only)."""
    c, oh, ow = _map_shape(layer.y)
    _, h_in, w_in = _map_shape(layer.x)
    k, rows, cols = min(c, MAX_CHANNELS), _spread(oh, LOCAL_GRID), _spread(ow, LOCAL_GRID)
    in_rows, in_cols = rows, cols
    if layer.kind == "pool":
        in_rows, in_cols = _read(layer.window, 0, rows, h_in), _read(layer.window, 1, cols, w_in)
    units = k * len(rows) * len(cols)
    operands = 2 if layer.kind == "add" else 1
    cost = images * (operands * k * len(in_rows) * len(in_cols) + units * (1 + classes))
    sample = {"channels": k, "rows": rows, "cols": cols, "in_rows": in_rows, "in_cols": in_cols}
    return {**sample, "cost": cost, "units": units, "positions": oh * ow}


def _placed(sub: np.ndarray, rows: list[int], cols: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """The rows × columns ``sub`` (C, R, K) of a map of ``shape`` (C_all, H, W) in place, zeros elsewhere."""
    m = np.zeros((sub.shape[0], *shape[1:]))
    m[np.ix_(range(m.shape[0]), rows, cols)] = sub
    return m


def _sample_units(sample: dict[str, Any]) -> np.ndarray:
    """A sample's units as rows of (c, i, j): its channels × rows × columns."""
    grid = np.meshgrid(range(sample["channels"]), sample["rows"], sample["cols"], indexing="ij")
    return np.stack([a.reshape(-1) for a in grid], axis=1)


def check_sampled(
    layer: Layer, x_sub: np.ndarray, y: np.ndarray, sample: dict[str, Any], x2_sub: np.ndarray | None = None
) -> int:
    """Every sampled unit's written-out sum (or value), from the embedded rows × columns of the input alone
    (zeros elsewhere: a window reading outside them would not match), against the engine's output ``y``;
    ``x2_sub`` the same rows × columns of a sum's second operand."""

    def placed(sub: np.ndarray) -> np.ndarray:
        return _placed(sub, sample["in_rows"], sample["in_cols"], _map_shape(layer.x))

    units = _sample_units(sample)
    where = f"explain model --html: layer {layer.name} ({layer.op}), sampled unit"
    x2 = None if x2_sub is None else placed(x2_sub)
    _check_units(where, layer, placed(x_sub), as_map(y).astype(np.float64), units, x2)
    return len(units)


def check_sampled_pool_backward(
    layer: Layer, x_sub: np.ndarray, gs: np.ndarray, sample: dict[str, Any], what: str
) -> int:
    """A sampled pooling layer's backward as the page writes it for each sampled unit (its dL/dY to its
    window's winner, or dL/dY/n to each input), from the embedded rows × columns of the input ``x_sub`` and
    the embedded dL/dY at the sampled units ``gs`` alone: :func:`pool_grad` of the sampled units against the
    engine's autograd dL/dA through the layer with dL/dY at the sampled units (0 elsewhere)."""
    units, (c, oh, ow) = _sample_units(sample), _map_shape(layer.y)
    x = _placed(x_sub, sample["in_rows"], sample["in_cols"], _map_shape(layer.x))
    g = _placed(np.asarray(gs, dtype=np.float64), sample["rows"], sample["cols"], (c, oh, ow))
    ga, scale = pool_grad(layer.window, x, g, units)
    full = np.zeros((c, oh, ow), dtype=np.float32)
    full[: g.shape[0]] = g
    engine = as_map(_grad_through(layer, full.reshape(layer.y.shape[1:]))).astype(np.float64)[: g.shape[0]]
    where = f"explain model --html: layer {layer.name} ({layer.op}), sampled, {what}, dL/dA"
    _compare(where, ga, engine, scale, int(np.prod(layer.window["kernel"])))
    return len(units)


def _at_sample(m: np.ndarray, rows: list[int], cols: list[int], channels: int | None = None) -> np.ndarray:
    """The rows × columns of a (C, H, W) map (its first ``channels`` channels)."""
    m = m if channels is None else m[:channels]
    return m[np.ix_(range(m.shape[0]), rows, cols)]


def _embedded(layer: Layer, x: np.ndarray, y: np.ndarray, arrays: Arrays) -> dict[str, str]:
    """The keys of what a click on ``layer`` reads, as (C, H, W) maps: a convolution its whole input (every
    window reads every channel) and the shown filters' outputs; pooling and activations the shown channels
    of their input and output (a unit reads its own channel); a linear layer everything."""
    k = MAX_CHANNELS if layer.kind in ("conv", "pool", "act", "bn", "add") else None
    keys = {
        "x": arrays.add(as_map(x), layer.x, None if layer.kind in ("conv", "linear") else k),
        "y": arrays.add(as_map(y), layer.y, k),
    }
    if layer.kind == "add":  # a sum's second operand
        keys["x2"] = arrays.add(as_map(layer.x2.numpy()[0]), layer.x2, k)
    return keys


def _samples(layers: list[Layer], images: int, classes: int) -> dict[int, dict[str, Any]]:
    """Every convolution's sample, each its share of SAMPLE_BUDGET (the shares scaled down until they
    fit EXACT_BUDGET, a model with very many convolutions); then, in the order the layers run, a sample of
    each pooling, activation and batch norm layer while the total stays within EXACT_BUDGET."""
    convs = [i for i, layer in enumerate(layers) if layer.kind == "conv"]
    reads = {i: int(np.prod(layers[i].weight.shape[1:])) for i in convs}  # the numbers one unit's sum reads
    floor = min(SAMPLE_FLOOR, SAMPLE_BUDGET // max(1, len(convs)))
    scale = 1.0
    while True:
        shares = {i: int(scale * max(floor, SAMPLE_BUDGET * reads[i] / sum(reads.values()))) for i in convs}
        samples = {i: _sample(layers[i], images, classes, shares[i]) for i in convs}
        total = sum(s["cost"] for s in samples.values())
        if total <= EXACT_BUDGET or scale < 0.01:  # at the least, one channel at 3×3 positions each
            break
        scale *= 0.8
    for i, layer in enumerate(layers):
        if layer.kind in ("pool", "act", "bn", "add"):
            sample = _local_sample(layer, images, classes)
            if total + sample["cost"] <= EXACT_BUDGET:
                samples[i], total = sample, total + sample["cost"]
    return samples


def _back_channels(layer: Layer, filters: int) -> list[int]:
    """The input channels whose whole maps a sampled convolution's backward embeds: the first channel of the
    group of each of filters 0 .. ``filters`` − 1 (channel 0 when the convolution is not grouped)."""
    og, cg = layer.weight.shape[0] // layer.window["groups"], layer.weight.shape[1]
    return sorted({o // og * cg for o in range(filters)})


def _backward_cost(layer: Layer, sample: dict[str, Any], images: int, classes: int, filters: int) -> int:
    """The exact numbers a sampled convolution's backward embeds for its first ``filters`` filters: per image the
    back channels' whole input maps; per image and class dL/dZ of those filters (whole maps), the engine's dL/dW
    of those filters for BACKWARD_SHOWN input channels, and the engine's dL/dA through the other filters at the
    back channels × the sampled input rows × columns."""
    chans = len(_back_channels(layer, filters))
    (_, h, w), (_, oh, ow) = _map_shape(layer.x), _map_shape(layer.y)
    kernel = min(BACKWARD_SHOWN, layer.weight.shape[1]) * int(np.prod(layer.window["kernel"]))
    rest = chans * len(sample["in_rows"]) * len(sample["in_cols"])
    return images * (chans * h * w + classes * (filters * (oh * ow + kernel) + rest))


def _backward_filters(
    layers: list[Layer], sampled: dict[int, dict[str, Any]], images: int, classes: int
) -> tuple[dict[int, int], int]:
    """How many of its sampled filters each sampled convolution gets backward for (absent: none), and the numbers
    that costs: one filter each, the cheapest first, while the total fits BACKWARD_BUDGET; then, in the same
    order, as many of its sampled filters (16, 8, 4 or 2) as still fit."""

    def cost(i: int, filters: int) -> int:
        return _backward_cost(layers[i], sampled[i], images, classes, filters)

    convs = sorted((i for i in sampled if layers[i].kind == "conv"), key=lambda i: cost(i, 1))
    filters: dict[int, int] = {}
    total = 0
    for i in convs:
        if total + cost(i, 1) <= BACKWARD_BUDGET:
            filters[i], total = 1, total + cost(i, 1)
    for i in [i for i in convs if i in filters]:
        for f in sorted({min(f, sampled[i]["channels"]) for f in (16, 8, 4, 2)}, reverse=True):
            if f > filters[i] and total + cost(i, f) - cost(i, filters[i]) <= BACKWARD_BUDGET:
                filters[i], total = f, total + cost(i, f) - cost(i, filters[i])
                break
    return filters, total


def _sampled_backward(
    layer: Layer, grad: np.ndarray, grad_w: np.ndarray | None, sample: dict[str, Any], back: dict[str, Any], what: str
) -> tuple[dict[str, np.ndarray], int]:
    """What a sampled convolution's backward embeds for one image and class (see :func:`_backward_cost`), and
    the entries :func:`check_sampled_backward` checked: ``gz`` dL/dZ of filters 0..f−1, ``dw`` the engine's dL/dW of
    those filters (their group's first ``shown`` channels), ``ra`` the engine's dL/dA through the other filters
    (dL/dZ of filters 0..f−1 set to 0) at the back channels × the sampled input rows × columns."""
    kb, chans, shown = back["filters"], back["channels"], back["shown"]
    others = grad.copy()
    others[:kb] = 0  # dL/dZ of the other filters only
    rest = _at_sample(as_map(_grad_through(layer, others))[chans], sample["in_rows"], sample["in_cols"])
    full = _grad_through(layer, grad)
    engine_w = np.zeros(layer.weight.shape) if grad_w is None else np.asarray(grad_w).reshape(layer.weight.shape)
    embedded = {
        "gz": as_map(grad)[:kb].astype(np.float32),
        "dw": engine_w[:kb, :shown].astype(np.float32),
        "ra": rest.astype(np.float32),
    }
    x = as_map(layer.x.numpy()[0])[chans]
    checked = check_sampled_backward(layer, x, embedded["gz"], engine_w, embedded["ra"], full, sample, back, what)
    return embedded, checked


def build_page_data(source: Source, images: list[str]) -> dict[str, Any]:
    """Everything the page shows, for ``images``, every number from the engine, every sum checked."""
    if not images:
        raise UsageError("explain model --html: give an image (--image FILE, repeatable)")
    passes = [_image_pass(source, source.prepare(path), len(images)) for path in images]
    first = passes[0]["layers"]
    shapes = [[tuple(layer.y.shape) for layer in p["layers"]] for p in passes]
    if any(s != shapes[0] for s in shapes):
        raise UsageError("explain model --html: the images gave the layers different shapes")
    names = source.names or [str(i) for i in range(first[-1].y.numel())]
    classes = max(len(p["grads"]) for p in passes)
    arrays, side = Arrays(), _thumb_side(passes)
    samples = _samples(first, len(images), classes)
    total = sum(s["cost"] for s in samples.values())  # every sample, reserved first
    clickable = [False] * len(first)
    order = {"conv": 0, "flatten": 1, "linear": 1}  # convolutions first, then the (small) vector layers
    for i in sorted(range(len(first)), key=lambda i: order.get(first[i].kind, 2)):
        cost = _cost(first[i], len(images), classes)
        extra = cost - (samples[i]["cost"] if i in samples else 0)  # whole instead of its sample
        if first[i].kind != "other" and cost <= LAYER_LIMIT and total + extra <= EXACT_BUDGET:
            clickable[i], total = True, total + extra
    sampled = {i: s for i, s in samples.items() if not clickable[i]}
    filters, back_total = _backward_filters(first, sampled, len(images), classes)
    back = {
        i: {
            "filters": f,
            "channels": _back_channels(first[i], f),
            "shown": min(BACKWARD_SHOWN, first[i].weight.shape[1]),
        }
        for i, f in filters.items()
    }
    checked = Counter()
    layer_data = []
    for i, layer in enumerate(first):
        entry = {
            "name": layer.name,
            "op": layer.op,
            "kind": layer.kind,
            "hyper": layer.hyper,
            "block": layer.block,
            "in_shape": list(as_map(layer.x.numpy()[0]).shape),
            "in_nd": layer.x.ndim - 2 if layer.x.ndim > 2 else 0,
            "shape": list(as_map(layer.y.numpy()[0]).shape),
            "shape_text": shape_text(tuple(layer.y.shape[1:])),
            "nd": layer.y.ndim - 2 if layer.y.ndim > 2 else 0,
            "clickable": clickable[i] or i in sampled,
            "sample": None if i not in sampled else {k: v for k, v in sampled[i].items() if k != "cost"},
            "back": back.get(i),  # a sampled convolution's backward: its first filters, the channels written out
            "window": layer.window,
            "act": layer.act,
        }
        if layer.kind == "add":  # which layers' outputs are added (the model's input when none)
            entry["operands"] = [_producer(first, i, t) for t in (layer.x, layer.x2)]
        if layer.kind == "bn" and entry["clickable"]:  # its numbers per shown channel, exact (float32 values)
            entry["bn"] = {k: layer.bn[k][:MAX_CHANNELS].tolist() for k in ("mean", "var", "gamma", "beta")}
            entry["bn"]["eps"] = layer.bn["eps"]
        if i in sampled and layer.kind == "conv":  # the sampled filters
            entry["w"] = arrays.add(layer.weight, channels=sampled[i]["channels"])
            entry["b"] = None if layer.bias is None else arrays.add(layer.bias)
        if clickable[i] and layer.weight is not None:  # a convolution's every filter: the chain rule reads W[:, c]
            entry["w"] = arrays.add(layer.weight)
            entry["b"] = None if layer.bias is None else arrays.add(layer.bias)
        if layer.kind == "linear":
            entry["fold"] = _fold(first, i)
        layer_data.append(entry)
    image_data = []
    for path, p in zip(images, passes, strict=True):
        x_map = as_map(p["layers"][0].x.numpy()[0]) if p["layers"] else None
        rows = []
        for i, layer in enumerate(p["layers"]):
            x, y = layer.x.numpy()[0], layer.y.numpy()[0]
            row: dict[str, Any] = {"thumb": thumbnail(as_map(y), side=side)}
            if i in sampled:  # the input's rows × columns the sampled windows read, the output at the units
                s = sampled[i]
                keep = None if layer.kind == "conv" else s["channels"]  # a convolution reads every channel
                x_sub = _at_sample(as_map(x), s["in_rows"], s["in_cols"], keep).astype(np.float32)
                x2_sub = None
                if layer.kind == "add":  # the second operand's same rows × columns
                    x2_sub = _at_sample(as_map(layer.x2.numpy()[0]), s["in_rows"], s["in_cols"], keep)
                    row["x2s"] = arrays.add(x2_sub.astype(np.float32))
                checked["sampled"] += check_sampled(layer, x_sub, y, s, x2_sub)
                row["xs"] = arrays.add(x_sub)
                if i in back:  # the whole input maps the written-out dL/dW reads
                    row["xw"] = arrays.add(as_map(x)[back[i]["channels"]].astype(np.float32))
                row["ys"] = arrays.add(_at_sample(as_map(y), s["rows"], s["cols"], s["channels"]))
            else:
                x2 = None if layer.x2 is None else layer.x2.numpy()[0]
                checked["forward"] += check_forward(layer, x, y, every=clickable[i], x2=x2)
            if clickable[i]:
                row.update(_embedded(layer, x, y, arrays))
            rows.append(row)
        grads = {}
        for cls, g in p["grads"].items():
            maps = []
            for i, layer in enumerate(p["layers"]):
                grad = np.asarray(g["y"][i], dtype=np.float32).reshape(layer.y.shape[1:])
                row = {"thumb": thumbnail(as_map(grad), diverging=True, side=side)}
                if i in sampled:  # autograd's dL/dZ at the sampled units
                    s = sampled[i]
                    gs = _at_sample(as_map(grad), s["rows"], s["cols"], s["channels"])
                    row["gs"] = arrays.add(gs)
                    if layer.kind == "pool":  # each sampled unit's dL/dY to its window (the winner: max, min)
                        x_sub = _at_sample(as_map(layer.x.numpy()[0]), s["in_rows"], s["in_cols"], s["channels"])
                        what = f"class {names[cls]}"
                        checked["backward"] += check_sampled_pool_backward(layer, x_sub.astype(np.float32), gs, s, what)
                if i in back:  # dL/dW of the first sampled filters and the chain rule (see _sampled_backward)
                    embedded, n = _sampled_backward(layer, grad, g["w"][i], sampled[i], back[i], f"class {names[cls]}")
                    row.update({k: arrays.add(v) for k, v in embedded.items()})
                    checked["backward"] += n
                if clickable[i]:  # dL/dZ of every filter for the chain rule; else the shown channels
                    keep = MAX_CHANNELS if layer.kind in ("act", "pool", "bn", "add") else None
                    row["g"] = arrays.add(as_map(grad), channels=keep)
                    grad_x = _grad_through(layer, grad)
                    checked["backward"] += check_backward(
                        layer, layer.x.numpy()[0], grad, g["w"][i], grad_x, f"class {names[cls]}"
                    )
                maps.append(row)
            grads[str(cls)] = maps
        probs, logits = p["probs"], p["logits"]
        _check_softmax(logits, probs)
        image_data.append(
            {
                "name": Path(path).name,
                "input": thumbnail(x_map, side=max(side, THUMB_SIDE)) if x_map is not None else None,
                "rgb": _rgb(x_map, max(side, THUMB_SIDE)) if x_map is not None and x_map.shape[0] == 3 else None,
                "probs": probs.astype(float).tolist(),
                "logits": arrays.add(logits),
                "pred": int(np.argmax(probs)),
                "classes": [int(c) for c in p["grads"]],
                "layers": rows,
                "grads": grads,
            }
        )
    return {
        "title": source.title,
        "notes": source.notes,
        "names": names,
        "input_shape_text": shape_text(tuple(first[0].x.shape[1:])) if first else "",
        "layers": layer_data,
        "images": image_data,
        "arrays": arrays.entries,
        "budget": {
            "max_channels": MAX_CHANNELS,
            "thumb_side": side,
            "exact_numbers": total,
            "backward_numbers": back_total,
            "backward_sampled": len(back),
            "clickable": sum(clickable),
            "sampled": len(sampled),
            "layers": len(first),
        },
        "checked": dict(checked),
    }


def _producer(layers: list[Layer], i: int, t: Tensor) -> str:
    """The name of the last layer before ``i`` whose output is ``t``, or "the model's input"."""
    for layer in reversed(layers[:i]):
        if layer.y is t:
            return f"layer {layer.name} ({layer.op})"
    return "the model's input" if layers and t is layers[0].x else "an earlier result"


def _fold(layers: list[Layer], i: int) -> int:
    """How a linear layer's sum is folded: per channel of the map it was flattened from, else by 16 terms."""
    n = layers[i].weight.shape[1]
    for layer in reversed(layers[:i]):
        if layer.y.ndim > 2:
            per = int(np.prod(layer.y.shape[2:]))
            return per if per * layer.y.shape[1] == n and per > 1 else 16
    return 16


def _check_softmax(logits: np.ndarray, probs: np.ndarray) -> None:
    z = logits.astype(np.float64)
    e = np.exp(z - z.max())
    mine = e / e.sum()
    if not np.allclose(mine, probs, rtol=1e-5, atol=1e-6):
        raise FormulaMismatch(f"explain model --html: softmax of the logits gives {mine}, the engine {probs}")


def _rgb(m: np.ndarray, side: int) -> dict[str, Any]:
    """A three-channel input as RGB bytes, scaled to its own min and max (as the figures draw it)."""
    shown, _ = downsample(m, side)
    lo, hi = float(m.min()), float(m.max())
    q = np.round((shown - lo) / (hi - lo) * 255) if hi > lo else np.zeros(shown.shape)
    return {"shape": list(shown.shape), "q": _b64(q.transpose(1, 2, 0).astype(np.uint8), np.uint8)}


# --------------------------------------------------------------------------- the page
HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<title>__TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<p class="intro">Every layer in the order it runs, each channel's map on the layer's colour scale. Click a unit
to see the sum that made it, written out with the engine's numbers; the Backward tab shows dL/d(output) of
every layer for L = −log softmax(z)[class]. Indices count from 0, as in PyTorch.</p>
<div class="bar">
  <span id="images"></span>
  <span class="tabs"><button data-tab="forward" class="active">Forward</button><button
    data-tab="backward">Backward</button></span>
  <label id="classlabel">class <select id="class"></select></label>
  <span id="hover"></span>
</div>
</header>
<main>
<section id="overview"></section>
<aside id="unit"><p class="hint">Click a unit of a map.</p></aside>
</main>
<footer id="notes"></footer>
<script type="application/json" id="kw-data">__DATA__</script>
<script>__SCRIPT__</script>
</body>
</html>
"""


def page_html(data: dict[str, Any]) -> str:
    """The page as one string: the data as JSON, ``assets/model.js`` and ``model.css`` inlined, hashed by the CSP."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return fill_page(HTML, "model.js", "model.css", data["title"], text)


def model_page(source: str | os.PathLike, images: list[str] | None = None) -> dict[str, Any]:
    """The data of the page for a run directory or an ONNX file and ``images``.

    Without images: a run's first ``samples/`` picture, or for a 1-D model a seeded random signal
    (a 1-D model's ``--image`` is a ``.npy`` file of its input shape); an ONNX file needs one.
    """
    path = os.fspath(source)
    images = [os.fspath(i) for i in images or []]
    if path.endswith(".onnx") or os.path.isfile(path):
        return build_page_data(_onnx_source(path), images)
    if not images:
        samples = sorted((Path(path) / "samples").glob("*.png")) if (Path(path) / "samples").is_dir() else []
        images = [str(samples[0])] if samples else [RANDOM]
    return build_page_data(_run_source(path), images)
