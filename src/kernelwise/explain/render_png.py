"""Figures in the style of the slides: grids of cells with numbers or symbols, the window and the output cell
highlighted, the equation underneath; one frame per step for a GIF. matplotlib is imported here only, when
a figure is asked for; each is a ``matplotlib.figure.Figure`` of its own (no pyplot, no global backend), and
GIFs are assembled with Pillow.

Figures are laid out in inches from their content (cells, labels, lines of text), so that they are as large
as what they show and their text is readable at 100 % (at least :data:`MIN_FONT` points, save for grids
too wide for :data:`MAX_WIDTH` inches).
"""

from __future__ import annotations

import io
import os
from typing import Any, NamedTuple

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
DPI = 100  # PNG and GIF alike: 1 pt = 1.39 px
MIN_FONT = 9.0  # points: the smallest text of a figure, where the grids fit in MAX_WIDTH
MAX_WIDTH, MAX_HEIGHT = 22.0, 14.0  # inches
CHAR = 0.62  # width of a character of DejaVu Sans (numbers, brackets) in ems, generous
GIF_MAX_STEPS = 64  # frames a GIF has unless --max-steps says otherwise (about a second of drawing each)
EQUATION_FONT = 10.0  # points, monospace: a character is 0.6 em wide
EQUATION_LINES = 6  # lines of an equation drawn under the grids at most


# --------------------------------------------------------------------------- grids (the sections' figures)
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


def cell_font(cell: float, longest: int) -> float:
    """The font size (points) that fits ``longest`` characters in a square cell of ``cell`` inches, at most 14.

    Example:
        >>> cell_font(1.0, 10) >= MIN_FONT
        True
    """
    return min(14.0, 0.85 * cell * 72 / (CHAR * max(longest, 1)))


def cell_size(longest: int) -> float:
    """The side of a cell (inches) whose text of ``longest`` characters gets 10.5 points: at least half an inch."""
    return max(0.5, 10.5 * CHAR * max(longest, 1) / (0.85 * 72))


def draw_grid(ax: Any, grid: Grid, colors: dict[tuple[int, int], str], fontsize: float = 11.0) -> None:
    """One grid as a table of squares: padding grey, highlighted cells coloured, marked cells framed in bold."""
    from matplotlib.patches import Rectangle

    rows, cols = grid.shape
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
                fontsize=fontsize,
                fontweight="bold" if marked else "normal",
            )
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(-0.05, rows + 0.05)
    ax.axis("off")
    ax.set_title(grid_title(grid.label), fontsize=11)


def grid_title(label: str, longest: int = 18) -> str:
    """A grid's label on two lines, broken at the ", " nearest its middle, when longer than ``longest``.

    Example:
        >>> grid_title("Kernel W, filter 1, channel 1")
        'Kernel W, filter 1\\nchannel 1'
    """
    cuts = [i for i in range(len(label)) if label.startswith(", ", i)]
    if len(label) <= longest or not cuts:
        return label
    cut = min(cuts, key=lambda i: abs(i - len(label) / 2))
    return label[:cut] + "\n" + label[cut + 2 :]


def step_label(step: int, count: int, shown: int | None = None) -> str:
    """The line above a step's equation; on the last frame of a GIF cut short, what was left out and how to see it.

    Example:
        >>> step_label(1, 36)
        'step 2 of 36'
        >>> step_label(11, 36, shown=12)
        'step 12 of 36\\nshowing 12 of 36 steps; --max-steps 0 shows all'
    """
    label = f"step {step + 1} of {count}"
    if shown is not None and shown < count and step == shown - 1:
        label += f"\nshowing {shown} of {count} steps; --max-steps 0 shows all"
    return label


