"""``kernelwise explain scan``: an MLP scanned over a 1-D input is a Conv1d with the MLP's weights, reshaped.

The MLP maps one window of k samples (C channels) to H hidden units: h = relu(W1·v + b1) with W1 of shape
(H, C·k). Applying it at every window (stride s) gives the same numbers as Conv1d(C, H, k, stride=s) with
weight W1.reshape(H, C, k): the "vector to vector" MLP becomes a "feature map to feature map" CNN. A
second MLP scanning windows of k2 hidden vectors is a second Conv1d stacked on the first: the
distributed scanning MLP, with every window sharing the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import kernelwise as kw
import kernelwise.nn.functional as F

from ..errors import UsageError
from . import engine
from .report import Explanation, Section, value_grid
from .symbolic import Array, Equation, Geometry, Names, Term, conv_equations, evaluate, number
from .values import parse_values, random_ints


def _windows(x: np.ndarray, k: int, s: int) -> list[np.ndarray]:
    """The inputs of the scanning MLP: each window (C, k) flattened channel by channel to C·k numbers."""
    return [x[:, t * s : t * s + k].reshape(-1) for t in range((x.shape[1] - k) // s + 1)]


def _vector(a: np.ndarray) -> str:
    return "[" + ", ".join(number(v) for v in a) + "]"


def scanning_mlp(
    x: np.ndarray, w1: np.ndarray, b1: np.ndarray, k: int, s: int, w2: np.ndarray, b2: np.ndarray, k2: int
) -> dict[str, np.ndarray]:
    """Run the MLP at every window with the engine's ``linear`` (one call per window), then the second MLP."""
    pre = np.stack([F.linear(kw.tensor(v), kw.tensor(w1), kw.tensor(b1)).numpy() for v in _windows(x, k, s)], axis=1)
    h = F.relu(kw.tensor(pre)).numpy()  # (H, T)
    out = np.stack([F.linear(kw.tensor(v), kw.tensor(w2), kw.tensor(b2)).numpy() for v in _windows(h, k2, 1)], axis=1)
    return {"pre": pre, "h": h, "out": out}


def stacked_convs(
    x: np.ndarray, w1: np.ndarray, b1: np.ndarray, k: int, s: int, w2: np.ndarray, b2: np.ndarray, k2: int
) -> dict[str, np.ndarray]:
    """The same network as two Conv1d layers whose weights are the MLPs', reshaped (H, C·k) -> (H, C, k)."""
    H, C = w1.shape[0], x.shape[0]
    pre = F.conv1d(kw.tensor(x), kw.tensor(w1.reshape(H, C, k)), kw.tensor(b1), stride=s)
    h = F.relu(pre)
    out = F.conv1d(h, kw.tensor(w2.reshape(w2.shape[0], H, k2)), kw.tensor(b2))
    return {"pre": pre.numpy(), "h": h.numpy(), "out": out.numpy()}


def mlp_equations(C: int, H: int, k: int, s: int, T: int) -> list[Equation]:
    """h[j, t] = Σ_c Σ_i W1[j, c·k + i]·x[c, t·s + i] + b1[j] (before the ReLU): the MLP's neuron j at window t."""
    x, W1, h, b = Array("x", (C,), 1), Array("W1", (H,), 1), Array("h_MLP", (H,), 1), Array("b1", (H,), 0)
    return [
        Equation(
            h((j,), (t,)),
            [Term((W1((j,), (c * k + i,)), x((c,), (t * s + i,))), group=c) for c in range(C) for i in range(k)],
            bias=b((j,)),
        )
        for j in range(H)
        for t in range(T)
    ]


