"""``kernelwise explain model ... --html``: the whole-network page, its numbers against PyTorch and the engine.

Expected values come from PyTorch (the same LeNet-5 built in torch with the run's weights: activations,
probabilities, autograd's dL/d(activation) maps and dL/dW), or for the other built-in models and ResNet-50
from kernelwise's own forward. In headless Chromium (the driver of tests/test_explain_html.py): the page
loads with no console errors and no requests; the shapes, the thumbnails' numbers, a clicked conv unit's
sum, the softmax and the backward maps equal the expected ones; switching images changes the maps. On
ResNet-50 every convolution is clickable, most through a sample of units: a sampled unit of a last-stage
conv and of a strided conv (its padded corner too) equal the engine's, and a click off the sample snaps.
A sampled convolution's backward (dL/dW, its written-out correlation, the chain rule with the filters not
embedded summed by the engine) and adaptive pooling whose sizes do not divide equal PyTorch's autograd; so
does max pooling's backward where windows tie (dL/dY to the first input reaching the max, row-major), which
the page's check accepts and an engine routing ties elsewhere fails.
Screenshots of a trained LeNet-5's page go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import kernelwise as kw
import kernelwise.nn.functional as F
from clirun import cli
from conftest import MNIST_SAMPLE
from kernelwise import checkpoint
from kernelwise.cli import main
from kernelwise.explain.engine import FormulaMismatch
from kernelwise.explain.model_page import (
    MAX_CHANNELS,
    RANDOM,
    _module_layers,
    _sample,
    _spread,
    as_map,
    check_sampled,
    downsample,
    model_page,
    page_html,
    shape_text,
)
from kernelwise.models import build_model
from kernelwise.runs import load_run, prepare_image
from parity import assert_close
from test_explain_html import ARTIFACTS, NO_CHROMIUM, Chromium, find_chromium

torch = pytest.importorskip("torch")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LeNet-5 trained forty steps on the MNIST sample (under a second; it then reads digits, which the
    screenshots show), else with its initial weights."""
    out = tmp_path_factory.mktemp("model-page") / "lenet"
    if (MNIST_SAMPLE / "train-images-idx3-ubyte.gz").is_file():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("KERNELWISE_OFFLINE", "1")
            args = ["train", "--dataset", "mnist", "--data-dir", str(MNIST_SAMPLE), "--model", "lenet5"]
            assert main([*args, "--epochs", "1", "--max-steps", "40", "--out", str(out), "--no-progress"]) == 0
    else:
        _saved_run(out, "lenet5", (1, 28, 28))
    return out


def _saved_run(run: Path, name: str, shape: tuple[int, ...]) -> Path:
    """A run directory holding model ``name`` with its seeded initial weights, and two pictures in samples/."""
    run.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": name,
        "input_shape": list(shape),
        "num_classes": 10,
        "mean": [0.5] * shape[0],
        "std": [0.25] * shape[0],
        "class_names": [f"class {i}" for i in range(10)],
        "dataset": "test",
    }
    checkpoint.save(run / "model.safetensors", build_model(name, shape, generator=0), meta)
    if len(shape) == 3:
        (run / "samples").mkdir(exist_ok=True)
        for k in range(2):
            pixels = (np.random.default_rng(k).random((shape[1], shape[2], shape[0])) * 255).astype(np.uint8)
            Image.fromarray(pixels.squeeze(-1) if shape[0] == 1 else pixels).save(run / "samples" / f"s{k}.png")
    return run


def _images(run: Path) -> list[str]:
    return [str(p) for p in sorted((run / "samples").glob("*.png"))[:2]]


@pytest.fixture(scope="module")
def lenet(lenet_run: Path) -> dict:
    """The page's data for two of the run's samples, and what PyTorch computes for them."""
    images = _images(lenet_run)
    data = model_page(lenet_run, images)
    return {"run": lenet_run, "images": images, "data": data, "torch": [torch_pass(lenet_run, p, data) for p in images]}


def torch_lenet(run: Path) -> torch.nn.Sequential:
    """The same LeNet-5 in PyTorch, with the run's weights."""
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
    )  # fmt: skip
    ours, _ = load_run(run)
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return model.eval()


def engine_winners(run: Path, x: np.ndarray) -> dict[int, np.ndarray]:
    """The window winners of kernelwise's max pools (PyTorch's flat indices), by layer index."""
    ours, _ = load_run(run)
    ours.eval()
    winners, h = {}, kw.tensor(x[None])
    with kw.no_grad():
        for i, layer in enumerate(ours):
            if type(layer).__name__ == "MaxPool2d":
                winners[i] = F.max_pool2d(h, 2, return_indices=True)[1].numpy()
            h = layer(h)
    return winners


def torch_pass(run: Path, image: str, data: dict) -> dict:
    """PyTorch's activations, probabilities and, for every class the page offers, dL/d(activation) and dL/dW.

    Max pooling reads its winners from the engine's forward: where two values of a window tie to within float32
    rounding, torch and kernelwise may pick different ones, and the gradient would go to another input; the
    values pooled are torch's own (the forward comparison checks them).
    """
    model = torch_lenet(run)
    x, _ = prepare_image(image, load_run(run)[1])
    winners = engine_winners(run, x)
    acts, h = [], torch.tensor(x[None])
    for i, layer in enumerate(model):
        if i in winners:  # the engine's winners: y = x at the winning index of each window
            index = torch.tensor(winners[i].astype(np.int64))
            h = torch.gather(h.flatten(2), 2, index.flatten(2)).view(index.shape)
        else:
            h = layer(h)
        h.retain_grad()
        acts.append(h)
    probs = torch.softmax(h, dim=1)[0].detach().numpy()
    grads, weight_grads = {}, {}
    classes = data["images"][0]["classes"]
    for cls in classes:
        model.zero_grad()
        for a in acts:
            a.grad = None
        loss = torch.nn.functional.cross_entropy(h, torch.tensor([cls]))  # L = −log softmax(z)[cls]
        loss.backward(retain_graph=True)
        grads[cls] = [a.grad[0].numpy().copy() for a in acts]
        weight_grads[cls] = {i: m.weight.grad.numpy().copy() for i, m in enumerate(model) if hasattr(m, "weight")}
    return {"acts": [a[0].detach().numpy() for a in acts], "probs": probs, "grads": grads, "weight_grads": weight_grads}


def click_at(browser: Chromium, selector: str, fx: float, fy: float) -> None:
    """A real mouse click at fractions (fx, fy) of the element's width and height."""
    box = browser.js(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); "
        f"return [r.x + r.width * {fx}, r.y + r.height * {fy}]; }})()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        browser.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            session=True,
        )


def decoded(data: dict, key: str) -> np.ndarray:
    entry = data["arrays"][key]
    import base64

    return np.frombuffer(base64.b64decode(entry["b64"]), dtype="<f4").reshape(entry["shape"])


def thumb_values(t: dict, diverging: bool = False) -> np.ndarray:
    """What the page draws: the one-byte numbers back on the layer's scale."""
    import base64

    q = np.frombuffer(base64.b64decode(t["q"]), dtype=np.uint8).reshape(t["shape"]).astype(np.float64)
    return (2 * q / 255 - 1) * t["m"] if diverging else t["lo"] + q * (t["hi"] - t["lo"]) / 255


def assert_thumb(t: dict, expected: np.ndarray, diverging: bool = False, what: str = "") -> None:
    """The thumbnail equals the expected map's first channels, block-averaged, within half a quantisation step."""
    m = as_map(expected).astype(np.float64)
    shown, f = downsample(m[:MAX_CHANNELS])
    assert t["shape"] == list(shown.shape) and t["f"] == f and t["channels"] == m.shape[0], what
    step = 2 * t["m"] / 255 if diverging else (t["hi"] - t["lo"]) / 255
    scale = np.abs(m).max(initial=0.0)
    bound = step / 2 + 1e-5 * max(1.0, scale)  # half a step, plus float32 rounding of the engine's numbers
    assert np.abs(thumb_values(t, diverging) - shown).max(initial=0.0) <= bound, what


# --------------------------------------------------------------------------- the data, without a browser
def test_lenet_page_numbers_equal_pytorch(lenet):
    data = lenet["data"]
    assert [layer["op"] for layer in data["layers"]] == [type(m).__name__ for m in torch_lenet(lenet["run"])]
    assert all(layer["clickable"] for layer in data["layers"] if layer["op"] != "Flatten")
    for n, (image, expected) in enumerate(zip(data["images"], lenet["torch"], strict=True)):
        for i, (layer, row) in enumerate(zip(data["layers"], image["layers"], strict=True)):
            act = expected["acts"][i]
            assert layer["shape_text"] == shape_text(act.shape), layer["name"]
            assert_thumb(row["thumb"], act, what=f"image {n} layer {i}")
            if layer["clickable"]:
                shown = as_map(act)[: MAX_CHANNELS if layer["kind"] != "linear" else None]
                assert_close(decoded(data, row["y"]), shown, terms=400, what=f"layer {i} output")
        assert_close(np.array(image["probs"]), expected["probs"], terms=84, what="probabilities")
        assert image["pred"] == int(np.argmax(expected["probs"]))
        assert sorted(image["classes"]) == list(range(10))  # ten classes: the select offers every one
        for cls in image["classes"]:
            for i, (layer, row) in enumerate(zip(data["layers"], image["grads"][str(cls)], strict=True)):
                grad = expected["grads"][cls][i]
                assert_thumb(row["thumb"], grad, diverging=True, what=f"image {n} class {cls} layer {i}")
                if layer["clickable"]:
                    keep = MAX_CHANNELS if layer["kind"] in ("act", "pool") else None
                    assert_close(decoded(data, row["g"]), as_map(grad)[:keep], terms=400, what=f"dL/dY {i}")
    assert data["checked"]["forward"] > 0 and data["checked"]["backward"] > 0