def equation_lines(section: Section, step: int, chars: int) -> list[str]:
    """The equation of ``step`` wrapped to ``chars`` columns, with its numbers and value when known (6 lines)."""
    eq = section.equations[step]
    text = wrap(eq.text(), chars, 0)
    if section.env is not None:
        from .symbolic import number

        value = eq.value if eq.value is not None else eq.evaluate(section.env)
        text += wrap(f"= {eq.rhs(section.env)} = {number(value)}", chars, 0)
    return text[:EQUATION_LINES]


def figure_title(title: str, subtitle: str = "") -> str:
    """A figure's title: the explanation's on the first line, the section's (when it has one) on the second.

    Example:
        >>> figure_title("MLP vs CNN: a scanning MLP is a convolution", "Scanning: the same MLP at every window")
        'MLP vs CNN: a scanning MLP is a convolution\\nScanning: the same MLP at every window'
    """
    return f"{title}\n{subtitle}" if subtitle and subtitle != title else title


class GridLayout(NamedTuple):
    """Where a section's grids go, in inches: the side of a cell and the cells' font size (points); each grid's
    slot (its width, or its label's where wider) and the gap after it (wider before an operator); the grids of
    each line of the figure, the height of each line (label and grids) and the figure's width."""

    cell: float
    font: float
    slots: list[float]
    gaps: list[float]
    lines: list[list[int]]
    heights: list[float]
    width: float

    @property
    def grids_height(self) -> float:
        return sum(self.heights) + 0.15 * (len(self.lines) - 1)


def grid_layout(grids: list[Grid]) -> GridLayout:
    """Cells as large as their longest text needs for 10.5 points, the grids side by side, continued on a next
    line where they would be wider than :data:`MAX_WIDTH` inches; where even that does not fit (a grid too wide,
    or the lines taller than :data:`MAX_HEIGHT`), one line of smaller cells. The figure is at least 6 inches
    wide."""
    longest = max((len(c) for grid in grids for row in grid.cells for c in row), default=1)
    gaps = [0.6 if grid.op else 0.35 for grid in grids[:-1]] + [0.0]
    titles = [grid_title(grid.label).split("\n") for grid in grids]
    labels = [max(map(len, lines)) * 11 * CHAR / 72 + 0.1 for lines in titles]  # a title wider than its grid
    room = MAX_WIDTH - 0.5

    def layout(cell: float, lines: list[list[int]]) -> GridLayout:
        slots = [max(grid.shape[1] * cell, w) for grid, w in zip(grids, labels, strict=True)]
        widths = [
            sum(slots[i] + gaps[i] for i in line) - (0 if grids[line[-1]].op else gaps[line[-1]]) for line in lines
        ]
        heights = [
            0.35 + 0.2 * max(len(titles[i]) - 1 for i in line) + max(grids[i].shape[0] for i in line) * cell
            for line in lines
        ]
        font = cell_font(cell, longest)
        return GridLayout(cell, font, slots, gaps, lines, heights, max(max(widths) + 0.5, 6.0))

    def split(cell: float) -> list[list[int]]:
        lines: list[list[int]] = [[]]
        used = 0.0
        for i, grid in enumerate(grids):
            slot = max(grid.shape[1] * cell, labels[i])
            if lines[-1] and used + slot > room:
                lines.append([])
                used = 0.0
            lines[-1].append(i)
            used += slot + gaps[i]
        return lines

    cell = cell_size(longest)
    wrapped = layout(cell, split(cell))
    if wrapped.width <= MAX_WIDTH and wrapped.grids_height <= MAX_HEIGHT - 2.5:
        return wrapped
    one = [list(range(len(grids)))]
    for _ in range(3):  # one line: the labels and gaps do not shrink, a few rounds get the cells to fit
        flat = layout(cell, one)
        if flat.width <= MAX_WIDTH and flat.grids_height <= MAX_HEIGHT - 2.5:
            break
        cell *= min((MAX_WIDTH - 0.5) / (flat.width - 0.5), (MAX_HEIGHT - 2.5) / flat.grids_height, 1.0)
    return layout(cell, one)


