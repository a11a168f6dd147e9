"""Where a sliding window lands: the argument rules of convolution (and pooling), written once.

Legend: nd spatial dimensions, k kernel size, s stride, P padding as (before, after) pairs, d
dilation, n an input length. One :class:`ConvGeometry` is built from the arguments (normalised and
checked once) and answers the sizes every algorithm needs:

    padded = n + P_before + P_after
    out    = floor((padded - d·(k - 1) - 1) / s) + 1        (ceil instead of floor with ceil_mode)
    reach  = (out - 1)·s + d·(k - 1) + 1                    (the padded positions some window reads)

It also holds the padding strings ('valid', 'same', 'full') and the transposed convolution's size
and ``output_padding`` rules. The error messages name the function (``fn``) and the shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import UsageError, UsageTypeError

__all__ = [
    "PADDING_STRINGS",
    "ConvGeometry",
    "Pairs",
    "check_output_padding",
    "conv_output_size",
    "crop",
    "ntuple",
    "pad",
    "padding_pairs",
    "transposed_output_size",
]

Index = tuple[int, ...]
Pairs = tuple[tuple[int, int], ...]  # (before, after) padding of each spatial dimension
PADDING_STRINGS = ("valid", "same", "full")


def _prefix(fn: str) -> str:
    return f"{fn}: " if fn else ""


def ntuple(value: Any, n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` (an int or a sequence of n ints) as an n-tuple of ints.

    Raises TypeError for non-integers and ValueError for the wrong length or a value
    below ``minimum``, naming the argument.

    Example:
        >>> ntuple(3, 2, "kernel_size"), ntuple([1, 2], 2, "stride", minimum=1)
        ((3, 3), (1, 2))
    """
    items = tuple(value) if isinstance(value, tuple | list) else (value,) * n
    if len(items) != n:
        raise UsageError(f"{name}={value!r}: expected an int or {n} ints")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise UsageTypeError(f"{name}={value!r}: expected an int or {n} ints")
        if minimum is not None and v < minimum:
            rule = "positive" if minimum == 1 else f">= {minimum}"
            raise UsageError(f"{name}={value!r}: must be {rule}")
    return tuple(int(v) for v in items)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one dimension.

    floor((W_in - d·(k - 1) - 1 + 2P) / S) + 1, which for d = 1 is the recitation's
    floor((W_in - W_k + 2P) / S) + 1. May be <= 0: callers turn that into an error.

    Example:
        >>> conv_output_size(4, 2), conv_output_size(28, 5, padding=2), conv_output_size(7, 3, stride=2)
        (3, 28, 3)
    """
    return (size - dilation * (kernel_size - 1) - 1 + 2 * padding) // stride + 1


def padding_pairs(
    padding: Any, kernel: Index, stride: Index, dilation: Index, fn: str = "", pairs: bool = False
) -> Pairs:
    """Padding as (before, after) pairs per dimension: an int or tuple, or 'valid', 'same' or 'full'.

    'same' keeps the input size (stride 1 only; an odd d·(k - 1) puts the extra one after, as PyTorch),
    'full' pads d·(k - 1) on both sides (every position where kernel and input overlap). With ``pairs``,
    a sequence of (before, after) pairs is accepted as it is.

    Example:
        >>> padding_pairs("same", (4, 3), (1, 1), (1, 1)), padding_pairs(2, (3,), (1,), (1,))
        (((1, 2), (1, 1)), ((2, 2),))
    """
    nd = len(kernel)
    if isinstance(padding, str):
        total = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))  # what the kernel overhangs
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise UsageError(
                    f"{_prefix(fn)}padding='same' needs stride=1 (as in PyTorch, 'same' is not supported for strided "
                    f"convolutions), got stride={stride}"
                )
            return tuple((t // 2, t - t // 2) for t in total)  # odd total: the extra one after, as PyTorch
        if padding == "full":
            return tuple((t, t) for t in total)
        raise UsageError(f"{_prefix(fn)}padding={padding!r} is not one of 'valid', 'same', 'full' (or an int or tuple)")
    if pairs and isinstance(padding, tuple | list) and padding and isinstance(padding[0], tuple | list):
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    return tuple((p, p) for p in ntuple(padding, nd, "padding", minimum=0))


def check_output_padding(output_padding: Index, stride: Index, dilation: Index, fn: str = "") -> None:
    """A transposed convolution's ``output_padding`` must be smaller than its stride or its dilation (PyTorch's rule).

    Example:
        >>> check_output_padding((1, 0), (2, 2), (1, 1))
        >>> check_output_padding((2, 0), (2, 2), (1, 1))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        kernelwise.errors.UsageError: output_padding=(2, 0) must be smaller than either stride=(2, 2) or ...
    """
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if op >= s and op >= d:
            raise UsageError(
                f"{_prefix(fn)}output_padding={output_padding} must be smaller than either stride={stride} or "
                f"dilation={dilation} (as in PyTorch)"
            )


def transposed_output_size(
    size: Index, kernel: Index, stride: Index, padding: Index, dilation: Index, output_padding: Index
) -> Index:
    """Output size of a transposed convolution: (n - 1)·s - 2P + d·(k - 1) + output_padding + 1 per dimension.

    The size of the convolution input that maps to ``size`` (the padded size less 2P).

    Example:
        >>> transposed_output_size((3, 3), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1))
        (6, 6)
    """
    return tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, k, s, p, d, op in zip(size, kernel, stride, padding, dilation, output_padding, strict=True)
    )


def pad(x: np.ndarray, padding: Pairs) -> np.ndarray:
    """Zero-pad the spatial (last len(padding)) dimensions; no copy when there is nothing to pad.

    (np.zeros and one assignment: np.pad costs ~80 µs of Python per call, more than the copy on small inputs.)

    Example:
        >>> pad(np.ones((1, 1, 2)), ((1, 0),)).tolist()
        [[[0.0, 1.0, 1.0]]]
    """
    if not any(lo or hi for lo, hi in padding):
        return x
    nd = len(padding)
    spatial = x.shape[x.ndim - nd :]
    x_pad = np.zeros((*x.shape[: x.ndim - nd], *(n + lo + hi for n, (lo, hi) in zip(spatial, padding))), dtype=x.dtype)
    x_pad[(Ellipsis, *(slice(lo, lo + n) for n, (lo, _) in zip(spatial, padding)))] = x
    return x_pad


def crop(x: np.ndarray, padding: Pairs) -> np.ndarray:
    """Remove the padding again: the inverse of :func:`pad` (a view)."""
    nd = len(padding)
    return x[(Ellipsis, *(slice(lo, n - hi) for (lo, hi), n in zip(padding, x.shape[x.ndim - nd :])))]


@dataclass(frozen=True)
class ConvGeometry:
    """Where a kernel of size ``kernel`` lands on an input of spatial size ``size``.

    ``padding`` holds one (before, after) pair per dimension. ``ceil_mode`` (pooling's) rounds the
    number of windows up, dropping a last window that would start in the right padding.

    Example:
        >>> geometry = ConvGeometry.make((28, 28), 5, padding="same")
        >>> geometry.padding, geometry.padded, geometry.out
        (((2, 2), (2, 2)), (32, 32), (28, 28))
        >>> ConvGeometry.make(5, 2, stride=2).out, ConvGeometry.make(5, 2, stride=2, ceil_mode=True).out
        ((2,), (3,))
        >>> ConvGeometry.make((2, 2), 3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        kernelwise.errors.UsageError: kernel size (3, 3) (dilation (1, 1)) is larger than the padded input ...
    """

    size: Index
    kernel: Index
    stride: Index
    padding: Pairs
    dilation: Index
    ceil_mode: bool = False

    @classmethod
    def make(
        cls,
        size: Any,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        fn: str = "",
        shape: Index | None = None,
        pairs: bool = True,
        check: bool = True,
    ) -> Any:
        """Check and normalise the arguments; ``size`` (an int or tuple) fixes the number of dims.

        ``fn`` names the function in the error messages, ``shape`` the whole input there (default
        ``size``); ``pairs`` accepts padding given as (before, after) pairs. ``check=False`` skips
        :meth:`check_fits`, for callers with their own rule (pooling's ceil_mode keeps a last window
        that overhangs the padded input, as PyTorch, and pooling names a too small output itself).
        """
        nd = len(size) if isinstance(size, tuple | list) else 1
        size = ntuple(size, nd, "input_size", minimum=1)
        kernel = ntuple(kernel_size, nd, "kernel_size", minimum=1)
        stride = ntuple(stride, nd, "stride", minimum=1)
        dilation = ntuple(dilation, nd, "dilation", minimum=1)
        pairs_ = padding_pairs(padding, kernel, stride, dilation, fn, pairs)
        geometry = cls(size, kernel, stride, pairs_, dilation, ceil_mode)
        if check:
            geometry.check_fits(fn, shape)
        return geometry

    @property
    def nd(self) -> int:
        return len(self.size)

    @cached_property
    def padded(self) -> Index:
        """n + P_before + P_after per dimension."""
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.size, self.padding, strict=True))

    @cached_property
    def before(self) -> Index:
        """P_before per dimension (all of pooling's padding: symmetric, as its ``padding`` argument)."""
        return tuple(lo for lo, _ in self.padding)

    @cached_property
    def spans(self) -> Index:
        """d·(k - 1) + 1 per dimension: the positions one window covers."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation, strict=True))

    @cached_property
    def out(self) -> Index:
        """floor((n + P_before + P_after - d·(k - 1) - 1) / s) + 1 per dimension (ceil with ``ceil_mode``)."""
        if not self.ceil_mode:
            return tuple((p - sp) // s + 1 for p, sp, s in zip(self.padded, self.spans, self.stride, strict=True))
        out = []
        for n, (lo, hi), k, s, d in zip(self.size, self.padding, self.kernel, self.stride, self.dilation, strict=True):
            o = -(-(n + lo + hi - d * (k - 1) - 1) // s) + 1  # ceil(span / S) + 1
            out.append(o - 1 if (o - 1) * s >= n + lo else o)  # a last window starting in the right padding: dropped
        return tuple(out)

    @cached_property
    def reach(self) -> Index:
        """(out - 1)·s + d·(k - 1) + 1 per dimension: the padded positions some window reads."""
        return tuple((o - 1) * s + sp for o, s, sp in zip(self.out, self.stride, self.spans, strict=True))

    @cached_property
    def padded_any(self) -> bool:
        """Whether any side of any dimension is padded."""
        return any(lo or hi for lo, hi in self.padding)

    @cached_property
    def unit_steps(self) -> bool:
        """Stride 1 and dilation 1 in every dimension."""
        return all(s == 1 for s in self.stride) and all(d == 1 for d in self.dilation)

    def check_fits(self, fn: str = "", shape: Index | None = None) -> None:
        """A UsageError unless one window fits in the padded input along every dimension."""
        for n, sp in zip(self.padded, self.spans, strict=True):
            if sp > n:
                raise UsageError(
                    f"{_prefix(fn)}kernel size {self.kernel} (dilation {self.dilation}) is larger than the padded "
                    f"input (input shape {self.size if shape is None else shape}, padding {self.padding}): "
                    "no window fits"
                )
