"""Reading one image file a user hands in (``predict``, ``explain image``, ``explain model --image``).

The size in the file's header is checked before a single pixel is decoded: a picture of more than
:data:`MAX_PIXELS` is refused with a message, so a small file that declares 20000×20000 pixels (a
"decompression bomb") or a 10000×10000 photo never takes gigabytes. Every failure is a
:class:`~kernelwise.errors.DataError` (a ``ValueError``) or ``FileNotFoundError`` whose one-line message
names the file. :func:`read_pixels` gives the picture as a ``(C, H, W)`` array, converted and resized.

Example:
    >>> import pathlib, tempfile
    >>> from PIL import Image
    >>> from kernelwise.images import open_image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dot.png"
    >>> Image.new("L", (3, 2), 255).save(path)
    >>> img = open_image(path)
    >>> img.mode, img.size
    ('L', (3, 2))
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from .errors import DataError

MAX_PIXELS = 40_000_000  # 40 megapixels: 120 MB decoded as RGB
# The 8-bit mode each Pillow mode is read as by default: gray stays gray, anything else with alpha is RGBA
MODES = {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA", "1": "L", "I": "L", "I;16": "L", "F": "L"}
MODE_NAMES = {"L": "grayscale", "LA": "grayscale with alpha", "RGB": "RGB", "RGBA": "RGBA"}


def open_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Any:
    """Open and decode the image at ``path`` (a ``PIL.Image.Image``), refusing more than ``max_pixels``.

    Args:
        path: an image file Pillow can read.
        max_pixels: the largest width × height decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns above 89 megapixels and refuses above 179; the limit below is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise DataError(
                        f"{path}: {width}×{height} pixels, more than the {max_pixels:,} this reads; "
                        "scale the picture down first"
                    )
                img.load()  # after load() the pixels no longer need the file
                return img
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: more pixels than the {max_pixels:,} this reads (Pillow: {e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DataError(f"{path} is not an image file Pillow can read ({e.__class__.__name__})") from None


def read_pixels(
    path: str | os.PathLike, mode: str | None = None, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, list[str]]:
    """The picture at ``path`` as uint8 channels ``(C, H, W)``, and what was changed to get them.

    Args:
        path: an image file Pillow can read (at most :data:`MAX_PIXELS` pixels).
        mode: ``"L"`` (gray), ``"LA"``, ``"RGB"`` or ``"RGBA"``; default: the one of these closest to the
            file's own (:data:`MODES`).
        size: ``(height, width)`` to resize to, bilinearly; default: the file's own.

    Returns:
        the pixels, and the notes ``"RGB -> grayscale"`` and ``"resized 30×40 -> 8×8"`` (width × height)
        for a conversion and a resize.

    Example:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "red.png"
        >>> Image.new("RGB", (3, 2), (255, 0, 0)).save(path)
        >>> pixels, notes = read_pixels(path, "L", (4, 4))
        >>> pixels.shape, notes
        ((1, 4, 4), ['RGB -> grayscale', 'resized 3×2 -> 4×4'])
    """
    from PIL import Image

    img = open_image(path)
    notes = []
    mode = mode or MODES.get(img.mode, "RGBA" if "A" in img.mode else "RGB")
    if img.mode != mode:
        notes.append(f"{img.mode} -> {MODE_NAMES.get(mode, mode)}")
        img = img.convert(mode)
    if size is not None and img.size != (size[1], size[0]):  # Pillow sizes are (width, height)
        notes.append(f"resized {img.size[0]}×{img.size[1]} -> {size[1]}×{size[0]}")
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    pixels = np.asarray(img, dtype=np.uint8)
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)), notes  # (H, W, C) -> (C, H, W)