@pytest.mark.parametrize(
    "name,shape",
    [("lenet5", (1, 28, 28)), ("digits_cnn", (1, 8, 8)), ("mnist1d_cnn", (1, 40)), ("small_vgg", (3, 16, 16)),
     ("small_resnet", (3, 16, 16))],
)  # fmt: skip
def test_every_builtin_model_gets_a_page(name, shape, tmp_path):
    run = _saved_run(tmp_path / name, name, shape)
    data = model_page(run, _images(run) or [RANDOM])
    model, _ = load_run(run)
    model.eval()
    x = data["images"][0]
    with kw.no_grad():
        h = kw.tensor(np.zeros((1, *shape), np.float32))
        for _, child in model.named_children():  # the top-level layers (a residual block is one)
            h = child(h)
    assert data["layers"][-1]["shape_text"] == shape_text(h.shape[1:]) == "10"
    names = [layer["name"] for layer in data["layers"]]
    assert [n for n in names if "." not in n] == [n for n, _ in model.named_children()]  # blocks after their insides
    if name == "small_resnet":
        assert "3.conv1" in names and names.index("3.conv1") < names.index("3")
        assert next(layer for layer in data["layers"] if layer["name"] == "3")["block"]
        assert "3.relu (call 2)" in names  # the block's ReLU runs twice: two layers
    if name == "mnist1d_cnn":
        assert data["layers"][0]["shape_text"] == "25×19" and x["input"]["shape"] == [1, 1, 40]
    assert any(layer["clickable"] and layer["kind"] == "conv" for layer in data["layers"])
    assert data["checked"]["forward"] > 0 and data["checked"]["backward"] > 0
    assert len(page_html(data)) < 15e6


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The onnx wheel's ResNet-50 with seeded random weights, its page's data for a 240×180 picture, the page."""
    onnx = pytest.importorskip("onnx")
    from kernelwise.bench.inference import light_model_path, prepare_model

    folder = tmp_path_factory.mktemp("resnet50-page")
    path = folder / "resnet50.onnx"
    onnx.save(prepare_model(onnx.load(str(light_model_path("resnet50")))), str(path))
    pixels = (np.random.default_rng(1).random((180, 240, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "photo.png")
    data = model_page(path, [str(folder / "photo.png")])
    page = folder / "resnet50.html"
    page.write_text(page_html(data), encoding="utf-8")
    return {"path": path, "data": data, "page": page}


def test_resnet50_page_stays_small(resnet50):
    from kernelwise.explain.model import explain_onnx

    data = resnet50["data"]
    size = resnet50["page"].stat().st_size
    assert size < 15e6, f"{size / 1e6:.1f} MB"  # 14.7 MB (13.3 MB before the sampled convolutions' backward)
    nodes = explain_onnx(resnet50["path"]).data["nodes"]
    assert [layer["shape_text"] for layer in data["layers"]] == [shape_text(n["output_shape"][1:]) for n in nodes]
    assert data["layers"][0]["shape_text"] == "64×112×112" and data["layers"][-1]["shape_text"] == "1000"
    assert len(data["images"][0]["classes"]) == 3  # a thousand classes: backward for the top three
    convs = [layer for layer in data["layers"] if layer["kind"] == "conv"]
    assert len(convs) == 53 and all(layer["clickable"] for layer in convs)  # every convolution: whole or sampled
    sampled = [layer for layer in convs if layer["sample"]]
    every = [layer for layer in data["layers"] if layer["sample"]]  # with the pools, ReLUs and batch norms
    assert len(sampled) >= 40 and data["budget"]["sampled"] == len(every) > len(sampled)
    assert {layer["op"] for layer in every} == {"Conv", "BatchNormalization", "Relu", "MaxPool", "Sum"}
    sums = [layer for layer in data["layers"] if layer["op"] == "Sum"]  # the residual sums: Y = A + B
    assert len(sums) == 16 and all(layer["kind"] == "add" and len(layer["operands"]) == 2 for layer in sums)
    assert [layer["kind"] for layer in data["layers"][-3:-1]] == ["pool", "flatten"]  # the global pool, Reshape
    for layer in sampled:
        s, (_, h, w) = layer["sample"], layer["shape"]
        assert {0, (h - 1) // 2, h - 1} <= set(s["rows"]) and {0, (w - 1) // 2, w - 1} <= set(s["cols"])
        assert 1 <= s["channels"] <= MAX_CHANNELS and s["units"] == s["channels"] * len(s["rows"]) * len(s["cols"])
        row = data["images"][0]["layers"][data["layers"].index(layer)]
        assert "x" not in row and decoded(data, row["xs"]).shape == (
            layer["in_shape"][0],
            len(s["in_rows"]),
            len(s["in_cols"]),
        )
    assert data["checked"]["sampled"] == sum(layer["sample"]["units"] for layer in every)
    assert data["budget"]["exact_numbers"] <= 1_200_000
    assert data["budget"]["backward_numbers"] <= 250_000 and data["budget"]["backward_sampled"] >= 50
    assert sum(1 for layer in sampled if layer["back"]) == data["budget"]["backward_sampled"]
    thumbs = [row["thumb"] for row in data["images"][0]["layers"]]
    assert all(max(t["shape"][1:]) <= data["budget"]["thumb_side"] or t["shape"][1] == 1 for t in thumbs)
    assert all(t["shape"][0] <= MAX_CHANNELS for t in thumbs)


def test_sampled_conv_units_are_checked_from_the_embedded_rows_and_columns():
    assert _spread(56, 8) == [0, 8, 16, 24, 27, 31, 39, 47, 55] and _spread(5, 8) == [0, 1, 2, 3, 4]
    conv = kw.nn.Conv2d(3, 20, 3, stride=2, padding=1)
    x = kw.tensor(np.random.default_rng(0).standard_normal((1, 3, 23, 23)).astype(np.float32))
    with kw.no_grad():
        layers, out = _module_layers(kw.nn.Sequential(conv), x)
    layer = layers[0]
    s = _sample(layer, images=1, classes=3, cap=10**9)
    assert s["channels"] == MAX_CHANNELS and s["rows"] == s["cols"] == [0, 2, 3, 5, 6, 8, 9, 11]  # of 12
    assert s["in_rows"][0] == 0 and s["in_rows"][-1] == 22  # the padded corner reads from row 0
    x_sub = as_map(x.numpy()[0])[np.ix_(range(3), s["in_rows"], s["in_cols"])]
    assert check_sampled(layer, x_sub, out.numpy()[0], s) == s["units"] == MAX_CHANNELS * 64
    missing = x_sub.copy()
    missing[:, 1] = 0  # an input row the windows read, left out: the sums no longer match
    with pytest.raises(FormulaMismatch):
        check_sampled(layer, missing, out.numpy()[0], s)
    small = _sample(layer, images=1, classes=3, cap=2000)  # the budget shrinks the grid and the channels
    assert small["cost"] <= 2000 and small["units"] < s["units"] and len(small["rows"]) >= 3


def test_a_run_trained_on_an_image_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for label, shade in (("dark", 40), ("light", 210)):
        folder = tmp_path / "pictures" / label
        folder.mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(shade + rng.normal(0, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERNELWISE_OFFLINE", "1")
        args = ["train", "--dataset", "images", "--data-dir", str(tmp_path / "pictures"), "--epochs", "1"]
        assert main([*args, "--max-steps", "2", "--out", str(out), "--no-progress"]) == 0
    picture = tmp_path / "pictures" / "light" / "0.png"
    page = tmp_path / "page.html"
    code, _, err = cli(capsys, "explain", "model", out, "--image", picture, "--html", page)
    assert code == 0, err
    data = json.loads(re.search(r'id="kw-data">(.*?)</script>', page.read_text(), re.S)[1])
    assert data["names"] == ["dark", "light"] and data["images"][0]["rgb"]["shape"] == [3, 12, 12]
    assert data["layers"][0]["shape_text"] == "32×12×12" and data["images"][0]["classes"] == [0, 1]


def test_command_line_several_images(lenet_run, tmp_path, capsys):
    a, b = _images(lenet_run)
    page = tmp_path / "page.html"
    code, out, err = cli(capsys, "explain", "model", lenet_run, "--image", a, "--image", b, "--html", page)
    assert code == 0, err
    assert f"image {a}" in out and f"image {b}" not in out  # the text shows the first
    data = json.loads(re.search(r'id="kw-data">(.*?)</script>', page.read_text(), re.S)[1])
    assert [image["name"] for image in data["images"]] == [Path(a).name, Path(b).name]
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in page.read_text()


def test_onnx_page_needs_an_image(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    code, _, err = cli(capsys, "explain", "model", path, "--html", tmp_path / "p.html")
    assert code == 1 and "give an image" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- in Chromium
@pytest.fixture(scope="module")
def browser():
    if not sys.platform.startswith("linux"):
        pytest.skip("browser test: the DevTools pipe driver is written for Linux")
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    chromium = Chromium(executable)
    metrics = {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
    chromium.send("Emulation.setDeviceMetricsOverride", metrics, session=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def lenet_page(lenet, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lenet-page") / "lenet.html"
    path.write_text(page_html(lenet["data"]), encoding="utf-8")
    return path


def test_page_loads_and_shows_the_engines_shapes_and_maps(browser, lenet, lenet_page):
    browser.open(lenet_page)
    assert browser.errors() == []
    assert set(browser.requests()) == {lenet_page.as_uri()}, "the page must not load anything else"
    shapes = browser.js("[...document.querySelectorAll('.layer .shape')].map((e) => e.textContent)")
    expected = lenet["torch"][0]["acts"]
    assert shapes == ["1×28×28"] + [shape_text(a.shape) for a in expected]
    assert shapes[1:4] == ["6×28×28", "6×28×28", "6×14×14"]
    for i, act in enumerate(expected):
        for c in range(min(MAX_CHANNELS, as_map(act).shape[0])):
            values = np.array(browser.js(f"kwm.thumbValues(DATA.images[0].layers[{i}].thumb, {c}, false)"))
            t = lenet["data"]["images"][0]["layers"][i]["thumb"]
            bound = (t["hi"] - t["lo"]) / 510 + 1e-5 * max(1.0, np.abs(act).max())
            assert np.abs(values - downsample(as_map(act)[:MAX_CHANNELS])[0][c]).max() <= bound, (i, c)
    canvases = browser.js("document.querySelectorAll('canvas[data-layer=\"0\"]').length")
    assert canvases == 6
    box = browser.js(
        '(() => { const r = document.querySelector(\'canvas[data-layer="0"][data-ch="1"]\')'
        ".getBoundingClientRect(); return [r.x + r.width * 0.52, r.y + r.height * 0.27]; })()"
    )
    browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]}, session=True)
    hover = browser.js("document.getElementById('hover').textContent")
    assert hover.startswith("0 [1,7,14] ≈ "), hover  # the number under the mouse, from the thumbnail
    t = lenet["data"]["images"][0]["layers"][0]["thumb"]
    assert abs(float(hover.split("≈ ")[1]) - expected[0][1, 7, 14]) <= (t["hi"] - t["lo"]) / 255
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_model_overview.png")


def test_click_on_a_conv_unit_shows_its_sum_and_the_engines_value(browser, lenet, lenet_page):
    browser.open(lenet_page)
    click_at(browser, 'canvas[data-layer="3"][data-ch="2"]', 0.55, 0.55)  # unit (5, 5) of filter 2, second conv
    unit = browser.js("kwm.state.unit")
    assert unit["l"] == 3 and unit["c"] == 2 and (unit["i"], unit["j"]) == (5, 5)
    text = browser.js("document.getElementById('unit').textContent")
    assert "Z[o,i,j] = Σ_c Σ_p Σ_q A[c, i·s+p·d−P, j·s+q·d−P]·W[o,c,p,q] + B[o]" in text
    assert "channel 5: subtotal" in text and "Z[2,5,5] = " in text and "✓" in text
    result = browser.js("kwm.forwardUnit(3, 2, 5, 5)")
    expected = lenet["torch"][0]["acts"][3][2, 5, 5]
    assert_close(result["value"], expected, terms=150, what="Z[2,5,5]")
    assert len(result["channels"]) == 6 and all(len(ch["terms"]) == 25 for ch in result["channels"])
    # the per-channel subtotals add up to the value with the bias
    assert_close(sum(ch["sub"] for ch in result["channels"]) + result["bias"], expected, terms=150)
    browser.js("document.querySelector('#unit details').open = true")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_model_unit.png")
    # pooling, activation and linear units against PyTorch too
    acts = lenet["torch"][0]["acts"]
    assert_close(browser.js("kwm.forwardUnit(2, 1, 3, 4)")["value"], acts[2][1, 3, 4])
    assert_close(browser.js("kwm.forwardUnit(1, 0, 7, 9)")["value"], acts[1][0, 7, 9])
    assert_close(browser.js("kwm.forwardUnit(7, 0, 0, 17)")["value"], acts[7][17], terms=400)
    assert browser.errors() == []


def test_softmax_and_switching_images(browser, lenet, lenet_page):
    browser.open(lenet_page)
    for n in (0, 1):
        browser.click(f'#images button[data-image="{n}"]')
        assert browser.js("kwm.state.image") == n
        probs = browser.js(f"kwm.softmax(DATA.images[{n}]).p")
        assert_close(np.array(probs), lenet["torch"][n]["probs"], terms=84, what=f"softmax of image {n}")
        # the drawn maps are this image's
        drawn = browser.js("kwm.thumbValues(DATA.images[kwm.state.image].layers[0].thumb, 0, false)")
        t = lenet["data"]["images"][n]["layers"][0]["thumb"]
        assert np.abs(np.array(drawn) - lenet["torch"][n]["acts"][0][0]).max() <= (t["hi"] - t["lo"]) / 510 + 1e-5
    pixels = (
        '(() => { const c = document.querySelector(\'canvas[data-layer="0"][data-ch="0"]\'); '
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); })()"
    )
    second = browser.js(pixels)
    browser.click('#images button[data-image="0"]')
    assert browser.js(pixels) != second, "switching images redraws the maps"
    browser.js("document.querySelector('.probs').scrollIntoView()")
    browser.click(".probs")
    assert "p_k = exp(z_k − max z) / Σ_j exp(z_j − max z)" in browser.js("document.getElementById('unit').textContent")
    assert browser.errors() == []


def test_backward_tab_maps_and_chain_rule_equal_pytorch(browser, lenet, lenet_page):
    browser.open(lenet_page)
    browser.click("button[data-tab=backward]")
    assert browser.js("kwm.state.tab") == "backward"
    expected = lenet["torch"][0]
    cls = browser.js("kwm.state.cls")
    assert cls == lenet["data"]["images"][0]["pred"]
    for other in (cls, (cls + 1) % 10):
        browser.js(
            f"(() => {{ const s = document.getElementById('class'); s.value = '{other}'; "
            "s.dispatchEvent(new Event('change')); })()"
        )
        assert browser.js("kwm.state.cls") == other
        for i, grad in enumerate(expected["grads"][other]):
            values = np.array(browser.js(f"kwm.thumbValues(DATA.images[0].grads['{other}'][{i}].thumb, 0, true)"))
            t = lenet["data"]["images"][0]["grads"][str(other)][i]["thumb"]
            bound = t["m"] / 255 + 1e-5 * max(1e-3, np.abs(grad).max())
            assert np.abs(values - downsample(as_map(grad)[:1])[0][0]).max() <= bound, (other, i)
        # a click on a unit of the second conv: dL/dW of its filter and the chain rule into its input
        click_at(browser, 'canvas[data-layer="3"][data-ch="4"]', 0.25, 0.65)
        unit = browser.js("kwm.state.unit")
        assert (unit["l"], unit["c"], unit["i"], unit["j"]) == (3, 4, 6, 2)
        result = browser.js(f"kwm.backwardUnit(3, 4, {unit['i']}, {unit['j']})")
        assert_close(np.array(result["dW"]), expected["weight_grads"][other][3][4], terms=100, what="dL/dW[4]")
        c, r, s = result["dA"]["pos"]
        grads_in = expected["grads"][other][2]
        # dL/dA of the conv's input is the gradient of the pooling before it (its one consumer)
        assert_close(result["dA"]["value"], expected["grads"][other][2][c, r, s], terms=400, what="dL/dA")
        text = browser.js("document.getElementById('unit').textContent")
        assert "dL/dW[o,c,p,q] = Σ_i Σ_j A[c, i·s+p·d−P, j·s+q·d−P]·dL/dZ[o,i,j]" in text
        assert "(the rot180 kernel reading the gradient)" in text
        # the chain rule for any input channel and any position of the window, picked in the page
        taps = len(result["dA"]["taps"])
        assert browser.js("document.querySelectorAll('#pick-channel option').length") == 6
        assert browser.js("document.querySelectorAll('#pick-tap option').length") == taps == 25
        for c in range(6):
            for t in (0, 12, taps - 1):
                picked = browser.js(f"kwm.pick({c}, {t})")
                assert picked["dA"]["pos"][0] == c and picked["dA"]["tap"] == t
                p, q, r, s = picked["dA"]["taps"][t]
                assert picked["dA"]["pos"] == [c, r, s] and (r, s) == (6 + p, 2 + q)
                assert_close(picked["dA"]["value"], grads_in[c, r, s], terms=400, what=f"dL/dA[{c},{r},{s}]")
                assert f"dL/dA[{c},{r},{s}] = " in browser.js("document.getElementById('unit').textContent")
        browser.js("kwm.pick(0, 0)")
        # a ReLU unit: dL/dA = dL/dY·f'(A), the gradient of the conv before it; a linear layer's chain rule
        grads = expected["grads"][other]
        assert_close(browser.js("kwm.backwardUnit(4, 3, 2, 6)")["value"], grads[3][3, 2, 6], what="ReLU dL/dA")
        linear = browser.js("kwm.backwardUnit(9, 0, 0, 5)")
        assert_close(linear["dA"]["value"], grads[8][0], terms=84, what="linear dL/dA[0]")
        assert_close(linear["dW0"], expected["weight_grads"][other][9][5, 0], what="linear dL/dW[5,0]")
    assert browser.errors() == []


def test_resnet50_page_opens_and_a_conv_unit_equals_the_engine(browser, resnet50):
    browser.open(resnet50["page"])
    assert browser.errors() == []
    assert set(browser.requests()) == {resnet50["page"].as_uri()}
    data = resnet50["data"]
    assert browser.js("document.querySelectorAll('.layer .shape').length") == len(data["layers"]) + 1
    l = next(i for i, layer in enumerate(data["layers"]) if layer["kind"] == "conv")  # whole or sampled
    _, h, w = data["layers"][l]["shape"]
    result = browser.js(f"kwm.select({l}, 3, {h // 2}, {w // 3})")
    unit, row, s = browser.js("kwm.state.unit"), data["images"][0]["layers"][l], data["layers"][l]["sample"]
    if s:  # the nearest sampled unit
        engine = decoded(data, row["ys"])[unit["c"], s["rows"].index(unit["i"]), s["cols"].index(unit["j"])]
    else:
        engine = decoded(data, row["y"])[3, h // 2, w // 3]  # kernelwise's forward
    terms = len(result["channels"]) * len(result["channels"][0]["terms"])
    assert_close(result["value"], engine, terms=terms, what=f"{data['layers'][l]['name']} unit")
    assert "✓" in browser.js("document.getElementById('unit').textContent")
    assert browser.errors() == []


def _sampled_unit(browser: Chromium, data: dict, l: int, c: int, i: int, j: int) -> dict:
    """A sampled unit selected in the page, its sum recomputed there, against the engine's embedded output."""
    layer = data["layers"][l]
    s = layer["sample"]
    result = browser.js(f"kwm.select({l}, {c}, {i}, {j})")
    ys = decoded(data, data["images"][0]["layers"][l]["ys"])
    engine = ys[c, s["rows"].index(i), s["cols"].index(j)]  # kernelwise's forward at the unit
    terms = len(result["channels"]) * len(result["channels"][0]["terms"])
    assert_close(result["value"], engine, terms=terms, what=f"{layer['name']} unit [{c},{i},{j}]")
    assert_close(browser.js(f"kwm.engineAt({l}, {c}, {i}, {j})"), engine)
    assert len(result["channels"]) == layer["in_shape"][0]  # every input channel
    text = browser.js("document.getElementById('unit').textContent")
    assert "✓" in text and "this layer keeps a sample" in text
    return result


