"""The terminal view: aligned matrices side by side, formulas, and equations wrapped to the width.

Long sums break after a ``+`` and continue under the first term; a section with more equations than
``max_steps`` shows the first ones and says how many it left out.
"""

from __future__ import annotations

import json
import math
import textwrap
from typing import Any

import numpy as np

from ..errors import UsageError
from .report import Explanation, Grid, Section
from .symbolic import number

WIDTH = 100


def grid_lines(grid: Grid, marks: bool = True) -> list[str]:
    """A grid as text lines: its label, then right-aligned columns; marked cells in brackets.

    Example:
        >>> from kernelwise.explain.report import value_grid
        >>> import numpy as np
        >>> print("\\n".join(grid_lines(value_grid("A", "A", np.array([[1.0, -2], [30, 4]]), marks=[(0, 0)]))))
        A
        [1]  -2
         30   4
    """
    cells = [
        [f"[{c}]" if marks and (r, j) in grid.marks else c for j, c in enumerate(row)]
        for r, row in enumerate(grid.cells)
    ]
    width = max((len(c) for row in cells for c in row), default=1)
    body = [" ".join(c.rjust(width) for c in row) for row in cells]
    return [grid.label, *body]


def side_by_side(grids: list[Grid], width: int = WIDTH) -> list[str]:
    """Grids next to each other with their operator (⋆, =) between them, as many per line as fit."""
    blocks = []
    for grid in grids:
        lines = grid_lines(grid)
        w = max(len(s) for s in lines)
        blocks.append(([s.ljust(w) for s in lines], grid.op))
    out: list[str] = []
    row: list[tuple[list[str], str]] = []

    def flush() -> None:
        if not row:
            return
        height = max(len(b) for b, _ in row)
        middle = (height + 1) // 2
        for i in range(height):
            parts = []
            for b, op in row:
                blank = " " * len(b[0])
                parts.append(b[i] if i < len(b) else blank)
                if op:
                    parts.append(f" {op} " if i == middle else " " * (len(op) + 2))
                else:
                    parts.append("   ")
            out.append(("  " + "  ".join(parts)).rstrip())
        out.append("")
        row.clear()

    used = 2
    for block in blocks:
        w = len(block[0][0]) + 7
        if row and used + w > width:
            flush()
            used = 2
        row.append(block)
        used += w
    flush()
    return out


