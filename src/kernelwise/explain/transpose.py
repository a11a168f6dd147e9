"""``kernelwise explain transpose``: transposed convolution as zero insertion + convolution, and as a gradient.

Y = conv_transpose(X, W, stride s, padding P) equals

- upsample: put s - 1 zeros between the entries of X,
- pad by d·(k - 1) - P and convolve with rot180(W) (in and out channels swapped);

and it is also the input gradient of the convolution conv(·, W, s, P) given dL/dO = X: every input
entry scatters a copy of the kernel, scaled by it, onto the output (overlaps add).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import UsageError
from ..ops.geometry import ntuple
from . import engine
from .conv import page_maps, page_settings, show
from .report import Explanation, Section, symbol_grid, text_grid, value_grid
from .settings import LayerSettings
from .symbolic import Array, Geometry, evaluate, transpose_equations, transpose_grad_equations
from .values import parse_values, random_ints, resolve_layer, shaped

TRANSPOSE_KEYS = ("input", "kernel")


def transpose_geometry(
    size: tuple[int, ...], kernel: tuple[int, ...], stride: Any, padding: Any, output_padding: Any, dilation: Any
) -> tuple[Geometry, tuple[int, ...]]:
    """The convolution whose input gradient the transposed convolution is, and the output size.

    Output size per dim: (n - 1)·s - 2P + d·(k - 1) + output_padding + 1.

    Example:
        >>> geometry, out = transpose_geometry((2, 2), (3, 3), 2, 0, 0, 1)
        >>> out, geometry.out
        ((5, 5), (2, 2))
    """
    nd = len(size)
    s, p = ntuple(stride, nd, "stride", 1), ntuple(padding, nd, "padding", 0)
    op, d = ntuple(output_padding, nd, "output_padding", 0), ntuple(dilation, nd, "dilation", 1)
    for o, si, di in zip(op, s, d, strict=True):
        if o >= si and o >= di:
            raise UsageError(f"output_padding={op} must be smaller than the stride {s} or the dilation {d}")
    out = tuple(
        (n - 1) * si - 2 * pi + di * (k - 1) + o + 1
        for n, k, si, pi, di, o in zip(size, kernel, s, p, d, op, strict=True)
    )
    if min(out) < 1:
        raise UsageError(
            f"the output size {out} is not positive (input_size={size}, kernel_size={kernel}, stride={s}, padding={p})"
        )
    return Geometry.make(out, kernel, s, p, d), out


def explain_transpose(
    settings: LayerSettings | None = None,
    *,
    output_padding: Any = 0,
    values: str | None = None,
    generator: Any = 0,
    **fields: Any,
) -> Explanation:
    """Transposed convolution three ways: scatter sums, upsample + convolution, and a convolution's gradient.

    Args: ``settings`` or its fields as keywords (input_size, kernel_size, stride, padding, dilation,
    in_channels, out_channels, dims) and ``values``, as :func:`~kernelwise.explain.conv.explain_conv`
    (default 2×2 input, 3×3 kernel, stride 2, random integers); the kernel is (in_channels, out_channels,
    *kernel), as ``conv_transpose2d``. ``output_padding``: as ``conv_transpose2d`` (default 0).

    Example:
        >>> e = explain_transpose(values="input=1,2/3,4;kernel=1,1/1,1")
        >>> e.sections[1].grids[-1].cells
        [['1', '1', '2', '2'], ['1', '1', '2', '2'], ['3', '3', '4', '4'], ['3', '3', '4', '4']]
    """
    settings = LayerSettings.make(settings, fields, "explain_transpose", stride=2)
    kernel_size, out_channels, padding = settings.kernel_size, settings.out_channels, settings.padding
    v = parse_values(values, "random", TRANSPOSE_KEYS)
    layer = resolve_layer(v, replace(settings, out_channels=None), 2, 3, kernel=False)
    Ci, Co = layer.in_channels, out_channels or 1
    if v.mode == "given":  # the kernel of conv_transpose is (in_channels, out_channels, *kernel)
        if "kernel" not in v.arrays:
            raise UsageError("--values: give the kernel too (kernel=...)")
        layer.w = shaped(v.arrays["kernel"], 2, layer.nd, "kernel", f"{layer.nd + 2}-D (C_in, C_out, *kernel)")
        if layer.w.shape[0] != Ci:
            raise UsageError(
                f"--values: the kernel of shape {layer.w.shape} expects {layer.w.shape[0]} input channels "
                f"(kernel.shape[0]), the input {layer.x.shape} has {Ci}"
            )
        if out_channels not in (None, layer.w.shape[1]):
            raise UsageError(f"--out-channels {out_channels} disagrees with the given kernel of shape {layer.w.shape}")
        if kernel_size is not None and ntuple(kernel_size, layer.nd, "kernel_size") != layer.w.shape[2:]:
            raise UsageError(f"--kernel-size {kernel_size} disagrees with the given kernel of shape {layer.w.shape}")
        Co, layer.kernel = layer.w.shape[1], layer.w.shape[2:]
    elif v.mode == "random":
        layer.w = random_ints(v.seed + 1, (Ci, Co, *layer.kernel), -2, 2)
    geometry, out = transpose_geometry(
        layer.size, layer.kernel, settings.stride, padding, output_padding, settings.dilation
    )
    rng = engine.rng_normal
    reach = tuple(d * (k - 1) for k, d in zip(geometry.kernel, geometry.dilation, strict=True))
    up_size = tuple(
        (n - 1) * s + 1 + o
        for n, s, o in zip(
            layer.size, geometry.stride, ntuple(output_padding, geometry.nd, "output_padding"), strict=True
        )
    )
    shown: dict[str, np.ndarray] = {}
    for x, w in ((rng(generator, Ci, *layer.size), rng(generator, Ci, Co, *geometry.kernel)), (layer.x, layer.w)):
        if x is None:
            continue
        y = engine.conv_transpose(x, w, geometry.stride, padding, output_padding, geometry.dilation)
        env = {"X": x, "W": w}
        engine.check("Y (scatter sums)", evaluate(transpose_equations(geometry, Ci, Co), env, y.shape), y)
        as_grad = engine.conv(
            engine.rng_normal(generator, Co, *out), w, None, geometry.stride, padding, geometry.dilation, x
        )
        engine.check("Y = dL/dA of conv(A, W) given dL/dO = X", as_grad["grad_x"], y)
        up = engine.upsample_zeros(x, geometry.stride, up_size)
        if all(r >= lo for r, (lo, _) in zip(reach, geometry.padding, strict=True)):
            w_rot = np.ascontiguousarray(
                w[(Ellipsis, *[slice(None, None, -1)] * geometry.nd)].swapaxes(0, 1)
            )  # (Co, Ci, *k)
            full = engine.pad(up, tuple((r - lo, r - lo) for r, (lo, _) in zip(reach, geometry.padding, strict=True)))
            direct = engine.conv(full, w_rot, None, 1, 0, geometry.dilation)["y"]
            engine.check("Y = zero insertion, then convolution with rot180(W)", direct, y)
            shown.update(full=full, w_rot=w_rot)
        shown.update(x=x, w=w, y=y, up=up)
    symbolic = layer.x is None
    X, W, Y = Array("X", (Ci,), geometry.nd), Array("W", (Ci, Co), geometry.nd), Array("Y", (Co,), geometry.nd)
    eqs = transpose_equations(geometry, Ci, Co)
    if not symbolic:
        for eq in eqs:
            eq.value = float(shown["y"][eq.lhs.index])
    first = ", channel 1" if Ci > 1 or Co > 1 else ""
    if symbolic:
        grids = [
            symbol_grid(X, f"Input X{first}", (0,), layer.size, op="⊛"),
            symbol_grid(W, f"Kernel W{first}", (0, 0), geometry.kernel, op="="),
            symbol_grid(Y, f"Output Y{first}", (0,), out),
        ]
        spread = np.full(up_size, "0", dtype=object)
        for i in np.ndindex(*layer.size):
            spread[tuple(a * s for a, s in zip(i, geometry.stride, strict=True))] = str(X((0,), i))
        up_grids = [text_grid("X", "X with s - 1 zeros between entries", spread, op="→")]
        if all(r >= lo for r, (lo, _) in zip(reach, geometry.padding, strict=True)):
            rot = np.empty(geometry.kernel, dtype=object)
            for t in np.ndindex(*geometry.kernel):
                rot[t] = str(W((0, 0), tuple(k - 1 - ti for k, ti in zip(geometry.kernel, t, strict=True))))
            full = np.pad(
                spread,
                [(r - lo, r - lo) for r, (lo, _) in zip(reach, geometry.padding, strict=True)],
                constant_values="0",
            )
            up_grids += [
                text_grid("X", "padded by d·(k - 1) - P", full, op="⋆"),
                text_grid("W", "rot180(W)", rot, op="="),
                symbol_grid(Y, "Y", (0,), out),
            ]
    else:
        grids = [
            value_grid("X", f"Input X{first}", shown["x"][0], (0,), op="⊛"),
            value_grid("W", f"Kernel W{first}", shown["w"][0, 0], (0, 0), op="="),
            value_grid("Y", f"Output Y{first}", shown["y"][0], (0,)),
        ]
        up_grids = [value_grid("X", "X with s - 1 zeros between entries", shown["up"][0], op="→")]
        if "full" in shown:
            up_grids += [
                value_grid("X", "padded by d·(k - 1) - P", shown["full"][0], op="⋆"),
                value_grid("W", "rot180(W)", shown["w_rot"][0, 0], op="="),
                value_grid("Y", "Y", shown["y"][0]),
            ]
    formulas = [
        line
        for dim, n, s, (p, _), d, k, o, m in zip(
            ("length",) if geometry.nd == 1 else ("height", "width"),
            layer.size,
            geometry.stride,
            geometry.padding,
            geometry.dilation,
            geometry.kernel,
            ntuple(output_padding, geometry.nd, "output_padding"),
            out,
            strict=True,
        )
        for line in (
            f"Output {dim} = (n - 1)·S - 2P + d·(k - 1) + output_padding + 1",
            f"{' ' * len(f'Output {dim}')} = ({n} - 1)·{s} - 2·{p} + {d}·({k} - 1) + {o} + 1 = {m}",
        )
    ]
    sections = [
        Section(
            "Output size",
            lines=formulas,
            notes=[
                f"X: ({Ci}, {', '.join(map(str, layer.size))}) -> Y: ({Co}, {', '.join(map(str, out))}): "
                "the transposed "
                "convolution upsamples; the convolution with the same settings maps Y's size back to X's."
            ],
        ),
        Section(
            "Every input scatters a scaled copy of the kernel; overlaps add",
            grids=grids,
            equations=eqs,
            env=None if symbolic else {"X": shown["x"], "W": shown["w"]},
            steps=True,
            notes=["Y[i] = Σ X[p]·W[t] over the input positions p and taps t with p·s + t·d - P = i."],
        ),
        Section(
            "As upsampling + convolution",
            grids=up_grids,
            notes=[
                f"Insert s - 1 = {show(tuple(s - 1 for s in geometry.stride))} zeros between the entries of X, pad by "
                f"d·(k - 1) - P = {show(tuple(r - lo for r, (lo, _) in zip(reach, geometry.padding, strict=True)))}"
                " and convolve with the kernel rotated by 180° (checked against the engine's conv_transpose)."
                if "full" in shown
                else "Here P > d·(k - 1): the upsampled input would be cropped rather than "
                "padded, so only the zero insertion is shown."
            ],
        ),
        Section(
            "As the gradient of a convolution",
            notes=[
                f"conv(A, W, stride={show(geometry.stride)}, padding={show(geometry.padding)}) "
                f"maps ({Co}, {', '.join(map(str, out))}) "
                f"to ({Ci}, {', '.join(map(str, layer.size))}); its dL/dA given dL/dO = X is exactly Y "
                "(checked with autograd). That is why the layer is called transposed: its matrix is the "
                "transpose of the convolution's."
            ],
        ),
    ]
    data = {k: val.tolist() for k, val in shown.items()} if not symbolic else {}
    page = transpose_page(layer.x, layer.w, geometry, output_padding, v.seed)
    return Explanation("transpose", "Transposed convolution", sections, figure=1, page=page, data=data)


def transpose_page(
    x: np.ndarray | None, w: np.ndarray | None, geometry: Geometry, output_padding: Any, seed: int
) -> dict[str, Any]:
    """The initial data of the HTML page: X (Ci, h, w), W (Ci, Co, kh, kw) and the engine's stages and output.

    ``geometry`` is the convolution's whose input gradient the transposed convolution is (its ``out`` is
    X's size). Symbols get random integers. The engine's stages: ``upsampled`` (s - 1 zeros between
    entries), ``padded`` (by d·(k - 1) - P, when that is not negative) and ``output``; backward, for a
    stand-in ``grad`` = dL/dY (small integers), autograd's ``grad_input`` dL/dX (the strided convolution
    of dL/dY with W) and ``grad_weight`` dL/dW, checked against the written-out sums
    (:func:`~kernelwise.explain.symbolic.transpose_grad_equations`) before the page is written.
    """
    nd = geometry.nd
    if x is None:
        x = random_ints(seed, (1, *geometry.out), 0, 9)
        w = random_ints(seed + 1, (1, 1, *geometry.kernel), -2, 2)
    op = ntuple(output_padding, nd, "output_padding")
    padding = tuple(lo for lo, _ in geometry.padding)
    y = engine.conv_transpose(x, w, geometry.stride, padding, op, geometry.dilation)
    up_size = tuple((n - 1) * s + 1 + o for n, s, o in zip(geometry.out, geometry.stride, op, strict=True))
    up = engine.upsample_zeros(x, geometry.stride, up_size)  # s - 1 zeros between the entries of X
    expected = {"output": page_maps(y, nd), "upsampled": page_maps(up, nd)}
    border = tuple(d * (k - 1) - p for k, d, p in zip(geometry.kernel, geometry.dilation, padding, strict=True))
    if min(border) >= 0:  # pad by d·(k - 1) - P, then the stride-1 convolution with rot180(W)
        expected["padded"] = page_maps(engine.pad(up, tuple((b, b) for b in border)), nd)
    grad = random_ints(seed + 2, y.shape, -2, 2)  # a stand-in dL/dY
    grad_x, grad_w = engine.conv_transpose_grads(x, w, grad, geometry.stride, padding, op, geometry.dilation)
    eqs = transpose_grad_equations(geometry, int(w.shape[0]), int(w.shape[1]))
    env = {"X": x, "W": w, "dL/dY": grad}
    engine.check("dL/dW of conv_transpose (written-out sums)", evaluate(eqs[: w.size], env, w.shape), grad_w)
    engine.check("dL/dX of conv_transpose (written-out sums)", evaluate(eqs[w.size :], env, x.shape), grad_x)
    expected.update(grad_input=page_maps(grad_x, nd), grad_weight=page_maps(grad_w, nd))
    settings = page_settings(geometry)
    return {
        "mode": "transpose",
        "nd": nd,
        "names": {"x": "X", "w": "W", "y": "Y", "b": "B"},
        "input": page_maps(x, nd),
        "kernel": page_maps(w, nd),
        "grad": page_maps(grad, nd),
        "settings": {
            **settings,
            "channels": [int(w.shape[0]), int(w.shape[1])],
            "output_padding": [0, *op] if nd == 1 else list(op),
        },
        "engine": expected,
    }
