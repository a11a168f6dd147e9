"""ONNX files as the command line uses them: a run exported with what its input needs, a file described,
an image prepared for a model and classified.

A run's export carries, in the model's ``metadata_props``, what ``kernelwise predict`` needs to give the
graph the same input the run's own ``predict`` gives its model: ``kernelwise.mean`` and
``kernelwise.std`` (the normalisation, JSON lists) and ``kernelwise.class_names`` (a JSON list). A file
from elsewhere has none of them: its model gets pixels in [0, 1] and numbered classes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ..tensor import Tensor, no_grad

__all__ = ["ImageModel", "describe", "export_run", "graph_inputs", "load_file", "opset_of", "to_probabilities"]

MEAN, STD, CLASS_NAMES = "kernelwise.mean", "kernelwise.std", "kernelwise.class_names"


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, opset: int | None = None) -> tuple[Any, dict]:
    """Export the model of a run (or of its ``model.safetensors``) to ``out``, with its input's
    normalisation and class names as metadata; return the ``onnx.ModelProto`` and the run's metadata."""
    from ..names import class_names
    from ..runs import load_run
    from .export import export

    model, meta = load_run(run_dir)
    example = Tensor(np.zeros((1, *meta["input_shape"]), dtype=np.float32))
    metadata = {
        MEAN: json.dumps(np.atleast_1d(meta.get("mean", 0.0)).tolist()),
        STD: json.dumps(np.atleast_1d(meta.get("std", 1.0)).tolist()),
        CLASS_NAMES: json.dumps(class_names(meta)),
    }
    return export(model, example, out, opset=opset, metadata=metadata), meta


def load_file(path: str | os.PathLike) -> tuple[Any, Any]:
    """The ONNX file at ``path`` as a kernelwise Module, and its ``onnx.ModelProto``."""
    from .load import load

    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file not found: {path}")
    module = load(path)  # checks the file: readable, supported operators
    import onnx

    return module, onnx.load(os.fspath(path))


def opset_of(proto: Any) -> int:
    """The model's version of the default (``ai.onnx``) operator set."""
    return next((int(e.version) for e in proto.opset_import if e.domain in ("", "ai.onnx")), 1)


def graph_inputs(proto: Any) -> list[tuple[str, tuple[int | str, ...]]]:
    """The graph's inputs that are not initializers: (name, shape), a symbolic dimension by its name."""
    initializers = {i.name for i in proto.graph.initializer}
    return [(v.name, _shape(v)) for v in proto.graph.input if v.name not in initializers]


def _shape(value: Any) -> tuple[int | str, ...]:
    dims = value.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)


def _text(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def describe(path: str | os.PathLike) -> list[str]:
    """The lines of ``kernelwise summary MODEL.onnx``: opset, nodes and parameters, the inputs and
    outputs with their shapes, the nodes by operator."""
    module, proto = load_file(path)
    graph = proto.graph
    params = sum(p.numel() for p in module.parameters())
    lines = [f"{path}: ONNX opset {opset_of(proto)}, {len(graph.node):,} nodes, {params:,} parameters", "inputs:"]
    lines += [f"  {name}  {_text(shape)}" for name, shape in graph_inputs(proto)]
    lines += ["outputs:", *(f"  {value.name}  {_text(_shape(value))}" for value in graph.output)]
    counts = sorted(Counter(n.op_type for n in graph.node).items(), key=lambda item: (-item[1], item[0]))
    return [*lines, "nodes by op type:", *(f"  {op:<24} {count:>5}" for op, count in counts)]


@dataclass
class ImageModel:
    """An ONNX model of one image input (batch, C, H, W), C 1 or 3, ready to classify image files."""

    path: str
    module: Any
    channels: int
    size: tuple[int, int]
    mean: np.ndarray  # (C, 1, 1) or (1, 1, 1): from the file's metadata, else 0
    std: np.ndarray  # likewise, else 1
    class_names: list[str] | None  # from the file's metadata, else None

    @classmethod
    def open(cls, path: str | os.PathLike) -> ImageModel:
        """Load the file at ``path``; a UsageError unless it takes one image input."""
        return cls.of(path, *load_file(path))

    @classmethod
    def of(cls, path: str | os.PathLike, module: Any, proto: Any) -> ImageModel:
        """The model ``module`` loaded from ``proto`` (read from ``path``)."""
        inputs = graph_inputs(proto)
        if len(inputs) != 1:
            raise UsageError(f"{path} takes {len(inputs)} inputs; predict runs a model of one image input")
        name, shape = inputs[0]
        if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]) or shape[1] not in (1, 3):
            raise UsageError(
                f"{path} takes input {name!r} of shape {_text(shape)}; predict needs (batch, C, H, W) with C 1 or 3 "
                "and H, W fixed"
            )
        props = {p.key: p.value for p in proto.metadata_props}
        channels = int(shape[1])
        mean = _numbers(path, props, MEAN, channels, 0.0)
        std = _numbers(path, props, STD, channels, 1.0)
        if not np.all(std > 0):
            raise DataError(f"{path}: metadata {STD} must be positive, got {std.ravel().tolist()}")
        names = _metadata(path, props, CLASS_NAMES)
        module.eval()
        return cls(
            os.fspath(path),
            module,
            channels,
            (int(shape[2]), int(shape[3])),
            mean,
            std,
            None if names is None else [str(n) for n in names],
        )

    def prepare(self, image: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
        """The image file as the model's input (1, C, H, W): pixels / 255, normalised as the metadata says,
        and what was converted."""
        from ..images import read_pixels

        pixels, notes = read_pixels(image, "L" if self.channels == 1 else "RGB", self.size)
        return ((pixels.astype(np.float32) / 255.0 - self.mean) / self.std)[None], notes

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The model's first output for ``x``, as probabilities (a softmax unless they already are)."""
        with no_grad():
            out = self.module(Tensor(x))
        return to_probabilities(out[0] if isinstance(out, tuple) else out, self.path)


def to_probabilities(out: Tensor, path: Any) -> np.ndarray:
    """A model's output for one input as probabilities: a softmax of the scores, unless they already are."""
    scores = np.asarray(out.numpy(), dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise UsageError(f"{path} gives an empty output")
    if np.all(scores >= 0) and abs(scores.sum() - 1) < 1e-3:  # already probabilities
        return scores
    scores = np.exp(scores - scores.max())  # softmax
    return scores / scores.sum()


def _numbers(path: Any, props: dict[str, str], key: str, channels: int, default: float) -> np.ndarray:
    """One finite number, or one per channel, kept under ``key`` (``default`` without it), as (C or 1, 1, 1)."""
    value = _metadata(path, props, key)
    if value is None:
        return np.full((1, 1, 1), default, dtype=np.float32)
    if len(value) not in (1, channels) or not all(type(v) in (int, float) and np.isfinite(v) for v in value):
        raise DataError(f"{path}: metadata {key} must be 1 or {channels} finite numbers, got {props[key][:80]!r}")
    return np.asarray(value, dtype=np.float32).reshape(-1, 1, 1)


def _metadata(path: Any, props: dict[str, str], key: str) -> Any:
    """A JSON list kept under ``key`` in the model's metadata, or None when the file has none."""
    if key not in props:
        return None
    try:
        value = json.loads(props[key])
    except ValueError:
        raise DataError(f"{path}: metadata {key} is not JSON: {props[key][:80]!r}") from None
    if not isinstance(value, list) or not value:
        raise DataError(f"{path}: metadata {key} must be a non-empty JSON list, got {props[key][:80]!r}")
    return value
