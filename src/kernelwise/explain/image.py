"""``kernelwise explain image FILE``: what an image is for a computer.

A matrix I of shape (M, N) with I[i][j] = intensity(pixel(i, j)) for a grayscale picture, and one such
matrix per channel for a colour one: I[c][i][j], shape (C, H, W) = (3, M, N) for RGB. Large pictures
are shown through a crop (``--crop x,y,w,h``, as pixel columns and rows); the whole picture goes into
the figures.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageError
from .report import Explanation, Grid, Picture, Section, value_grid

CHANNEL_NAMES = {1: ("intensity",), 2: ("intensity", "alpha"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "alpha")}
CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # the 8-bit mode read_pixels gives C channels in
INTENSITIES = (0.0, 255.0)  # the figure draws every channel on this one scale: 0 black, 255 white


def parse_crop(text: str | None) -> tuple[int, int, int, int] | None:
    """``x,y,w,h`` (column, row, width, height in pixels) as ints.

    Example:
        >>> parse_crop("10,20,8,4")
        (10, 20, 8, 4)
    """
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in str(text).replace(" ", "").split(","))
    except ValueError:
        raise UsageError(f"--crop {text!r}: expected x,y,w,h (four integers: column, row, width, height)") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise UsageError(f"--crop {text!r}: x and y must be >= 0, w and h >= 1")
    return x, y, w, h


def explain_image(
    path: str | os.PathLike, crop: Any = None, grayscale: bool = False, max_size: int = 16
) -> Explanation:
    """The intensity matrix of a picture (or of a crop of it) and its channels.

    Args:
        path: an image file Pillow can read.
        crop: ``(x, y, w, h)`` or ``"x,y,w,h"``; default: the whole picture if it is at most
            ``max_size`` pixels on each side, else a ``max_size`` × ``max_size`` crop from its centre.
        grayscale: convert to one channel first.
    """
    from ..images import read_pixels

    pixels, notes = read_pixels(path, "L" if grayscale else None)  # at most MAX_PIXELS, checked before decoding
    C, H, W = pixels.shape
    mode = CHANNEL_MODES[C]
    box = parse_crop(crop) if isinstance(crop, str | type(None)) else tuple(int(v) for v in crop)
    if box is None:
        w, h = min(W, max_size), min(H, max_size)
        box = ((W - w) // 2, (H - h) // 2, w, h)
        if (w, h) != (W, H):
            notes.append(f"showing a {w}×{h} crop from the centre (--crop x,y,w,h picks another)")
    x, y, w, h = box
    if x + w > W or y + h > H:
        raise UsageError(f"--crop {x},{y},{w},{h} goes outside the {W}×{H} picture")
    part = pixels[:, y : y + h, x : x + w]
    names = CHANNEL_NAMES.get(C, tuple(f"channel {c + 1}" for c in range(C)))
    grids: list[Grid] = []
    for c in range(C):
        label = f"I[{c}] ({names[c]})" if C > 1 else "I"
        grids.append(value_grid(f"I{c}", label, part[c].astype(float), (c,)))
    name = os.path.basename(str(path))
    whole = pixels.transpose(1, 2, 0) if C > 1 else pixels[0]
    picture = Picture(f"{name} ({W}×{H})", whole, box, "image", scale=INTENSITIES)  # one row: the photo, its crops
    crops = [Picture(grid.label, part[c], None, "image", scale=INTENSITIES) for c, grid in enumerate(grids)]
    shape = f"(C, H, W) = ({C}, {H}, {W})"
    sections = [
        Section(
            "What is an image? For a computer, a matrix",
            notes=[
                f"{os.path.basename(str(path))}: {W}×{H} pixels, mode {mode}: {C} channel{'s' if C > 1 else ''}, "
                f"shape {shape}.",
                "I[c][i][j] = intensity of channel c at pixel (i, j): row i from the top, column j from the left, "
                "0 (dark) to 255 (bright)."
                if C > 1
                else "I[i][j] = intensity(pixel(i, j)): row i from the top, column j "
                "from the left, 0 (black) to 255 (white).",
                *notes,
                f"A network reads it as a float tensor of shape {(C, H, W)}, each value divided by 255.",
            ],
        ),
        Section(
            f"Pixels of columns {x}..{x + w - 1}, rows {y}..{y + h - 1}"
            + (", one matrix per channel" if C > 1 else ""),
            grids=grids,
        ),
    ]
    data = {"shape": [C, H, W], "mode": mode, "crop": list(box), "matrix": part.tolist()}
    return Explanation("image", "What is an image?", sections, figure=1, data=data, pictures=[picture, *crops])
