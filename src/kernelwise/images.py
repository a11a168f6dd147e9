"""Reading one image file a user hands in (``predict``, ``explain image``, ``explain model --image``).

The size in the file's header is checked before a single pixel is decoded: a picture of more than
:data:`MAX_PIXELS` is refused with a message, so a small file that declares 20000×20000 pixels (a
"decompression bomb") or a 10000×10000 photo never takes gigabytes. Every failure is a
``ValueError`` (or ``FileNotFoundError``) whose one-line message names the file.

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

from .errors import UsageError

MAX_PIXELS = 40_000_000  # 40 megapixels: 120 MB decoded as RGB


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
                    raise UsageError(
                        f"{path}: {width}×{height} pixels, more than the {max_pixels:,} this reads; "
                        "scale the picture down first"
                    )
                img.load()  # after load() the pixels no longer need the file
                return img
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except Image.DecompressionBombError as e:
        raise UsageError(f"{path}: more pixels than the {max_pixels:,} this reads (Pillow: {e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise UsageError(f"{path} is not an image file Pillow can read ({e.__class__.__name__})") from None
