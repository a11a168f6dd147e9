"""``kernelwise explain model RUN_DIR``: a trained model's layers one by one, and what they see in an image.

For each layer: its output shape and, for convolutions and pooling, the output-size formula with the
numbers filled in (checked against the shape the engine produces). With an image (``--image``, or the
first of the run's ``samples/``): the feature maps each layer produces and the first layer's filters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import kernelwise as kw
import kernelwise.nn.functional as F

from ..errors import UsageError
from ..names import shown
from ..tensor import Tensor
from .engine import FormulaMismatch
from .report import Explanation, Picture, Section, value_grid
from .symbolic import Geometry

WINDOWED = ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "MinPool1d", "MinPool2d", "AvgPool1d", "AvgPool2d")


def layer_geometry(layer: Any, size: tuple[int, ...]) -> Geometry | None:
    """The window geometry of a convolution or pooling layer on an input of spatial ``size`` (None for others)."""
    if type(layer).__name__ not in WINDOWED:
        return None
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    dilation, ceil_mode = getattr(layer, "dilation", 1), getattr(layer, "ceil_mode", False)
    return Geometry.make(size, layer.kernel_size, stride, layer.padding, dilation, ceil_mode, check=not ceil_mode)


def _pick_image(run_dir: Path, image: str | os.PathLike | None) -> str | None:
    if image is not None:
        return str(image)
    samples = sorted((run_dir / "samples").glob("*.png")) if (run_dir / "samples").is_dir() else []
    return str(samples[0]) if samples else None


def _shape(t: Any) -> str:
    return "(" + ", ".join(map(str, t.shape[1:])) + ")"


def explain_model(run_dir: str | os.PathLike, image: str | os.PathLike | None = None, max_maps: int = 8) -> Explanation:
    """A trained model layer by layer: shapes, output-size formulas, feature maps and filters.

    Args:
        run_dir: a run directory with ``model.safetensors`` (``kernelwise train`` writes one).
        image: an image file to run through the model (default: the first of ``RUN_DIR/samples``; without
            one the input is zeros and no feature maps are drawn).
        max_maps: feature maps drawn per layer.
    """
    from ..names import class_names
    from ..runs import load_run, prepare_image

    run = Path(run_dir)
    model, meta = load_run(run)
    model.eval()
    notes = [f"model {meta['model']} from {run}, input shape {tuple(meta['input_shape'])}"]
    path = _pick_image(run, image)
    if path is not None and len(meta["input_shape"]) == 3:
        x, converted = prepare_image(path, meta)
        notes.append(
            f"image {path}"
            + (f" ({'; '.join(converted)})" if converted else "")
            + ", normalised with the dataset's mean and std"
        )
    else:
        x = np.zeros(meta["input_shape"], dtype=np.float32)
        path = None
        notes.append("no image given (--image FILE): the input is zeros, so only shapes and filters are shown")
    h = kw.tensor(x[None].astype(np.float32))  # (1, C, *size)
    lines, layers, pictures = [], [], []
    if path is not None:
        pictures.append(Picture("input", _displayable(x), row="input"))
    with kw.no_grad():
        for name, layer in model.named_children():
            y = layer(h)
            params = sum(p.numel() for p in layer.parameters())
            kind = type(layer).__name__
            lines.append(f"{name:>3}  {kind:<18} {_shape(h):>14} -> {_shape(y):<14} {params:>8,} parameters")
            entry: dict[str, Any] = {
                "name": name,
                "layer": repr(layer),
                "input_shape": list(h.shape[1:]),
                "output_shape": list(y.shape[1:]),
                "parameters": params,
                "formulas": [],
            }
            geometry = layer_geometry(layer, tuple(h.shape[2:]))
            if geometry is not None:
                _formulas(geometry, f"layer {name} ({kind})", tuple(y.shape[2:]), lines, entry)
                if path is not None and y.ndim == 4:
                    maps = y.numpy()[0]
                    for c in range(min(max_maps, maps.shape[0])):  # copies: the layer's whole output is let go
                        pictures.append(Picture(f"{name} {kind} [{c + 1}]", maps[c].copy(), row=f"{name} {kind}"))
            layers.append(entry)
            h = y
    first = next((m for _, m in model.named_children() if type(m).__name__ in ("Conv1d", "Conv2d")), None)
    grids = _filters(first.weight.numpy(), max_maps, pictures) if first is not None else []
    sections = [
        Section("Layers, one by one", notes=notes, lines=lines),
        Section("The first convolution's filters (rounded)", grids=grids) if grids else None,
    ]
    if path is not None:
        probs = F.softmax(h, dim=1).numpy()[0]
        sections.append(_prediction(probs, class_names(meta)))
    data = {"model": meta["model"], "input_shape": list(meta["input_shape"]), "layers": layers, "image": path}
    return Explanation(
        "model", f"Inside {meta['model']}", [s for s in sections if s is not None], data=data, pictures=pictures
    )


def explain_onnx(path: str | os.PathLike, image: str | os.PathLike | None = None, max_maps: int = 8) -> Explanation:
    """An ONNX model node by node: shapes, parameters, output-size formulas, feature maps and filters.

    The graph runs on kernelwise's ops (:func:`kernelwise.onnx.load`), node by node, on ``image``
    (prepared as ``kernelwise predict MODEL.onnx`` prepares it: the file's normalisation metadata, else
    pixels in [0, 1]) or, without one, on zeros. Feature maps are drawn for the first windowed node and
    for each node that first reaches a new spatial size (each stage of a ResNet), ``max_maps`` each.

    Example (a two-node graph written here):
        >>> import tempfile, onnx
        >>> from onnx import helper, TensorProto as T, numpy_helper
        >>> w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
        >>> graph = helper.make_graph(
        ...     [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        ...      helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
        ...     "g", [helper.make_tensor_value_info("x", T.FLOAT, [1, 1, 5, 5])],
        ...     [helper.make_tensor_value_info("y", T.FLOAT, None)], [w])
        >>> f = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False)
        >>> onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f.name)
        >>> e = explain_onnx(f.name)
        >>> [(n["op"], n["output_shape"]) for n in e.data["nodes"]]
        [('Conv', [1, 2, 5, 5]), ('MaxPool', [1, 2, 2, 2])]
        >>> e.data["nodes"][1]["formulas"][0]
        'Output height = floor((H_in - H_k + 2P) / S) + 1 = floor((5 - 2 + 2·0) / 2) + 1 = floor(3 / 2) + 1 = 2'
    """
    from ..nn import Parameter
    from ..onnx.files import ImageModel, graph_inputs, load_file, opset_of, to_probabilities
    from ..onnx.load import WINDOWED, node_window
    from ..tensor import no_grad

    module, proto = load_file(path)
    module.eval()
    inputs = graph_inputs(proto)
    notes = [f"{path}: ONNX opset {opset_of(proto)}, {len(module.nodes):,} nodes, run with kernelwise's own ops"]
    if image is not None:
        model = ImageModel.of(path, module, proto)
        x, converted = model.prepare(image)
        names = model.class_names
        normalised = "with the file's mean and std" if proto.metadata_props else "as pixels / 255"
        notes.append(f"image {image}" + (f" ({'; '.join(converted)})" if converted else "") + f", {normalised}")
    else:
        if len(inputs) != 1:
            raise UsageError(f"{path} takes {len(inputs)} inputs; explain model runs a model of one input")
        name, shape = inputs[0]
        sizes = (1, *shape[1:]) if shape else ()
        if not shape or not all(isinstance(d, int) and d > 0 for d in sizes):
            raise UsageError(f"{path} takes input {name!r} of shape {shape}: explain needs fixed sizes after the batch")
        x, names = np.zeros(sizes, dtype=np.float32), None
        notes.append("no image given (--image FILE): the input is zeros, so only shapes and filters are shown")
    lines, entries, pictures = [], [], []
    if image is not None:
        pictures.append(Picture("input", _displayable(x[0]), row="input"))
    drawn: set[tuple[int, ...]] = set()

    def visit(node: Any, args: list[Any], outs: tuple[Any, ...]) -> None:
        first, y = args[0] if args else None, outs[0]
        params = sum(a.numel() for a in args if isinstance(a, Parameter))
        shape_in = tuple(first.shape) if first is not None else ()
        where = f"node {node.name} ({node.op_type})"
        lines.append(
            f"{len(entries) + 1:>4}  {node.op_type:<20} {_text(shape_in):>18} -> {_text(y.shape):<18} {params:>10,}"
            f"  {shown(node.name, 40)}"
        )
        entry: dict[str, Any] = {
            "name": node.name,
            "op": node.op_type,
            "input_shape": list(shape_in),
            "output_shape": list(y.shape),
            "parameters": params,
            "formulas": [],
        }
        if node.op_type in WINDOWED and len(shape_in) in (3, 4):
            w_shape = tuple(args[1].shape) if node.op_type == "Conv" else ()
            win = node_window(node.op_type, node.attrs, shape_in, w_shape)
            geometry = Geometry.make(
                shape_in[2:], win.kernel, win.strides, tuple(win.pairs), win.dilations, win.ceil_mode, check=False
            )
            _formulas(geometry, where, tuple(y.shape[2:]), lines, entry)
            size = tuple(y.shape[2:])
            if image is not None and y.ndim == 4 and size not in drawn and size[0] * size[1] >= 4:
                drawn.add(size)
                maps = y.numpy()[0]
                row = f"{len(entries) + 1} {node.op_type} {size[0]}×{size[1]}"
                for c in range(min(max_maps, maps.shape[0])):
                    pictures.append(Picture(f"{row} [{c + 1}]", maps[c].copy(), row=row))
        entries.append(entry)

    with no_grad():
        out = module.run(Tensor(x), visit=visit)
    out = out[0] if isinstance(out, tuple) else out
    first_conv = next((n for n in module.nodes if n.op_type == "Conv" and len(n.inputs) > 1), None)
    weight = module.onnx_value(first_conv.inputs[1]) if first_conv is not None else None
    grids = _filters(weight, max_maps, pictures) if weight is not None else []
    header = f"{'#':>4}  {'op':<20} {'input':>18} -> {'output':<18} {'parameters':>10}  name"
    sections = [
        Section("Nodes, one by one", notes=notes, lines=[header, *lines]),
        Section("The first convolution's filters (rounded)", grids=grids) if grids else None,
    ]
    if image is not None:
        probs = to_probabilities(out, path)
        sections.append(_prediction(probs, names or [str(i) for i in range(probs.size)]))
    data = {
        "model": os.fspath(path),
        "opset": opset_of(proto),
        "input_shape": list(x.shape),
        "nodes": entries,
        "image": None if image is None else os.fspath(image),
    }
    return Explanation(
        "model", f"Inside {Path(path).name}", [s for s in sections if s is not None], data=data, pictures=pictures
    )


def _text(shape: Any) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _formulas(geometry: Geometry, where: str, out: tuple[int, ...], lines: list[str], entry: dict[str, Any]) -> None:
    """The output-size formula of each dim, checked against the size the engine gave, into ``lines`` and ``entry``."""
    if out != geometry.out:
        raise FormulaMismatch(f"{where}: the formula gives {geometry.out}, the engine {out}")
    for f in geometry.formulas():
        lines += [f"       {line}" for line in f["lines"]]
        if f["note"]:
            lines.append(f"       ({f['note']})")
        entry["formulas"].append(f["text"])


def _filters(w: np.ndarray, max_maps: int, pictures: list[Picture]) -> list[Any]:
    """The first convolution's filters as pictures (appended to ``pictures``) and, when small, as rounded grids."""
    for o in range(min(max_maps, w.shape[0])):
        pictures.append(
            Picture(f"filter {o + 1}", _displayable(w[o]) if w.ndim == 4 else w[o], row="filters of the first conv")
        )
    if w.ndim != 4 or w.shape[2] > 7:
        return []
    return [
        value_grid("W", f"filter {o + 1}" + (", channel 1" if w.shape[1] > 1 else ""), np.round(w[o, 0], 2), (o, 0))
        for o in range(min(4, w.shape[0]))
    ]


def _prediction(probs: np.ndarray, names: list[str]) -> Section:
    """The three most probable classes."""
    top = np.argsort(-probs)[:3]
    return Section("Prediction", lines=["top-3: " + ", ".join(f"{shown(names[i])} {probs[i]:.1%}" for i in top)])


def _displayable(a: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel or (H, W, 3) scaled to [0, 1] for three; others: the first channel."""
    if a.ndim == 3 and a.shape[0] == 3:
        a = a.transpose(1, 2, 0)
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a[0] if a.ndim == 3 else a
