"""The ``--html`` page in a real headless Chromium, driven through the DevTools protocol over a pipe.

No Python package is needed: Chromium is started with ``--remote-debugging-pipe`` and spoken to with
JSON messages on file descriptors 3 and 4. The tests skip (saying so) when no Chromium is installed
(Debian: ``apt-get install chromium``; or set KERNELWISE_CHROMIUM to a Chromium/Chrome binary).

Checked: the page loads without console errors and requests nothing but itself; its script's numbers
equal the engine's (forward and autograd) and its equation texts equal Python's for the initial
settings; stepping (next button, slider) moves the highlighted cell and changes the equation; changing
a control recomputes the output size. Pages: convolution with several input channels and filters
(per-channel partial sums, a filter selector), uneven padding, pooling's gradient routing, stride as
downsampling, the transposed convolution's stages.
Screenshots are kept in ``test-artifacts/``; the page data is also checked without a browser.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import kernelwise as kw
import kernelwise.nn.functional as F
from kernelwise.explain import explain_backward, explain_conv, explain_pool, render_html
from kernelwise.explain.symbolic import Geometry

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


# tests/conftest.py counts the skips with this reason in a closing line of the run
NO_CHROMIUM = (
    "browser test: no Chromium found (looked for $KERNELWISE_CHROMIUM, chromium, chromium-browser, google-chrome "
    "and chrome on PATH); install it (Debian: apt-get install chromium) or set KERNELWISE_CHROMIUM to its path"
)


def find_chromium() -> str | None:
    candidates = [os.environ.get("KERNELWISE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"]
    for name in filter(None, candidates):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """A headless Chromium and one page, spoken to with the DevTools protocol over a pipe (fds 3 and 4)."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="kernelwise-chromium-")
        to_browser, self._write = os.pipe()
        self._read_fd, from_browser = os.pipe()

        def child_fds() -> None:  # in the child: its pipe ends become fds 3 (commands in) and 4 (answers out)
            a, b = os.dup(to_browser), os.dup(from_browser)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=child_fds,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._id, self._buffer, self.events = 0, b"", []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)

    def _message(self, timeout: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read_fd], [], [], timeout)
            if not ready:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 30) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._message(timeout)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == event:
                    return self.events.pop(i)
            self.events.append(self._message(max(end - time.monotonic(), 0.01)))

    def open(self, path: Path) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": path.as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.js(
            f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); "
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
                session=True,
            )

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._write)
        os.close(self._read_fd)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not sys.platform.startswith("linux"):
        pytest.skip("browser test: the DevTools pipe driver is written for Linux")
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    chromium = Chromium(executable)
    yield chromium
    chromium.close()


def engine_conv(page: dict) -> dict:
    """The engine's forward and autograd gradients for the page's numbers (every channel and filter).

    The input is zero-padded here by the page's (before, after) pairs, so that padding the convolution
    could not apply (before ≠ after) is checked too; dL/dA is the padded input's gradient, cropped.
    """
    nd = page["nd"]
    x = np.array(page["input"], dtype=np.float64)  # (C, H, W); a 1-D signal is one row
    w = np.array(page["kernel"], dtype=np.float64)  # (O, C, kh, kw)
    grad = np.array(page["grad"], dtype=np.float64)  # (O, oh, ow)
    settings = {k: v[-nd:] for k, v in page["settings"].items() if k != "channels"}
    if nd == 1:
        x, w, grad = x[:, 0], w[:, :, 0], grad[:, 0]
    pairs = [tuple(p) for p in settings["padding"]]
    x = np.pad(x, [(0, 0), *pairs])
    X, W = kw.tensor(x[None], requires_grad=True), kw.tensor(w, requires_grad=True)
    B = kw.tensor(np.array(page["bias"]), requires_grad=True)
    conv = F.conv1d if nd == 1 else F.conv2d
    y = conv(X, W, B, tuple(settings["stride"]), 0, tuple(settings["dilation"]))
    y.backward(kw.tensor(grad[None]))
    crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(pairs, x.shape[1:], strict=True))
    maps = (lambda a: np.expand_dims(a, -2)) if nd == 1 else (lambda a: a)
    return {
        "output": maps(y.numpy()[0]),
        "grad_input": maps(X.grad.numpy()[0][(slice(None), *crop)]),
        "grad_weight": maps(W.grad.numpy()),
    }


def highlighted(browser: Chromium, grid: str) -> list[int] | None:
    return browser.js(
        f"(() => {{ const td = document.querySelector('.grid[data-name=\"{grid}\"] td.hl-out'); "
        "return td ? [Number(td.dataset.r), Number(td.dataset.c)] : null; })()"
    )


