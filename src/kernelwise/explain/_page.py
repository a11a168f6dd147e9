"""The HTML page of ``--html``: the template, and its script and styles read from ``assets/``.

``assets/page.js`` is a small re-implementation of the window walk (convolution forward and backward with
any number of channels and filters, max/mean/min pooling forward and backward, stride as downsampling,
the transposed convolution as zero insertion + convolution) that writes the same equation text and numbers
as :mod:`kernelwise.explain.symbolic`, so that the page can recompute when a control changes (the
initial numbers come from the engine, embedded as JSON; the tests check that the script's numbers and
equation texts equal the engine's and Python's for the initial settings). It stays in JavaScript
because a control can ask for any input size, kernel size, stride, padding and dilation, which Python
cannot precompute. ``assets/page.css`` holds the styles.

Both files are package data, read with :mod:`importlib.resources` and inlined, so that the page is
one file that loads nothing. Its Content-Security-Policy allows exactly these two inline texts, by
their SHA-256 hashes, and nothing else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from importlib import resources

ASSETS = ("page.js", "page.css")


@functools.cache
def asset(name: str) -> str:
    """The text of ``assets/<name>``, checked to be safe inside a ``<script>`` or ``<style>`` element."""
    text = resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")
    # the HTML parser would end the element at "</script" or "</style"; "<!--" changes how it reads a script
    if re.search(r"</(script|style)|<!--", text, re.IGNORECASE):
        raise ValueError(f"assets/{name} contains '</script', '</style' or '<!--', which cannot be inlined")
    return text


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source that allows one inline element with exactly this text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(script: str, css: str) -> str:
    """Nothing from anywhere; only the inline script and styles with exactly these texts."""
    return f"default-src 'none'; style-src {csp_hash(css)}; script-src {csp_hash(script)}"


def fill_page(template: str, script_name: str, css_name: str, title: str, data: str, **fields: str) -> str:
    """``template`` with ``assets/<script_name>`` and ``<css_name>`` inlined under their CSP hashes, ``title``
    escaped, ``data`` (JSON text) in place and any other ``__NAME__`` placeholder from ``fields`` (escaped).

    The JSON's ``</`` becomes ``<\\/`` so that no ``</script>`` ends its element early; the placeholders are
    filled in one pass, so a placeholder inside an inlined text is left as it is.
    """
    script, css = "\n" + asset(script_name), "\n" + asset(css_name)  # each element's text, as hashed
    values = {
        "CSP": content_security_policy(script, css),
        "CSS": css,
        "SCRIPT": script,
        "TITLE": html.escape(title),
        "DATA": data.replace("</", "<\\/"),
        **{name: html.escape(value) for name, value in fields.items()},
    }
    return re.sub(r"__([A-Z]+)__", lambda m: values[m[1]], template)


HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<title>__TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<h1>__TITLE__</h1>
<p>__INTRO__</p>
<div class="tabs">
  <button data-tab="forward" class="active">Forward</button><button data-tab="backward">Backward</button>
</div>
<div class="controls">
  <label>input size <input id="size" type="number" min="1" max="16"></label>
  <label>kernel size <input id="kernel" type="number" min="1" max="7"></label>
  <label>stride <input id="stride" type="number" min="1" max="5"></label>
  <label>padding <input id="padding" type="number" min="0" max="5"></label>
  <label>padding after <input id="padding-after" type="number" min="0" max="5"></label>
  <label>dilation <input id="dilation" type="number" min="1" max="4"></label>
  <label>output padding <input id="output-padding" type="number" min="0" max="4"></label>
  <label>in-channels <input id="in-channels" type="number" min="1" max="4"></label>
  <label>out-channels <input id="out-channels" type="number" min="1" max="4"></label>
  <label>filter <select id="filter"></select></label>
  <label>pooling <select id="reducer"></select></label>
</div>
<pre id="outsize"></pre>
<div id="error"></div>
<div class="stepper">
  <button id="prev">◀ prev</button>
  <input id="step" type="range" min="0" value="0">
  <button id="next">next ▶</button>
  <button id="play">▶ play</button>
  <span id="steplabel"></span>
</div>
<div id="grids" class="grids"></div>
<pre id="equation"></pre>
<div id="check"></div>
<script type="application/json" id="kw-data">__DATA__</script>
<script>__SCRIPT__</script>
</body>
</html>
"""