def equation_chars(width: float) -> int:
    """The monospace characters of the equation text that fit a figure ``width`` inches wide."""
    return int((width - 0.4) * 72 / (0.6 * EQUATION_FONT))


def section_figure(
    section: Section, step: int | None = 0, title: str = "", lines: int | None = None, shown: int | None = None
) -> Any:
    """The grids of ``section`` side by side with their operators, the equation of ``step`` below them.

    The figure is as large as its grids and text: cells sized for their longest text, the equation area
    ``lines`` lines tall (the longest equation of a GIF, whose frames must all be the same size; default: as
    tall as the equation of ``step``). ``shown`` is the number of frames of a GIF cut short (see
    :func:`step_label`).
    """
    from matplotlib.figure import Figure

    grids = section.grids
    if not grids:
        raise UsageError(f"section {section.title!r} has no matrices to draw")
    step = None if not section.equations else min(max(step or 0, 0), len(section.equations) - 1)
    layout = grid_layout(grids)
    cell, width = layout.cell, layout.width
    chars = equation_chars(width)
    heading = figure_title(title or section.title, section.title if title else "")
    heading_lines = [line for part in heading.split("\n") for line in wrap(part, int(width * 72 / (0.55 * 12)), 0)]
    text_lines = 0
    if step is not None:
        text_lines = 1 + (lines if lines is not None else len(equation_lines(section, step, chars)))
        text_lines += shown is not None and shown < len(section.equations)  # the note of a GIF cut short
    title_h = 0.25 * len(heading_lines) + 0.2
    text_h = text_lines * EQUATION_FONT * 1.35 / 72 + (0.25 if text_lines else 0.1)
    height = title_h + layout.grids_height + text_h + 0.1
    fig = Figure(figsize=(width, height))
    colors = highlights(section, step)
    top = height - title_h  # the top of the current line of grids, in inches from the bottom
    for line, line_height in zip(layout.lines, layout.heights, strict=True):
        band = max(grids[i].shape[0] for i in line) * cell
        bottom = top - line_height
        used = sum(layout.slots[i] + layout.gaps[i] for i in line) - (
            0 if grids[line[-1]].op else layout.gaps[line[-1]]
        )
        x = (width - used) / 2
        for i in line:
            grid = grids[i]
            w, h = grid.shape[1] * cell, grid.shape[0] * cell
            ax = fig.add_axes(
                (
                    (x + (layout.slots[i] - w) / 2 - 0.05 * cell) / width,
                    (bottom + (band - h) / 2 - 0.05 * cell) / height,
                    (w + 0.1 * cell) / width,
                    (h + 0.1 * cell) / height,
                )
            )
            draw_grid(ax, grid, colors[i], layout.font)
            x += layout.slots[i]
            if grid.op and i < len(grids) - 1:
                y = (bottom + band / 2) / height
                fig.text((x + layout.gaps[i] / 2) / width, y, grid.op, fontsize=18, ha="center", va="center")
            x += layout.gaps[i]
        top = bottom - 0.15
    fig.text(0.5, 1 - 0.12 / height, "\n".join(heading_lines), fontsize=12, ha="center", va="top")
    if step is not None:
        label = step_label(step, len(section.equations), shown)
        lines = [label, *equation_lines(section, step, chars)]
        fig.text(
            0.2 / width, (text_h - 0.1) / height, "\n".join(lines), fontsize=EQUATION_FONT, family="monospace", va="top"
        )
    return fig


# --------------------------------------------------------------------------- pictures (photos, feature maps)
def picture_rows(pictures: list[Picture]) -> dict[str, list[Picture]]:
    """The pictures grouped by their ``row``, in the order the rows first appear."""
    rows: dict[str, list[Picture]] = {}
    for p in pictures:
        rows.setdefault(p.row, []).append(p)
    return rows


