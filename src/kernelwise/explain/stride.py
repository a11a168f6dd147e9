"""``kernelwise explain stride``: a strided output is the stride-1 output with the intermediates dropped.

Forward: Z = downsample(Y, s) where Y is the stride-1 output (keep every s-th entry). Backward, the
adjoint: dL/dY = upsample_zeros(dL/dZ, s) (s - 1 zeros between entries), and dL/dA of the strided
convolution is dL/dA of the stride-1 convolution given that zero-inserted gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from . import engine
from .conv import CONV_KEYS, check_conv, conv_page, layer_grids, show, size_notes
from .report import Explanation, Grid, Section, symbol_grid, value_grid
from .settings import LayerSettings
from .symbolic import Array, Names, conv_equations, downsample_equations, evaluate, upsample_equations
from .values import loss_gradient, parse_values, resolve_layer


def _grids(
    name: str, label: str, values: np.ndarray | None, array: Array, shape: tuple[int, ...], op: str
) -> list[Grid]:
    C = shape[0]
    out = []
    for c in range(C):
        lab = label + (f", channel {c + 1}" if C > 1 else "")
        out.append(
            symbol_grid(array, lab, (c,), shape[1:]) if values is None else value_grid(name, lab, values[c], (c,))
        )
    out[-1].op = op
    return out


def explain_stride(
    settings: LayerSettings | None = None, *, values: str | None = None, generator: Any = 0, **fields: Any
) -> Explanation:
    """Stride s as downsampling of the stride-1 output, and its backward as zero-insertion upsampling.

    Args: ``settings`` or its fields as keywords (input_size, kernel_size, stride, padding, dilation,
    in_channels, out_channels, dims) and ``values``, as :func:`~kernelwise.explain.conv.explain_conv`;
    ``stride`` default 2, ``values`` default ``random``.

    Example:
        >>> e = explain_stride(values="input=1,2,3,4/5,6,7,8/9,10,11,12/13,14,15,16;kernel=1,0/0,1")
        >>> [str(q) for q in e.sections[2].equations]
        ['Z[1,1] = Y[1,1]', 'Z[1,2] = Y[1,3]', 'Z[2,1] = Y[3,1]', 'Z[2,2] = Y[3,3]']
        >>> e.sections[2].grids[-1].cells
        [['7', '11'], ['23', '27']]
    """
    settings = LayerSettings.make(settings, fields, "explain_stride", stride=2)
    v = parse_values(values, "random", CONV_KEYS)
    layer = resolve_layer(v, settings)
    g1, gs = settings.geometry(layer, stride=1), settings.geometry(layer)
    if gs.stride == (1,) * gs.nd:
        raise UsageError("--stride 1 has nothing to drop: give a stride of 2 or more")
    C, O, s = layer.in_channels, layer.out_channels, gs.stride
    names, padding = Names("A", "W", "Z", "B"), settings.padding
    rng = engine.rng_normal
    checks = [None, layer]  # on random numbers, then on the numbers shown (unless symbolic)
    shown: dict[str, Any] = {}
    for case in checks:
        if case is not None and case.x is None:
            continue
        x = rng(generator, C, *g1.size) if case is None else case.x
        w = rng(generator, O, C, *g1.kernel) if case is None else case.w
        b = rng(generator, O) if case is None else case.b
        grad = rng(generator, O, *gs.out) if case is None else loss_gradient(v, (O, *gs.out))
        strided = check_conv(gs, C, O, padding, names, {"A": x, "W": w, "B": b, "dL/dZ": grad})
        y = engine.conv(x, w, b, g1.stride, padding, g1.dilation)["y"]
        dropped = engine.downsample(y, s, grad)  # Z = downsample(Y) and, by autograd, dL/dY = upsample_zeros(dL/dZ)
        env = {"Y": y, "Z": strided["y"], "dL/dZ": grad}
        engine.check(
            "Z = Y with the intermediates dropped",
            evaluate(downsample_equations(y.shape[1:], s, O), env, strided["y"].shape),
            strided["y"],
        )
        engine.check("downsample(Y) (engine)", dropped["y"], strided["y"])
        engine.check(
            "dL/dY (zero insertion)", evaluate(upsample_equations(y.shape[1:], s, O), env, y.shape), dropped["grad_x"]
        )
        through_full = engine.conv(x, w, b, g1.stride, padding, g1.dilation, dropped["grad_x"])
        engine.check("dL/dA through the stride-1 convolution", through_full["grad_x"], strided["grad_x"])
        if case is not None:
            shown = {"y": y, "z": strided["y"], "grad": grad, "grad_y": dropped["grad_x"], "grad_x": strided["grad_x"]}
    symbolic = layer.x is None
    A, Y, Z = Array("A", (C,), gs.nd), Array("Y", (O,), gs.nd), Array("Z", (O,), gs.nd)
    walk = conv_equations(gs, C, O, True, names)
    env = None if symbolic else {"A": layer.x, "W": layer.w, "B": layer.b}
    if not symbolic:
        for eq in walk:
            eq.value = float(shown["z"][eq.lhs.index])
    y_grids = _grids("Y", "Stride-1 output Y", shown.get("y"), Y, (O, *g1.out), "→")
    for grid in y_grids:  # mark the entries the stride keeps
        grid.marks = [
            (r, c)
            for r in range(grid.shape[0])
            for c in range(grid.shape[1])
            if (gs.nd == 1 or r % s[0] == 0) and c % s[-1] == 0
        ]
    z_grids = _grids("Z", f"Stride-{show(s)} output Z", shown.get("z"), Z, (O, *gs.out), "")
    drop = downsample_equations(g1.out, s, O)
    lift = upsample_equations(g1.out, s, O)
    down_env = None if symbolic else {"Y": shown["y"], "dL/dZ": shown["grad"]}
    if not symbolic:
        for eq in drop:
            eq.value = float(shown["z"][eq.lhs.index])
        for eq in lift:
            eq.value = float(shown["grad_y"][eq.lhs.index])
    back_grids = []
    if not symbolic:
        back_grids = (
            _grids("dL/dZ", "dL/dZ", shown["grad"], Z, (O, *gs.out), "→")
            + _grids("dL/dY", "dL/dY = dL/dZ with zeros inserted", shown["grad_y"], Y, (O, *g1.out), "→")
            + _grids("dL/dA", "dL/dA", shown["grad_x"], A, (C, *g1.size), "")
        )
    else:
        G = Array("dL/dZ", (O,), gs.nd)
        back_grids = _grids("dL/dZ", "dL/dZ", None, G, (O, *gs.out), "→")
        for o in range(O):  # dL/dY: the entries of dL/dZ with s - 1 zeros between them
            lab = "dL/dY = dL/dZ with zeros inserted" + (f", filter {o + 1}" if O > 1 else "")
            rows = np.full((1, *g1.out) if gs.nd == 1 else g1.out, "0", dtype=object)
            for eq in lift[o * int(np.prod(g1.out)) : (o + 1) * int(np.prod(g1.out))]:
                if eq.terms:
                    rows[(0, *eq.lhs.index[1:]) if gs.nd == 1 else eq.lhs.index[1:]] = str(eq.terms[0].factors[0])
            cells = rows.tolist()
            back_grids.append(Grid("dL/dY", lab, cells, lead=(o,)))
    sections = [
        Section(f"Output size with stride {show(s)}", notes=size_notes(gs), formulas=gs.formulas()),
        Section(
            f"Stride {show(s)}: start at the same place, move {show(s)} elements at a time",
            grids=layer_grids(layer, gs, names, shown.get("z")),
            equations=walk,
            env=env,
            steps=True,
        ),
        Section(
            "Stride-1 output, then drop the intermediates (downsampling)",
            notes=[f"Stride 1 gives the larger output Y; [ ] marks the entries that stride {show(s)} keeps."],
            formulas=g1.formulas(),
            grids=y_grids + z_grids,
            equations=drop,
            env=down_env,
        ),
        Section(
            "Backward: the dropped entries get zero gradient (zero-insertion upsampling)",
            notes=[
                "dL/dY = upsample_zeros(dL/dZ): s - 1 zeros between entries; then dL/dA is the stride-1 "
                "convolution's input gradient for dL/dY (checked against autograd of the strided convolution)."
            ],
            grids=back_grids,
            equations=lift,
            env=down_env,
        ),
    ]
    data = {k: val.tolist() for k, val in shown.items()} if not symbolic else {}
    page = conv_page(layer, gs, padding, names, True, v.seed, mode="stride")
    return Explanation(
        "stride", "Stride as downsampling, its backward as upsampling", sections, figure=1, page=page, data=data
    )
