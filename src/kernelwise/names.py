"""Class names from files kernelwise did not write (a checkpoint's metadata, a dataset's folders).

A name is data, never markup or a path: :func:`shown` cuts it to :data:`LIMIT` characters (with
"…") and escapes the characters a terminal would obey (``\\x1b[2J``, a newline, a right-to-left
override); :func:`plotted` cuts to :data:`PLOT_LIMIT` (a tick label has little room) and also
escapes matplotlib's ``$`` (a pair would start mathtext);
:func:`file_stem` keeps letters, digits, ``-``, ``_`` and ``.`` and turns every other run of
characters into one ``_`` (Fashion-MNIST's ``T-shirt/top`` becomes ``T-shirt_top``).

Example:
    >>> from kernelwise.names import file_stem, plotted, shown
    >>> shown("cat\\x1b[2J"), plotted("$5 note"), file_stem("T-shirt/top")
    ('cat\\\\x1b[2J', '\\\\$5 note', 'T-shirt_top')
    >>> len(shown("x" * 1000))
    64
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

LIMIT = 64  # characters of a name that are shown or put in a file name
PLOT_LIMIT = 20  # characters of a name in a figure's tick label
_ESCAPED = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, format characters (bidi overrides), surrogates, line breaks


def shown(name: object, limit: int = LIMIT) -> str:
    """``name`` for a terminal: at most ``limit`` characters of it, control characters escaped."""
    text = str(name)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii") if unicodedata.category(c) in _ESCAPED else c
        for c in text
    )


def plotted(name: object, limit: int = PLOT_LIMIT) -> str:
    """``name`` for a matplotlib label: :func:`shown`, with ``$`` escaped so it never starts mathtext."""
    return shown(name, limit).replace("$", r"\$")


def file_stem(name: object, limit: int = LIMIT) -> str:
    """``name`` as part of a file name: letters, digits, ``-``, ``_``, ``.``; any other run becomes ``_``.

    Leading dots and dashes are dropped (no hidden files, nothing that reads as an option) and the
    result is at most ``limit`` characters; a name with nothing left becomes ``class``.
    """
    stem = re.sub(r"[^\w.-]+", "_", str(name)).lstrip(".-")[:limit]
    return stem or "class"


def class_names(meta: dict[str, Any]) -> list[str]:
    """The names of a model's classes, indexed by label: its metadata's ``class_names``, else ``0``, ``1``, ...

    Raw names, for lookups: pass each through :func:`shown`, :func:`plotted` or :func:`file_stem` on its way out.
    """
    names = meta.get("class_names")
    return [str(c) for c in names] if names else [str(c) for c in range(meta["num_classes"])]