def _every(p: Picture) -> int:
    """A picture is drawn with every n-th pixel: 1 up to :data:`MAX_DRAWN` pixels per side."""
    return -(-max(np.atleast_2d(p.pixels).shape[:2]) // MAX_DRAWN)  # ceil


def _drawn(p: Picture) -> np.ndarray:
    """The pixels of ``p`` as drawn: 2-D (or H, W, 3/4 for colour), at most :data:`MAX_DRAWN` per side."""
    pixels = np.atleast_2d(p.pixels)
    if pixels.ndim == 3 and pixels.shape[2] not in (3, 4):
        pixels = pixels[..., 0]  # gray with alpha: the gray
    every = _every(p)
    return np.asarray(pixels[::every, ::every], dtype=float)


def row_scale(items: list[Picture]) -> tuple[float, float] | None:
    """The values drawn black and white in a row of gray pictures: the pictures' ``scale`` when they give one,
    else the row's smallest and largest finite value (one scale for the row, so that its maps compare); None for
    a row of colour pictures only.

    Example:
        >>> row_scale([Picture("a", np.array([[0.0, 2.0]])), Picture("b", np.array([[-1.0, 1.0]]))])
        (-1.0, 2.0)
    """
    gray = [p for p in items if _drawn(p).ndim < 3]
    if not gray:
        return None
    given = next((p.scale for p in gray if p.scale is not None), None)
    if given is not None:
        return float(given[0]), float(given[1])
    values = np.concatenate([_drawn(p).ravel() for p in gray])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)  # a uniform row is mid-gray, not black


