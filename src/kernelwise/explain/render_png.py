"""Figures in the style of the slides: grids of cells with numbers or symbols, the window and the output cell
highlighted, the equation underneath; one frame per step for a GIF. matplotlib is imported here only, when
a figure is asked for; each is a ``matplotlib.figure.Figure`` of its own (no pyplot, no global backend), and
GIFs are assembled with Pillow.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ..errors import UsageError
from ..files import write_atomic
from ..names import plotted
from .render_text import wrap
from .report import Explanation, Grid, Picture, Section

OUTPUT = "#f4a261"  # the output cell of the current step
COLORS = ("#ffe08a", "#9fd3ff", "#c7f0c2")  # the first, second (and third) factor of every product
PADDING = "#e6e6e6"
MAX_DRAWN = 1024  # pixels per side a picture is drawn with; a larger one is drawn with every n-th pixel


def highlights(section: Section, step: int | None) -> dict[int, dict[tuple[int, int], str]]:
    """For each grid of ``section`` (by position), the colour of every cell the equation of ``step`` names."""
    out: dict[int, dict[tuple[int, int], str]] = {i: {} for i in range(len(section.grids))}
    if step is None or not section.equations:
        return out
    eq = section.equations[step]
    for i, grid in enumerate(section.grids):
        for term in eq.terms:
            for k, sym in enumerate(term.factors):
                cell = grid.cell_of(sym)
                if cell is not None:
                    out[i].setdefault(cell, COLORS[min(k, len(COLORS) - 1)])
        cell = grid.cell_of(eq.lhs)
        if cell is not None:
            out[i][cell] = OUTPUT
    return out


def draw_grid(ax: Any, grid: Grid, colors: dict[tuple[int, int], str]) -> None:
    """One grid as a table of squares: padding grey, highlighted cells coloured, marked cells framed in bold."""
    from matplotlib.patches import Rectangle

    rows, cols = grid.shape
    longest = max((len(c) for row in grid.cells for c in row), default=1)
    size = max(4.0, min(13.0, 56.0 / max(longest, 1), 90.0 / max(rows, cols, 1)))
    for r in range(rows):
        for c in range(cols):
            face = colors.get((r, c), PADDING if grid.is_padding(r, c) else "white")
            marked = (r, c) in grid.marks
            ax.add_patch(
                Rectangle((c, rows - 1 - r), 1, 1, facecolor=face, edgecolor="black", linewidth=2.2 if marked else 0.6)
            )
            ax.text(
                c + 0.5,
                rows - 0.5 - r,
                grid.cells[r][c],
                ha="center",
                va="center",
                fontsize=size,
                fontweight="bold" if marked else "normal",
            )
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(-0.05, rows + 0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(grid.label, fontsize=10)


def section_figure(section: Section, step: int | None = 0, title: str = "") -> Any:
    """The grids of ``section`` side by side with their operators, the equation of ``step`` below them."""
    from matplotlib.figure import Figure

    grids = section.grids
    if not grids:
        raise UsageError(f"section {section.title!r} has no matrices to draw")
    step = None if not section.equations else min(max(step or 0, 0), len(section.equations) - 1)
    widths = [max(grid.shape[1], 1.5) for grid in grids]
    longest = max((len(c) for grid in grids for row in grid.cells for c in row), default=1)
    scale = 0.42 + 0.05 * min(longest, 10)
    height = max(grid.shape[0] for grid in grids) * scale + 2.2
    fig = Figure(figsize=(min(2 + sum(widths) * scale + 0.6 * len(grids), 22), min(height, 14)))
    axes = fig.subplots(
        1, len(grids), gridspec_kw={"width_ratios": widths, "left": 0.02, "right": 0.98, "top": 0.8, "bottom": 0.28}
    )
    axes = np.atleast_1d(axes)
    colors = highlights(section, step)
    for i, (ax, grid) in enumerate(zip(axes, grids, strict=True)):
        draw_grid(ax, grid, colors[i])
        if grid.op and i < len(grids) - 1:
            box = ax.get_position()
            fig.text(box.x1 + 0.006, (box.y0 + box.y1) / 2, grid.op, fontsize=18, ha="left", va="center")
    fig.suptitle(title or section.title, fontsize=12)
    if step is not None:
        eq = section.equations[step]
        text = wrap(eq.text(), 120, 0)
        if section.env is not None:
            value = eq.value if eq.value is not None else eq.evaluate(section.env)
            from .symbolic import number

            text += wrap(f"= {eq.rhs(section.env)} = {number(value)}", 120, 0)
        label = f"step {step + 1} of {len(section.equations)}"
        fig.text(0.02, 0.2, label + "\n" + "\n".join(text[:6]), fontsize=10, family="monospace", va="top")
    return fig


def pictures_figure(pictures: list[Picture], title: str) -> Any:
    """Pictures in rows (by their ``row``): a photo with its crop outlined, feature maps, filters."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    rows: dict[str, list[Picture]] = {}
    for p in pictures:
        rows.setdefault(p.row, []).append(p)
    ncols = max(len(r) for r in rows.values())
    fig = Figure(figsize=(min(2.0 * ncols + 1, 20), 2.2 * len(rows) + 0.6))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for i, items in enumerate(rows.values()):
        for j in range(ncols):
            ax = axes[i][j]
            ax.axis("off")
            if j >= len(items):
                continue
            p = items[j]
            pixels = np.asarray(p.pixels)
            if pixels.ndim == 1:
                pixels = pixels[None]
            every = -(-max(pixels.shape[:2]) // MAX_DRAWN)  # ceil: 1 for pictures up to MAX_DRAWN
            pixels = np.asarray(pixels[::every, ::every], dtype=float)
            color = pixels.ndim == 3
            ax.imshow(
                pixels / 255.0 if color and pixels.max() > 1 else pixels,
                cmap=None if color else "gray",
                interpolation="nearest",
            )
            if p.box is not None:
                x, y, w, h = (v / every for v in p.box)
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="red", linewidth=1.5))
            ax.set_title(plotted(p.label, limit=100), fontsize=8)  # a file name is not mathtext
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def figure(explanation: Explanation, step: int | None = 0, section: int | None = None) -> Any:
    """The figure of an explanation: its pictures, else its figure section at ``step``."""
    if explanation.pictures and section is None:
        return pictures_figure(explanation.pictures, explanation.title)
    index = explanation.figure if section is None else section
    if not 0 <= index < len(explanation.sections):
        raise UsageError(f"--section {index + 1}: this explanation has sections 1 to {len(explanation.sections)}")
    return section_figure(
        explanation.sections[index], step, f"{explanation.title}: {explanation.sections[index].title}"
    )


def _to_image(fig: Any, dpi: int) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def render_png(
    explanation: Explanation, path: str | os.PathLike, step: int = 0, section: int | None = None, dpi: int = 100
) -> None:
    """Write the figure of ``explanation`` (at ``step``, 0-based) as a PNG file, whole or not at all."""
    image = _to_image(figure(explanation, step, section), dpi)
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


def render_gif(
    explanation: Explanation,
    path: str | os.PathLike,
    max_steps: int | None = 36,
    section: int | None = None,
    dpi: int = 70,
    ms: int = 700,
) -> int:
    """Write one frame per step of the figure section (at most ``max_steps``) as an animated GIF.

    Returns the number of frames.
    """
    index = explanation.figure if section is None else section
    if not 0 <= index < len(explanation.sections):
        raise UsageError(f"--section {index + 1}: this explanation has sections 1 to {len(explanation.sections)}")
    count = len(explanation.sections[index].equations)
    if count == 0:
        raise UsageError(f"section {explanation.sections[index].title!r} has no steps to animate; use --png")
    steps = range(count if max_steps is None else min(count, max_steps))
    frames = [_to_image(figure(explanation, s, index), dpi) for s in steps]
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    write_atomic(
        path,
        lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0),
    )
    return len(frames)
