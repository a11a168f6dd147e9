"""What an explanation is made of: matrices, notes, formulas and equations, in sections.

Every sub-command builds one :class:`Explanation`; the renderers (terminal, ``--json``, PNG/GIF,
HTML) only lay it out. A :class:`Grid` is one matrix as the slides draw it: a table of cells holding
numbers or symbols, padding cells included, that knows which cell holds which entry so that a figure
can highlight the window and the output cell of an equation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .symbolic import Array, Equation, Index, Pairs, Sym, number


@dataclass
class Grid:
    """One matrix on screen. A 1-D array is drawn as one row.

    Args:
        name: the array its entries belong to (``"A"``, ``"dL/dZ"``): equations highlight cells by it.
        label: the title shown above it.
        cells: the text of every cell (rows of strings), padding included.
        values: the numbers of the cells when known (same shape as ``cells``), else None.
        lead: the leading (channel) index of its entries, e.g. (1,) for channel 2 of A.
        offset: cell (r, c) shows entry (r - offset[0], c - offset[1]); the padding before the data.
        size: the (rows, columns) of real entries; cells outside them are padding.
        marks: cells drawn emphasised (the kept entries of a downsampling, the winners of a max pool).
        op: what is printed after it when grids sit side by side (``"⋆"``, ``"="``).
        image: draw it as a picture (a feature map) rather than as a table of numbers.
    """

    name: str
    label: str
    cells: list[list[str]]
    values: np.ndarray | None = None
    lead: Index = ()
    offset: tuple[int, int] = (0, 0)
    size: tuple[int, int] | None = None
    marks: list[tuple[int, int]] = field(default_factory=list)
    op: str = ""
    image: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.cells[0]) if self.cells else 0

    def is_padding(self, r: int, c: int) -> bool:
        if self.size is None:
            return False
        return not (0 <= r - self.offset[0] < self.size[0] and 0 <= c - self.offset[1] < self.size[1])

    def cell_of(self, sym: Sym) -> tuple[int, int] | None:
        """The cell that shows entry ``sym``, or None when it is not in this grid."""
        if sym.name != self.name or tuple(sym.index[: len(self.lead)]) != tuple(self.lead):
            return None
        pos = sym.index[len(self.lead) :]
        if len(pos) == 1:
            pos = (0, *pos)
        if len(pos) != 2:
            return None
        r, c = pos[0] + self.offset[0], pos[1] + self.offset[1]
        return (r, c) if 0 <= r < self.shape[0] and 0 <= c < self.shape[1] else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "shape": list(self.shape),
            "cells": self.cells,
            "values": None if self.values is None else _jsonable(self.values),
            "lead": [i + 1 for i in self.lead],
            "offset": list(self.offset),
            "size": None if self.size is None else list(self.size),
            "marks": [list(m) for m in self.marks],
        }


def _jsonable(a: np.ndarray) -> Any:
    """Floats as lists; ``--json`` and ``--html`` write infinities and NaN as "inf", "-inf", "nan"
    (:func:`~kernelwise.explain.render_text.json_ready`)."""
    return np.asarray(a, dtype=float).tolist()


def _as_rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(1, -1) if a.ndim == 1 else a


def value_grid(
    name: str,
    label: str,
    values: np.ndarray,
    lead: Index = (),
    padding: Pairs | None = None,
    pad_value: float = 0.0,
    op: str = "",
    marks: list[tuple[int, int]] | None = None,
) -> Grid:
    """A grid of numbers; ``padding`` (before, after) per dim adds cells of ``pad_value`` around them."""
    values = np.asarray(values, dtype=float)
    size = _as_rows(values).shape
    if padding:
        pairs = ((0, 0), *padding) if values.ndim == 1 else tuple(padding)
        shown = np.pad(_as_rows(values), pairs, constant_values=pad_value)
        offset = (pairs[0][0], pairs[1][0])
    else:
        shown, offset = _as_rows(values), (0, 0)
    cells = [[number(v) for v in row] for row in shown]
    return Grid(name, label, cells, shown, lead, offset, size, marks or [], op)


def symbol_grid(array: Array, label: str, lead: Index, size: Index, padding: Pairs | None = None, op: str = "") -> Grid:
    """A grid of symbols ``A[1,1]`` ... (the slides' first pictures); padding cells show 0."""
    rows = (1, *size) if len(size) == 1 else size
    pairs = (((0, 0), *padding) if len(size) == 1 else tuple(padding)) if padding else ((0, 0), (0, 0))
    cells = []
    for r in range(rows[0] + sum(pairs[0])):
        row = []
        for c in range(rows[1] + sum(pairs[1])):
            pos = (r - pairs[0][0], c - pairs[1][0])
            inside = 0 <= pos[0] < rows[0] and 0 <= pos[1] < rows[1]
            pos = pos[1:] if len(size) == 1 else pos
            row.append(str(array(lead, pos)) if inside else "0")
        cells.append(row)
    return Grid(array.name, label, cells, None, lead, (pairs[0][0], pairs[1][0]), (rows[0], rows[1]), [], op)


@dataclass
class Section:
    """A part of an explanation: its matrices, notes, output-size formulas and equations.

    ``notes`` are prose (wrapped to the width), ``lines`` preformatted lines (worked sums, tables); ``env``
    holds the numbers of the arrays the equations name (None: symbols only); ``steps`` says the equations
    are the steps of a walk, one window at a time, which figures and pages animate.
    """

    title: str
    notes: list[str] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    equations: list[Equation] = field(default_factory=list)
    env: dict[str, np.ndarray] | None = None
    formulas: list[dict[str, Any]] = field(default_factory=list)
    steps: bool = False
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "notes": self.notes,
            "lines": self.lines,
            "grids": [grid.to_dict() for grid in self.grids],
            "formulas": self.formulas,
            "equations": [e.to_dict(self.env) for e in self.equations],
            "steps": self.steps,
        }


@dataclass
class Picture:
    """An array drawn as an image by the figures: a photo, a feature map, a filter.

    ``box`` (x, y, w, h) outlines a part of it; pictures with the same ``row`` are drawn side by side.
    ``scale`` (low, high) is the value drawn black and the value drawn white for a gray picture (an image's
    intensities: (0, 255)); None: its row's smallest and largest value.
    """

    label: str
    pixels: np.ndarray
    box: tuple[int, int, int, int] | None = None
    row: str = ""
    scale: tuple[float, float] | None = None


@dataclass
class Explanation:
    """Everything one sub-command shows, in the order shown.

    ``figure`` is the index of the section that ``--png``/``--gif`` draw; ``page`` the initial data of
    the ``--html`` page (None where the topic has no interactive page); ``data`` extra numbers for ``--json``;
    ``pictures`` what the figures draw as images (a photo, feature maps), instead of the section, when given.
    """

    topic: str
    title: str
    sections: list[Section]
    figure: int = 0
    page: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    pictures: list[Picture] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "title": self.title,
            "sections": [s.to_dict() for s in self.sections],
            "data": self.data,
        }


def text_grid(name: str, label: str, cells: Any, lead: Index = (), op: str = "") -> Grid:
    """A grid of given texts (e.g. symbols with zeros inserted between them); a 1-D list is one row."""
    rows = np.asarray(cells, dtype=object)
    rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
    return Grid(name, label, [[str(c) for c in row] for row in rows], None, lead, op=op)
