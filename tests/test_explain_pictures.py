"""The figures of ``kernelwise explain`` read back: PNG and GIF files opened with Pillow (sizes, pixel
colours at known places, frame counts), the text and JSON checked for what they claim.

Pixel values get generous tolerances and layouts are checked as structure (bounding boxes, font sizes in
points), so that a different matplotlib or FreeType does not fail them.
"""

from __future__ import annotations

import importlib
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from kernelwise.explain import Picture, explain_backward, explain_conv, explain_image, explain_scan
from kernelwise.explain.__main__ import main
from kernelwise.explain.settings import LayerSettings
from test_explain_html import browser  # noqa: F401 (the headless Chromium fixture; skips without one)

rp = importlib.import_module("kernelwise.explain.render_png")  # the module; the package exports its function

pytestmark = pytest.mark.filterwarnings("error::UserWarning")  # no "tight_layout not applied" and the like


def rgb(path, r: int, g: int, b: int, size: int = 20):
    """A uniform colour picture of ``size`` × ``size`` pixels."""
    a = np.zeros((size, size, 3), dtype=np.uint8)
    a[...] = (r, g, b)
    Image.fromarray(a).save(path)
    return path


def drawn(fig) -> np.ndarray:
    """A figure as the PNG ``render_png`` writes (RGB, at the module's dpi), as an (H, W, 3) array."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=rp.DPI)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=int)


def centre(fig, ax, pixels: np.ndarray) -> np.ndarray:
    """The colour at the centre of ``ax`` in the drawn figure."""
    box = ax.get_position()
    h, w = pixels.shape[:2]
    return pixels[int((1 - (box.y0 + box.y1) / 2) * h), int((box.x0 + box.x1) / 2 * w)]


def content_box(pixels: np.ndarray) -> tuple[float, float]:
    """The share of the canvas's width and height that the drawn (not white) pixels span."""
    ink = (pixels < 245).any(axis=2)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return (cols[-1] - cols[0] + 1) / ink.shape[1], (rows[-1] - rows[0] + 1) / ink.shape[0]


def texts(fig) -> list:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_text().strip()]


# --------------------------------------------------------------------------- 1. one scale for an image
def test_uniform_bright_crop_is_drawn_bright_on_the_0_255_scale(tmp_path, capsys):
    path = rgb(tmp_path / "bright.png", 249, 249, 249)
    out = tmp_path / "fig.png"
    assert main(["image", str(path), "--crop", "0,0,4,4", "--png", str(out)]) == 0
    assert "0 (dark) to 255 (bright)" in " ".join(capsys.readouterr().out.split())
    e = explain_image(path, "0,0,4,4")
    fig = rp.figure(e)
    pixels = np.asarray(Image.open(out).convert("RGB"), dtype=int)
    assert pixels.shape[:2] == drawn(fig).shape[:2]  # the same layout as the figure measured here
    crops = fig.axes[1:4]
    assert [ax.get_title() for ax in crops] == ["I[0] (R)", "I[1] (G)", "I[2] (B)"]
    for ax in crops:
        assert (centre(fig, ax, pixels) > 225).all()  # 249 of 255 is near white, never black
    bar = fig.axes[4]  # one colour bar: the shared scale 0..255
    assert bar.get_ylim() == pytest.approx((0, 255))


def test_channels_share_one_scale_so_r239_is_brighter_than_b60(tmp_path):
    e = explain_image(rgb(tmp_path / "orange.png", 239, 150, 60), "0,0,4,4")
    fig = rp.figure(e)
    pixels = drawn(fig)
    r, g, b = (int(centre(fig, ax, pixels).mean()) for ax in fig.axes[1:4])
    assert r > g > b
    assert abs(r - 239) < 20 and abs(g - 150) < 20 and abs(b - 60) < 20  # gray level = intensity
    photo = centre(fig, fig.axes[0], pixels)
    assert abs(photo - (239, 150, 60)).max() < 20  # the picture itself in its colours


def test_image_figure_is_one_row_sized_to_it(tmp_path):
    fig = rp.figure(explain_image(rgb(tmp_path / "orange.png", 239, 150, 60), "0,0,4,4"))
    wide, tall = content_box(drawn(fig))
    assert wide > 0.9 and tall > 0.85, (wide, tall)
    assert min(t.get_fontsize() for t in texts(fig)) >= rp.MIN_FONT


