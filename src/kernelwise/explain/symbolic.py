"""The equation generator: every output of a windowed layer written out as a sum of products.

Legend: nd spatial dims, k kernel size, s stride, P padding (before, after), d dilation, C input
channels, O output channels (filters). Indices are 0-based inside and printed 1-based, as on the
recitation's slides (``Z[1,1]`` is the top-left output).

One window walker, :meth:`Geometry.windows`, visits every output position o and the input position
under each kernel tap t, ``i = o·s + t·d - P``. Every explanation reads it:

- convolution:  ``Z[o] = Σ_c Σ_t A[c, i]·W[c, t] + B``
- pooling:      ``Z[o] = max / mean / min of A[i]`` over the same taps
- dL/dW:        ``dL/dW[t] = Σ_o dL/dZ[o]·A[i]``                     (gather over the outputs)
- dL/dA:        ``dL/dA[i] = Σ over (o, t) that reach i of dL/dZ[o]·W[t]``  (scatter onto the inputs)
- transposed convolution is that scatter as a layer.

Nothing here computes a layer: an :class:`Equation` is text with structure (a list of products), and
:meth:`Equation.evaluate` only multiplies and adds the numbers it is given, so that the formulas can be
checked against the engine.

Example:
    >>> geometry = Geometry.make((4, 4), (2, 2))
    >>> geometry.out
    (3, 3)
    >>> print(conv_equations(geometry, 1, 1)[0])
    Z[1,1] = A[1,1]·W[1,1] + A[1,2]·W[1,2] + A[2,1]·W[2,1] + A[2,2]·W[2,2] + B
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import UsageError
from ..ops.geometry import ConvGeometry
from ..ops.geometry import Pairs as Pairs  # re-exported for report.py

Index = tuple[int, ...]
DIM_NAMES = {1: (("length", "L", "position"),), 2: (("height", "H", "row"), ("width", "W", "column"))}


# --------------------------------------------------------------------------- numbers as text
def number(v: float) -> str:
    """A number as the slides print it: integers without a decimal point, others with 4 significant digits.

    Example:
        >>> number(4.0), number(-0.0), number(2.5), number(1 / 3), number(float("-inf"))
        ('4', '0', '2.5', '0.3333', '-inf')
    """
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}"


# --------------------------------------------------------------------------- the window walker
class Tap(NamedTuple):
    """One kernel tap of one window: the tap index, the input position under it, and whether that is inside."""

    tap: Index
    pos: Index
    inside: bool


class Geometry(ConvGeometry):
    """Where a kernel of size ``kernel`` lands on an input of size ``size`` (spatial dims only), with the walker.

    :class:`~kernelwise.ops.geometry.ConvGeometry` (sizes, checks) plus the window walk and the formulas.

    Example:
        >>> Geometry.make(5, 2, stride=2).out, Geometry.make((3, 3), 3, padding="same").padding
        ((2,), ((1, 1), (1, 1)))
    """

    def inside(self, pos: Index) -> bool:
        return all(0 <= p < n for p, n in zip(pos, self.size, strict=True))

    def window(self, o: Index) -> list[Tap]:
        """The taps of the window of output ``o``: input position o·s + t·d - P_before under tap t."""
        taps = []
        for t in np.ndindex(*self.kernel):
            pos = tuple(
                oi * s + ti * d - lo
                for oi, ti, s, d, (lo, _) in zip(o, t, self.stride, self.dilation, self.padding, strict=True)
            )
            taps.append(Tap(t, pos, self.inside(pos)))
        return taps

    def windows(self) -> list[tuple[Index, list[Tap]]]:
        """Every output position (row-major, as the kernel slides) with the taps of its window."""
        return _walk(self)

    def formulas(self) -> list[dict[str, Any]]:
        """The output-size formula of each dim with the numbers filled in, and what the floor drops.

        Example:
            >>> f = Geometry.make(5, 2, stride=2).formulas()[0]
            >>> f["text"]
            'Output length = floor((L_in - L_k + 2P) / S) + 1 = floor((5 - 2 + 2·0) / 2) + 1 = floor(3 / 2) + 1 = 2'
            >>> f["dropped"], f["note"]
            ([5], 'the floor drops position 5: stride 2 does not divide 3, so no window reaches it')
        """
        names = DIM_NAMES.get(self.nd) or tuple((f"dim {i + 1}", f"N{i + 1}", "position") for i in range(self.nd))
        rows = []
        for axis, (n, k, s, (lo, hi), d) in enumerate(
            zip(self.size, self.kernel, self.stride, self.padding, self.dilation, strict=True)
        ):
            long, short, unit = names[axis]
            pad = f"2·{lo}" if lo == hi else f"{lo} + {hi}"
            pad_symbol = "2P" if lo == hi else "P_before + P_after"
            span, out = n + lo + hi - d * (k - 1) - 1, self.out[axis]  # out = floor(span / s) + 1
            r = "ceil" if self.ceil_mode else "floor"  # ceil_mode (pooling's) rounds up
            if d == 1:
                general = f"{r}(({short}_in - {short}_k + {pad_symbol}) / S) + 1"
                filled = f"{r}(({n} - {k} + {pad}) / {s}) + 1"
            else:
                general = f"{r}(({short}_in - d·({short}_k - 1) - 1 + {pad_symbol}) / S) + 1"
                filled = f"{r}(({n} - {d}·({k} - 1) - 1 + {pad}) / {s}) + 1"
            rounded = -(-span // s) + 1 if self.ceil_mode else out
            late = "" if rounded == out else f" - 1 (the last window would start in the padding) = {out}"
            lhs, filled = f"Output {long}", f"{filled} = {r}({span} / {s}) + 1 = {rounded}{late}"
            text = f"{lhs} = {general} = {filled}"
            covered = self.reach[axis]  # padded positions up to the end of the last window
            dropped = [p - lo + 1 for p in range(covered, n + lo + hi) if 0 <= p - lo < n]  # 1-based input positions
            dropped_padding = n + lo + hi - covered - len(dropped)
            note = ""
            if dropped:
                plural = unit + "s" if len(dropped) > 1 else unit
                where = ", ".join(map(str, dropped))
                note = f"the floor drops {plural} {where}: stride {s} does not divide {span}, so no window reaches it"
                note = note.replace("reaches it", "reaches them") if len(dropped) > 1 else note
            elif dropped_padding > 0:
                note = f"the {r} drops {dropped_padding} padding {unit}(s) at the end: no window reaches them"
            elif dropped_padding < 0:  # ceil_mode: the last window hangs over the end
                note = (
                    f"ceil_mode keeps a last window that reaches {-dropped_padding} {unit}(s) past the end of the "
                    "padded input: they are left out of it"
                )
                dropped_padding = 0
            rows.append(
                {
                    "dim": long,
                    "input": n,
                    "kernel": k,
                    "stride": s,
                    "padding": [lo, hi],
                    "dilation": d,
                    "numerator": span,
                    "output": out,
                    "text": text,
                    "lines": [f"{lhs} = {general}", f"{' ' * len(lhs)} = {filled}"],
                    "dropped": dropped,
                    "dropped_padding": dropped_padding,
                    "note": note,
                }
            )
        return rows


@functools.lru_cache(maxsize=16)
def _walk(geometry: Geometry) -> list[tuple[Index, list[Tap]]]:
    """The walk of :meth:`Geometry.windows`, computed once per geometry (it is read many times)."""
    return [(o, geometry.window(o)) for o in np.ndindex(*geometry.out)]


# --------------------------------------------------------------------------- equations
class Sym(NamedTuple):
    """One entry of a named array, e.g. ``A[1,2]``; ``index`` is 0-based and covers every dim of the array.

    ``show`` lists the positions of ``index`` that are printed (channel dims of size 1 are left out);
    ``padding`` marks a position outside the input: it is a zero of the padding and prints as ``0``.
    """

    name: str
    index: Index
    show: Index | None = None
    padding: bool = False

    def __str__(self) -> str:
        if self.padding:
            return "0"
        shown = self.index if self.show is None else tuple(self.index[i] for i in self.show)
        return f"{self.name}[{','.join(str(i + 1) for i in shown)}]" if shown else self.name

    def value(self, env: Mapping[str, np.ndarray]) -> float:
        """Its number in ``env`` (a dict from array name to array); 0 for padding."""
        if self.padding:
            return 0.0
        if self.name not in env:
            raise KeyError(f"no values for {self.name!r} (have {sorted(env)})")
        return float(np.asarray(env[self.name])[self.index])


class Term(NamedTuple):
    """A product of entries, divided by ``divisor`` (mean pooling); ``group`` is the input channel it belongs to."""

    factors: tuple[Sym, ...]
    divisor: int = 1
    group: int = 0

    def text(self, env: Mapping[str, np.ndarray] | None = None) -> str:
        body = "·".join(_operand(f, env, len(self.factors) > 1) for f in self.factors)
        return body if self.divisor == 1 else f"{body}/{self.divisor}"

    def value(self, env: Mapping[str, np.ndarray]) -> float:
        return math.prod(f.value(env) for f in self.factors) / self.divisor


def _operand(sym: Sym, env: Mapping[str, np.ndarray] | None, in_product: bool) -> str:
    if env is None:
        return str(sym)
    text = number(sym.value(env))
    return f"({text})" if in_product and text.startswith("-") else text


@dataclass
class Equation:
    """``lhs = rhs``: a sum of products (``op='sum'``, plus ``bias``) or the max/min of single entries.

    ``value`` is the number the engine computed for ``lhs`` (filled in by the explanations).
    """

    lhs: Sym
    terms: list[Term]
    op: str = "sum"
    bias: Sym | None = None
    value: float | None = field(default=None, compare=False)

    def rhs(self, env: Mapping[str, np.ndarray] | None = None) -> str:
        """The right-hand side as text: symbols, or with ``env`` the numbers substituted."""
        if self.op in ("max", "min"):
            return f"{self.op}({', '.join(t.text(env) for t in self.terms)})"
        if not self.terms and self.bias is None:
            return "0"
        divisors = {t.divisor for t in self.terms}
        common = divisors.pop() if len(divisors) == 1 and len(self.terms) > 1 and self.terms[0].divisor > 1 else 1
        groups: dict[int, list[str]] = {}
        for t in self.terms:
            shown = Term(t.factors, t.divisor // common if common > 1 else t.divisor, t.group)
            groups.setdefault(t.group, []).append(shown.text(env))
        sums = [" + ".join(texts) for texts in groups.values()]
        body = " + ".join(f"({s})" for s in sums) if len(sums) > 1 else (sums[0] if sums else "")
        if common > 1:
            body = f"({body}) / {common}"
        if self.bias is not None:
            bias = _operand(self.bias, env, False)
            body = f"{body} + {bias}" if body else bias
        return body.replace("+ -", "- ") if env is not None else body

    def text(self, env: Mapping[str, np.ndarray] | None = None) -> str:
        return f"{self.lhs} = {self.rhs(env)}"

    def __str__(self) -> str:
        return self.text()

    def evaluate(self, env: Mapping[str, np.ndarray]) -> float:
        """Multiply and add the numbers of ``env`` as the formula says (what the checks compare)."""
        values = [t.value(env) for t in self.terms]
        if self.op == "max":
            return max(values)
        if self.op == "min":
            return min(values)
        bias = self.bias.value(env) if self.bias is not None else 0.0
        return math.fsum([*values, bias])

    def symbols(self) -> list[Sym]:
        """Every entry it mentions, the left-hand side first (what a figure highlights)."""
        out = [self.lhs, *(f for t in self.terms for f in t.factors)]
        return [*out, self.bias] if self.bias is not None else out

    def to_dict(self, env: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "lhs": str(self.lhs),
            "text": self.text(),
            "op": self.op,
            "terms": [[str(f) for f in t.factors] for t in self.terms],
            "divisors": [t.divisor for t in self.terms],
            "bias": str(self.bias) if self.bias is not None else None,
            "value": self.value,
        }
        if env is not None:
            d["numbers"] = self.rhs(env)
        return d


class Equations(list):
    """A list of equations that keeps, once computed, the index arrays :func:`evaluate` gathers with."""

    compiled: Any = None


def _compile(equations: Sequence[Equation]) -> tuple[list[Equation], list[tuple[np.ndarray, np.ndarray, list]]]:
    """The sums of ``equations`` as index arrays: per kind of product, its equation, divisor and factor indices."""
    sums = [eq for eq in equations if eq.op == "sum"]
    groups: dict[tuple[str, ...], tuple[list[int], list[int], list[tuple[Sym, ...]]]] = {}
    for i, eq in enumerate(sums):
        for t in eq.terms:
            rows, divisors, factors = groups.setdefault(tuple(f.name for f in t.factors), ([], [], []))
            rows.append(i)
            divisors.append(t.divisor)
            factors.append(t.factors)
    compiled = []
    for names, (rows, divisors, factors) in groups.items():
        columns = []
        for k, name in enumerate(names):
            syms = [f[k] for f in factors]
            padding = np.array([s.padding for s in syms])
            width = max(len(s.index) for s in syms)
            index = np.array([(0,) * width if s.padding else s.index for s in syms], dtype=np.intp).reshape(
                len(syms), width
            )
            columns.append((name, tuple(index.T), padding))
        compiled.append((np.asarray(rows), 1.0 / np.asarray(divisors, dtype=float), columns))
    return sums, compiled


def evaluate(equations: Sequence[Equation], env: Mapping[str, np.ndarray], shape: Index) -> np.ndarray:
    """Evaluate every equation into an array of ``shape`` indexed by the left-hand sides (NaN where none).

    The same arithmetic as :meth:`Equation.evaluate`, done for all the sums at once: every product is
    gathered from the arrays by the indices the equations name (0 for padding) and added to its
    equation with ``bincount``. Max and min equations are evaluated one by one.
    """
    out = np.full(shape, np.nan)
    for eq in equations:
        if eq.op != "sum":
            out[eq.lhs.index] = eq.evaluate(env)
    compiled = getattr(equations, "compiled", None) or _compile(equations)
    if isinstance(equations, Equations):
        equations.compiled = compiled
    sums, groups = compiled
    total = np.zeros(len(sums))
    for rows, inverse_divisors, columns in groups:
        products = inverse_divisors.copy()
        for name, index, padding in columns:
            products *= np.where(padding, 0.0, np.asarray(env[name], dtype=float)[index])
        total += np.bincount(rows, weights=products, minlength=len(sums))
    for i, eq in enumerate(sums):
        out[eq.lhs.index] = total[i] + (eq.bias.value(env) if eq.bias is not None else 0.0)
    return out


# --------------------------------------------------------------------------- naming the arrays
class Array:
    """Makes the :class:`Sym` entries of one array: ``lead`` are the sizes of its leading (channel) dims.

    Leading dims of size 1 are not printed, so a one-channel input prints as ``A[1,1]`` and with
    two channels as ``A[2,1,1]`` (channel, row, column).
    """

    def __init__(self, name: str, lead: Sequence[int], nd: int) -> None:
        self.name = name
        self.show = tuple(i for i, n in enumerate(lead) if n > 1) + tuple(range(len(lead), len(lead) + nd))
        self._made: dict[tuple[Index, Index, bool], Sym] = {}  # each entry once: equations share them

    def __call__(self, lead: Index, pos: Index = (), padding: bool = False) -> Sym:
        key = (lead, pos, padding)
        sym = self._made.get(key)
        if sym is None:
            sym = self._made[key] = Sym(self.name, (*lead, *pos), self.show, padding)
        return sym


@dataclass(frozen=True)
class Names:
    """The letters of input, weight, output and bias (the slides use A, W, Z, B and later X, F, O)."""

    x: str = "A"
    w: str = "W"
    y: str = "Z"
    b: str = "B"

    def grad(self, name: str) -> str:
        return f"dL/d{name}"


SLIDE_NAMES = Names()  # A, W, Z, B


# --------------------------------------------------------------------------- convolution
def conv_equations(
    geometry: Geometry, in_channels: int, out_channels: int, bias: bool = True, names: Names = SLIDE_NAMES
) -> list[Equation]:
    """Z[o, p] = Σ_c Σ_t A[c, p·s + t·d - P]·W[o, c, t] + B[o]: one sum per input channel, one map per filter."""
    A = Array(names.x, (in_channels,), geometry.nd)
    W = Array(names.w, (out_channels, in_channels), geometry.nd)
    Z = Array(names.y, (out_channels,), geometry.nd)
    B = Array(names.b, (out_channels,), 0)
    eqs = Equations()
    for oc in range(out_channels):
        for o, taps in geometry.windows():
            terms = [
                Term((A((c,), t.pos, not t.inside), W((oc, c), t.tap)), group=c)
                for c in range(in_channels)
                for t in taps
            ]
            eqs.append(Equation(Z((oc,), o), terms, bias=B((oc,)) if bias else None))
    return eqs


def conv_grad_weight_equations(
    geometry: Geometry, in_channels: int, out_channels: int, names: Names = SLIDE_NAMES
) -> list[Equation]:
    """dL/dW[o, c, t] = Σ_p dL/dZ[o, p]·A[c, p·s + t·d - P]: the input correlated with the output gradient."""
    A = Array(names.x, (in_channels,), geometry.nd)
    G = Array(names.grad(names.y), (out_channels,), geometry.nd)
    GW = Array(names.grad(names.w), (out_channels, in_channels), geometry.nd)
    eqs = Equations()
    for oc in range(out_channels):
        for c in range(in_channels):
            terms: dict[Index, list[Term]] = {t: [] for t in np.ndindex(*geometry.kernel)}
            for o, taps in geometry.windows():
                for t in taps:
                    terms[t.tap].append(Term((G((oc,), o), A((c,), t.pos, not t.inside))))
            eqs += [Equation(GW((oc, c), tap), ts) for tap, ts in terms.items()]
    return eqs


def conv_grad_bias_equations(geometry: Geometry, out_channels: int, names: Names = SLIDE_NAMES) -> list[Equation]:
    """dL/dB[o] = Σ_p dL/dZ[o, p]: the bias touches every output of its filter once."""
    G = Array(names.grad(names.y), (out_channels,), geometry.nd)
    GB = Array(names.grad(names.b), (out_channels,), 0)
    return Equations(
        Equation(GB((oc,)), [Term((G((oc,), o),)) for o in np.ndindex(*geometry.out)]) for oc in range(out_channels)
    )


def scatter_equations(
    geometry: Geometry,
    src: Array,
    src_channels: int,
    dst: Array,
    dst_channels: int,
    weight: Callable[[int, int, Index], Sym],
) -> list[Equation]:
    """dst[c, i] = Σ over (source channel k, output p, tap t) with p·s + t·d - P = i of src[k, p]·weight(k, c, t).

    Walks the windows and sends each product to the input position under its tap: the gradient of a
    convolution with respect to its input, and the transposed convolution.
    """
    eqs = Equations()
    for c in range(dst_channels):
        terms: dict[Index, list[Term]] = {i: [] for i in np.ndindex(*geometry.size)}
        for k in range(src_channels):
            for o, taps in geometry.windows():
                for t in taps:
                    if t.inside:
                        terms[t.pos].append(Term((src((k,), o), weight(k, c, t.tap))))
        eqs += [Equation(dst((c,), i), ts) for i, ts in terms.items()]
    return eqs


def conv_grad_input_equations(
    geometry: Geometry, in_channels: int, out_channels: int, names: Names = SLIDE_NAMES
) -> list[Equation]:
    """dL/dA[c, i] = Σ over (o, p, t) that reach i of dL/dZ[o, p]·W[o, c, t] (e.g. dL/dX22 = dL/dO11·F22 + ...)."""
    W = Array(names.w, (out_channels, in_channels), geometry.nd)
    return scatter_equations(
        geometry,
        Array(names.grad(names.y), (out_channels,), geometry.nd),
        out_channels,
        Array(names.grad(names.x), (in_channels,), geometry.nd),
        in_channels,
        lambda oc, c, tap: W((oc, c), tap),
    )


# --------------------------------------------------------------------------- pooling
REDUCERS = ("max", "mean", "min")


def pool_equations(
    geometry: Geometry, channels: int, reducer: str, count_include_pad: bool = True, names: Names = SLIDE_NAMES
) -> list[Equation]:
    """Z[c, p] = max / mean / min of the window of p (padding: -∞ for max, +∞ for min never wins; 0 for mean)."""
    if reducer not in REDUCERS:
        raise UsageError(f"reducer={reducer!r} is not one of {REDUCERS}")
    A = Array(names.x, (channels,), geometry.nd)
    Z = Array(names.y, (channels,), geometry.nd)
    eqs = Equations()
    for c in range(channels):
        for o, taps in geometry.windows():
            if reducer == "mean":
                used = [t for t in taps if t.inside or count_include_pad]
                terms = [Term((A((c,), t.pos, not t.inside),), divisor=len(used)) for t in used]
                eqs.append(Equation(Z((c,), o), terms))
            else:
                eqs.append(Equation(Z((c,), o), [Term((A((c,), t.pos),)) for t in taps if t.inside], op=reducer))
    return eqs


def pool_winners(geometry: Geometry, x: np.ndarray, reducer: str) -> dict[tuple[int, Index], Index]:
    """For max/min pooling, the input position that wins each window (the first one among ties, row-major).

    Shape: x is (C, *size); keys are (channel, output position).
    """
    pick = np.argmax if reducer == "max" else np.argmin
    winners = {}
    for c in range(x.shape[0]):
        for o, taps in geometry.windows():
            inside = [t.pos for t in taps if t.inside]
            winners[(c, o)] = inside[int(pick([x[(c, *p)] for p in inside]))]
    return winners


def pool_grad_equations(
    geometry: Geometry,
    channels: int,
    reducer: str,
    x: np.ndarray | None = None,
    count_include_pad: bool = True,
    names: Names = SLIDE_NAMES,
) -> list[Equation]:
    """Where each dL/dZ goes: to the winner of its window (max, min) or spread evenly over it (mean).

    Max and min need the input values ``x`` (C, *size) to know the winners.
    """
    if reducer != "mean" and x is None:
        raise UsageError(f"{reducer} pooling routes gradients to the winners: pass the input values x")
    G = Array(names.grad(names.y), (channels,), geometry.nd)
    GA = Array(names.grad(names.x), (channels,), geometry.nd)
    terms: dict[tuple[int, Index], list[Term]] = {
        (c, i): [] for c in range(channels) for i in np.ndindex(*geometry.size)
    }
    winners = pool_winners(geometry, x, reducer) if reducer != "mean" else {}
    for c in range(channels):
        for o, taps in geometry.windows():
            if reducer == "mean":
                count = sum(1 for t in taps if t.inside or count_include_pad)
                for t in taps:
                    if t.inside:
                        terms[(c, t.pos)].append(Term((G((c,), o),), divisor=count))
            else:
                terms[(c, winners[(c, o)])].append(Term((G((c,), o),)))
    return Equations(Equation(GA((c,), i), ts) for (c, i), ts in terms.items())


# --------------------------------------------------------------------------- stride as resampling
def downsample_equations(
    shape: Index, factor: Index, channels: int, full: str = "Y", strided: str = "Z"
) -> list[Equation]:
    """Z[p] = Y[p·s]: the strided output keeps every s-th entry of the stride-1 output."""
    nd = len(shape)
    Y, Z = Array(full, (channels,), nd), Array(strided, (channels,), nd)
    out = tuple(-(-n // f) for n, f in zip(shape, factor, strict=True))
    return Equations(
        Equation(Z((c,), p), [Term((Y((c,), tuple(i * f for i, f in zip(p, factor, strict=True))),))])
        for c in range(channels)
        for p in np.ndindex(*out)
    )


def upsample_equations(
    shape: Index, factor: Index, channels: int, full: str = "dL/dY", strided: str = "dL/dZ"
) -> list[Equation]:
    """dL/dY[i] = dL/dZ[i/s] where s divides i, else 0: zero insertion (the adjoint of dropping)."""
    nd = len(shape)
    Y, Z = Array(full, (channels,), nd), Array(strided, (channels,), nd)
    eqs = Equations()
    for c in range(channels):
        for i in np.ndindex(*shape):
            kept = all(a % f == 0 for a, f in zip(i, factor, strict=True))
            src = tuple(a // f for a, f in zip(i, factor, strict=True))
            eqs.append(Equation(Y((c,), i), [Term((Z((c,), src),))] if kept else []))
    return eqs


# --------------------------------------------------------------------------- transposed convolution
def transpose_equations(
    geometry: Geometry, in_channels: int, out_channels: int, x: str = "X", w: str = "W", y: str = "Y"
) -> list[Equation]:
    """Y[co, i] = Σ over (ci, p, t) with p·s + t·d - P = i of X[ci, p]·W[ci, co, t].

    ``geometry`` is the geometry of the convolution whose input gradient this is: its input size is the
    transposed convolution's output size and its output size the transposed convolution's input size.
    """
    W = Array(w, (in_channels, out_channels), geometry.nd)
    return scatter_equations(
        geometry,
        Array(x, (in_channels,), geometry.nd),
        in_channels,
        Array(y, (out_channels,), geometry.nd),
        out_channels,
        lambda ci, co, tap: W((ci, co), tap),
    )


def transpose_grad_equations(
    geometry: Geometry, in_channels: int, out_channels: int, x: str = "X", w: str = "W", y: str = "Y"
) -> list[Equation]:
    """The backward of Y = conv_transpose(X, W): every dL/dW entry, then every dL/dX entry.

    dL/dW[ci, co, t] = Σ_p X[ci, p]·dL/dY[co, p·s + t·d - P] and dL/dX[ci, p] = Σ_co Σ_t
    dL/dY[co, p·s + t·d - P]·W[ci, co, t]: dL/dX is the strided convolution of dL/dY with W (the forward of
    the convolution whose input gradient Y is), dL/dW the correlation of dL/dY with X. ``geometry`` as in
    :func:`transpose_equations` (its input size is Y's, its output size X's).
    """
    X, W = Array(x, (in_channels,), geometry.nd), Array(w, (in_channels, out_channels), geometry.nd)
    GY = Array(f"dL/d{y}", (out_channels,), geometry.nd)
    GX, GW = Array(f"dL/d{x}", (in_channels,), geometry.nd), Array(f"dL/d{w}", (in_channels, out_channels), geometry.nd)
    eqs = Equations()
    for ci in range(in_channels):
        for co in range(out_channels):
            terms: dict[Index, list[Term]] = {t: [] for t in np.ndindex(*geometry.kernel)}
            for o, taps in geometry.windows():
                for t in taps:
                    terms[t.tap].append(Term((X((ci,), o), GY((co,), t.pos, not t.inside))))
            eqs += [Equation(GW((ci, co), tap), ts) for tap, ts in terms.items()]
    for ci in range(in_channels):
        for o, taps in geometry.windows():
            grad = [
                Term((GY((co,), t.pos, not t.inside), W((ci, co), t.tap)), group=co)
                for co in range(out_channels)
                for t in taps
            ]
            eqs.append(Equation(GX((ci,), o), grad))
    return eqs
