"""``kernelwise explain pool``: max, mean and min pooling of a window grid, and where each gradient goes.

Pooling is the convolution's window walk with a different reduction and no weights. In backward, max
and min pooling send each dL/dZ to the one input that won its window (the arg-max / arg-min); mean
pooling spreads it evenly, dL/dZ / (number of taps), over the whole window.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import UsageError
from . import engine
from .conv import page_maps, page_settings, show, size_notes
from .report import Explanation, Section, value_grid
from .settings import LayerSettings
from .symbolic import (
    REDUCERS,
    SLIDE_NAMES,
    Geometry,
    Names,
    Sym,
    evaluate,
    pool_equations,
    pool_grad_equations,
    pool_winners,
)
from .values import loss_gradient, parse_values, resolve_layer

POOL_KEYS = ("input", "grad")
TITLES = {"max": "Max pooling", "mean": "Mean (average) pooling", "min": "Min pooling"}


def check_pool(
    geometry: Geometry,
    channels: int,
    reducer: str,
    names: Names = SLIDE_NAMES,
    env: dict[str, np.ndarray] | None = None,
    generator: Any = 0,
) -> dict[str, np.ndarray | None]:
    """Check the pooling formulas and the gradient routing against the engine and autograd.

    Random numbers by default (continuous, so no ties); raises
    :class:`~kernelwise.explain.engine.FormulaMismatch` on any disagreement.

    Example:
        >>> _ = check_pool(Geometry.make((5, 5), 3, stride=2, padding=1), 2, "max")
    """
    if env is None:
        env = {
            names.x: engine.rng_normal(generator, channels, *geometry.size),
            names.grad(names.y): engine.rng_normal(generator, channels, *geometry.out),
        }
    x, grad = env[names.x], env[names.grad(names.y)]
    padding = tuple(lo for lo, _ in geometry.padding)
    result = engine.pool(x, reducer, geometry.kernel, geometry.stride, padding, geometry.dilation, grad)
    engine.check(
        f"{names.y} ({reducer} pooling)",
        evaluate(pool_equations(geometry, channels, reducer, names=names), env, result["y"].shape),
        result["y"],
    )
    routed = evaluate(pool_grad_equations(geometry, channels, reducer, x, names=names), env, x.shape)
    engine.check(f"{names.grad(names.x)} ({reducer} pooling)", routed, result["grad_x"])
    return result


def explain_pool(
    settings: LayerSettings | None = None,
    *,
    values: str | None = None,
    modes: tuple[str, ...] = REDUCERS,
    names: Names = SLIDE_NAMES,
    generator: Any = 0,
    **fields: Any,
) -> Explanation:
    """Max, mean and min pooling, forward and backward, with every window written out.

    Args:
        settings: a :class:`~kernelwise.explain.settings.LayerSettings` (its out_channels unused); its fields
            but out_channels may also be given as keywords, which replace the settings' own:
        input_size, kernel_size: int or tuple (default: the recitation's 4×4 matrix, 2×2 windows).
        stride: default kernel_size (windows side by side, as usual for pooling).
        padding: ints, at most kernel_size // 2 (as PyTorch); dilation: max and min pooling only.
        in_channels: pooling keeps the number of channels.
        dims: 1 or 2 (default 2, or 1 when the given input is 1-D).
        values: ``recitation`` (default), ``random[:SEED]`` or ``input=...;grad=...``.
        modes: which of 'max', 'mean', 'min' to show.

    Example:
        >>> e = explain_pool()
        >>> [s.grids[-1].cells for s in e.sections[1:4]]
        [[['16', '9'], ['67', '13']], [['9.5', '4.75'], ['25.75', '7.75']], [['4', '0'], ['6', '3']]]
    """
    settings = LayerSettings.make(settings, fields, "explain_pool", without=("out_channels",))
    if isinstance(settings.padding, str):
        raise UsageError(f"padding={settings.padding!r}: pooling takes int padding (as PyTorch's pooling)")
    for m in modes:
        if m not in REDUCERS:
            raise UsageError(f"--mode {m!r} is not one of {', '.join(REDUCERS)}")
    v = parse_values(values, "recitation", POOL_KEYS)
    if v.symbolic:
        raise UsageError("--values symbols: pooling compares numbers (which input wins a window), give numbers")
    preset = v.settings()
    settings = replace(settings, kernel_size=settings.kernel_size or preset.get("kernel_size"), out_channels=None)
    layer = resolve_layer(v, settings, kernel=False)
    if "mean" in modes and settings.dilation not in (1, (1,), (1, 1)):
        raise UsageError(
            f"mean pooling has no dilation (as avg_pool in PyTorch), got dilation={settings.dilation}; "
            "use --mode max/min"
        )
    geometry = settings.geometry(layer, stride=settings.stride or preset.get("stride") or layer.kernel)
    if any(lo > k // 2 for (lo, _), k in zip(geometry.padding, geometry.kernel, strict=True)):
        raise UsageError(
            f"padding={show(geometry.padding)} must be at most half of kernel_size={show(geometry.kernel)} (as PyTorch)"
        )
    C = layer.in_channels
    grad = loss_gradient(
        v, (C, *geometry.out), default=np.arange(1.0, C * np.prod(geometry.out) + 1).reshape(C, *geometry.out)
    )
    env = {names.x: layer.x, names.grad(names.y): grad}
    size, out = (", ".join(map(str, shape)) for shape in (geometry.size, geometry.out))
    sections = [
        Section(
            "Output size",
            notes=[
                f"{names.x}: ({C}, {size}) -> {names.y}: ({C}, {out}); pooling keeps the number of channels.",
                *size_notes(geometry, "cells around the input"),
            ],
            formulas=geometry.formulas(),
        )
    ]
    backward = []
    results = {}
    for reducer in modes:
        check_pool(geometry, C, reducer, names, generator=generator)  # the formulas, on random numbers
        result = check_pool(geometry, C, reducer, names, env)  # and on the numbers shown
        results[reducer] = result
        eqs = pool_equations(geometry, C, reducer, names=names)
        for eq in eqs:
            eq.value = float(result["y"][eq.lhs.index])
        winners = pool_winners(geometry, layer.x, reducer) if reducer != "mean" else {}
        grids = []
        pad_value = {"max": -np.inf, "min": np.inf, "mean": 0.0}[reducer]
        for c in range(C):
            label = f"Input {names.x}" + (f", channel {c + 1}" if C > 1 else "")
            grid = value_grid(names.x, label, layer.x[c], (c,), geometry.padding, pad_value, "→")
            grid.marks = [grid.cell_of(Sym(names.x, (c, *p))) for (cc, _), p in winners.items() if cc == c]
            grids.append(grid)
        for c in range(C):
            label = f"{reducer} {names.y}" + (f", channel {c + 1}" if C > 1 else "")
            grids.append(value_grid(names.y, label, result["y"][c], (c,)))
        notes = ["[ ] marks the input that wins each window."] if reducer != "mean" else []
        if any(lo or hi for lo, hi in geometry.padding):
            notes.append(
                {
                    "max": "Padding is -∞: it never wins.",
                    "min": "Padding is +∞: it never wins.",
                    "mean": "Padding is 0 and counts in the divisor (count_include_pad=True).",
                }[reducer]
            )
        sections.append(Section(TITLES[reducer], notes, grids, eqs, env, steps=True))
        back = pool_grad_equations(geometry, C, reducer, layer.x, names=names)
        for eq in back:
            eq.value = float(result["grad_x"][eq.lhs.index])
        backward.append((reducer, back, result["grad_x"]))
    gname, gx = names.grad(names.y), names.grad(names.x)
    for reducer, back, grad_x in backward:
        how = (
            "each dL/dZ goes to the input that won its window; the others get 0"
            if reducer != "mean"
            else "each dL/dZ is spread evenly over its window: dL/dZ / (number of taps)"
        )
        grids = [
            value_grid(gname, gname + (f", channel {c + 1}" if C > 1 else ""), grad[c], (c,), op="→") for c in range(C)
        ]
        grids += [value_grid(gx, gx + (f", channel {c + 1}" if C > 1 else ""), grad_x[c], (c,)) for c in range(C)]
        sections.append(Section(f"Backward of {reducer} pooling: {how}", [], grids, back, env))
    data = {r: {"output": res["y"].tolist(), "grad_input": res["grad_x"].tolist()} for r, res in results.items()}
    data["grad_output"] = grad.tolist()
    page = pool_page(layer.x, grad, geometry, names, results)
    return Explanation(
        "pool", "Pooling: max, mean and min over a window grid", sections, figure=1, page=page, data=data
    )


def pool_page(
    x: np.ndarray, grad: np.ndarray, geometry: Geometry, names: Names, results: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The initial data of the HTML page: input (C, H, W), dL/dZ (C, oh, ow), settings and the engine's numbers."""
    nd, C = geometry.nd, x.shape[0]
    return {
        "mode": "pool",
        "nd": nd,
        "names": {"x": names.x, "w": names.w, "y": names.y, "b": names.b},
        "input": page_maps(x, nd),
        "grad": page_maps(grad, nd),
        "reducers": list(results),
        "settings": {**page_settings(geometry), "channels": [C, C]},
        "engine": {
            r: {"output": page_maps(res["y"], nd), "grad_input": page_maps(res["grad_x"], nd)}
            for r, res in results.items()
        },
    }