def test_a_row_of_gray_pictures_shares_one_scale():
    a = Picture("a", np.array([[0.0, 2.0]]), row="r")
    b = Picture("b", np.array([[-1.0, 1.0]]), row="r")
    assert rp.row_scale([a, b]) == (-1.0, 2.0)
    lo, hi = rp.row_scale([Picture("flat", np.full((2, 2), 3.0))])
    assert lo < 3 < hi  # a uniform picture is mid-gray, not black
    assert rp.row_scale([Picture("c", np.zeros((2, 2)), scale=(0, 255))]) == (0.0, 255.0)


# --------------------------------------------------------------------------- 2. every step of a GIF
def test_conv_gif_animates_every_step_by_default(tmp_path):
    gif = tmp_path / "conv.gif"
    assert main(["conv", "--input-size", "4", "--kernel-size", "2", "--gif", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 9  # 3 × 3 outputs: all of them, not the terminal's 12-equation default


def test_gif_cut_short_says_so_on_its_last_frame(tmp_path, monkeypatch):
    assert rp.step_label(11, 36) == "step 12 of 36"
    assert rp.step_label(10, 36, shown=12) == "step 11 of 36"
    assert rp.step_label(11, 36, shown=12) == "step 12 of 36\nshowing 12 of 36 steps; --max-steps 0 shows all"
    assert rp.step_label(35, 36, shown=36) == "step 36 of 36"
    gif = tmp_path / "conv.gif"
    assert main(["conv", "--input-size", "4", "--kernel-size", "2", "--max-steps", "3", "--gif", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 3
    monkeypatch.setattr(rp, "GIF_MAX_STEPS", 4)  # the cap for huge cases, when --max-steps is not given
    assert main(["conv", "--input-size", "4", "--kernel-size", "2", "--gif", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 4
    e = explain_conv(LayerSettings(input_size=4, kernel_size=2))
    last = rp.section_figure(e.sections[e.figure], 3, e.title, shown=4)
    assert any("showing 4 of 9 steps; --max-steps 0 shows all" in t.get_text() for t in texts(last))
    first = rp.section_figure(e.sections[e.figure], 0, e.title, lines=last_lines(e), shown=4)
    assert not any("showing" in t.get_text() for t in texts(first))
    assert drawn(first).shape == drawn(last).shape  # every frame the same size


def last_lines(e) -> int:
    section = e.sections[e.figure]
    chars = rp.equation_chars(rp.grid_layout(section.grids).width)
    return max(len(rp.equation_lines(section, s, chars)) for s in range(4))


def test_terminal_still_shows_12_equations_by_default(capsys):
    assert main(["conv", "--input-size", "8", "--kernel-size", "3"]) == 0
    assert "... 24 more (--max-steps 36 shows them all)" in capsys.readouterr().out


# --------------------------------------------------------------------------- 3. sized to the content, readable
@pytest.mark.parametrize("build", [explain_backward, explain_scan, explain_conv])
def test_section_figures_are_sized_to_their_content_and_readable(build):
    e = build()
    fig = rp.figure(e)
    pixels = drawn(fig)
    wide, tall = content_box(pixels)
    assert wide > 0.9 and tall > 0.85, (wide, tall)  # little empty canvas around what is drawn
    assert min(t.get_fontsize() for t in texts(fig)) >= rp.MIN_FONT  # 9 pt = 12.5 px at 100 dpi
    title = next(t.get_text() for t in fig.texts if t.get_text().startswith(e.title))
    assert "::" not in title and all(line.count(": ") <= 1 for line in title.split("\n")), title


def test_backward_cells_are_labelled_at_a_readable_size():
    e = explain_backward()
    fig = rp.figure(e)
    cells = [t for t in texts(fig) if t.get_text().startswith("dL/dX[")]
    assert cells and min(t.get_fontsize() for t in cells) >= 10
    assert fig.get_size_inches()[0] < 12  # 3 small grids: not a 22-inch canvas


def test_scan_figure_shows_the_window_in_x_and_the_neuron_written_both_ways():
    e = explain_scan(values="input=3,1,4,1,5,9,2,6", kernel_size=3, out_channels=2)
    section = e.sections[e.figure]
    assert section.equations, "the scan figure is the section with steps"
    names = [g.name for g in section.grids]
    assert names[0] == "x" and "h_MLP" in names and "h_CNN" in names
    colors = rp.highlights(section, 1)  # step 2: the Conv1d's first neuron
    assert sorted(colors[0]) == [(0, 0), (0, 1), (0, 2)]  # the window x[1..3]
    assert rp.OUTPUT in colors[names.index("h_CNN")].values()
    title = texts(rp.figure(e))
    heading = next(t.get_text() for t in title if t.get_text().startswith("MLP vs CNN"))
    assert heading.split("\n") == ["MLP vs CNN: a scanning MLP is a convolution", section.title]


def test_many_grids_continue_on_a_next_line_rather_than_shrink():
    e = explain_conv(LayerSettings(input_size=4, kernel_size=2, in_channels=2, out_channels=2))
    layout = rp.grid_layout(e.sections[e.figure].grids)
    assert len(layout.lines) == 2 and layout.width <= rp.MAX_WIDTH
    fig = rp.figure(e)
    assert min(t.get_fontsize() for t in texts(fig)) >= rp.MIN_FONT
    assert "Kernel W, filter 1\nchannel 1" in [ax.get_title() for ax in fig.axes]  # a long label on two lines


def test_large_grids_stay_within_the_largest_canvas(tmp_path):
    e = explain_conv(LayerSettings(input_size=28, kernel_size=5))
    fig = rp.figure(e)
    width, height = fig.get_size_inches()
    assert width <= rp.MAX_WIDTH + 0.01 and height <= rp.MAX_HEIGHT + 3


# --------------------------------------------------------------------------- 5. --gif for every topic
@pytest.fixture
def run_dir(run_dir, tmp_path):
    """conftest's digits run, and a digit image beside it."""
    run = run_dir
    digit = np.zeros((8, 8), dtype=np.uint8)
    digit[2:6, 3:5] = 255
    Image.fromarray(digit).save(tmp_path / "digit.png")
    return run


@pytest.mark.parametrize("topic", ["conv", "stride", "pool", "backward", "transpose", "scan"])
def test_every_topic_with_steps_writes_a_gif(tmp_path, topic):
    gif = tmp_path / f"{topic}.gif"
    assert main([topic, "--max-steps", "2", "--gif", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 2


def test_model_gif_is_one_layer_after_another(run_dir, tmp_path, capsys):
    from kernelwise.explain import explain_model

    gif = tmp_path / "model.gif"
    image = tmp_path / "digit.png"
    assert main(["model", str(run_dir), "--image", str(image), "--gif", str(gif)]) == 0
    e = explain_model(run_dir, image)
    rows = list(rp.picture_rows(e.pictures))
    assert rows[0] == "input" and len(rows) >= 3
    with Image.open(gif) as im:
        assert im.n_frames == len(rows) - 1  # the input in every frame, one more row of maps each
    frame = rp.pictures_frame(e, 0)
    titles = [ax.get_title() for ax in frame.axes]
    assert "input" in titles and any(t.startswith(rows[1]) for t in titles)
    assert rows[1] in frame.texts[0].get_text()  # the title names the layer


def test_topics_without_steps_say_what_works(run_dir, tmp_path, capsys):
    status = main(["model", str(run_dir), "--gif", str(tmp_path / "m.gif")])
    err = capsys.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1
    assert "without --image" in err and "--gif works for conv, stride, pool, backward, transpose, scan" in err
    status = main(["image", str(rgb(tmp_path / "p.png", 1, 2, 3)), "--gif", str(tmp_path / "i.gif")])
    err = capsys.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1 and "explain image has no steps (use --png)" in err
    assert not (tmp_path / "m.gif").exists() and not (tmp_path / "i.gif").exists()


def test_readme_says_which_topics_take_gif():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## See the math")[1].split("\n## ")[0]
    claim = " ".join(section.split("`--gif FILE`")[1].split("\n\n")[0].split())
    assert "model --image" in claim and "`image`, and `model` without `--image`, have no steps" in claim
    assert f"at most {rp.GIF_MAX_STEPS} frames unless `--max-steps N` says otherwise" in claim


# --------------------------------------------------------------------------- 4. inf and NaN, never raw
INFINITE = ["conv", "--values", "input=1e999,1/2,3;kernel=1,0/0,1"]


def strict_json(text: str):
    """``json.loads`` as strict readers (and ``JSON.parse``) read: ``Infinity`` and ``NaN`` are errors."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_infinite_values_in_text_and_figure_labels(capsys):
    assert main(INFINITE) == 0
    out = capsys.readouterr().out
    assert "Z[1,1] = A[1,1]·W[1,1]" in out and "= inf·1 + 1·0 + 2·0 + 3·1 + 0" in out
    assert "Infinity" not in out and "NaN" not in out
    e = explain_conv(values="input=1e999,1/2,3;kernel=1,0/0,1")
    labels = [t.get_text() for t in texts(rp.figure(e))]
    assert labels.count("inf") == 2  # A[1,1] and Z[1,1]
    assert not any("Infinity" in t or "∞" in t or "nan" in t.lower() for t in labels)


def test_infinite_values_in_json_are_strings(capsys):
    assert main([*INFINITE, "--json"]) == 0
    out = capsys.readouterr().out
    data = strict_json(out)
    walk = data["sections"][1]
    grids = {g["name"]: g["values"] for g in walk["grids"]}
    assert grids["A"] == [["inf", 1], [2, 3]] and grids["Z"] == [["inf"]]
    assert walk["equations"][0]["value"] == "inf" and float(walk["equations"][0]["value"]) == math.inf


def test_json_ready_writes_every_non_finite_float_as_a_string():
    from kernelwise.explain.render_text import finite_json, json_ready

    data = {"a": [1.5, -math.inf], "b": (np.float32("nan"), np.float64("inf")), "c": "inf"}
    assert json_ready(data) == {"a": [1.5, "-inf"], "b": ["nan", "inf"], "c": "inf"}
    assert strict_json(finite_json(data, "--json")) == json_ready(data)


def test_infinite_values_in_the_page_data(tmp_path, capsys):
    page = tmp_path / "inf.html"
    assert main([*INFINITE, "--html", str(page)]) == 0
    text = page.read_text()
    data = strict_json(text.split('id="kw-data">')[1].split("</script>")[0])
    assert data["input"][0][0][0] == "inf" and data["engine"]["output"] == [[["inf"]]]  # (channel, row, column)
    assert "Infinity" not in text.split('id="kw-data">')[1].split("</script>")[0]


def test_the_page_reads_infinities_back_as_numbers(browser, tmp_path):  # noqa: F811 (the imported fixture)
    from kernelwise.explain import render_html

    e = explain_conv(values="input=1e999,1/2,3;kernel=1,0/0,1")
    path = tmp_path / "inf.html"
    render_html(e, path)
    browser.open(path)
    assert browser.errors() == []
    assert browser.js("kw.state.output[0][0][0] === Infinity && kw.state.input[0][0][0] === Infinity") is True
    assert browser.js("document.getElementById('check').textContent").startswith("✓")
    cells = browser.js("[...document.querySelectorAll('.grid td')].map((td) => td.textContent)")
    assert "inf" in cells and not any("Infinity" in c or "∞" in c for c in cells)


# --------------------------------------------------------------------------- the confusion matrix of training
@pytest.mark.parametrize("title", ["small_vgg on images: 66.67%", "lenet5 on a folder of photos, a long name: 33.33%"])
def test_a_small_confusion_matrix_is_large_enough_for_its_title(tmp_path, title):
    from kernelwise.runs import confusion_figure

    path = tmp_path / "confusion.png"
    confusion_figure(np.array([[3, 1, 0], [0, 2, 1], [1, 0, 4]]), ["cat", "dog", "bird"], path, title)
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=int)
    assert pixels.shape[1] >= 450 and pixels.shape[0] >= 400  # was 265 × 250 for 3 classes
    ink = (pixels < 200).any(axis=2)
    top = ink[: int(0.12 * pixels.shape[0])]  # the title's band
    cols = np.flatnonzero(top.any(axis=0))
    assert cols.size and cols[0] > 2 and cols[-1] < pixels.shape[1] - 3  # not cut at either edge
