"""``--html``: one self-contained page (inline script and styles, no network requests).

The page has forward/backward tabs, a step slider with a play button, the equation of the highlighted
cell, and controls for input size, kernel size, stride, padding (before and after), dilation and the
numbers of channels and filters that recompute in the page
(its script, ``assets/page.js``, mirrors the equation generator; see :mod:`kernelwise.explain._page`).
The initial numbers are the engine's, embedded as JSON.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ..files import write_text_atomic
from ._page import HTML, fill_page
from .render_text import finite_json
from .report import Explanation

INTRO = {
    "conv": "Every output is a sum of products of the window under the kernel; step through them, or change the "
    "settings and watch the output size and the sums change. With several input channels each channel's window "
    "and kernel slice give a partial sum, and the output map of a filter adds them and its bias. Backward: every "
    "dL/dW and dL/dA entry as a sum.",
    "pool": "Every output is the max, mean or min of its window. Backward: max and min send each gradient to the "
    "input that won the window; mean spreads it evenly, divided by the window size; an input in several windows "
    "sums what it gets.",
    "stride": "A strided output is the stride-1 output Y with the intermediates dropped: the kept entries of Y are "
    "bold, the dropped ones struck. Backward: dL/dY is dL/dZ with zeros inserted.",
    "transpose": "A transposed convolution is zero insertion (s - 1 zeros between the inputs), padding by "
    "d·(k - 1) - P, then a stride-1 convolution with the kernel rotated by 180°; every output is also a sum of "
    "the inputs that scatter onto it. Backward: dL/dX is the strided convolution of dL/dY with W, and dL/dW "
    "correlates X with dL/dY.",
}


def page_html(explanation: Explanation) -> str:
    """The page as one string."""
    page = explanation.page
    if explanation.topic == "model" and page is not None:  # the whole network: a page of its own
        from .model_page import page_html as model_page_html

        return model_page_html(page)
    if page is None:
        raise UsageError(
            f"--html: '{explanation.topic}' has no interactive page; conv, stride, pool, backward, transpose and "
            "model have one (use --png or --gif)"
        )
    data = finite_json(page, "--html", ensure_ascii=False)
    return fill_page(HTML, "page.js", "page.css", explanation.title, data, INTRO=INTRO.get(page["mode"], ""))


def render_html(explanation: Explanation, path: str | os.PathLike) -> None:
    """Write the page of ``explanation`` to ``path``: whole or not at all (an existing file stays as it was)."""
    write_text_atomic(path, page_html(explanation))
