"""The numbers an explanation uses: symbols, random small integers, a preset, or numbers given by the user.

``--values`` takes ``symbols``, ``random`` (or ``random:SEED``), a preset name, or ``key=array;key=array``
where an array is JSON (``[[1,2],[3,4]]``) or rows separated by ``/`` and channels by ``//``
(``1,2/3,4`` is a 2×2 matrix, ``1 2 3`` a vector).

Presets are the recitation's worked examples:

- ``edge``: the vertical-edge kernel [[-1,0,1],[-2,0,2],[-1,0,1]] on the 8×8 step image (columns 1-4
  zero, 5-8 one); every output row is ``0 0 4 4 0 0``.
- ``recitation`` (pooling): the 4×4 matrix [[4,8,3,9],[16,10,0,7],[6,12,13,8],[67,18,3,7]], 2×2 windows,
  stride 2: max [[16,9],[67,13]], mean [[9.5,4.75],[25.75,7.75]], min [[4,0],[6,3]].
- ``chain`` (backward): f = (x + y)·z at x = -2, y = 5, z = -4.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kernelwise as kw

from ..errors import UsageError
from .settings import LayerSettings

MAX_VALUE = 1e100  # the largest finite magnitude --values takes: products of two and their sums stay finite
STEP_IMAGE = np.array([[0.0] * 4 + [1.0] * 4] * 8)
EDGE_KERNEL = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
POOL_MATRIX = np.array([[4.0, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]])

PRESETS: dict[str, dict[str, Any]] = {
    "edge": {"input": STEP_IMAGE, "kernel": EDGE_KERNEL, "bias": np.array([0.0])},
    "recitation": {"input": POOL_MATRIX, "settings": {"kernel_size": 2, "stride": 2}},
    "chain": {"x": -2.0, "y": 5.0, "z": -4.0},
}
ALIASES = {"weight": "kernel", "filter": "kernel", "w": "kernel", "f": "kernel", "a": "input", "b": "bias"}


@dataclass
class Values:
    """What ``--values`` asked for: ``mode`` is 'symbols', 'random' or 'given' (a preset or explicit numbers)."""

    mode: str
    arrays: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    preset: str | None = None

    @property
    def symbolic(self) -> bool:
        return self.mode == "symbols"

    def settings(self) -> dict[str, Any]:
        """Layer settings a preset implies (e.g. the pooling example's 2×2 windows with stride 2)."""
        return dict(self.arrays.get("settings", {}))


def parse_array(text: str, key: str) -> np.ndarray:
    """One array of ``--values``: JSON, or rows separated by ``/`` and channels by ``//``.

    Example:
        >>> parse_array("1,2/3,4", "input").tolist(), parse_array("[1, -2.5]", "kernel").tolist()
        ([[1.0, 2.0], [3.0, 4.0]], [1.0, -2.5])
        >>> parse_array("1 2//3 4", "input").shape
        (2, 1, 2)
    """
    text = text.strip()
    try:
        if text.startswith("["):
            channels = None
            a = np.array(json.loads(text), dtype=np.float64)
        else:
            channels = [
                [[float(v) for v in row.replace(",", " ").split()] for row in ch.split("/")] for ch in text.split("//")
            ]
            a = np.array(channels, dtype=np.float64)
    except (ValueError, TypeError, RecursionError) as e:  # json.JSONDecodeError is a ValueError
        raise UsageError(f"--values {key}={text!r}: not a list of numbers or a rectangular array ({e})") from None
    if a.size == 0:
        raise UsageError(f"--values {key}={text!r}: no numbers")
    if np.isnan(a).any():
        raise UsageError(f"--values {key}={text!r}: NaN is not a number an explanation can show")
    finite = a[np.isfinite(a)]
    if finite.size and np.abs(finite).max() > MAX_VALUE:
        raise UsageError(
            f"--values {key}={text!r}: a number beyond ±{MAX_VALUE:g} (sums of products would overflow); "
            "give inf itself for an infinite one"
        )
    if channels is not None and len(channels) == 1:
        a = a[0]
        return a[0] if a.shape[0] == 1 else a
    return a


def parse_values(text: str | None, default: str = "symbols", allowed: tuple[str, ...] = ()) -> Values:
    """Read ``--values``; ``allowed`` lists the keys this sub-command takes (aliases resolved).

    Example:
        >>> v = parse_values("input=1,2/3,4;kernel=1,-1", allowed=("input", "kernel"))
        >>> v.mode, v.arrays["kernel"].tolist()
        ('given', [1.0, -1.0])
        >>> parse_values("random:7").seed, parse_values(None).mode
        (7, 'symbols')
    """
    text = (text or default).strip()
    if text == "symbols":
        return Values("symbols")
    if text == "random" or text.startswith("random:"):
        seed = text.partition(":")[2] or "0"
        if not seed.isdigit():
            raise UsageError(f"--values {text!r}: the seed after 'random:' must be a non-negative integer")
        return Values("random", seed=int(seed))
    if "=" not in text:
        if text not in PRESETS:
            raise UsageError(
                f"--values {text!r}: not 'symbols', 'random[:SEED]', key=array pairs or a preset ({', '.join(PRESETS)})"
            )
        preset = PRESETS[text]
        unknown = set(preset) - set(allowed) - {"settings"}
        if allowed and unknown:
            raise UsageError(f"--values {text}: this preset is not for this sub-command (it sets {', '.join(preset)})")
        return Values("given", {k: (np.array(v) if k != "settings" else v) for k, v in preset.items()}, preset=text)
    arrays: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        key = ALIASES.get(key, key) if key not in allowed else key
        if not sep or not key:
            raise UsageError(f"--values: {item!r} is not key=array")
        if allowed and key not in allowed:
            raise UsageError(f"--values: unknown key {key!r}; this sub-command takes {', '.join(allowed)}")
        arrays[key] = parse_array(value, key)
    return Values("given", arrays)


def random_ints(seed: int, shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    """Small integers in [low, high] as float64: numbers a reader can add up in their head."""
    return kw.random.generator(seed).integers(low, high + 1, size=shape).astype(np.float64)


def given_array(values: Values, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The numbers ``--values`` gives for ``key`` as float64 of ``shape`` (None when not given).

    Any array of as many numbers is read in row-major order; a different count is a UsageError.

    Example:
        >>> given_array(parse_values("grad=1,2/3,4", allowed=("grad",)), "grad", (1, 2, 2)).shape
        (1, 2, 2)
    """
    a = values.arrays.get(key)
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    count = int(np.prod(shape))
    if a.size != count:
        raise UsageError(
            f"--values {key}: expected {count} number{'s' if count != 1 else ''} (shape {shape}), "
            f"got {a.size} (shape {a.shape})"
        )
    return a.reshape(shape)


def loss_gradient(values: Values, shape: tuple[int, ...], default: np.ndarray | None = None) -> np.ndarray:
    """The loss gradient dL/d(output) of ``shape`` an explanation shows: the ``grad`` ``--values`` gives,
    else ``default``, else small random integers in [-2, 2] (from the values' seed + 3).

    Example:
        >>> loss_gradient(parse_values("random:1"), (1, 2)).tolist() == random_ints(4, (1, 2), -2, 2).tolist()
        True
    """
    grad = given_array(values, "grad", shape)
    if grad is not None:
        return grad
    return default if default is not None else random_ints(values.seed + 3, shape, -2, 2)


def shaped(a: np.ndarray, lead: int, nd: int, key: str, expected: str) -> np.ndarray:
    """``a`` with ``lead`` leading (channel) dims added in front where it has only the ``nd`` spatial ones.

    Example:
        >>> shaped(np.ones((3, 3)), 2, 2, "kernel", "(O, C, kh, kw)").shape
        (1, 1, 3, 3)
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape((1,) * (lead + nd))
    if a.ndim < nd or a.ndim > nd + lead:
        raise UsageError(f"--values {key}: expected {nd}-D or {expected}, got an array of shape {a.shape}")
    return a.reshape((1,) * (nd + lead - a.ndim) + a.shape)


@dataclass
class Layer:
    """The sizes and (unless symbolic) the numbers of one layer: x (C, *size), w (O, C, *kernel), b (O,)."""

    nd: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    in_channels: int
    out_channels: int
    x: np.ndarray | None = None
    w: np.ndarray | None = None
    b: np.ndarray | None = None


def _size(value: Any, nd: int, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    from ..ops.geometry import ntuple

    return ntuple(value, nd, name, minimum=1)


def _agree(name: str, given: Any, actual: Any, source: str) -> None:
    if given is not None and given != actual:
        raise UsageError(f"--{name.replace('_', '-')} {given} disagrees with {source} (which gives {actual})")


def resolve_layer(
    values: Values,
    settings: LayerSettings | None = None,
    default_size: int = 4,
    default_kernel: int = 2,
    kernel: bool = True,
) -> Layer:
    """Sizes from ``settings`` (default: all defaults) or from the given numbers (they must agree), and the numbers.

    ``kernel=False`` for layers without weights (pooling): only the input is needed.

    Example:
        >>> layer = resolve_layer(parse_values("edge", allowed=("input", "kernel", "bias")))
        >>> layer.nd, layer.size, layer.kernel, layer.x.shape, layer.w.shape
        (2, (8, 8), (3, 3), (1, 8, 8), (1, 1, 3, 3))
        >>> resolve_layer(parse_values("random"), LayerSettings(input_size=6, kernel_size=3, dims=1)).x.shape
        (1, 6)
    """
    settings = settings or LayerSettings()
    dims, input_size, kernel_size = settings.dims, settings.input_size, settings.kernel_size
    in_channels, out_channels = settings.in_channels, settings.out_channels
    if values.mode != "given":
        nd = dims or (len(input_size) if isinstance(input_size, tuple | list) else 2)
        size = _size(input_size or default_size, nd, "input_size")
        k = _size(kernel_size or default_kernel, nd, "kernel_size")
        C, O = in_channels or 1, out_channels or 1
        layer = Layer(nd, size, k, C, O)
        if values.mode == "random":
            layer.x = random_ints(values.seed, (C, *size), 0, 9)
            if kernel:
                layer.w = random_ints(values.seed + 1, (O, C, *k), -2, 2)
                layer.b = random_ints(values.seed + 2, (O,), -2, 2)
        return layer
    if "input" not in values.arrays:
        raise UsageError("--values: give the input (input=...), or use 'symbols', 'random' or a preset")
    raw_x = np.asarray(values.arrays["input"], dtype=np.float64)
    raw_w = values.arrays.get("kernel")
    nd = dims or (1 if raw_x.ndim == 1 and (raw_w is None or np.ndim(raw_w) == 1) else 2)
    x = shaped(raw_x, 1, nd, "input", f"{nd + 1}-D (C, {'L' if nd == 1 else 'H, W'})")
    C, size = x.shape[0], x.shape[1:]
    _agree("input_size", _size(input_size, nd, "input_size"), size, "the given input")
    _agree("in_channels", in_channels, C, "the given input")
    layer = Layer(nd, size, _size(kernel_size or default_kernel, nd, "kernel_size"), C, out_channels or 1, x)
    if not kernel:
        return layer
    if raw_w is None:
        raise UsageError("--values: give the kernel too (kernel=...)")
    w = shaped(raw_w, 2, nd, "kernel", f"{nd + 2}-D (O, C, {'k' if nd == 1 else 'kh, kw'})")
    if w.shape[1] != C:
        raise UsageError(
            f"--values: the kernel of shape {w.shape} has {w.shape[1]} channels, the input {x.shape} has {C}"
        )
    _agree("kernel_size", _size(kernel_size, nd, "kernel_size"), w.shape[2:], "the given kernel")
    _agree("out_channels", out_channels, w.shape[0], "the given kernel")
    layer.kernel, layer.out_channels, layer.w = w.shape[2:], w.shape[0], w
    b = values.arrays.get("bias")
    if b is None:
        layer.b = np.zeros(w.shape[0])
        return layer
    b = np.asarray(b, dtype=np.float64).ravel()
    if b.size not in (1, w.shape[0]):
        expected = "1 number" if w.shape[0] == 1 else f"1 or {w.shape[0]} numbers (one per filter)"
        raise UsageError(f"--values bias: expected {expected}, got {b.size}")
    layer.b = np.broadcast_to(b, (w.shape[0],)).copy()
    return layer