def test_conv_page_numbers_and_equations_equal_the_engine_and_python(browser, tmp_path):
    e = explain_conv(values="edge")
    path = tmp_path / "conv.html"
    render_html(e, path)
    browser.open(path)
    assert browser.errors() == []
    assert set(browser.requests()) == {path.as_uri()}, "the page must not load anything else"
    state = browser.js(
        "(() => { const s = kw.state; return {output: s.output, grad_input: s.grad_input, "
        "grad_weight: s.grad_weight}; })()"
    )
    expected = engine_conv(e.page)
    for key in ("output", "grad_input", "grad_weight"):
        np.testing.assert_allclose(state[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert state["output"][0][0] == [0, 0, 4, 4, 0, 0]
    js_text = browser.js("kw.state.forward.map(kw.eqText)")
    python_text = [str(q) for q in e.sections[1].equations]
    assert js_text == python_text
    js_numbers = browser.js("kw.state.forward.map((q) => kw.rhs(q, kw.arrays()))")
    assert js_numbers == [q.rhs(e.sections[1].env) for q in e.sections[1].equations]
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    assert browser.js("kw.formulaLines(kw.state.g)") == [line for f in e.sections[0].formulas for line in f["lines"]]


def test_backward_tab_equations_equal_python(browser, tmp_path):
    from kernelwise.explain.symbolic import conv_grad_input_equations, conv_grad_weight_equations

    e = explain_conv(input_size=4, kernel_size=2, stride=2, padding=1, values="random:3")
    path = tmp_path / "backward.html"
    render_html(e, path)
    browser.open(path)
    browser.click("button[data-tab=backward]")
    g = Geometry.make((4, 4), 2, 2, 1)
    python_text = [str(q) for q in conv_grad_weight_equations(g, 1, 1) + conv_grad_input_equations(g, 1, 1)]
    assert browser.js("kw.state.backward.map(kw.eqText)") == python_text
    assert browser.js("kw.state.tab") == "backward"
    assert browser.js("document.getElementById('equation').textContent").startswith("dL/dW[1,1] = dL/dZ[1,1]·0")
    expected = engine_conv(e.page)
    np.testing.assert_allclose(browser.js("kw.state.grad_input"), expected["grad_input"], rtol=1e-12, atol=1e-12)
    assert browser.errors() == []


def test_stepping_moves_the_highlight_and_changes_the_equation(browser, tmp_path):
    path = tmp_path / "step.html"
    render_html(explain_conv(values="edge"), path)
    browser.open(path)
    first_cell, first_eq = highlighted(browser, "Z"), browser.js("document.getElementById('equation').textContent")
    assert first_cell == [0, 0] and first_eq.startswith("Z[1,1] = ")
    browser.click("#next")
    assert highlighted(browser, "Z") == [0, 1]
    assert browser.js("document.getElementById('equation').textContent").startswith("Z[1,2] = ")
    browser.js(
        "(() => { const s = document.getElementById('step'); s.value = 8; s.dispatchEvent(new Event('input')); })()"
    )
    assert highlighted(browser, "Z") == [1, 2]
    equation = browser.js("document.getElementById('equation').textContent")
    assert equation.startswith("Z[2,3] = A[2,3]·W[1,1]") and equation.endswith("= 4")
    assert browser.js("document.getElementById('steplabel').textContent") == "step 9 of 36"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_conv_page.png")
    assert (ARTIFACTS / "explain_conv_page.png").stat().st_size > 1000
    assert browser.errors() == []


def test_changing_a_control_recomputes_the_output_size(browser, tmp_path):
    path = tmp_path / "controls.html"
    render_html(explain_conv(values="edge"), path)
    browser.open(path)
    assert "= floor(5 / 1) + 1 = 6" in browser.js("document.getElementById('outsize').textContent")
    for name, value in (("kernel", 2), ("stride", 2), ("padding", 1)):
        browser.js(
            f"(() => {{ const el = document.getElementById('{name}'); el.value = {value}; "
            "el.dispatchEvent(new Event('change')); })()"
        )
    g = Geometry.make((8, 8), 2, 2, 1)
    text = browser.js("document.getElementById('outsize').textContent")
    assert text.split("\n") == [line for f in g.formulas() for line in f["lines"]]
    assert "= floor(8 / 2) + 1 = 5" in text
    rows = browser.js("document.querySelectorAll('.grid[data-name=\"Z\"] tr').length")
    assert rows == 5
    assert (
        browser.js("kw.state.forward.map(kw.eqText)")[0]
        == "Z[1,1] = 0·W[1,1] + 0·W[1,2] + 0·W[2,1] + A[1,1]·W[2,2] + B"
    )
    assert browser.js("document.getElementById('check').textContent").startswith("recomputed")
    browser.js(
        "(() => { const el = document.getElementById('kernel'); el.value = 12; "
        "el.dispatchEvent(new Event('change')); })()"
    )
    assert "does not fit" in browser.js("document.getElementById('error').textContent")
    assert browser.errors() == []


def test_pool_page_numbers_equal_the_engine(browser, tmp_path):
    e = explain_pool()
    path = tmp_path / "pool.html"
    render_html(e, path)
    browser.open(path)
    x = kw.tensor(np.array(e.page["input"], dtype=np.float64)[None], requires_grad=True)
    grad = kw.tensor(np.array(e.page["grad"], dtype=np.float64)[None])
    pools = {"max": F.max_pool2d, "mean": F.avg_pool2d, "min": F.min_pool2d}
    for reducer, pool in pools.items():
        browser.js(
            f"(() => {{ const el = document.getElementById('reducer'); el.value = '{reducer}'; "
            "el.dispatchEvent(new Event('change')); })()"
        )
        x.grad = None
        y = pool(x, 2)
        y.backward(grad)
        np.testing.assert_allclose(browser.js("kw.state.output"), y.numpy()[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(browser.js("kw.state.grad_input"), x.grad.numpy()[0], rtol=1e-12, atol=1e-12)
        section = next(s for s in e.sections if s.title.lower().startswith(reducer))
        assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in section.equations]
    assert browser.js("kw.state.output") == [[[4, 0], [6, 3]]]
    assert browser.errors() == []


def test_one_dimensional_page(browser, tmp_path):
    e = explain_conv(dims=1, input_size=7, kernel_size=3, padding=1, dilation=2, values="random:2")
    path = tmp_path / "conv1d.html"
    render_html(e, path)
    browser.open(path)
    expected = engine_conv(e.page)
    np.testing.assert_allclose(browser.js("kw.state.output"), expected["output"], rtol=1e-12, atol=1e-12)
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in e.sections[1].equations]
    assert browser.errors() == []


def js_set(browser: Chromium, control: str, value) -> None:
    """Set a control's value and fire its change event, as a user does."""
    browser.js(
        f"(() => {{ const el = document.getElementById('{control}'); el.value = {json.dumps(value)}; "
        "el.dispatchEvent(new Event('change')); })()"
    )


def lead_highlight(browser: Chromium, grid: str, lead: str) -> list[int] | None:
    """The highlighted result cell of the grid of array ``grid`` with channel indices ``lead`` ('1,0')."""
    return browser.js(
        f'(() => {{ const td = document.querySelector(\'.grid[data-name="{grid}"][data-lead="{lead}"] td.hl-out\'); '
        "return td ? [Number(td.dataset.r), Number(td.dataset.c)] : null; })()"
    )


def page_env(page: dict) -> dict:
    """The page's numbers as the arrays Python's equations index: A (C, H, W), W (O, C, kh, kw), B, dL/dZ."""
    names = page["names"]
    squeeze = (lambda a: a[..., 0, :]) if page["nd"] == 1 else (lambda a: a)
    env = {names["x"]: squeeze(np.array(page["input"], dtype=float))}
    if "kernel" in page:
        env[names["w"]] = squeeze(np.array(page["kernel"], dtype=float))
    if "bias" in page:
        env[names["b"]] = np.array(page["bias"], dtype=float)
    if "grad" in page:
        env["dL/d" + names["y"]] = squeeze(np.array(page["grad"], dtype=float))
    return env


def open_page(browser: Chromium, explanation, path: Path) -> None:
    render_html(explanation, path)
    browser.open(path)
    assert browser.errors() == []
    assert set(browser.requests()) == {path.as_uri()}, "the page must not load anything else"


def test_multichannel_conv_page(browser, tmp_path):
    from kernelwise.explain.symbolic import conv_equations, conv_grad_input_equations, conv_grad_weight_equations

    e = explain_conv(in_channels=3, out_channels=2, input_size=4, kernel_size=2, padding=1, stride=2)
    open_page(browser, e, tmp_path / "multi.html")
    expected = engine_conv(e.page)
    for key in ("output", "grad_input", "grad_weight"):
        np.testing.assert_allclose(browser.js(f"kw.state.{key}"), expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert np.shape(browser.js("kw.state.output")) == (2, 3, 3)
    equations = e.sections[1].equations
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in equations]
    env = page_env(e.page)
    assert browser.js("kw.state.forward.map((q) => kw.rhs(q, kw.arrays()))") == [q.rhs(env) for q in equations]
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    g = Geometry.make((4, 4), 2, 2, 1)
    # per channel: the window, the kernel slice and the partial sums; then the total plus bias
    assert browser.js("document.querySelectorAll('.grid[data-name=\"A\"]').length") == 3
    assert browser.js("document.querySelectorAll('.grid[data-name=\"partial\"]').length") == 3
    text = browser.js("document.getElementById('equation').textContent")
    assert text.startswith(str(equations[0]).split(" + (")[0])
    lines = text.split("\n")
    partials = [float(line.rsplit("= ", 1)[1]) for line in lines if line.startswith("channel ")]
    first = equations[0]
    assert partials == [sum(t.value(env) for t in first.terms if t.group == c) for c in range(3)]
    assert lines[-1].startswith("total: ") and float(lines[-1].rsplit("= ", 1)[1]) == first.evaluate(env)
    assert lead_highlight(browser, "Z", "0") == [0, 0]
    browser.click("#next")
    assert lead_highlight(browser, "Z", "0") == [0, 1]
    assert browser.js("document.getElementById('equation').textContent").startswith("Z[1,1,2] = ")
    js_set(browser, "filter", "1")  # the second filter: its first output, its kernel slices
    assert browser.js("kw.state.step") == 9 and lead_highlight(browser, "Z", "1") == [0, 0]
    assert browser.js("document.querySelector('.grid[data-name=\"W\"]').dataset.lead") == "1,0"
    browser.click("button[data-tab=backward]")
    python_text = [str(q) for q in conv_grad_weight_equations(g, 3, 2) + conv_grad_input_equations(g, 3, 2)]
    assert browser.js("kw.state.backward.map(kw.eqText)") == python_text
    browser.click("button[data-tab=forward]")
    js_set(browser, "in-channels", 2)  # recomputes with two input channels
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in conv_equations(g, 2, 2)]
    assert np.shape(browser.js("kw.state.kernel")) == (2, 2, 2, 2)
    assert browser.js("document.getElementById('check').textContent").startswith("recomputed")
    js_set(browser, "out-channels", 1)
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in conv_equations(g, 2, 1)]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_conv_channels_page.png")
    assert browser.errors() == []


