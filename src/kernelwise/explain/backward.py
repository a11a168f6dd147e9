"""``kernelwise explain backward``: the chain rule, then every gradient of a convolution written out.

First the recitation's small graph, f = (x + y)·z. Then, for a convolution O = X ⋆ F (the slides'
letters), the local gradients of one output, every dL/dF[i,j] and dL/dX[i,j] as a sum of products,
and the two conclusions:

    dL/dF = X ⋆ dL/dO                                   (a convolution of the input with the gradient)
    dL/dX = full convolution of rot180(F) with dL/dO    (the gradient padded by d·(k - 1), zero-inserted for a stride)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from . import engine
from .conv import CONV_KEYS, check_conv, conv_formulas, conv_page, layer_grids, show, size_notes
from .report import Explanation, Grid, Section, symbol_grid, text_grid, value_grid
from .settings import LayerSettings
from .symbolic import (
    Array,
    Equation,
    Geometry,
    Names,
    number,
)
from .values import PRESETS, loss_gradient, parse_values, resolve_layer

BACKWARD_KEYS = ("x", "y", "z", *CONV_KEYS)
SLIDES = Names("X", "F", "O", "B")


def _n(v: float) -> str:
    text = number(v)
    return f"({text})" if text.startswith("-") else text


def chain_rule_lines(x: float, y: float, z: float) -> list[str]:
    """f = (x + y)·z forward and backward, every number from autograd, every formula checked against it.

    Example:
        >>> lines = chain_rule_lines(-2, 5, -4)
        >>> lines[1], lines[-1]
        ('           f = q·z = 3·(-4) = -12', '           df/dy = df/dq·dq/dy = -4·1 = -4')
    """
    r = engine.chain_rule(x, y, z)
    formulas = {
        "q": x + y,
        "f": r["q"] * z,
        "df/dq": z,
        "df/dz": r["q"],
        "df/dx": r["df/dq"] * 1,
        "df/dy": r["df/dq"] * 1,
    }
    for name, value in formulas.items():
        engine.check(name, np.array(value), np.array(r[name]))
    return [
        f"forward:   q = x + y = {_n(x)} + {_n(y)} = {number(r['q'])}",
        f"           f = q·z = {_n(r['q'])}·{_n(z)} = {number(r['f'])}",
        "backward:  df/df = 1",
        f"           df/dq = z = {number(r['df/dq'])}      (local gradient of f = q·z)",
        f"           df/dz = q = {number(r['df/dz'])}",
        "           dq/dx = 1, dq/dy = 1   (local gradients of q = x + y)",
        f"           df/dx = df/dq·dq/dx = {number(r['df/dq'])}·1 = {number(r['df/dx'])}",
        f"           df/dy = df/dq·dq/dy = {number(r['df/dq'])}·1 = {number(r['df/dy'])}",
    ]


def local_gradient_lines(eq: Equation) -> list[str]:
    """d(output)/d(weight) = the input it multiplies, and d(output)/d(input) = the weight (one output's sum).

    Example:
        >>> from kernelwise.explain.symbolic import conv_equations
        >>> geometry = Geometry.make((3, 3), 2)
        >>> local_gradient_lines(conv_equations(geometry, 1, 1, False, SLIDES)[0])[0]
        'dO[1,1]/dF[1,1] = X[1,1]   dO[1,1]/dF[1,2] = X[1,2]   dO[1,1]/dF[2,1] = X[2,1]   dO[1,1]/dF[2,2] = X[2,2]'
    """
    out = str(eq.lhs)
    by_weight = [f"d{out}/d{w} = {a}" for a, w in (t.factors for t in eq.terms)]
    by_input = [f"d{out}/d{a} = {w}" for a, w in (t.factors for t in eq.terms) if not a.padding]
    return ["   ".join(by_weight), "   ".join(by_input)]


def explain_backward(
    settings: LayerSettings | None = None, *, values: str | None = None, generator: Any = 0, **fields: Any
) -> Explanation:
    """The chain rule, then the backward pass of a convolution: every gradient as a sum of products.

    Args: ``settings`` or its fields as keywords (input_size, kernel_size, stride, padding, dilation,
    in_channels, out_channels, dims) and ``values``, as :func:`~kernelwise.explain.conv.explain_conv`
    (default: the slides' 3×3 X and 2×2 F, stride 1, symbols); ``values`` may also set the chain rule's
    ``x=..;y=..;z=..`` (default -2, 5, -4).

    Example:
        >>> e = explain_backward()
        >>> str(e.sections[4].equations[4])
        'dL/dX[2,2] = dL/dO[1,1]·F[2,2] + dL/dO[1,2]·F[2,1] + dL/dO[2,1]·F[1,2] + dL/dO[2,2]·F[1,1]'
    """
    settings = LayerSettings.make(settings, fields, "explain_backward", stride=1)
    v = parse_values(values, "symbols", BACKWARD_KEYS)
    chain = {k: float(np.asarray(v.arrays.get(k, PRESETS["chain"][k])).ravel()[0]) for k in "xyz"}
    if v.mode == "given" and "input" not in v.arrays:
        v.mode = "symbols"  # only the chain rule's numbers were given
    layer = resolve_layer(v, settings, default_size=3)
    geometry = settings.geometry(layer)
    C, O = layer.in_channels, layer.out_channels
    n = SLIDES
    written = conv_formulas(geometry, C, O, False, n)
    # the formulas, on random numbers, then (below) on the numbers shown, with autograd's gradients
    check_conv(geometry, C, O, settings.padding, n, generator=generator, formulas=written)
    symbolic = layer.x is None
    rng = engine.rng_normal
    x = rng(generator, C, *geometry.size) if symbolic else layer.x
    w = rng(generator, O, C, *geometry.kernel) if symbolic else layer.w
    grad = loss_gradient(v, (O, *geometry.out), rng(generator, O, *geometry.out) if symbolic else None)
    env = {n.x: x, n.w: w, n.grad(n.y): grad}
    result = check_conv(geometry, C, O, settings.padding, n, env, formulas=written)
    as_conv = engine.grad_weight_as_conv(x, grad, geometry.kernel, geometry.stride, geometry.padding, geometry.dilation)
    engine.check("dL/dF = X ⋆ dL/dO", as_conv["grad_w"], result["grad_w"])
    as_full = engine.grad_input_as_full_conv(
        grad, w, geometry.size, geometry.stride, geometry.padding, geometry.dilation
    )
    engine.check("dL/dX = full convolution of rot180(F) with dL/dO", as_full["grad_x"], result["grad_x"])
    shown_env = None if symbolic else env

    forward, grad_w_eqs, grad_x_eqs = written["y"], written["grad_w"], written["grad_x"]
    if not symbolic:
        for eqs, key in ((forward, "y"), (grad_w_eqs, "grad_w"), (grad_x_eqs, "grad_x")):
            for eq in eqs:
                eq.value = float(result[key][eq.lhs.index])
    G = Array(n.grad(n.y), (O,), geometry.nd)
    GW, GX = Array(n.grad(n.w), (O, C), geometry.nd), Array(n.grad(n.x), (C,), geometry.nd)
    grads = _grid_set(symbolic, G, n.grad(n.y), grad, (O,), geometry.out, "")
    grads_w = _grid_set(symbolic, GW, n.grad(n.w), result["grad_w"], (O, C), geometry.kernel, "")
    grads_x = _grid_set(symbolic, GX, n.grad(n.x), result["grad_x"], (C,), geometry.size, "")
    fwd_grids = layer_grids(layer, geometry, n, None if symbolic else result["y"])
    inputs = [gr for gr in fwd_grids if gr.name == n.x]
    kernels = [gr for gr in fwd_grids if gr.name == n.w]
    first = "(filter 1, channel 1 shown; the others alike)" if C > 1 or O > 1 else ""

    sections = [
        Section(
            "The chain rule on a small graph: f = (x + y)·z",
            lines=chain_rule_lines(**chain),
            notes=["Each node multiplies the gradient that reaches it by its local gradient: df/dx = df/dq·dq/dx."],
        ),
        Section(
            f"Forward: {n.y} = {n.x} ⋆ {n.w}",
            notes=size_notes(geometry),
            formulas=geometry.formulas(),
            grids=fwd_grids,
            equations=forward,
            env=shown_env,
            steps=True,
        ),
        Section(
            f"Step 1, local gradients of {forward[0].lhs}",
            notes=[f"Differentiate the sum {forward[0]} term by term."],
            lines=local_gradient_lines(forward[0]),
        ),
        Section(
            f"Step 2, the chain rule for {n.grad(n.w)}: dL/d{n.w}[i] = Σ_k dL/d{n.y}[k]·d{n.y}[k]/d{n.w}[i]",
            notes=[f"{n.grad(n.y)} comes from the next layer; every output that {n.w}[i] touched contributes."],
            grids=[*_with_op(inputs, "⋆"), *_with_op(grads, "="), *grads_w],
            equations=grad_w_eqs,
            env=shown_env,
            steps=True,
        ),
    ]
    sections.append(
        Section(
            f"Step 2, the chain rule for {n.grad(n.x)}: dL/d{n.x}[i] = Σ_k dL/d{n.y}[k]·d{n.y}[k]/d{n.x}[i]",
            notes=[
                f"An input feeds every window that covers it: corners one, the middle up to "
                f"{int(np.prod(geometry.kernel))} (one per kernel tap)."
            ],
            grids=[*_with_op(grads, "·"), *_with_op(kernels, "→"), *grads_x],
            equations=grad_x_eqs,
            env=shown_env,
            steps=True,
        )
    )
    sections += _conclusions(geometry, n, symbolic, layer, grad, as_conv, as_full, result, first)
    data = {
        "chain_rule": engine.chain_rule(**chain),
        "grad_weight": result["grad_w"].tolist(),
        "grad_input": result["grad_x"].tolist(),
        "grad_output": grad.tolist(),
        "symbolic": symbolic,
    }
    page = conv_page(layer, geometry, settings.padding, n, False, v.seed)
    return Explanation("backward", "Backpropagation through a convolution", sections, figure=4, page=page, data=data)


def _with_op(grids: list[Grid], op: str) -> list[Grid]:
    """Copies of ``grids`` with ``op`` after the last one (grids appear in several sections)."""
    grids = [replace(grid) for grid in grids]
    if grids:
        grids[-1].op = op
    return grids


def _grid_set(
    symbolic: bool, array: Array, name: str, values: np.ndarray, leads: tuple[int, ...], size: tuple[int, ...], op: str
) -> list[Grid]:
    """One grid per leading index (channel, or filter and channel) of an array, symbols or numbers."""
    grids = []
    for lead in np.ndindex(*leads):
        suffix = ", ".join(
            f"{w} {i + 1}"
            for w, i, m in zip(("filter", "channel") if len(leads) == 2 else ("channel",), lead, leads)
            if m > 1
        )
        label = name + (f" ({suffix})" if suffix else "")
        grids.append(symbol_grid(array, label, lead, size) if symbolic else value_grid(name, label, values[lead], lead))
    return _with_op(grids, op)


def _conclusions(
    geometry: Geometry,
    n: Names,
    symbolic: bool,
    layer: Any,
    grad: np.ndarray,
    as_conv: dict[str, np.ndarray],
    as_full: dict[str, np.ndarray],
    result: dict[str, Any],
    first: str,
) -> list[Section]:
    """The two conclusions, drawn for filter 1 and channel 1, computed with the engine's convolution."""
    s, d, nd = geometry.stride, geometry.dilation, geometry.nd
    reach = tuple(di * (k - 1) for k, di in zip(geometry.kernel, d, strict=True))
    gname = n.grad(n.y)
    G, X, W = (
        Array(gname, (layer.out_channels,), nd),
        Array(n.x, (layer.in_channels,), nd),
        Array(n.w, (layer.out_channels, layer.in_channels), nd),
    )
    up_size = tuple(p - r for p, r in zip(geometry.padded, reach, strict=True))
    if symbolic:
        spread = np.full(up_size, "0", dtype=object)  # dL/dO with s - 1 zeros between its entries
        for o in np.ndindex(*geometry.out):
            spread[tuple(i * si for i, si in zip(o, s, strict=True))] = str(G((0,), o))
        full = np.pad(spread, [(r, r) for r in reach], constant_values="0")
        rot = np.empty(geometry.kernel, dtype=object)
        for t in np.ndindex(*geometry.kernel):
            rot[t] = str(W((0, 0), tuple(k - 1 - ti for k, ti in zip(geometry.kernel, t, strict=True))))
        taps = spread[tuple(slice(0, (o - 1) * si + 1) for o, si in zip(geometry.out, s, strict=True))]
        x_grid = symbol_grid(X, f"{n.x}, padded", (0,), geometry.size, geometry.padding, "⋆")
        g_grid = text_grid(gname, f"{gname} as the kernel", taps, op="=")
        w_grid = symbol_grid(
            Array(n.grad(n.w), (layer.out_channels, layer.in_channels), nd), n.grad(n.w), (0, 0), geometry.kernel
        )
        full_grid = text_grid(
            gname, f"{gname}, padded by d·(k - 1)" + (" and zero-inserted" if max(s) > 1 else ""), full, op="⋆"
        )
        rot_grid = text_grid(n.w, f"rot180({n.w})", rot, op="=")
        gx_grid = symbol_grid(Array(n.grad(n.x), (layer.in_channels,), nd), n.grad(n.x), (0,), geometry.size)
    else:
        taps = engine.upsample_zeros(grad[:1], s)[0]
        x_grid = value_grid(n.x, f"{n.x}, padded", as_conv["x_pad"][0], op="⋆")
        g_grid = value_grid(gname, f"{gname} as the kernel", taps, op="=")
        w_grid = value_grid(n.grad(n.w), n.grad(n.w), as_conv["grad_w"][0, 0])
        full_grid = value_grid(
            gname,
            f"{gname}, padded by d·(k - 1)" + (" and zero-inserted" if max(s) > 1 else ""),
            as_full["full"][0],
            op="⋆",
        )
        rot_grid = value_grid(n.w, f"rot180({n.w})", as_full["w_rot"][0, 0], op="=")
        gx_grid = value_grid(n.grad(n.x), n.grad(n.x), as_full["grad_x"][0])
    stride_note = (
        f" With stride {show(s)} the taps of {gname} are {show(s)} apart (zeros between them)." if max(s) > 1 else ""
    )
    dil_note = f" With dilation {show(d)} the input steps {show(d)} at a time." if max(d) > 1 else ""
    pad_note = (
        f" Then the padding {show(geometry.padding)} is cut off again."
        if any(lo or hi for lo, hi in geometry.padding)
        else ""
    )
    conclusions = (  # (what equals what, why, grids)
        (
            f"{n.grad(n.w)} = Convolution({n.x}, {gname})",
            f"{n.grad(n.w)} is the convolution of the input {n.x} with the loss gradient {gname} from the next "
            f"layer, computed here with the engine's conv and checked against autograd.{stride_note}{dil_note}",
            [x_grid, g_grid, w_grid],
        ),
        (
            f"{n.grad(n.x)} = Full convolution(rot180({n.w}), {gname})",
            f"Step 1: rotate {n.w} by 180° (flip it vertically, then horizontally). Step 2: pad {gname} with "
            f"d·(k - 1) = {show(reach)} zeros on every side and convolve: every partial overlap counts "
            f"(a 'full' convolution).{stride_note}{pad_note}",
            [full_grid, rot_grid, gx_grid],
        ),
    )
    return [
        Section(f"Conclusion: {claim}", notes=[f"{why} {first}".strip()], grids=grids)
        for claim, why, grids in conclusions
    ]
