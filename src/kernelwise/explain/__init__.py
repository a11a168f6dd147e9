"""Worked examples of the recitation, generated for any layer: ``kernelwise explain``.

Each topic builds an :class:`~kernelwise.explain.report.Explanation` (matrices, formulas, equations) from
the equation generator (:mod:`~kernelwise.explain.symbolic`) and the engine: every number shown is
computed by the engine's layers and autograd, and every written-out formula is evaluated on random
numbers and compared with them before anything is shown (a disagreement raises
:class:`~kernelwise.explain.engine.FormulaMismatch`). Renderers lay it out for the terminal, as JSON,
as PNG/GIF figures and as one self-contained HTML page.

Example:
    >>> from kernelwise.explain import explain_conv, render_text
    >>> text = render_text(explain_conv(values="edge"), max_steps=1)
    >>> "0 0 4 4 0 0" in text
    True
"""

from .backward import explain_backward
from .conv import explain_conv
from .engine import FormulaMismatch
from .image import explain_image
from .model import explain_model
from .pool import explain_pool
from .render_html import page_html, render_html
from .render_png import render_gif, render_png
from .render_text import render_json, render_text
from .report import Explanation, Grid, Picture, Section
from .scan import explain_scan
from .stride import explain_stride
from .transpose import explain_transpose

__all__ = [
    "Explanation",
    "FormulaMismatch",
    "Grid",
    "Picture",
    "Section",
    "explain_backward",
    "explain_conv",
    "explain_image",
    "explain_model",
    "explain_pool",
    "explain_scan",
    "explain_stride",
    "explain_transpose",
    "page_html",
    "render_gif",
    "render_html",
    "render_json",
    "render_png",
    "render_text",
]