def test_uneven_padding_conv_and_pool_pages(browser, tmp_path):
    from kernelwise.explain.symbolic import conv_equations, pool_equations

    e = explain_conv(input_size=4, kernel_size=2, padding="same", values="random:4")  # (0, 1): PyTorch's extra after
    assert e.page["settings"]["padding"] == [[0, 1], [0, 1]]
    open_page(browser, e, tmp_path / "same.html")
    expected = engine_conv(e.page)
    for key in ("output", "grad_input", "grad_weight"):
        np.testing.assert_allclose(browser.js(f"kw.state.{key}"), expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in e.sections[1].equations]
    assert browser.js("kw.formulaLines(kw.state.g)") == [line for f in e.sections[0].formulas for line in f["lines"]]
    assert browser.js("document.querySelectorAll('.grid[data-name=\"A\"] tr').length") == 5  # 4 + 0 before + 1 after
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    browser.js("kw.setStep(15)")
    assert highlighted(browser, "Z") == [3, 3]
    assert browser.js("document.getElementById('equation').textContent").startswith("Z[4,4] = A[4,4]·W[1,1] + 0·")
    js_set(browser, "padding-after", 2)
    g = Geometry.make((4, 4), 2, 1, ((0, 2), (0, 2)))
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in conv_equations(g, 1, 1)]
    assert browser.js("kw.formulaLines(kw.state.g)") == [line for f in g.formulas() for line in f["lines"]]

    p = explain_pool(input_size=(4, 5), kernel_size=3, stride=2, padding=(1, 0), values="random:5")
    open_page(browser, p, tmp_path / "pool_pad.html")
    assert browser.js("kw.formulaLines(kw.state.g)") == [line for f in p.sections[0].formulas for line in f["lines"]]
    np.testing.assert_allclose(browser.js("kw.state.output"), p.page["engine"]["max"]["output"])
    js_set(browser, "padding-after", 0)
    js_set(browser, "padding", 1)
    js_set(browser, "padding-after", 0)  # (1, 0) on both dims
    g = Geometry.make((4, 5), 3, 2, ((1, 0), (1, 0)))
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in pool_equations(g, 1, "max")]
    assert browser.errors() == []