def test_resnet50_sampled_conv_units_equal_the_engine(browser, resnet50):
    data = resnet50["data"]
    browser.open(resnet50["page"])
    assert browser.errors() == []
    sums = [i for i, layer in enumerate(data["layers"]) if layer["kind"] == "add" and layer["sample"]]
    assert sums  # a sampled residual sum: Y = A + B from the embedded rows × columns of both operands
    s, row = data["layers"][sums[0]]["sample"], data["images"][0]["layers"][sums[0]]
    i, j = s["rows"][-1], s["cols"][1]
    result = browser.js(f"kwm.select({sums[0]}, 1, {i}, {j})")
    a, b = (decoded(data, row[k])[1, s["in_rows"].index(i), s["in_cols"].index(j)] for k in ("xs", "x2s"))
    assert (result["a"], result["b"]) == (float(a), float(b))
    ys = decoded(data, row["ys"])[1, s["rows"].index(i), s["cols"].index(j)]
    assert_close(result["value"], ys, terms=2, what="a sampled residual sum of ResNet-50")
    assert "✓" in browser.js("document.getElementById('unit').textContent")
    sampled = [i for i, layer in enumerate(data["layers"]) if layer["sample"] and layer["kind"] == "conv"]
    deep = sampled[-1]  # a convolution of the last stage, 7×7
    assert data["layers"][deep]["shape"][1:] == [7, 7]
    s = data["layers"][deep]["sample"]
    _sampled_unit(browser, data, deep, s["channels"] - 1, s["rows"][-1], s["cols"][len(s["cols"]) // 2])
    strided = next(i for i in sampled if data["layers"][i]["window"]["stride"][0] == 2)
    s = data["layers"][strided]["sample"]
    assert data["layers"][strided]["window"]["pad"][0] > 0
    result = _sampled_unit(browser, data, strided, 0, 0, 0)  # the corner: the window reads the padding
    assert any(not t["t"]["inside"] for t in result["channels"][0]["terms"])
    _sampled_unit(browser, data, strided, s["channels"] - 1, s["rows"][len(s["rows"]) // 2], s["cols"][-1])
    # a click between sampled positions snaps to the nearest and says so
    i, j = s["rows"][0] + 1, s["cols"][1]
    assert i not in s["rows"]
    browser.js(f"kwm.select({strided}, 0, {i}, {j})")
    unit = browser.js("kwm.state.unit")
    assert (unit["i"], unit["j"]) == (s["rows"][0], j) and unit["snapped"]
    text = browser.js("document.getElementById('unit').textContent")
    assert "is not sampled: the nearest sampled unit is shown" in text
    canvas = f'canvas[data-layer="{deep}"][data-ch="0"]'
    browser.js(f"document.querySelector('{canvas}').scrollIntoView()")
    click_at(browser, canvas, 0.3, 0.7)
    unit = browser.js("kwm.state.unit")
    s = data["layers"][deep]["sample"]
    assert unit["l"] == deep and unit["i"] in s["rows"] and unit["j"] in s["cols"]
    footer = browser.js("document.getElementById('notes').textContent")
    assert f"layer {data['layers'][deep]['name']}: " in footer and "positions × " in footer
    assert f"{data['budget']['sampled']} more a sample of units" in footer
    # backward: autograd's dL/dZ at the unit, the engine's dL/dW of the first sampled filters and the
    # correlation written out for their first input channel, the chain rule (the other filters by the engine)
    browser.js("kwm.setTab('backward')")
    cls = browser.js("kwm.state.cls")
    back = data["layers"][deep]["back"]
    assert back["filters"] == s["channels"]  # a 7×7 layer: every sampled filter's backward fits
    b = browser.js(f"kwm.select({deep}, {unit['c']}, {unit['i']}, {unit['j']})")
    gs = decoded(data, data["images"][0]["grads"][str(cls)][deep]["gs"])
    assert b["grad"] == pytest.approx(float(gs[unit["c"], s["rows"].index(unit["i"]), s["cols"].index(unit["j"])]))
    dw = decoded(data, data["images"][0]["grads"][str(cls)][deep]["dw"])  # the engine's dL/dW
    assert np.array(b["dW"]).shape == dw[unit["c"]].shape and np.array_equal(b["dW"], dw[unit["c"]])
    assert_close(b["pageW"][0][0], dw[unit["c"], 0, 0, 0], terms=49, what="dL/dW written out")
    assert b["dA"]["value"] == pytest.approx(b["dA"]["written"] + b["dA"]["rest"]["value"], rel=1e-12)
    text = browser.js("document.getElementById('unit').textContent")
    assert "Backward of a sampled layer" in text and "✓" in text and "✗" not in text
    stem = next(i for i in sampled if not data["layers"][i]["back"])  # 112×112: over the backward budget
    assert data["layers"][stem]["shape"][1:] == [112, 112]
    browser.js(f"kwm.select({stem}, 0, 0, 0)")
    assert "over the page's budget for them" in browser.js("document.getElementById('unit').textContent")
    browser.js("kwm.setTab('forward')")
    # sampled batch norm, ReLU and max pool units: their formula with the real numbers, the engine's value
    for op in ("BatchNormalization", "Relu", "MaxPool"):
        l = max(i for i, layer in enumerate(data["layers"]) if layer["sample"] and layer["op"] == op)
        s = data["layers"][l]["sample"]
        c, i, j = s["channels"] - 1, s["rows"][1], s["cols"][-1]
        result = browser.js(f"kwm.select({l}, {c}, {i}, {j})")
        ys = decoded(data, data["images"][0]["layers"][l]["ys"])
        assert_close(result["value"], ys[c, s["rows"].index(i), s["cols"].index(j)], terms=9, what=op)
        text = browser.js("document.getElementById('unit').textContent")
        assert "✓" in text and "this layer keeps a sample" in text, op
        if op == "BatchNormalization":
            assert "Y[c,i,j] = (A[c,i,j] − mean[c]) / √(var[c] + ε)·γ[c] + β[c]" in text
            p = data["layers"][l]["bn"]
            browser.js("kwm.setTab('backward')")
            b = browser.js(f"kwm.backwardUnit({l}, {c}, {i}, {j})")
            gs = decoded(data, data["images"][0]["grads"][str(cls)][l]["gs"])[c, s["rows"].index(i), s["cols"].index(j)]
            local = p["gamma"][c] / np.sqrt(p["var"][c] + p["eps"])  # dL/dA = dL/dY·γ/√(var + ε)
            assert_close(b["value"], gs * local, dtype=np.float32, terms=4, what="BN dL/dA")
            assert "dL/dA" in browser.js("document.getElementById('unit').textContent")
            browser.js("kwm.setTab('forward')")
    # hovering a sampled map draws its sampled positions as dots over it
    canvas = f'canvas[data-layer="{strided}"][data-ch="0"]'
    browser.js(f"document.querySelector('{canvas}').scrollIntoView()")
    box = browser.js(
        f"(() => {{ const r = document.querySelector('{canvas}').getBoundingClientRect(); "
        "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]}, session=True)
    assert browser.js("document.querySelector('canvas.dots').hidden") is False
    _, h, w = data["layers"][strided]["shape"]
    alpha = browser.js(
        "(() => { const d = document.querySelector('canvas.dots'), ctx = d.getContext('2d'); "
        f"const at = (i, j) => ctx.getImageData(Math.floor((j + 0.5) * d.width / {w}), "
        f"Math.floor((i + 0.5) * d.height / {h}), 1, 1).data[3]; "
        f"return [at({s['rows'][1]}, {s['cols'][1]}), at({s['rows'][1] + 6}, {s['cols'][1] + 6})]; }})()"
    )
    assert alpha[0] > 0 and alpha[1] == 0, alpha  # a dot on a sampled unit, none between
    ARTIFACTS.mkdir(exist_ok=True)
    shot = browser.send(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, session=True
    )  # the viewport: the hovered map with its dots, the unit view beside it
    (ARTIFACTS / "explain_model_sampled_unit.png").write_bytes(base64.b64decode(shot["data"]))
    browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 1, "y": 1}, session=True)
    assert browser.js("document.querySelector('canvas.dots').hidden") is True
    assert browser.errors() == []


def _open_page(browser: Any, data: dict, path: Path) -> None:
    """Write the page of ``data`` to ``path`` and open it in Chromium, which must log no error."""
    path.write_text(page_html(data), encoding="utf-8")
    browser.open(path)
    assert browser.errors() == []


def test_one_dimensional_model_page(browser, tmp_path):
    run = _saved_run(tmp_path / "m1d", "mnist1d_cnn", (1, 40))
    data = model_page(run)
    _open_page(browser, data, tmp_path / "m1d.html")
    model, _ = load_run(run)
    model.eval()
    x = np.random.default_rng(0).standard_normal((1, 1, 40)).astype(np.float32)  # the page's seeded signal
    with kw.no_grad():
        first = model[0](kw.tensor(x)).numpy()[0]
    assert_close(browser.js("kwm.forwardUnit(0, 3, 0, 7)")["value"], first[3, 7], terms=5)
    browser.js("kwm.select(0, 3, 0, 7)")
    text = browser.js("document.getElementById('unit').textContent")
    assert "Z[3,7] = " in text and "Z[o,j] = Σ_c Σ_q A[c, j·s+q·d−P]·W[o,c,q] + B[o]   (s = 2, d = 1, P = 1)" in text
    assert browser.js("document.querySelectorAll('canvas[data-layer=\"0\"]')[0].height") == 1  # a strip


def test_batch_norm_units_of_a_small_resnet(browser, tmp_path):
    run = _saved_run(tmp_path / "sr", "small_resnet", (3, 16, 16))
    data = model_page(run, _images(run)[:1])
    _open_page(browser, data, tmp_path / "sr.html")
    norms = [i for i, layer in enumerate(data["layers"]) if layer["kind"] == "bn"]
    assert norms and all(data["layers"][i]["clickable"] for i in norms)
    l = next(i for i in norms if not data["layers"][i]["sample"])  # a batch norm clickable whole
    p, row = data["layers"][l]["bn"], data["images"][0]["layers"][l]
    x, y = decoded(data, row["x"]), decoded(data, row["y"])
    result = browser.js(f"kwm.select({l}, 1, 2, 3)")
    written = (float(x[1, 2, 3]) - p["mean"][1]) / np.sqrt(p["var"][1] + p["eps"]) * p["gamma"][1] + p["beta"][1]
    assert_close(result["value"], y[1, 2, 3], terms=8, what="a batch norm unit in the page")
    assert_close(written, y[1, 2, 3], np.float32, terms=8, what="the formula in float64")
    assert "✓" in browser.js("document.getElementById('unit').textContent")
    browser.js("kwm.setTab('backward')")
    cls = browser.js("kwm.state.cls")
    g = decoded(data, data["images"][0]["grads"][str(cls)][l]["g"])
    b = browser.js(f"kwm.backwardUnit({l}, 1, 2, 3)")
    local = p["gamma"][1] / np.sqrt(p["var"][1] + p["eps"])
    assert_close(b["value"], g[1, 2, 3] * local, np.float32, terms=4, what="dL/dA of a batch norm unit")
    assert browser.errors() == []


@pytest.mark.parametrize("name,shape,budget", [("small_resnet", (3, 16, 16), 60_000), ("mnist1d_cnn", (1, 40), 3_000)])
def test_a_tight_budget_keeps_every_convolution_clickable(name, shape, budget, tmp_path, monkeypatch):
    import kernelwise.explain.model_page as model_page_module

    monkeypatch.setattr(model_page_module, "EXACT_BUDGET", budget)
    monkeypatch.setattr(model_page_module, "SAMPLE_BUDGET", 200_000)  # more than fits: the shares shrink
    run = _saved_run(tmp_path / name, name, shape)
    data = model_page(run, _images(run) or [RANDOM])
    convs = [layer for layer in data["layers"] if layer["kind"] == "conv"]
    assert convs and all(layer["clickable"] for layer in convs)
    assert any(layer["sample"] for layer in convs)
    assert data["budget"]["exact_numbers"] <= budget
    assert data["checked"]["sampled"] > 0


def test_one_dimensional_sampled_conv_in_the_page(browser, tmp_path, monkeypatch):
    import kernelwise.explain.model_page as model_page_module

    monkeypatch.setattr(model_page_module, "EXACT_BUDGET", 3_000)
    run = _saved_run(tmp_path / "m1d", "mnist1d_cnn", (1, 40))
    data = model_page(run)
    _open_page(browser, data, tmp_path / "m1d.html")
    l = next(i for i, layer in enumerate(data["layers"]) if layer["kind"] == "conv" and layer["sample"])
    s = data["layers"][l]["sample"]
    assert s["rows"] == [0] and s["in_rows"] == [0]  # a 1-D map is one row
    j = s["cols"][-1]
    result = browser.js(f"kwm.select({l}, 0, 0, {j - 1 if j - 1 not in s['cols'] else j})")
    unit = browser.js("kwm.state.unit")
    assert unit["j"] in s["cols"]
    ys = decoded(data, data["images"][0]["layers"][l]["ys"])
    terms = len(result["channels"]) * len(result["channels"][0]["terms"])
    assert_close(result["value"], ys[0, 0, s["cols"].index(unit["j"])], terms=terms, what="a sampled 1-D conv unit")
    text = browser.js("document.getElementById('unit').textContent")
    assert "✓" in text and "Z[o,j] = Σ_c Σ_q A[c, j·s+q·d−P]·W[o,c,q] + B[o]" in text
    assert data["layers"][l]["back"]  # backward: dL/dW written out along the one row, against the engine's
    browser.js("kwm.setTab('backward')")
    b = browser.js(f"kwm.select({l}, 0, 0, {unit['j']})")
    assert np.array(b["pageW"]).shape == np.array(b["dW"][0]).shape == (1, data["layers"][l]["window"]["kernel"][1])
    assert_close(np.array(b["pageW"]), np.array(b["dW"][0]), np.float32, terms=40, what="1-D dL/dW[0,0]")
    text = browser.js("document.getElementById('unit').textContent")
    assert "✓" in text and "✗" not in text and f"dL/dA[{b['dA']['pos'][0]},{b['dA']['pos'][2]}] = " in text
    assert browser.errors() == []


def test_residual_sums_pooling_and_flatten_of_a_small_resnet(browser, tmp_path):
    """The residual sums (both operands and the sum), the adaptive average pooling and the flatten of a
    small ResNet: each unit in the page equals the engine's output, and its backward the autograd gradients."""
    run = _saved_run(tmp_path / "sr", "small_resnet", (3, 16, 16))
    data = model_page(run, _images(run)[:1])
    _open_page(browser, data, tmp_path / "sr.html")
    layers, row = data["layers"], data["images"][0]["layers"]
    sums = [i for i, layer in enumerate(layers) if layer["kind"] == "add"]
    assert len(sums) == 6 and all(layers[i]["clickable"] for i in sums)  # one per BasicBlock
    names = {f"layer {layer['name']} ({layer['op']})": i for i, layer in enumerate(layers)}
    cls = browser.js("kwm.state.cls")
    grads = data["images"][0]["grads"][str(cls)]
    checked = 0
    for l in sums:
        if layers[l]["sample"]:
            continue
        a, b, y = (decoded(data, row[l][k]) for k in ("x", "x2", "y"))
        result = browser.js(f"kwm.select({l}, 1, 2, 3)")
        assert_close(result["value"], y[1, 2, 3], terms=2, what="a residual sum")
        assert (result["a"], result["b"]) == (float(a[1, 2, 3]), float(b[1, 2, 3]))
        # the operands are the outputs of the layers named
        first, skip = layers[l]["operands"]
        assert first.endswith("(BatchNorm2d)") and first in names and skip in names
        if "y" in row[names[first]]:
            assert float(decoded(data, row[names[first]]["y"])[1, 2, 3]) == result["a"]
        if skip in names and "y" in row[names[skip]]:  # the skip's layer, when clickable whole
            assert float(decoded(data, row[names[skip]]["y"])[1, 2, 3]) == result["b"]
        text = browser.js("document.getElementById('unit').textContent")
        assert "Y = A + B" in text and "Y[1,2,3] = A[1,2,3] + B[1,2,3] = " in text and "✓" in text
        browser.js("kwm.setTab('backward')")
        back = browser.js(f"kwm.backwardUnit({l}, 1, 2, 3)")
        g = decoded(data, grads[l]["g"])
        assert back["value"] == float(g[1, 2, 3])
        # the sum is the only reader of its first operand (the block's second batch norm): the same gradient
        if "g" in grads[names[first]]:
            assert_close(float(decoded(data, grads[names[first]]["g"])[1, 2, 3]), g[1, 2, 3], terms=2)
        assert "dL/dA[1,2,3] = dL/dB[1,2,3] = dL/dY[1,2,3]" in browser.js("document.getElementById('unit').textContent")
        browser.js("kwm.setTab('forward')")
        checked += 1
    assert checked >= 1
    pool = next(i for i, layer in enumerate(layers) if layer["op"] == "AdaptiveAvgPool2d")
    flat = next(i for i, layer in enumerate(layers) if layer["kind"] == "flatten")
    assert layers[pool]["kind"] == "pool" and tuple(layers[pool]["window"]["kernel"]) == (4, 4)
    x = decoded(data, row[pool]["x"]).astype(np.float64)
    result = browser.js(f"kwm.select({pool}, 5, 0, 0)")
    assert_close(result["value"], x[5].mean(), terms=16, what="the adaptive pool's window: all 4×4")
    assert_close(result["value"], decoded(data, row[pool]["y"])[5, 0, 0], terms=16)
    result = browser.js(f"kwm.select({flat}, 0, 0, 37)")
    assert result["unit"] == [37, 0, 0] and result["value"] == float(decoded(data, row[flat]["x"])[37, 0, 0])
    assert result["value"] == float(decoded(data, row[flat]["y"])[0, 0, 37])  # the engine's flatten
    assert "Y[37] = A[37,0,0] = " in browser.js("document.getElementById('unit').textContent")
    browser.js("kwm.setTab('backward')")
    back = browser.js(f"kwm.backwardUnit({flat}, 0, 0, 37)")
    assert back["value"] == float(decoded(data, grads[flat]["g"])[0, 0, 37])
    assert browser.errors() == []


def test_grouped_convolutions_in_the_page(browser, tmp_path):
    """Grouped convolutions: a filter's sum reads its group's channels only; dL/dW and the chain rule into any
    input channel (the filters of its group) equal the engine's autograd; adaptive max pooling's window."""
    from kernelwise.explain.model_page import Source, build_page_data

    model = kw.nn.Sequential(
        kw.nn.Conv2d(4, 6, 3, padding=1, groups=2, generator=0), kw.nn.ReLU(),
        kw.nn.Conv2d(6, 6, 3, stride=2, groups=3, generator=1), kw.nn.AdaptiveMaxPool2d(2), kw.nn.Flatten(),
        kw.nn.Linear(24, 3, generator=2),
    )  # fmt: skip
    model.eval()
    x = np.random.default_rng(0).standard_normal((4, 13, 13)).astype(np.float32)
    source = Source("grouped", ["a", "b", "c"], lambda t: _module_layers(model, t), lambda _: x)
    data = build_page_data(source, ["x"])
    assert [layer["kind"] for layer in data["layers"]] == ["conv", "act", "conv", "pool", "flatten", "linear"]
    assert all(layer["clickable"] and not layer["sample"] for layer in data["layers"])
    assert "groups 3" in data["layers"][2]["hyper"] and data["checked"]["backward"] > 0
    _open_page(browser, data, tmp_path / "g.html")
    with kw.enable_grad():
        h0 = model[1](model[0](kw.tensor(x[None])))
        h = kw.tensor(h0.numpy(), requires_grad=True)
        z = model[2](h)
        out = model[5](model[4](model[3](z)))
        cls = browser.js("kwm.state.cls")
        F.cross_entropy(out, kw.tensor(np.array([cls]))).backward()
    z, grad_h, grad_w = z.numpy()[0], h.grad.numpy()[0], model[2].weight.grad.numpy()
    result = browser.js("kwm.select(2, 4, 1, 3)")  # filter 4: group 2, input channels 4 and 5
    assert [ch["c"] for ch in result["channels"]] == [4, 5]
    assert_close(result["value"], z[4, 1, 3], terms=18, what="a grouped conv unit")
    assert "groups 3" in browser.js("document.getElementById('unit').textContent")
    browser.js("kwm.setTab('backward')")
    for c in range(6):  # the chain rule into every input channel: its group's filters only
        back = browser.js(f"kwm.convBackward(2, 4, 1, 3, {c}, 4)")
        _, _, r, s = back["dA"]["taps"][4]
        assert back["dA"]["pos"] == [c, r, s] and back["filters"] == [c // 2 * 2, c // 2 * 2 + 1]
        assert_close(back["dA"]["value"], grad_h[c, r, s], terms=18, what=f"dL/dA[{c},{r},{s}]")
    assert_close(np.array(back["dW"]), grad_w[4], terms=25, what="dL/dW of a grouped filter")
    assert len(back["dW"]) == 2
    pooled = browser.js("kwm.forwardUnit(3, 1, 1, 0)")
    assert pooled["value"] == float(z[1, 3:6, 0:3].max())  # adaptive 6×6 → 2×2: windows of 3×3
    assert browser.errors() == []


@pytest.mark.parametrize(
    "pool,size", [("AdaptiveAvgPool2d", (3, 3)), ("AdaptiveMaxPool2d", (4, 5))], ids=["avg-3x3", "max-4x5"]
)
@pytest.mark.parametrize("side", [7, 10, 11])
def test_adaptive_pooling_of_any_size_in_the_page(browser, tmp_path, pool, size, side):
    """Adaptive pooling whose input size is not a multiple of the output size: PyTorch's windows
    ⌊i·in/out⌋ .. ⌈(i+1)·in/out⌉ − 1 (sizes vary, neighbours overlap); a clicked unit's window, its value
    and its backward equal PyTorch's."""
    from kernelwise.explain.model_page import Source, build_page_data

    h, w = side, side + 2
    model = kw.nn.Sequential(
        kw.nn.Conv2d(2, 4, 3, padding=1, generator=0), getattr(kw.nn, pool)(size), kw.nn.Flatten(),
        kw.nn.Linear(4 * size[0] * size[1], 3, generator=1),
    )  # fmt: skip
    model.eval()
    x = np.random.default_rng(side).standard_normal((2, h, w)).astype(np.float32)
    source = Source("adaptive", ["a", "b", "c"], lambda t: _module_layers(model, t), lambda _: x)
    data = build_page_data(source, ["x"])
    layer = data["layers"][1]
    assert layer["kind"] == "pool" and layer["clickable"] and not layer["sample"]
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), getattr(torch.nn, pool)(size), torch.nn.Flatten(),
        torch.nn.Linear(4 * size[0] * size[1], 3),
    )  # fmt: skip
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    z = tmodel[0](torch.tensor(x[None]))
    z.retain_grad()
    y = tmodel[1](z)
    y.retain_grad()
    cls = data["images"][0]["pred"]
    torch.nn.functional.cross_entropy(tmodel[3](tmodel[2](y)), torch.tensor([cls])).backward()
    z, y, gy = z[0].detach().numpy(), y[0].detach().numpy(), y.grad[0].numpy()
    _open_page(browser, data, tmp_path / "adaptive.html")
    canvas = 'canvas[data-layer="1"][data-ch="2"]'
    browser.js(f"document.querySelector('{canvas}').scrollIntoView()")
    click_at(browser, canvas, 0.99, 0.5)  # the last column, a middle row
    unit = browser.js("kwm.state.unit")
    clicked = (2, size[0] // 2, size[1] - 1)
    assert (unit["l"], unit["c"], unit["i"], unit["j"]) == (1, *clicked)
    for c, i, j in [clicked, (0, 0, 0), (3, size[0] - 1, 1), (1, 1, size[1] // 2)]:
        result = browser.js(f"kwm.select(1, {c}, {i}, {j})")
        rows = range(i * h // size[0], -(-(i + 1) * h // size[0]))  # PyTorch's window along each axis
        cols = range(j * w // size[1], -(-(j + 1) * w // size[1]))
        assert sorted({t["r"] for t in result["taps"]}) == list(rows) and result["size"] == [len(rows), len(cols)]
        assert sorted({t["s"] for t in result["taps"]}) == list(cols)
        window = z[c, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64)
        conv = 18  # the convolution's terms: kernelwise's and torch's inputs differ in float32 rounding
        assert_close(np.array(result["vals"]), window.reshape(-1), np.float32, terms=conv, what="the window's inputs")
        assert_close(result["value"], y[c, i, j], np.float32, terms=conv + window.size, what=f"{pool} [{c},{i},{j}]")
        text = browser.js("document.getElementById('unit').textContent")
        assert "✓" in text and f"columns ⌊{j}·{w}/{size[1]}⌋ = {cols[0]} .. ⌈{j + 1}·{w}/{size[1]}⌉ − 1" in text
        assert f"rows ⌊{i}·{h}/{size[0]}⌋ = {rows[0]} .. ⌈{i + 1}·{h}/{size[0]}⌉ − 1 = {rows[-1]}" in text
        browser.js("kwm.setTab('backward')")
        back = browser.js(f"kwm.backwardUnit(1, {c}, {i}, {j})")
        assert_close(back["grad"], gy[c, i, j], np.float32, terms=100, what="dL/dY of the pooled unit")
        if pool == "AdaptiveAvgPool2d":  # dL/dY spread evenly over the unit's own window
            assert_close(back["value"], gy[c, i, j] / window.size, np.float32, terms=100, what="dL/dA of each input")
        else:  # to the window's maximum
            r, s = np.unravel_index(np.argmax(window), window.shape)
            assert f"A[{c},{rows[0] + r},{cols[0] + s}] = " in browser.js("document.getElementById('unit').textContent")
        browser.js("kwm.setTab('forward')")
    assert browser.errors() == []


def test_backward_of_sampled_convolutions_equals_pytorch(browser, tmp_path, monkeypatch):
    """A sampled convolution's backward (tight budgets, so that both convolutions are sampled and their backward
    covers some filters only): the engine's dL/dW of a sampled filter, the correlation written out for its
    first input channel, and the chain rule into any tap of a clicked window (the filters not embedded summed
    by the engine) equal PyTorch's autograd on a torch copy of the model."""
    import kernelwise.explain.model_page as model_page_module
    from kernelwise.explain.model_page import Source, build_page_data

    monkeypatch.setattr(model_page_module, "EXACT_BUDGET", 4_000)
    monkeypatch.setattr(model_page_module, "BACKWARD_BUDGET", 6_000)
    model = kw.nn.Sequential(
        kw.nn.Conv2d(3, 8, 3, padding=1, generator=0), kw.nn.ReLU(),
        kw.nn.Conv2d(8, 6, 3, stride=2, padding=1, generator=1), kw.nn.ReLU(), kw.nn.Flatten(),
        kw.nn.Linear(6 * 10 * 10, 4, generator=2),
    )  # fmt: skip
    model.eval()
    x = np.random.default_rng(0).standard_normal((3, 20, 20)).astype(np.float32)
    source = Source("sampled", ["a", "b", "c", "d"], lambda t: _module_layers(model, t), lambda _: x)
    data = build_page_data(source, ["x"])
    layers = data["layers"]
    assert [layer["kind"] for layer in layers] == ["conv", "act", "conv", "act", "flatten", "linear"]
    assert all(layers[l]["sample"] and layers[l]["back"] for l in (0, 2))
    assert layers[0]["back"]["filters"] == 1 and layers[2]["back"]["filters"] == 2  # of 8 and 6 filters
    assert data["budget"]["backward_numbers"] <= 6_000 and data["budget"]["backward_sampled"] == 2
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 6, 3, stride=2, padding=1),
        torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(600, 4),
    )  # fmt: skip
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    _open_page(browser, data, tmp_path / "sampled.html")
    browser.click("button[data-tab=backward]")
    for cls in (data["images"][0]["pred"], (data["images"][0]["pred"] + 1) % 4):
        browser.js(f"kwm.setClass({cls})")
        tx = torch.tensor(x[None], requires_grad=True)
        h = tmodel[1](tmodel[0](tx))
        h.retain_grad()
        tmodel.zero_grad()
        torch.nn.functional.cross_entropy(tmodel[2:](h), torch.tensor([cls])).backward()
        oracle = {
            0: (tmodel[0].weight.grad.numpy(), tx.grad[0].numpy()),
            2: (tmodel[2].weight.grad.numpy(), h.grad[0].numpy()),
        }
        for l, (grad_w, grad_in) in oracle.items():
            s, back = layers[l]["sample"], layers[l]["back"]
            canvas = f'canvas[data-layer="{l}"][data-ch="0"]'
            browser.js(f"document.querySelector('{canvas}').scrollIntoView()")
            click_at(browser, canvas, 0.5, 0.3)  # snaps to the nearest sampled unit of filter 0
            unit = browser.js("kwm.state.unit")
            assert unit["l"] == l and unit["c"] == 0 and unit["i"] in s["rows"] and unit["j"] in s["cols"]
            b = browser.js(f"kwm.backwardUnit({l}, 0, {unit['i']}, {unit['j']})")
            terms = 4 * 20 * 20  # the gradients' sums (dL/dW of the first conv sums over 20×20 positions)
            shown = back["shown"]
            assert_close(np.array(b["dW"]), grad_w[0, :shown], np.float32, terms=terms, what=f"layer {l} dL/dW[0]")
            assert_close(np.array(b["pageW"]), grad_w[0, 0], np.float32, terms=terms, what="the written-out X ⋆ dL/dZ")
            text = browser.js("document.getElementById('unit').textContent")
            assert "Backward of a sampled layer" in text and "✓" in text and "✗" not in text
            assert "summed by the engine's autograd" in text  # the filters not embedded, one number
            taps = b["dA"]["taps"]
            for t in sorted({0, len(taps) // 2, len(taps) - 1}):
                picked = browser.js(f"kwm.pick(0, {t})")
                _, _, r, q = taps[t]
                assert picked["dA"]["pos"] == [0, r, q] and picked["dA"]["rest"]["filters"][0] == back["filters"]
                assert [g["o"] for g in picked["dA"]["groups"]] == list(range(back["filters"]))
                assert_close(picked["dA"]["value"], grad_in[0, r, q], np.float32, terms=terms, what=f"dL/dA[0,{r},{q}]")
                assert f"dL/dA[0,{r},{q}] = " in browser.js("document.getElementById('unit').textContent")
            browser.js("kwm.pick(0, 0)")
            # a sampled filter past the embedded ones: no dL/dW written out, the chain rule still
            o = back["filters"]
            b = browser.js(f"kwm.select({l}, {o}, {s['rows'][1]}, {s['cols'][1]})")
            assert b["written"] is False and b["dW"] is None
            _, _, r, q = b["dA"]["taps"][0]
            assert_close(b["dA"]["value"], grad_in[0, r, q], np.float32, terms=terms, what=f"dL/dA[0,{r},{q}] (o={o})")
            assert "its dL/dZ is not embedded whole" in browser.js("document.getElementById('unit').textContent")
    browser.js(f"kwm.select(2, 1, {layers[2]['sample']['rows'][2]}, {layers[2]['sample']['cols'][2]})")
    browser.js("kwm.pick(0, 4)")
    browser.js("document.querySelectorAll('#unit details').forEach((d) => { d.open = true; })")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "explain_model_sampled_backward.png")
    assert browser.errors() == []


def _ties(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values in {0, 0.5, 1} (a ReLU of a few levels): most windows tie at their max, many are all zero."""
    return np.maximum(np.random.default_rng(seed).integers(-2, 3, shape) * 0.5, 0).astype(np.float32)


def _with(x: np.ndarray, value: float, at: tuple) -> np.ndarray:
    x = x.copy()
    x[at] = value
    return x


def _torch_min_pool(*args: Any) -> Any:
    """Min pooling in torch (which has none): −max(−x), the same windows and the same first-of-ties winner."""
    return lambda t: -torch.nn.functional.max_pool2d(-t, *args)


@pytest.mark.parametrize(
    "name,make,values",
    [
        ("adaptive 10×11 → 4×5", lambda: (kw.nn.AdaptiveAvgPool2d((4, 5)), torch.nn.AdaptiveAvgPool2d((4, 5))), None),
        ("adaptive 10×11 → 3×3", lambda: (kw.nn.AdaptiveAvgPool2d((3, 3)), torch.nn.AdaptiveAvgPool2d((3, 3))), None),
        ("3×3 stride 2 padding 1", lambda: (kw.nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)), None),
        (
            "3×3 stride 2 padding 1 without the padding",
            lambda: (
                kw.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
                torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
            ),
            None,
        ),
        ("max 2×2, ties", lambda: (kw.nn.MaxPool2d(2), torch.nn.MaxPool2d(2)), _ties),
        (
            "max 3×3 stride 2 padding 1, ties, a corner of -inf (padding never wins)",
            lambda: (kw.nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
            lambda shape: _with(_ties(shape), -np.inf, (slice(None), slice(0, 2), slice(0, 2))),
        ),
        (
            "max 3×3 dilation 2 padding 1, ties",
            lambda: (kw.nn.MaxPool2d(3, 1, 1, dilation=2), torch.nn.MaxPool2d(3, 1, 1, dilation=2)),
            _ties,
        ),
        (
            "max adaptive 10×11 → 4×5, ties",
            lambda: (kw.nn.AdaptiveMaxPool2d((4, 5)), torch.nn.AdaptiveMaxPool2d((4, 5))),
            _ties,
        ),
        (
            "max 3×3 stride 2, NaNs (the last NaN wins)",
            lambda: (kw.nn.MaxPool2d(3, 2), torch.nn.MaxPool2d(3, 2)),
            lambda shape: _with(_ties(shape), np.nan, (slice(None), slice(1, 7, 2), slice(0, 9, 4))),
        ),
        ("min 3×3 stride 2 padding 1, ties", lambda: (kw.nn.MinPool2d(3, 2, 1), _torch_min_pool(3, 2, 1)), _ties),
    ],
)
def test_pool_backward_check_equals_pytorch(name, make, values):
    """The dL/dA the page's check writes for pooling equals PyTorch's autograd: mean pooling each window's
    dL/dY/n to its inputs, max and min pooling dL/dY to the window's winner (the first tap in row-major order
    reaching the extremum; a NaN wins, the last one; padding never wins), summed over overlapping windows."""
    from kernelwise.explain.model_page import pool_grad

    ours, theirs = make()
    shape = (1, 3, 10, 11)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) if values is None else values(shape)
    with kw.no_grad():
        layers, _ = _module_layers(kw.nn.Sequential(ours), kw.tensor(x))
    window = layers[0].window
    tx = torch.tensor(x, requires_grad=True)
    y = theirs(tx)
    grad = np.random.default_rng(1).standard_normal(y.shape[1:])
    y.backward(torch.tensor(grad[None].astype(np.float32)))
    ga, _ = pool_grad(window, x[0].astype(np.float64), grad)
    assert_close(ga, tx.grad[0].numpy(), np.float32, terms=9, what=name)


def tie_models() -> tuple[kw.nn.Sequential, torch.nn.Sequential]:
    """A model whose max pools see ties, in kernelwise and in torch with the same weights: a 1×1 convolution
    giving x and −x exactly (weights 1 and −1), a ReLU, 2×2 max pooling (windows apart), a convolution (bias −0.4:
    whole windows at 0 after the ReLU), a ReLU, 3×3 max pooling of stride 2 and padding 1 (windows overlap),
    flatten and linear."""
    model = kw.nn.Sequential(
        kw.nn.Conv2d(1, 2, 1, generator=0), kw.nn.ReLU(), kw.nn.MaxPool2d(2),
        kw.nn.Conv2d(2, 4, 3, padding=1, generator=1), kw.nn.ReLU(), kw.nn.MaxPool2d(3, 2, 1), kw.nn.Flatten(),
        kw.nn.Linear(4 * 4 * 4, 3, generator=2),
    )  # fmt: skip
    state = model.state_dict()
    state["0.weight"] = kw.tensor(np.array([1.0, -1.0], dtype=np.float32).reshape(2, 1, 1, 1))
    state["0.bias"] = kw.tensor(np.zeros(2, dtype=np.float32))
    state["3.bias"] = kw.tensor(np.full(4, -0.4, dtype=np.float32))  # whole windows of zeros after the ReLU
    model.load_state_dict(state)
    model.eval()
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, 1), torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    )  # fmt: skip
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return model, tmodel.eval()


TIE_INPUT = (np.random.default_rng(0).integers(-2, 3, (1, 16, 16)) * 0.5).astype(np.float32)  # a few levels


def _tie_page(model: kw.nn.Sequential) -> dict:
    from kernelwise.explain.model_page import Source, build_page_data

    source = Source("ties", ["a", "b", "c"], lambda t: _module_layers(model, t), lambda _: TIE_INPUT)
    return build_page_data(source, ["x"])


def _last_of_ties(layer: Any, grad: np.ndarray) -> np.ndarray:
    """A 2×2 max pool's dL/dA as an engine that let the LAST tap reaching the max win would give it (torch on the
    input and dL/dY flipped along both axes: row-major order reversed, each 2×2 window onto another)."""
    a = torch.tensor(np.ascontiguousarray(layer.x.numpy()[:, :, ::-1, ::-1]), requires_grad=True)
    torch.nn.functional.max_pool2d(a, 2).backward(torch.tensor(np.ascontiguousarray(grad[None, :, ::-1, ::-1])))
    return a.grad[0].numpy()[:, ::-1, ::-1]


@pytest.mark.parametrize("budget", [None, 4_000], ids=["whole", "sampled"])
def test_max_pool_backward_with_ties_is_checked(budget, monkeypatch):
    """Max pooling's backward is checked (whole layers, and a sampled layer's units from its embedded rows ×
    columns) on windows that tie, with no false mismatch; an engine that routed a tie to another input fails."""
    import kernelwise.explain.model_page as model_page_module

    if budget is not None:
        monkeypatch.setattr(model_page_module, "EXACT_BUDGET", budget)
    model, _ = tie_models()
    data = _tie_page(model)
    layers = data["layers"]
    assert [layers[l]["kind"] for l in (2, 5)] == ["pool", "pool"] and layers[2]["clickable"] and layers[5]["clickable"]
    assert bool(layers[2]["sample"]) == (budget is not None) and not layers[5]["sample"]
    pooled = np.maximum(np.concatenate([TIE_INPUT, -TIE_INPUT]), 0).reshape(2, 8, 2, 8, 2).transpose(0, 1, 3, 2, 4)
    windows = pooled.reshape(2, 8, 8, 4)  # the first pool's 2×2 windows of ReLU(x), ReLU(−x)
    tied = (windows == windows.max(axis=-1, keepdims=True)).sum(axis=-1) > 1
    assert tied.sum() > 32 and (windows.max(axis=-1)[tied] == 0).sum() > 8, "many windows tie, many at 0"
    assert data["checked"]["backward"] > 0
    engine = model_page_module._grad_through

    def last_of_ties(layer: Any, grad: np.ndarray) -> np.ndarray:
        return (
            _last_of_ties(layer, grad)
            if layer.op == "MaxPool2d" and layer.window["kernel"] == (2, 2)
            else engine(layer, grad)
        )

    monkeypatch.setattr(model_page_module, "_grad_through", last_of_ties)
    where = "layer 2 (MaxPool2d), sampled" if budget else "layer 2 (MaxPool2d), class"
    with pytest.raises(FormulaMismatch, match=re.escape(where) + ".*dL/dA"):
        _tie_page(model)

    def off_by_a_thousandth(layer: Any, grad: np.ndarray) -> np.ndarray:
        ga = engine(layer, grad).copy()
        if layer.op == "MaxPool2d" and layer.window["kernel"] == (2, 2):
            k = np.unravel_index(np.argmax(np.abs(ga)), ga.shape)
            ga[k] *= 1.001
        return ga

    monkeypatch.setattr(model_page_module, "_grad_through", off_by_a_thousandth)
    with pytest.raises(FormulaMismatch, match=re.escape(where) + ".*dL/dA"):
        _tie_page(model)


def test_max_pool_ties_in_the_page_equal_pytorch(browser, tmp_path):
    """A click on a max pooling unit whose window ties: the page routes dL/dY to the first input reaching the
    max in row-major order, the input and the gradient PyTorch's autograd gives (windows apart and overlapping,
    all-zero windows after the ReLU and ties of equal positive values)."""
    model, tmodel = tie_models()
    data = _tie_page(model)
    cls = data["images"][0]["pred"]
    tx = torch.tensor(TIE_INPUT[None])
    a = tmodel[1](tmodel[0](tx))
    a.retain_grad()
    y = tmodel[2](a)
    y.retain_grad()
    b = tmodel[4](tmodel[3](y))
    b.retain_grad()
    z = tmodel[5](b)
    z.retain_grad()
    torch.nn.functional.cross_entropy(tmodel[6:](z), torch.tensor([cls])).backward()
    _open_page(browser, data, tmp_path / "ties.html")
    for l, (pre, out, args) in {2: (a, y, (2,)), 5: (b, z, (3, 2, 1))}.items():
        _, index = torch.nn.functional.max_pool2d(pre, *args, return_indices=True)  # torch's winners
        values, gy, ga = pre[0].detach().numpy(), out.grad[0].numpy(), pre.grad[0].numpy()
        engine = decoded(data, data["images"][0]["layers"][l]["x"])  # the pool's input as the page holds it
        c_, oh, ow = gy.shape
        units = []
        for c, i, j in np.ndindex(c_, oh, ow):
            result = browser.js(f"kwm.forwardUnit({l}, {c}, {i}, {j})")
            window = np.array(result["vals"])
            mine = np.array([values[c, t["r"], t["s"]] for t in result["taps"]])
            ties = (window == window.max()).sum()
            if (
                ties > 1
                and np.array_equal(mine, window)
                and np.array_equal(mine, [engine[c, t["r"], t["s"]] for t in result["taps"]])
            ):
                units.append((c, i, j, window.max() > 0))  # a tie, the same numbers in torch and the engine
        assert any(u[3] for u in units) or l == 5, "a tie of positive values"
        assert any(not u[3] for u in units), "an all-zero window"
        picked = [next(u for u in units if u[3] == positive) for positive in {u[3] for u in units}]
        for c, i, j, _ in picked:
            browser.click("button[data-tab=forward]")
            canvas = f'canvas[data-layer="{l}"][data-ch="{c}"]'
            browser.js(f"document.querySelector('{canvas}').scrollIntoView()")
            click_at(browser, canvas, (j + 0.5) / ow, (i + 0.5) / oh)
            unit = browser.js("kwm.state.unit")
            assert (unit["l"], unit["c"], unit["i"], unit["j"]) == (l, c, i, j)
            browser.click("button[data-tab=backward]")
            back = browser.js(f"kwm.backwardUnit({l}, {c}, {i}, {j})")
            r, s = divmod(int(index[0, c, i, j]), values.shape[2])
            assert back["to"] == [c, r, s], f"layer {l} unit [{c},{i},{j}]: torch's winner A[{c},{r},{s}]"
            assert_close(back["value"], gy[c, i, j], np.float32, terms=200, what=f"dL/dY of [{c},{i},{j}]")
            if l == 2:  # windows apart: dL/dA at the winner is this unit's dL/dY alone, 0 at the other ties
                assert_close(back["value"], ga[c, r, s], np.float32, terms=200, what=f"dL/dA[{c},{r},{s}]")
                window = ga[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                assert np.count_nonzero(window) <= 1
            text = browser.js("document.getElementById('unit').textContent")
            assert f"goes to the max of the window, A[{c},{r},{s}] = " in text
            assert "inputs tie, the first in row-major order wins" in text
    assert browser.errors() == []


def test_layers_before_the_first_weight_get_their_gradient():
    """A model that starts with ReLU and max pooling: their dL/dY in the page equal torch's (not zeros)."""
    from kernelwise.explain.model_page import Source, _image_pass

    model = kw.nn.Sequential(
        kw.nn.ReLU(), kw.nn.MaxPool2d(2), kw.nn.Conv2d(1, 2, 3, generator=0), kw.nn.Flatten(),
        kw.nn.Linear(2 * 6 * 6, 3, generator=1),
    )  # fmt: skip
    tmodel = torch.nn.Sequential(
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(72, 3)
    )
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((1, 16, 16)).astype(np.float32)
    source = Source("early", ["a", "b", "c"], lambda t: _module_layers(model, t), lambda _: x)
    passed = _image_pass(source, x, 1)
    for cls, grads in passed["grads"].items():
        outs = []
        h = torch.tensor(x[None], requires_grad=True)
        for m in tmodel:
            h = m(h)
            h.retain_grad()
            outs.append(h)
        torch.nn.functional.cross_entropy(h, torch.tensor([cls])).backward()
        for i in (0, 1):  # the ReLU's and the pool's outputs
            want = outs[i].grad[0].numpy()
            assert np.abs(want).max() > 0
            assert_close(grads["y"][i], want, np.float32, terms=72, what=f"class {cls}, layer {i}")
