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

from .engine import FormulaMismatch
from .report import Explanation, Picture, Section, value_grid
from .symbolic import Geometry

WINDOWED = ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "MinPool1d", "MinPool2d", "AvgPool1d", "AvgPool2d")


def layer_geometry(layer: Any, size: tuple[int, ...]) -> Geometry | None:
    """The window geometry of a convolution or pooling layer on an input of spatial ``size`` (None for others)."""
    if type(layer).__name__ not in WINDOWED:
        return None
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    return Geometry.make(size, layer.kernel_size, stride, layer.padding, getattr(layer, "dilation", 1))


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
    from ..names import class_names, shown
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
    grids = []
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
                if tuple(y.shape[2:]) != geometry.out and not getattr(layer, "ceil_mode", False):
                    raise FormulaMismatch(
                        f"layer {name} ({kind}): the formula gives {geometry.out}, the engine {tuple(y.shape[2:])}"
                    )
                for f in geometry.formulas():
                    lines += [f"       {line}" for line in f["lines"]]
                    if f["note"]:
                        lines.append(f"       ({f['note']})")
                    entry["formulas"].append(f["text"])
                if path is not None and y.ndim == 4:
                    maps = y.numpy()[0]
                    for c in range(min(max_maps, maps.shape[0])):  # copies: the layer's whole output is let go
                        pictures.append(Picture(f"{name} {kind} [{c + 1}]", maps[c].copy(), row=f"{name} {kind}"))
            layers.append(entry)
            h = y
    first = next((m for _, m in model.named_children() if type(m).__name__ in ("Conv1d", "Conv2d")), None)
    if first is not None:
        w = first.weight.numpy()
        for o in range(min(max_maps, w.shape[0])):
            pictures.append(
                Picture(f"filter {o + 1}", _displayable(w[o]) if w.ndim == 4 else w[o], row="filters of the first conv")
            )
        if w.ndim == 4 and w.shape[2] <= 7:
            grids = [
                value_grid(
                    "W", f"filter {o + 1}" + (", channel 1" if w.shape[1] > 1 else ""), np.round(w[o, 0], 2), (o, 0)
                )
                for o in range(min(4, w.shape[0]))
            ]
    sections = [
        Section("Layers, one by one", notes=notes, lines=lines),
        Section("The first convolution's filters (rounded)", grids=grids) if grids else None,
    ]
    if path is not None:
        probs = F.softmax(h, dim=1).numpy()[0]
        names = [shown(name) for name in class_names(meta)]
        top = np.argsort(-probs)[:3]
        sections.append(Section("Prediction", lines=["top-3: " + ", ".join(f"{names[i]} {probs[i]:.1%}" for i in top)]))
    data = {"model": meta["model"], "input_shape": list(meta["input_shape"]), "layers": layers, "image": path}
    return Explanation(
        "model", f"Inside {meta['model']}", [s for s in sections if s is not None], data=data, pictures=pictures
    )


def _displayable(a: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel or (H, W, 3) scaled to [0, 1] for three; others: the first channel."""
    if a.ndim == 3 and a.shape[0] == 3:
        a = a.transpose(1, 2, 0)
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a[0] if a.ndim == 3 else a
