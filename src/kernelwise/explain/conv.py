"""``kernelwise explain conv``: the sliding window, step by step, with every output written out.

Z[1,1] = A[1,1]·W[1,1] + A[1,2]·W[1,2] + A[2,1]·W[2,1] + A[2,2]·W[2,2] + B, as on the slides; the output
size formula with the numbers filled in; padding as zeros around the input; dilation as taps spread
apart; several input channels as one sum per channel, several filters as one output map each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import engine
from .report import Explanation, Grid, Section, symbol_grid, value_grid
from .settings import LayerSettings
from .symbolic import (
    SLIDE_NAMES,
    Array,
    Equation,
    Geometry,
    Names,
    conv_equations,
    conv_grad_bias_equations,
    conv_grad_input_equations,
    conv_grad_weight_equations,
    evaluate,
)
from .values import Layer, loss_gradient, parse_values, random_ints, resolve_layer

CONV_KEYS = ("input", "kernel", "bias", "grad")


def conv_formulas(
    geometry: Geometry, in_channels: int, out_channels: int, bias: bool = True, names: Names = SLIDE_NAMES
) -> dict[str, list[Equation]]:
    """Every written-out formula of a convolution: the outputs and the gradients of input, weight and bias."""
    C, O = in_channels, out_channels
    return {
        "y": conv_equations(geometry, C, O, bias, names),
        "grad_w": conv_grad_weight_equations(geometry, C, O, names),
        "grad_x": conv_grad_input_equations(geometry, C, O, names),
        "grad_b": conv_grad_bias_equations(geometry, O, names) if bias else [],
    }


def check_conv(
    geometry: Geometry,
    in_channels: int,
    out_channels: int,
    padding: Any,
    names: Names = SLIDE_NAMES,
    env: dict[str, np.ndarray] | None = None,
    generator: Any = 0,
    formulas: dict[str, list[Equation]] | None = None,
) -> dict[str, np.ndarray | None]:
    """Check the written-out forward and backward formulas against the engine and autograd.

    Without ``env`` the numbers are random (float64, standard normal; with a bias unless ``formulas``
    have none); with it, those numbers. ``formulas`` (from :func:`conv_formulas`) are built when not
    given. Raises :class:`~kernelwise.explain.engine.FormulaMismatch` on any disagreement; returns the
    engine's results.

    Example:
        >>> _ = check_conv(Geometry.make((5, 5), 3, stride=2, padding=1, dilation=1), 2, 3, 1)
    """
    C, O = in_channels, out_channels
    bias = (names.b in env) if env is not None else (formulas is None or bool(formulas["grad_b"]))
    formulas = formulas or conv_formulas(geometry, C, O, bias, names)
    if env is None:
        rng = engine.rng_normal
        env = {
            names.x: rng(generator, C, *geometry.size),
            names.w: rng(generator, O, C, *geometry.kernel),
            names.grad(names.y): rng(generator, O, *geometry.out),
        }
        if bias:
            env[names.b] = rng(generator, O)
    x, w, b, grad = env[names.x], env[names.w], env.get(names.b), env[names.grad(names.y)]
    result = engine.conv(x, w, b, geometry.stride, padding, geometry.dilation, grad)
    engine.check(f"{names.y} (forward)", evaluate(formulas["y"], env, (O, *geometry.out)), result["y"])
    engine.check(names.grad(names.w), evaluate(formulas["grad_w"], env, w.shape), result["grad_w"])
    engine.check(names.grad(names.x), evaluate(formulas["grad_x"], env, x.shape), result["grad_x"])
    if b is not None:
        engine.check(names.grad(names.b), evaluate(formulas["grad_b"], env, b.shape), result["grad_b"])
    return result


def layer_grids(layer: Layer, geometry: Geometry, names: Names, y: np.ndarray | None = None) -> list[Grid]:
    """Input (padded, per channel), kernel (per filter and channel) and output (per filter) as the slides draw them."""
    C, O = layer.in_channels, layer.out_channels
    A, W, Z = (Array(n, lead, geometry.nd) for n, lead in ((names.x, (C,)), (names.w, (O, C)), (names.y, (O,))))
    grids = []
    for c in range(C):
        label = f"Input {names.x}" + (f", channel {c + 1}" if C > 1 else "")
        if layer.x is None:
            grids.append(symbol_grid(A, label, (c,), geometry.size, geometry.padding))
        else:
            grids.append(value_grid(names.x, label, layer.x[c], (c,), geometry.padding))
    grids[-1].op = "⋆"
    for o in range(O):
        for c in range(C):
            label = (
                f"Kernel {names.w}" + (f", filter {o + 1}" if O > 1 else "") + (f", channel {c + 1}" if C > 1 else "")
            )
            if layer.w is None:
                grids.append(symbol_grid(W, label, (o, c), geometry.kernel))
            else:
                grids.append(value_grid(names.w, label, layer.w[o, c], (o, c)))
    grids[-1].op = "="
    for o in range(O):
        label = f"Output {names.y}" + (f", filter {o + 1}" if O > 1 else "")
        grids.append(symbol_grid(Z, label, (o,), geometry.out) if y is None else value_grid(names.y, label, y[o], (o,)))
    return grids


def show(setting: tuple) -> str:
    """A per-dim setting as the user would type it: ``2`` when every dim agrees, else ``(2, 1)``.

    Example:
        >>> show((2, 2)), show(((1, 1), (1, 1))), show((1, 2)), show(((0, 1),))
        ('2', '1', '(1, 2)', '(0, 1)')
    """
    flat = [p[0] if isinstance(p, tuple) and p[0] == p[1] else p for p in setting]
    if len(set(flat)) == 1 and not isinstance(flat[0], tuple):
        return str(flat[0])
    return str(tuple(flat)) if len(flat) > 1 else str(flat[0])


def size_notes(geometry: Geometry, pad: str = "zeros around the input (shown as 0)") -> list[str]:
    """What padding, dilation and the floor of the output-size formula do here."""
    notes = []
    if any(lo or hi for lo, hi in geometry.padding):
        notes.append(f"Padding {show(geometry.padding)}: {pad} let the window sit on the border too.")
    if any(d > 1 for d in geometry.dilation):
        notes.append(
            f"Dilation {show(geometry.dilation)}: the taps of the kernel are d apart, so a kernel of size k spans "
            "d·(k - 1) + 1 inputs."
        )
    if any(s > 1 for s in geometry.stride):
        notes.append(f"Stride {show(geometry.stride)}: the window moves {show(geometry.stride)} positions at a time.")
    return notes + [f["note"] for f in geometry.formulas() if f["note"]]


def explain_conv(
    settings: LayerSettings | None = None,
    *,
    values: str | None = None,
    bias: bool = True,
    names: Names = SLIDE_NAMES,
    generator: Any = 0,
    **fields: Any,
) -> Explanation:
    """The convolution of the slides, for any settings: grids, output-size formula, every output written out.

    Args:
        settings: a :class:`~kernelwise.explain.settings.LayerSettings`; its fields may also be given as
            keywords, which replace the settings' own (an unknown keyword is a TypeError):
        input_size, kernel_size: int (square) or tuple; default 4 and 2 (the slides' 4×4 input, 2×2 kernel).
        stride (default 1), padding ('valid', 'same', 'full' or ints), dilation: as ``conv1d``/``conv2d``.
        in_channels, out_channels: channels of the input and number of filters (default 1).
        dims: 1 or 2 (default 2, or 1 when the given numbers are 1-D).
        values: ``symbols`` (default), ``random[:SEED]``, ``edge`` or ``input=...;kernel=...;bias=...``.
        bias: add a bias B per filter.

    Example:
        >>> e = explain_conv(values="edge")
        >>> e.sections[1].grids[-1].cells[0]
        ['0', '0', '4', '4', '0', '0']
        >>> str(explain_conv().sections[1].equations[1])
        'Z[1,2] = A[1,2]·W[1,1] + A[1,3]·W[1,2] + A[2,2]·W[2,1] + A[2,3]·W[2,2] + B'
    """
    settings = LayerSettings.make(settings, fields, "explain_conv", stride=1)
    v = parse_values(values, "symbols", CONV_KEYS)
    layer = resolve_layer(v, settings)
    geometry = settings.geometry(layer)
    C, O = layer.in_channels, layer.out_channels
    written = conv_formulas(geometry, C, O, bias, names)
    # the formulas, on random numbers, then (below, unless symbolic) on the numbers shown
    check_conv(geometry, C, O, settings.padding, names, generator=generator, formulas=written)
    env = None
    y = None
    if layer.x is not None:
        b = layer.b if bias else None
        grad = loss_gradient(v, (O, *geometry.out))
        env = {names.x: layer.x, names.w: layer.w, names.grad(names.y): grad}
        if b is not None:
            env[names.b] = b
        y = check_conv(geometry, C, O, settings.padding, names, env, formulas=written)["y"]
    eqs = written["y"]
    if y is not None:
        for eq in eqs:
            eq.value = float(y[eq.lhs.index])
    formulas = geometry.formulas()
    size, out = (", ".join(map(str, shape)) for shape in (geometry.size, geometry.out))
    shape_note = f"{names.x}: ({C}, {size}) -> {names.y}: ({O}, {out})"
    sections = [
        Section("Output size", notes=[shape_note, *size_notes(geometry)], formulas=formulas),
        Section(
            (f"{names.x} ⋆ {names.w} + {names.b} = {names.y}" if bias else f"{names.x} ⋆ {names.w} = {names.y}")
            + ": sliding the window, one output at a time",
            notes=_channel_notes(C, O, names),
            grids=layer_grids(layer, geometry, names, y),
            equations=eqs,
            env=env,
            steps=True,
        ),
    ]
    page = conv_page(layer, geometry, settings.padding, names, bias, v.seed)
    data = {
        "input_shape": [C, *geometry.size],
        "kernel_shape": [O, C, *geometry.kernel],
        "output_shape": [O, *geometry.out],
        "stride": list(geometry.stride),
        "padding": [list(p) for p in geometry.padding],
        "dilation": list(geometry.dilation),
        "checked": "every formula evaluated on random numbers equals the engine's forward and autograd's backward",
    }
    return Explanation("conv", "Convolution, one window at a time", sections, figure=1, page=page, data=data)


def _channel_notes(C: int, O: int, names: Names) -> list[str]:
    notes = []
    if C > 1:
        notes.append(
            f"Each filter has as many channels as the input ({C}); channel c of the filter convolves with channel c of "
            f"the input, and the {C} sums add up (one bracket per channel below)."
        )
    if O > 1:
        notes.append(f"{O} filters give {O} output maps: the number of output channels is the number of filters.")
    if C > 1 or O > 1:
        notes.append(f"Indices: {names.x}[c,i,j], {names.w}[filter,c,i,j], {names.y}[filter,i,j], 1-based.")
    return notes


def page_settings(geometry: Geometry) -> dict[str, Any]:
    """Settings per dim for the page, which always walks 2-D grids: a 1-D signal is one row (k = 1 along it).

    ``padding`` is a (before, after) pair per dim, as :class:`~kernelwise.ops.geometry.ConvGeometry` keeps it.
    """
    one_row = geometry.nd == 1  # a signal is one row: along the rows k = 1, s = 1, P = 0, d = 1
    padding = [list(p) for p in geometry.padding]
    return {
        "kernel": [1, *geometry.kernel] if one_row else list(geometry.kernel),
        "stride": [1, *geometry.stride] if one_row else list(geometry.stride),
        "padding": [[0, 0], *padding] if one_row else padding,
        "dilation": [1, *geometry.dilation] if one_row else list(geometry.dilation),
    }


def page_maps(a: np.ndarray, nd: int) -> list:
    """An array (leading channel dims, then nd spatial dims) as nested lists of 2-D maps: a 1-D signal is one row."""
    return (np.expand_dims(a, -2) if nd == 1 else a).tolist()


def conv_page(
    layer: Layer, geometry: Geometry, padding: Any, names: Names, bias: bool, seed: int, mode: str = "conv"
) -> dict[str, Any]:
    """The initial data of the HTML page: every channel and filter, numbers (random integers in symbols mode).

    Shape: ``input`` (C, H, W), ``kernel`` (O, C, kh, kw), ``bias`` (O,), ``grad`` = dL/dZ (O, oh, ow), as
    nested lists (a 1-D signal is one row); ``settings`` are per dim, ``channels`` is [C, O]. ``mode``
    'stride' adds the stride-1 output Y (the page shows Z as Y with the intermediates dropped).
    """
    C, O, nd = layer.in_channels, layer.out_channels, geometry.nd
    x = layer.x if layer.x is not None else random_ints(seed, (C, *geometry.size), 0, 9)
    w = layer.w if layer.w is not None else random_ints(seed + 1, (O, C, *geometry.kernel), -2, 2)
    b = (layer.b if layer.b is not None else np.zeros(O)) if bias else np.zeros(O)
    grad = random_ints(seed + 3, (O, *geometry.out), -2, 2)
    result = engine.conv(x, w, b, geometry.stride, padding, geometry.dilation, grad)
    expected = {
        "output": page_maps(result["y"], nd),
        "grad_input": page_maps(result["grad_x"], nd),
        "grad_weight": page_maps(result["grad_w"], nd),
    }
    if mode == "stride":  # Z = Y[::s]: the stride-1 output, whose kept entries the page marks
        expected["stride1"] = page_maps(engine.conv(x, w, b, 1, padding, geometry.dilation)["y"], nd)
    return {
        "mode": mode,
        "nd": nd,
        "names": {"x": names.x, "w": names.w, "y": names.y, "b": names.b},
        "input": page_maps(x, nd),
        "kernel": page_maps(w, nd),
        "bias": [float(v) for v in b],
        "grad": page_maps(grad, nd),
        "use_bias": bias,
        "settings": {**page_settings(geometry), "channels": [C, O]},
        "engine": expected,
    }