def pictures_figure(
    pictures: list[Picture], title: str, rows: list[str] | None = None, ncols: int | None = None
) -> Any:
    """Pictures in rows (by their ``row``): a photo with its crop outlined, feature maps, filters.

    Gray pictures of a row share one scale (:func:`row_scale`; an image's pixels 0..255), drawn as a colour bar
    at the row's end. ``rows`` picks the rows drawn (default all) and ``ncols`` the columns laid out (default
    the longest row's), so that the frames of a GIF are all the same size.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    every_row = picture_rows(pictures)
    chosen = {name: every_row[name] for name in (rows if rows is not None else list(every_row))}
    ncols = ncols or max(len(r) for r in every_row.values())
    heading = [line for part in title.split("\n") for line in wrap(part, 70, 0)]
    bar = 1.0  # inches right of the pictures for the colour bars
    panel = min(1.9, (20.0 - 0.4 - bar) / ncols - 0.25)
    width = 0.4 + ncols * (panel + 0.25) + bar
    title_h = 0.25 * len(heading) + 0.25
    row_h = panel + 0.45
    height = title_h + row_h * len(chosen) + 0.1
    fig = Figure(figsize=(width, height))
    fig.text(0.5, 1 - 0.12 / height, "\n".join(heading), fontsize=12, ha="center", va="top")
    for i, items in enumerate(chosen.values()):
        y = height - title_h - (i + 1) * row_h + 0.1  # the bottom of this row's pictures, in inches
        scale = row_scale(items)
        image = None
        for j, p in enumerate(items[:ncols]):
            ax = fig.add_axes(((0.3 + j * (panel + 0.25)) / width, y / height, panel / width, panel / height))
            ax.axis("off")
            pixels = _drawn(p)
            if pixels.ndim == 3:
                ax.imshow(pixels / 255.0 if pixels.max() > 1 else pixels, interpolation="nearest")
            else:
                lo, hi = scale or (0.0, 1.0)  # a row with a gray picture has a scale
                image = ax.imshow(pixels, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            if p.box is not None:
                bx, by, bw, bh = (v / _every(p) for v in p.box)
                ax.add_patch(Rectangle((bx - 0.5, by - 0.5), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
            ax.set_title(plotted(p.label, limit=100), fontsize=MIN_FONT)  # a file name is not mathtext
        if image is not None:
            cax = fig.add_axes(
                ((width - bar + 0.1) / width, (y + 0.1 * panel) / height, 0.15 / width, 0.8 * panel / height)
            )
            fig.colorbar(image, cax=cax).ax.tick_params(labelsize=MIN_FONT)
    return fig


def _animated_rows(explanation: Explanation) -> list[str]:
    """The rows of pictures a GIF shows one after another (all but the first, which every frame keeps)."""
    return list(picture_rows(explanation.pictures))[1:]


def pictures_frame(explanation: Explanation, frame: int, shown: int | None = None) -> Any:
    """Frame ``frame`` of an explanation's pictures as a GIF: the first row (the input), then one more row each
    frame (one layer's feature maps after another)."""
    rows = list(picture_rows(explanation.pictures))
    animated = rows[1:]
    ncols = max(len(r) for r in picture_rows(explanation.pictures).values())
    label = step_label(frame, len(animated), shown).replace("step", "row", 1)
    title = f"{explanation.title}\n{animated[frame]} ({label.replace(chr(10), '; ')})"
    return pictures_figure(explanation.pictures, title, [rows[0], animated[frame]], ncols)


# --------------------------------------------------------------------------- files
def figure(explanation: Explanation, step: int | None = 0, section: int | None = None) -> Any:
    """The figure of an explanation: its pictures, else its figure section at ``step``."""
    if explanation.pictures and section is None:
        return pictures_figure(explanation.pictures, explanation.title)
    index = _section_index(explanation, section)
    return section_figure(explanation.sections[index], step, explanation.title)


def _section_index(explanation: Explanation, section: int | None) -> int:
    index = explanation.figure if section is None else section
    if not 0 <= index < len(explanation.sections):
        raise UsageError(f"--section {index + 1}: this explanation has sections 1 to {len(explanation.sections)}")
    return index


def _to_image(fig: Any, dpi: int) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def render_png(
    explanation: Explanation, path: str | os.PathLike, step: int = 0, section: int | None = None, dpi: int = DPI
) -> None:
    """Write the figure of ``explanation`` (at ``step``, 0-based) as a PNG file, whole or not at all."""
    image = _to_image(figure(explanation, step, section), dpi)
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


GIF_TOPICS = "conv, stride, pool, backward, transpose, scan, and model with --image"


def render_gif(
    explanation: Explanation,
    path: str | os.PathLike,
    max_steps: int | None = GIF_MAX_STEPS,
    section: int | None = None,
    dpi: int = DPI,
    ms: int = 700,
) -> int:
    """Write one frame per step of the figure section as an animated GIF: every step, or the first ``max_steps``
    (None: all), the last frame then saying how many were left out. An explanation drawn as pictures (a model's
    feature maps) gets one frame per row of pictures after the first.

    Returns the number of frames.
    """
    if explanation.pictures and section is None:
        count = len(_animated_rows(explanation))
        if count < 2:
            what = "without --image has only its filters to draw" if explanation.topic == "model" else "has no steps"
            raise UsageError(f"--gif: explain {explanation.topic} {what} (use --png); --gif works for {GIF_TOPICS}")
        shown = count if max_steps is None else min(count, max_steps)
        frames = [_to_image(pictures_frame(explanation, s, shown), dpi) for s in range(shown)]
    else:
        index = _section_index(explanation, section)
        target = explanation.sections[index]
        count = len(target.equations)
        if count == 0:
            raise UsageError(
                f"--gif: section {index + 1} ({target.title!r}) has no steps to animate (use --png); "
                f"--gif works for {GIF_TOPICS}"
            )
        shown = count if max_steps is None else min(count, max_steps)
        chars = equation_chars(grid_layout(target.grids).width)
        lines = max(len(equation_lines(target, s, chars)) for s in range(shown))
        frames = [_to_image(section_figure(target, s, explanation.title, lines, shown), dpi) for s in range(shown)]
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    write_atomic(
        path,
        lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0),
    )
    return len(frames)