def wrap(text: str, width: int = WIDTH, indent: int = 2) -> list[str]:
    """Break a long equation after ``+`` (or ``,``) signs, continuing under its right-hand side.

    Example:
        >>> for line in wrap("Z[1] = " + " + ".join(f"A[{i}]·W[{i}]" for i in range(1, 9)), width=40):
        ...     print(line)
          Z[1] = A[1]·W[1] + A[2]·W[2] +
                 A[3]·W[3] + A[4]·W[4] +
                 A[5]·W[5] + A[6]·W[6] +
                 A[7]·W[7] + A[8]·W[8]
    """
    pad = " " * indent
    if len(text) + indent <= width:
        return [pad + text]
    eq = text.find(" = ")
    hang = " " * (indent + (eq + 3 if 0 <= eq < width // 2 else 4))
    lines, current = [], pad
    for piece in _pieces(text):
        if len(current) + len(piece) > width and current.strip():
            lines.append(current.rstrip())
            current = hang + piece.lstrip()
        else:
            current += piece
    lines.append(current.rstrip())
    return lines


def _pieces(text: str) -> list[str]:
    """Split after every ' + ', ' - ' and ', ' (keeping them), so that lines end with an operator."""
    pieces, start = [], 0
    i = 0
    while i < len(text):
        for sep in (" + ", " - ", ", "):
            if text.startswith(sep, i) and i > text.find(" = "):
                pieces.append(text[start : i + len(sep) - 1] + " ")
                start = i + len(sep)
                i = start - 1
                break
        i += 1
    pieces.append(text[start:])
    return pieces


def _pack(line: str, width: int) -> list[str]:
    """A preformatted line, broken between its columns (three spaces) when it is wider than ``width``.

    Example:
        >>> _pack("a = 1   b = 2   c = 3", 14)
        ['  a = 1', '  b = 2', '  c = 3']
    """
    if len(line) + 2 <= width:
        return ["  " + line]
    indent = " " * (2 + len(line) - len(line.lstrip()))
    out, current = [], ""
    for part in line.strip().split("   "):
        if current and len(indent) + len(current) + 3 + len(part) > width:
            out.append(indent + current)
            current = part
        else:
            current = f"{current}   {part}" if current else part
    return [*out, indent + current]


def section_lines(section: Section, max_steps: int | None = 12, width: int = WIDTH) -> list[str]:
    """One section: title, notes, formulas, grids, then up to ``max_steps`` equations (with numbers when known)."""
    lines = [section.title, "-" * min(len(section.title), width)]
    for note in section.notes:
        lines += textwrap.wrap(note, width, initial_indent="  ", subsequent_indent="    ")
    for f in section.formulas:  # the formula, then the same with the numbers filled in
        lines += [f"  {line}" for line in f["lines"]]
    for line in section.lines:  # preformatted; a long one breaks between its columns (three spaces)
        lines += _pack(line, width)
    if section.notes or section.formulas or section.lines:
        lines.append("")
    if section.grids:
        lines += side_by_side(section.grids, width)
    eqs = section.equations if max_steps is None else section.equations[:max_steps]
    for eq in eqs:
        lines += wrap(eq.text(), width)
        if section.env is not None:  # the same sum with the numbers, then the engine's result
            value = number(eq.value if eq.value is not None else eq.evaluate(section.env))
            pad = " " * (len(str(eq.lhs)) + 1)
            numbers = eq.rhs(section.env)
            if numbers != eq.rhs():
                lines += wrap(f"{pad}= {numbers}", width)
            if value != numbers:
                lines.append(f"  {pad}= {value}")
    if len(eqs) < len(section.equations):
        left = len(section.equations) - len(eqs)
        lines.append(f"  ... {left} more (--max-steps {len(section.equations)} shows them all)")
    if section.equations:
        lines.append("")
    return lines


def render_text(explanation: Explanation, max_steps: int | None = 12, width: int = WIDTH) -> str:
    """The whole explanation for the terminal."""
    title = explanation.title
    lines = [title, "=" * len(title), ""]
    for section in explanation.sections:
        lines += section_lines(section, max_steps, width)
    return "\n".join(lines).rstrip() + "\n"


def render_json(explanation: Explanation, max_steps: int | None = None) -> str:
    """The same content as data: matrices, equations as text and as term lists, formula numbers."""
    data: dict[str, Any] = explanation.to_dict()
    if max_steps is not None:
        for s in data["sections"]:
            s["equations_total"] = len(s["equations"])
            s["equations"] = s["equations"][:max_steps]
    return finite_json(data, "--json", indent=1, ensure_ascii=False)


NON_FINITE = {math.inf: "inf", -math.inf: "-inf"}  # and NaN: "nan"; the strings Python's float() reads back


def json_ready(data: Any) -> Any:
    """``data`` with every infinite or NaN float replaced by the string ``"inf"``, ``"-inf"`` or ``"nan"``.

    JSON has no such numbers (``json.dumps`` would write ``Infinity`` and ``NaN``, which ``JSON.parse`` and
    strict readers refuse); the strings say the same and ``float()`` reads them back.

    Example:
        >>> json_ready({"x": [1.0, float("inf")], "y": (float("-inf"), float("nan"))})
        {'x': [1.0, 'inf'], 'y': ['-inf', 'nan']}
    """
    if isinstance(data, dict):
        return {k: json_ready(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_ready(v) for v in data]
    if isinstance(data, float | np.floating) and not math.isfinite(data):
        return NON_FINITE.get(float(data), "nan")
    return data


def finite_json(data: Any, what: str, **kwargs: Any) -> str:
    """``json.dumps(data)`` with infinities and NaN as the strings of :func:`json_ready`, never ``Infinity``.

    ``what`` names the output (``--json``, ``--html``) in the error about anything else JSON cannot hold.
    """
    try:
        return json.dumps(json_ready(data), allow_nan=False, **kwargs)
    except ValueError as e:  # a circular reference: nothing a user's numbers can cause
        raise UsageError(f"{what}: {e}") from None