def test_transpose_page_stages_and_equations(browser, tmp_path):
    from kernelwise.explain import explain_transpose
    from kernelwise.explain.symbolic import transpose_equations
    from kernelwise.explain.transpose import transpose_geometry

    e = explain_transpose(in_channels=2, out_channels=2, output_padding=1)
    open_page(browser, e, tmp_path / "transpose.html")
    x, w = np.array(e.data["x"]), np.array(e.data["w"])
    y = F.conv_transpose2d(kw.tensor(x[None]), kw.tensor(w), None, 2, 0, 1).numpy()[0]
    np.testing.assert_allclose(browser.js("kw.state.output"), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(browser.js("kw.state.output"), e.data["y"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(browser.js("kw.state.upsampled"), e.data["up"])  # s - 1 zeros between inputs
    np.testing.assert_allclose(browser.js("kw.state.padded"), e.data["full"])  # padded by d·(k - 1) - P
    np.testing.assert_allclose(browser.js("kw.state.rotated"), np.flip(w, (2, 3)))  # rot180 of each kernel slice
    equations = e.sections[1].equations
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in equations]
    env = {"X": x, "W": w}
    assert browser.js("kw.state.forward.map((q) => kw.rhs(q, kw.arrays()))") == [q.rhs(env) for q in equations]
    assert browser.js("kw.formulaLines(kw.state.g)") == e.sections[0].lines
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    for name in ("X", "up", "full", "rot", "Y"):  # every stage is drawn
        assert browser.js(f"document.querySelectorAll('.grid[data-name=\"{name}\"]').length") >= 1, name
    # the highlighted output's window on the padded grid: k×k cells starting at the output's position
    browser.js("kw.setStep(7)")
    assert lead_highlight(browser, "Y", "0") == [1, 1]
    window = browser.js(
        '[...document.querySelectorAll(\'.grid[data-name="full"][data-lead="0"] td.hl-0\')]'
        ".map((td) => [Number(td.dataset.r), Number(td.dataset.c)])"
    )
    assert window == [[r, c] for r in range(1, 4) for c in range(1, 4)]
    assert browser.js("document.getElementById('equation').textContent").startswith(str(equations[7]))
    browser.click("#next")
    assert lead_highlight(browser, "Y", "0") == [1, 2]
    js_set(browser, "stride", 1)  # output_padding 1 needs a stride or dilation above 1, as PyTorch says
    assert "output_padding" in browser.js("document.getElementById('error').textContent")
    js_set(browser, "stride", 3)  # recomputes: two zeros between inputs, output 7×7
    geometry, out = transpose_geometry((2, 2), (3, 3), 3, 0, 1, 1)
    assert out == (7, 7) and browser.js("document.getElementById('error').textContent") == ""
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in transpose_equations(geometry, 2, 2)]
    assert browser.js("document.getElementById('check').textContent").startswith("recomputed")
    js_set(browser, "out-channels", 1)
    assert np.shape(browser.js("kw.state.output")) == (1, 7, 7)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_transpose_page.png")
    assert browser.errors() == []


def test_transpose_backward_tab_and_output_padding(browser, tmp_path):
    """The transposed convolution's backward: dL/dX (the strided convolution of dL/dY with W) and dL/dW
    equal the engine's autograd, their equation texts and numbers Python's; output_padding is a control."""
    from kernelwise.explain import explain_transpose
    from kernelwise.explain.symbolic import transpose_grad_equations
    from kernelwise.explain.transpose import transpose_geometry

    def autograd(x: np.ndarray, w: np.ndarray, grad: np.ndarray, op: int) -> tuple[np.ndarray, np.ndarray]:
        X, W = kw.tensor(x[None], requires_grad=True), kw.tensor(w, requires_grad=True)
        F.conv_transpose2d(X, W, None, 2, 1, op).backward(kw.tensor(grad[None]))
        return X.grad.numpy()[0], W.grad.numpy()

    e = explain_transpose(in_channels=2, out_channels=3, stride=2, padding=1, output_padding=1)
    open_page(browser, e, tmp_path / "transpose-backward.html")
    x, w, grad = (np.array(e.page[k], dtype=np.float64) for k in ("input", "kernel", "grad"))
    assert browser.js("document.getElementById('output-padding').value") == "1"
    browser.click("button[data-tab=backward]")
    assert browser.js("kw.state.tab") == "backward"
    grad_x, grad_w = autograd(x, w, grad, 1)
    np.testing.assert_allclose(browser.js("kw.state.grad_input"), grad_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(browser.js("kw.state.grad_weight"), grad_w, rtol=1e-12, atol=1e-12)
    strided = F.conv2d(kw.tensor(grad[None]), kw.tensor(w), None, 2, 1).numpy()[0]  # dL/dX = conv(dL/dY, W)
    np.testing.assert_allclose(browser.js("kw.state.grad_input"), strided, rtol=1e-12, atol=1e-12)
    geometry, out = transpose_geometry((2, 2), (3, 3), 2, 1, 1, 1)
    assert out == (4, 4) and np.shape(grad) == (3, 4, 4)
    equations = transpose_grad_equations(geometry, 2, 3)
    assert len(equations) == 2 * 3 * 9 + 2 * 4
    assert browser.js("kw.state.backward.map(kw.eqText)") == [str(q) for q in equations]
    env = {"X": x, "W": w, "dL/dY": grad}
    assert browser.js("kw.state.backward.map((q) => kw.rhs(q, kw.arrays()))") == [q.rhs(env) for q in equations]
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    assert browser.js("document.getElementById('equation').textContent").startswith(str(equations[0]))
    for name in ("dL/dY", "X", "W", "dL/dW", "dL/dX"):  # every array of the backward pass is drawn
        assert browser.js(f"document.querySelectorAll('.grid[data-name=\"{name}\"]').length") >= 1, name
    browser.js(f"kw.setStep({len(equations) - 1})")  # the last dL/dX entry
    assert browser.js("document.getElementById('equation').textContent").startswith(str(equations[-1]))
    assert lead_highlight(browser, "dL/dX", "1") == [1, 1]
    js_set(browser, "output-padding", 0)  # recomputes: a 3×3 output, its dL/dY and the backward sums
    geometry, out = transpose_geometry((2, 2), (3, 3), 2, 1, 0, 1)
    assert out == (3, 3) and np.shape(browser.js("kw.state.output")) == (3, 3, 3)
    grad = np.array(browser.js("kw.state.grad"), dtype=np.float64)
    assert grad.shape == (3, 3, 3)
    grad_x, grad_w = autograd(x, w, grad, 0)
    np.testing.assert_allclose(browser.js("kw.state.grad_input"), grad_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(browser.js("kw.state.grad_weight"), grad_w, rtol=1e-12, atol=1e-12)
    equations = transpose_grad_equations(geometry, 2, 3)
    assert browser.js("kw.state.backward.map(kw.eqText)") == [str(q) for q in equations]
    assert browser.js("document.getElementById('check').textContent").startswith("recomputed")
    browser.click("button[data-tab=forward]")
    assert browser.js("kw.formulaLines(kw.state.g)")[1].endswith("+ 0 + 1 = 3")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.click("button[data-tab=backward]")
    browser.screenshot(ARTIFACTS / "explain_transpose_backward.png")
    assert browser.errors() == []


def cells(browser: Chromium, grid: str, cls: str, lead: str = "0") -> list[list[int]]:
    """The [row, column] of every cell of a grid that has class ``cls``."""
    return browser.js(
        f'[...document.querySelectorAll(\'.grid[data-name="{grid}"][data-lead="{lead}"] td.{cls}\')]'
        ".map((td) => [Number(td.dataset.r), Number(td.dataset.c)])"
    )


def test_stride_page_keeps_every_sth_entry_of_the_stride1_output(browser, tmp_path):
    from kernelwise.explain import explain_stride
    from kernelwise.explain.symbolic import conv_equations, downsample_equations

    e = explain_stride(values="input=1,2,3,4,5/6,7,8,9,10/11,12,13,14,15/16,17,18,19,20/21,22,23,24,25;kernel=1,0/0,1")
    open_page(browser, e, tmp_path / "stride.html")
    page = e.page
    y = np.array(e.data["y"])  # the engine's stride-1 output
    np.testing.assert_allclose(browser.js("kw.state.stride1"), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(browser.js("kw.state.output"), y[:, ::2, ::2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(browser.js("kw.state.output"), e.data["z"], rtol=1e-12, atol=1e-12)
    expected = engine_conv(page)
    for key in ("output", "grad_input", "grad_weight"):
        np.testing.assert_allclose(browser.js(f"kw.state.{key}"), expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in e.sections[1].equations]
    assert browser.js("kw.state.downsample.map(kw.eqText)") == [str(q) for q in e.sections[2].equations]
    assert browser.js("kw.formulaLines(kw.state.g)") == [line for f in e.sections[0].formulas for line in f["lines"]]
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    # the kept entries of Y (every second row and column) bold, the dropped ones struck
    assert cells(browser, "Y", "kept") == [[r, c] for r in (0, 2) for c in (0, 2)]
    assert len(cells(browser, "Y", "dropped")) == 16 - 4
    assert cells(browser, "Y", "hl-out") == [[0, 0]] and highlighted(browser, "Z") == [0, 0]
    browser.click("#next")  # Z[1,2] = Y[1,3]
    assert cells(browser, "Y", "hl-out") == [[0, 2]] and highlighted(browser, "Z") == [0, 1]
    assert "downsampling: Z[1,2] = Y[1,3]" in browser.js("document.getElementById('equation').textContent")
    browser.click("button[data-tab=backward]")  # dL/dY: dL/dZ with s - 1 zeros between entries
    grad = np.array(page["grad"])
    inserted = np.zeros_like(y)
    inserted[:, ::2, ::2] = grad
    np.testing.assert_allclose(browser.js("kw.state.grad_stride1"), inserted)
    browser.click("button[data-tab=forward]")
    js_set(browser, "stride", 3)
    g = Geometry.make((5, 5), 2, 3)
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in conv_equations(g, 1, 1)]
    assert browser.js("kw.state.downsample.map(kw.eqText)") == [str(q) for q in downsample_equations((4, 4), (3, 3), 1)]
    assert cells(browser, "Y", "kept") == [[r, c] for r in (0, 3) for c in (0, 3)]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_stride_page.png")
    assert browser.errors() == []


def test_pool_backward_routes_each_gradient(browser, tmp_path):
    from kernelwise.explain.symbolic import pool_winners

    e = explain_pool(kernel_size=3, stride=1, values="random:2")  # overlapping windows
    open_page(browser, e, tmp_path / "pool_back.html")
    browser.click("button[data-tab=backward]")
    x = np.array(e.page["input"], dtype=np.float64)
    env = {"A": x, "dL/dZ": np.array(e.page["grad"], dtype=np.float64)}
    g = Geometry.make((4, 4), 3, 1)
    for k, reducer in enumerate(("max", "mean", "min")):
        js_set(browser, "reducer", reducer)
        section = e.sections[4 + k]
        assert section.title.startswith(f"Backward of {reducer}")
        assert browser.js("kw.state.backward.map(kw.eqText)") == [str(q) for q in section.equations]
        assert browser.js("kw.state.backward.map((q) => kw.rhs(q, kw.arrays()))") == [
            q.rhs(env) for q in section.equations
        ]
        np.testing.assert_allclose(browser.js("kw.state.grad_input"), e.page["engine"][reducer]["grad_input"])
        winners = {p for (_, _), p in pool_winners(g, x, reducer).items()} if reducer != "mean" else set()
        assert sorted(map(tuple, cells(browser, "A", "win"))) == sorted(winners)  # the winners, boxed
        browser.js("kw.setStep(5)")  # dL/dA[2,2]: every window that reaches it (mean) or that it wins
        assert cells(browser, "dL/dA", "hl-out") == [[1, 1]] and cells(browser, "A", "hl-out") == [[1, 1]]
        routed = [[t.factors[0].index[1], t.factors[0].index[2]] for t in section.equations[5].terms]
        assert sorted(cells(browser, "dL/dZ", "hl-0")) == sorted(routed)
        text = browser.js("document.getElementById('equation').textContent")
        assert text.startswith(str(section.equations[5]))
        if reducer == "mean":  # spread evenly: divided by the window size
            assert "/ 9" in text and len(routed) == 4
            assert "dL/dZ[1,1] = 1 → dL/dZ[1,1]/9 to each of the 9 inputs of Z[1,1]'s window" in text
        else:  # all of it to the winner, the window's max / min shown
            for o in routed:
                assert f"wins Z[{o[0] + 1},{o[1] + 1}] = {reducer}(" in text
        windows = {tuple(t.pos) for o in routed for t in g.window(tuple(o))} - {(1, 1)}
        assert {tuple(c) for c in cells(browser, "A", "hl-1")} == windows  # the windows sending gradient here
        browser.click("#next")
        assert cells(browser, "dL/dA", "hl-out") == [[1, 2]]
    js_set(browser, "kernel", 2)  # recomputes the routing for 2×2 windows
    assert browser.js("kw.state.backward.length") == 16
    assert browser.errors() == []


def test_two_channel_pool_and_one_dimensional_multichannel_pages(browser, tmp_path):
    e = explain_pool(in_channels=2, input_size=5, kernel_size=2, stride=2, padding=1, values="random:6")
    open_page(browser, e, tmp_path / "pool2.html")
    for reducer in ("max", "mean", "min"):
        js_set(browser, "reducer", reducer)
        np.testing.assert_allclose(browser.js("kw.state.output"), e.page["engine"][reducer]["output"])
        section = next(s for s in e.sections if s.title.lower().startswith(reducer))
        assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in section.equations]
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    assert browser.js("document.querySelectorAll('.grid[data-name=\"A\"]').length") == 2
    c = explain_conv(dims=1, input_size=6, kernel_size=3, in_channels=2, out_channels=2, padding="same")
    open_page(browser, c, tmp_path / "conv1d2.html")
    expected = engine_conv(c.page)
    for key in ("output", "grad_input", "grad_weight"):
        np.testing.assert_allclose(browser.js(f"kw.state.{key}"), expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert browser.js("kw.state.forward.map(kw.eqText)") == [str(q) for q in c.sections[1].equations]
    assert browser.errors() == []


# ---------------------------------------------------------------- the page data, without a browser
def test_conv_page_data_has_every_channel_and_filter():
    e = explain_conv(in_channels=3, out_channels=2, input_size=5, kernel_size=2, padding="same")
    page = e.page
    assert page["settings"]["channels"] == [3, 2] and page["settings"]["padding"] == [[0, 1], [0, 1]]
    assert np.shape(page["input"]) == (3, 5, 5) and np.shape(page["kernel"]) == (2, 3, 2, 2)
    assert np.shape(page["grad"]) == (2, 5, 5) and len(page["bias"]) == 2
    expected = engine_conv(page)  # the input zero-padded by hand, (0, 1) on each dim
    for key in ("output", "grad_input", "grad_weight"):
        np.testing.assert_allclose(page["engine"][key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    b = explain_backward(in_channels=2, values="random:1").page  # the slides' O = X ⋆ F has no bias
    assert b["use_bias"] is False and b["settings"]["channels"] == [2, 1]


def test_stride_transpose_and_pool_page_data():
    from kernelwise.explain import explain_stride, explain_transpose

    s = explain_stride(in_channels=2, out_channels=2, input_size=6, kernel_size=3, stride=2, values="random:3")
    y1 = np.array(s.page["engine"]["stride1"])
    x, w = np.array(s.page["input"]), np.array(s.page["kernel"])
    b = np.array(s.page["bias"])
    y = F.conv2d(kw.tensor(x[None]), kw.tensor(w), kw.tensor(b)).numpy()[0]
    np.testing.assert_allclose(y1, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s.page["engine"]["output"], y[:, ::2, ::2], rtol=1e-12, atol=1e-12)
    assert s.page["mode"] == "stride"

    t = explain_transpose(values="symbols", stride=2, padding=1)  # symbols: the page gets random integers
    page = t.page
    x, w = np.array(page["input"]), np.array(page["kernel"])
    y = F.conv_transpose2d(kw.tensor(x[None]), kw.tensor(w), None, 2, 1).numpy()[0]
    np.testing.assert_allclose(page["engine"]["output"], y, rtol=1e-12, atol=1e-12)
    up = np.zeros((1, 3, 3))
    up[:, ::2, ::2] = x
    np.testing.assert_allclose(page["engine"]["upsampled"], up)
    np.testing.assert_allclose(page["engine"]["padded"], np.pad(up, [(0, 0), (1, 1), (1, 1)]))  # d·(k - 1) - P = 1
    assert page["settings"]["padding"] == [[1, 1], [1, 1]] and page["settings"]["output_padding"] == [0, 0]

    p = explain_pool(in_channels=2, values="random:1")
    x = kw.tensor(np.array(p.page["input"])[None], requires_grad=True)
    y = F.max_pool2d(x, 2)
    y.backward(kw.tensor(np.array(p.page["grad"])[None]))
    np.testing.assert_allclose(p.page["engine"]["max"]["output"], y.numpy()[0])
    np.testing.assert_allclose(p.page["engine"]["max"]["grad_input"], x.grad.numpy()[0])
    assert p.page["settings"]["channels"] == [2, 2]


def test_html_error_names_what_has_no_page(tmp_path):
    from kernelwise.errors import UsageError
    from kernelwise.explain import explain_scan

    with pytest.raises(UsageError, match="'scan' has no interactive page; conv, stride, pool, backward, transpose"):
        render_html(explain_scan(), tmp_path / "scan.html")
    with pytest.raises(UsageError, match="pooling takes int padding"):
        explain_pool(padding="same")


SETTINGS = [  # (topic, keywords): every one-layer topic's page, with channels, 1-D, dilation, uneven padding
    ("conv", {"in_channels": 2, "out_channels": 3, "dilation": 2, "input_size": 6, "kernel_size": 2}),
    ("conv", {"dims": 1, "kernel_size": 4, "padding": "same", "in_channels": 2}),
    ("conv", {"input_size": (4, 5), "kernel_size": 3, "padding": (1, 2), "stride": (1, 2)}),  # --padding 1,2
    ("backward", {"in_channels": 2, "out_channels": 2, "stride": 2, "padding": 1, "values": "random:1"}),
    ("stride", {"in_channels": 2, "out_channels": 2, "padding": 1, "stride": 3, "input_size": 7}),
    ("stride", {"dims": 1, "input_size": 9, "kernel_size": 3}),
    ("pool", {"in_channels": 3, "input_size": 6, "kernel_size": 3, "stride": 2, "padding": 1, "values": "random"}),
    (
        "pool",
        {"dims": 1, "input_size": 9, "kernel_size": 3, "dilation": 2, "modes": ("max", "min"), "values": "random:0"},
    ),
    ("transpose", {"in_channels": 3, "out_channels": 2, "kernel_size": 2, "dilation": 2, "padding": 1}),
    ("transpose", {"dims": 1, "input_size": 4, "kernel_size": 3, "stride": 3, "padding": 2}),
    ("transpose", {"input_size": 3, "kernel_size": 2, "stride": 3, "padding": 2}),  # P > d·(k - 1): cropped, not padded
]


@pytest.mark.parametrize(("topic", "keywords"), SETTINGS)
def test_every_topic_page_agrees_with_the_engine(browser, tmp_path, topic, keywords):
    import kernelwise.explain as ex

    e = getattr(ex, f"explain_{topic}")(**keywords)
    open_page(browser, e, tmp_path / f"{topic}.html")
    if topic == "pool":
        for reducer in keywords.get("modes", ("max", "mean", "min")):
            js_set(browser, "reducer", reducer)
            assert browser.js("document.getElementById('check').textContent").startswith("✓"), reducer
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    assert browser.js("document.getElementById('error').textContent") == ""
    for tab in ("backward", "forward"):
        browser.click(f"button[data-tab={tab}]")
        first = browser.js("document.getElementById('equation').textContent")
        browser.click("#next")
        assert browser.js("document.getElementById('equation').textContent") != first, tab
    assert browser.errors() == []