def explain_scan(
    input_size: int | None = None,
    kernel_size: int | None = None,
    stride: int = 1,
    in_channels: int | None = None,
    out_channels: int | None = None,
    second_kernel: int = 2,
    values: str | None = None,
    generator: Any = 0,
) -> Explanation:
    """MLP vs CNN: the scanning MLP and the Conv1d side by side, with the same numbers.

    Args:
        input_size: length of the 1-D input (default 8); kernel_size: the MLP's window (default 3);
        stride: how far the window moves; in_channels: channels of the input (default 1);
        out_channels: hidden units of the MLP = filters of the Conv1d (default 2);
        second_kernel: window of the second MLP over the hidden vectors (default 2);
        values: ``random[:SEED]`` (default) or ``input=...`` (a vector, or channels separated by //).

    Example:
        >>> e = explain_scan(values="input=1,2,3,4,5", kernel_size=2, out_channels=1)
        >>> e.data["same"]
        True
    """
    v = parse_values(values, "random", ("input",))
    if v.symbolic:
        raise UsageError("--values symbols: scan compares the numbers of an MLP and a CNN, give numbers or 'random'")
    if v.mode == "given":
        x = np.asarray(v.arrays["input"], dtype=np.float64)
        x = x[None] if x.ndim == 1 else x
        if x.ndim != 2:
            raise UsageError(f"--values input: expected a vector or (C, L) channels, got shape {x.shape}")
        if input_size not in (None, x.shape[1]) or in_channels not in (None, x.shape[0]):
            raise UsageError(f"--input-size/--in-channels disagree with the given input of shape {x.shape}")
    else:
        x = random_ints(v.seed, (in_channels or 1, input_size or 8), 0, 9)
    C, L = x.shape
    k, H, k2 = kernel_size or 3, out_channels or 2, second_kernel
    g1 = Geometry.make(L, k, stride)
    T = g1.out[0]
    if k2 > T:
        raise UsageError(f"the first layer gives {T} windows, fewer than the second window ({k2}): use a longer input")
    w1, b1 = random_ints(v.seed + 1, (H, C * k), -2, 2), random_ints(v.seed + 2, (H,), -2, 2)
    w2, b2 = random_ints(v.seed + 3, (1, H * k2), -2, 2), random_ints(v.seed + 4, (1,), -1, 1)
    for xs, a1, c1, a2, c2 in (
        (
            engine.rng_normal(generator, C, L),
            engine.rng_normal(generator, H, C * k),
            engine.rng_normal(generator, H),
            engine.rng_normal(generator, 1, H * k2),
            engine.rng_normal(generator, 1),
        ),
        (x, w1, b1, w2, b2),
    ):
        mlp, cnn = scanning_mlp(xs, a1, c1, k, stride, a2, c2, k2), stacked_convs(xs, a1, c1, k, stride, a2, c2, k2)
        env = {"x": xs, "W1": a1, "b1": c1, "K": a1.reshape(H, C, k)}
        engine.check("MLP neurons (written out)", evaluate(mlp_equations(C, H, k, stride, T), env, (H, T)), mlp["pre"])
        conv_eqs = conv_equations(g1, C, H, True, Names("x", "K", "h_CNN", "b1"))
        engine.check("Conv1d outputs (written out)", evaluate(conv_eqs, env, (H, T)), cnn["pre"])
        for key in ("pre", "h", "out"):
            engine.check(f"scanning MLP vs Conv1d ({key})", mlp[key], cnn[key])
    eqs_mlp = mlp_equations(C, H, k, stride, T)
    eqs_cnn = conv_equations(g1, C, H, True, Names("x", "K", "h_CNN", "b1"))
    env = {"x": x, "W1": w1, "b1": b1, "K": w1.reshape(H, C, k)}
    pairs = []
    for a, b in zip(eqs_mlp, eqs_cnn, strict=True):  # the same neuron, before the ReLU, written both ways
        a.value = b.value = float(cnn["pre"][b.lhs.index])
        pairs += [a, b]
    table = []
    for t in range(T):
        window = x[:, t * stride : t * stride + k]
        table.append(
            f"window {t + 1}: x[{t * stride + 1}..{t * stride + k}] = {_vector(window.reshape(-1))}  ->  "
            f"MLP h = {_vector(mlp['h'][:, t])}   Conv1d h = {_vector(cnn['h'][:, t])}"
        )
    kernels = [
        value_grid(
            "K",
            f"Conv1d filter {j + 1} (channel {c + 1})" if C > 1 else f"Conv1d filter {j + 1}",
            w1.reshape(H, C, k)[j, c],
            (j, c),
        )
        for j in range(H)
        for c in range(C)
    ]
    sections = [
        Section(
            "MLP: vector to vector",
            notes=[
                f"An MLP layer with {C * k} inputs (a window of {k} samples × {C} channels) "
                f"and {H} hidden units: h = relu(W1·v + b1), W1 of shape ({H}, {C * k})."
            ],
            grids=[value_grid("W1", "W1", w1, op=""), value_grid("b1", "b1", b1[:, None])],
        ),
        Section(
            "Scanning: the same MLP at every window",
            notes=[f"The window moves {stride} sample(s) at a time: {T} windows."],
            grids=[value_grid("x", "Input x" + (f", channel {c + 1}" if C > 1 else ""), x[c], (c,)) for c in range(C)],
            lines=table,
        ),
        Section(
            f"CNN: Conv1d({C}, {H}, kernel_size={k}, stride={stride}) with K = W1.reshape({H}, {C}, {k})",
            notes=[
                "Each hidden unit of the MLP is one filter of the convolution; the MLP's input vector is the "
                "window, so K[j, c, i] = W1[j, c·k + i]. Below, each neuron (before the ReLU) written both "
                "ways: the same numbers in the same order."
            ],
            grids=[
                *(
                    value_grid("x", "x" + (f", channel {c + 1}" if C > 1 else ""), x[c], (c,), op="⋆" * (c == C - 1))
                    for c in range(C)
                ),
                *kernels[:-1],
                value_grid("K", kernels[-1].label, w1.reshape(H, C, k)[H - 1, C - 1], (H - 1, C - 1), op="→"),
                value_grid("h_MLP", "MLP neurons (before ReLU)", mlp["pre"], op="="),
                value_grid("h_CNN", "Conv1d outputs (before ReLU)", cnn["pre"]),
            ],
            equations=pairs,
            env=env,
        ),
        Section(
            f"Distributed scanning MLP = stacked convolutions (second MLP over {k2} hidden vectors)",
            notes=[
                f"A second MLP reading {k2} consecutive hidden vectors is a Conv1d({H}, 1, kernel_size={k2}) stacked "
                "on the first, every window sharing the same weights. Both columns are computed by the engine: "
                "the MLP with linear() once per window, the CNN with conv1d()."
            ],
            grids=[
                value_grid("h", "h (scanning MLP)", mlp["h"], op="="),
                value_grid("h", "h (Conv1d)", cnn["h"]),
                value_grid("out", "output (scanning MLP)", mlp["out"], op="="),
                value_grid("out", "output (stacked Conv1d)", cnn["out"]),
            ],
        ),
    ]
    data = {
        "mlp": {k_: val.tolist() for k_, val in mlp.items()},
        "cnn": {k_: val.tolist() for k_, val in cnn.items()},
        "same": bool(all(np.allclose(mlp[key], cnn[key]) for key in mlp)),
    }
    return Explanation("scan", "MLP vs CNN: a scanning MLP is a convolution", sections, figure=2, data=data)
