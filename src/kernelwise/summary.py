"""Per-layer summary of a model: output shapes (with the output-size formula's numbers),
parameter counts and FLOPs.

FLOPs count a multiply-add as 2: a convolution costs 2·(C_in/groups)·k·O·(output positions)
per sample, a linear layer 2·in·out.

Example:
    >>> from kernelwise.models import build_model
    >>> rows = summarize(build_model("lenet5", generator=0), (1, 28, 28))
    >>> rows[0]["output_shape"], rows[0]["formula"]
    ((6, 28, 28), 'floor((28 - 5 + 2·2) / 1) + 1 = 28')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import nn
from .ops.geometry import ConvGeometry
from .tensor import Tensor, no_grad


def _formula(layer: nn.Module, in_shape: tuple[int, ...]) -> str:
    """The output-size formula with this layer's numbers, one term per spatial dim."""
    k = getattr(layer, "kernel_size", None)
    if k is None or isinstance(layer, nn.ConvTranspose1d | nn.ConvTranspose2d):
        return ""
    spatial = in_shape[1:]
    nd = len(spatial)

    def tup(v: Any) -> tuple[int, ...]:
        return tuple(v) if isinstance(v, tuple | list) else (v,) * nd

    ks, ss = tup(k), tup(getattr(layer, "stride", None) or k)
    ps, ds = tup(getattr(layer, "padding", 0)), tup(getattr(layer, "dilation", 1))
    if any(isinstance(p, str) for p in ps):
        return f"padding={ps[0]!r}"
    ceil_mode = bool(getattr(layer, "ceil_mode", False))
    rounding = "ceil" if ceil_mode else "floor"
    terms = []
    for n, kk, s, p, d in zip(spatial, ks, ss, ps, ds, strict=False):
        span = f"{d}·({kk} - 1) - 1" if d != 1 else f"{kk}"
        (out,) = ConvGeometry.make(n, kk, s, p, d, ceil_mode=ceil_mode, check=False).out
        rounded = -(-(n - d * (kk - 1) - 1 + 2 * p) // s) + 1 if ceil_mode else out
        dropped = " - 1 (the last window would start in the padding)" if rounded != out else ""
        terms.append(f"{rounding}(({n} - {span} + 2·{p}) / {s}) + 1{dropped} = {out}")
    return terms[0] if len(set(terms)) == 1 else ", ".join(terms)  # one term when every side is alike


def _layer_text(layer: nn.Module) -> str:
    """The layer on one line: its repr (``Conv2d(1, 6, kernel_size=(5, 5), ...)``), or for a layer made of
    others its class and theirs (``BasicBlock(conv1: Conv2d, bn1: BatchNorm2d, ...)``)."""
    children = list(layer.named_children())
    if not children:
        return " ".join(repr(layer).split())
    return f"{type(layer).__name__}({', '.join(f'{name}: {type(child).__name__}' for name, child in children)})"


def _flops(layer: nn.Module, out_shape: tuple[int, ...]) -> int:
    positions = int(np.prod(out_shape[1:])) if len(out_shape) > 1 else 1
    if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.ConvTranspose1d | nn.ConvTranspose2d):
        w = layer.weight.shape
        per_output = (
            int(np.prod(w[1:]))
            if not isinstance(layer, nn.ConvTranspose1d | nn.ConvTranspose2d)
            else int(np.prod(w[2:]) * w[0] // getattr(layer, "groups", 1))
        )
        return 2 * per_output * out_shape[0] * positions
    if isinstance(layer, nn.Linear):
        return 2 * layer.weight.shape[0] * layer.weight.shape[1]
    return 0


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per top-level layer: name, layer repr, output shape, formula, parameters, FLOPs (per sample)."""
    layers = list(model.named_children()) if isinstance(model, nn.Sequential) else [("model", model)]
    x = Tensor(np.zeros((1, *input_shape), dtype=np.float32))
    rows = []
    was_training = model.training
    model.eval()
    with no_grad():
        for name, layer in layers:
            in_shape = x.shape[1:]
            x = layer(x)
            out_shape = x.shape[1:]
            rows.append(
                {
                    "name": name,
                    "layer": _layer_text(layer),
                    "output_shape": tuple(out_shape),
                    "formula": _formula(layer, in_shape),
                    "parameters": sum(p.numel() for p in layer.parameters()),
                    "flops": _flops(layer, out_shape) if not list(layer.children()) else _nested_flops(layer, in_shape),
                }
            )
    model.train(was_training)
    return rows


def _nested_flops(module: nn.Module, in_shape: tuple[int, ...]) -> int:
    """FLOPs of a composite layer: run it with hooks-free tracing of its conv/linear children."""
    total = 0
    shapes: dict[int, tuple[int, ...]] = {}
    for sub in module.modules():
        if isinstance(sub, nn.Conv1d | nn.Conv2d | nn.Linear | nn.ConvTranspose1d | nn.ConvTranspose2d):
            original = sub.forward

            def traced(x: Tensor, _orig: Any = original, _sub: nn.Module = sub) -> Tensor:
                y = _orig(x)
                shapes[id(_sub)] = y.shape[1:]
                return y

            object.__setattr__(sub, "forward", traced)  # shadow the method on this instance only
    try:
        module(Tensor(np.zeros((1, *in_shape), dtype=np.float32)))
    finally:
        for sub in module.modules():
            sub.__dict__.pop("forward", None)
    for sub in module.modules():
        if id(sub) in shapes:
            total += _flops(sub, shapes[id(sub)])
    return total


def format_summary(name: str, rows: list[dict[str, Any]], input_shape: tuple[int, ...]) -> str:
    """The summary as an aligned text table."""
    head = ("layer", "output shape", "output size = floor((W_in - d(k-1) - 1 + 2P) / S) + 1", "params", "FLOPs")
    body = [
        (
            f"{r['name']}: {r['layer']}",
            str(r["output_shape"]),
            r["formula"],
            f"{r['parameters']:,}",
            f"{r['flops']:,}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = [f"{name}: input {tuple(input_shape)}"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body]
    params = sum(r["parameters"] for r in rows)
    flops = sum(r["flops"] for r in rows)
    lines.append(f"total: {params:,} parameters, {flops:,} FLOPs per sample (a multiply-add counts 2)")
    return "\n".join(lines)
