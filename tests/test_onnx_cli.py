"""``kernelwise export`` and ONNX files in ``kernelwise summary`` and ``kernelwise predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import clirun  # noqa: E402
import kernelwise as kw  # noqa: E402
from clirun import cli  # noqa: E402
from kernelwise.cli import main  # noqa: E402
from kernelwise.runs import load_run  # noqa: E402

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def one_line_error(code: int, err: str, fragment: str) -> str:
    assert code == 1, err  # a mistake in what was given: exit status 1
    return clirun.one_line_error(code, err, fragment)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run trained two steps (8×8 gray pictures, 10 classes)."""
    out = tmp_path_factory.mktemp("onnx-cli") / "digits"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERNELWISE_OFFLINE", "1")
        mp.setenv("MPLBACKEND", "Agg")
        code = main(["train", "--epochs", "1", "--max-steps", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def exported(run_dir: Path) -> Path:
    """The run's model exported to a file of its own (tests that export again use other files)."""
    path = run_dir.parent / "exported.onnx"
    assert main(["export", str(run_dir), "-o", str(path)]) == 0
    return path


def test_export_writes_a_checked_model_that_computes_the_runs_outputs(run_dir, tmp_path, capsys):
    code, out, err = cli(capsys, "export", run_dir)
    assert code == 0, err
    path = run_dir / "model.onnx"
    assert path.is_file()
    assert out.strip() == f"wrote {path} (ONNX opset 17, input (1, 8, 8) per example)"
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    model, meta = load_run(run_dir)
    model.eval()
    x = np.random.default_rng(0).standard_normal((3, *meta["input_shape"])).astype(np.float32)
    with kw.no_grad():
        expected = model(kw.tensor(x)).numpy()
        got = kw.onnx.load(path)(kw.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_export_refuses_to_overwrite_without_force(run_dir, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"keep me")
    one_line_error(*cli(capsys, "export", run_dir, "-o", path)[::2], "exists: replace it with --force")
    assert path.read_bytes() == b"keep me"
    code, out, err = cli(capsys, "export", run_dir, "-o", path, "--force", "--opset", "18")
    assert code == 0, err
    assert "ONNX opset 18" in out
    assert onnx.load(str(path)).opset_import[0].version == 18


def test_export_errors_are_one_line(run_dir, tmp_path, capsys):
    one_line_error(*cli(capsys, "export", tmp_path / "nowhere")[::2], "run directory not found")
    one_line_error(*cli(capsys, "export", run_dir, "-o", tmp_path / "x.onnx", "--opset", "3")[::2], "opset=3")


def test_summary_of_an_onnx_file(exported, capsys):
    code, out, err = cli(capsys, "summary", exported)
    assert code == 0, err
    assert "ONNX opset 17" in out
    assert "inputs:\n  input  (batch, 1, 8, 8)" in out
    assert "outputs:\n  output  (batch, 10)" in out
    proto = onnx.load(str(exported))
    for op in {n.op_type for n in proto.graph.node}:
        count = sum(n.op_type == op for n in proto.graph.node)
        assert any(line.split() == [op, str(count)] for line in out.splitlines()), (op, out)
    params = sum(p.numel() for p in load_run(exported.parent / "digits")[0].parameters())
    assert f"{params:,} parameters" in out


def test_summary_of_an_onnx_file_takes_no_model_options(exported, capsys):
    one_line_error(*cli(capsys, "summary", exported, "--input-shape", "1", "8", "8")[::2], "do not go with an ONNX")


def test_predict_with_an_onnx_file_and_labels(run_dir, exported, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(DIGITS) + "\n")
    samples = sorted((run_dir / "samples").glob("*.png"))[:2]
    code, out, err = cli(capsys, "predict", exported, *samples, "--labels", labels)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 * len(samples)
    for sample, head, top3 in zip(samples, lines[::2], lines[1::2], strict=True):
        assert head.split(": ")[0] == str(sample)
        assert head.split(": ")[1] in DIGITS
        assert top3.startswith("   top-3: ") and top3.count("%") == 3
        assert top3.split(": ")[1].split()[0] == head.split(": ")[1]
        percents = [float(part.split()[-1].rstrip("%")) for part in top3.split(": ")[1].split(", ")]
        assert percents == sorted(percents, reverse=True) and sum(percents) <= 100.05


def test_predict_with_an_onnx_file_converts_and_numbers_classes(exported, tmp_path, capsys):
    from PIL import Image

    picture = tmp_path / "big.png"
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(picture)
    code, out, err = cli(capsys, "predict", exported, picture)
    assert code == 0, err
    head = out.splitlines()[0]
    assert "RGB -> grayscale" in head and "resized 30×40 -> 8×8" in head
    assert head.split(": ")[1].split()[0] in {str(i) for i in range(10)}


def test_predict_with_a_wrong_label_count(run_dir, exported, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    sample = sorted((run_dir / "samples").glob("*.png"))[0]
    one_line_error(*cli(capsys, "predict", exported, sample, "--labels", labels)[::2], "names 2 classes")


def test_labels_go_with_an_onnx_file_only(run_dir, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(DIGITS))
    sample = sorted((run_dir / "samples").glob("*.png"))[0]
    one_line_error(*cli(capsys, "predict", run_dir, sample, "--labels", labels)[::2], "--labels goes with an ONNX")


def test_a_file_named_onnx_that_is_not_one(run_dir, tmp_path, capsys):
    bogus = tmp_path / "notes.onnx"
    bogus.write_text("not a model")
    sample = sorted((run_dir / "samples").glob("*.png"))[0]
    one_line_error(*cli(capsys, "summary", bogus)[::2], "notes.onnx")
    one_line_error(*cli(capsys, "predict", bogus, sample)[::2], "notes.onnx")
    one_line_error(*cli(capsys, "summary", tmp_path / "missing.onnx")[::2], "ONNX file not found")


def test_export_of_a_layer_onnx_cannot_say_is_one_line(run_dir, tmp_path, monkeypatch, capsys):
    import kernelwise.runs

    class Mystery(kw.nn.Module):
        def forward(self, x):
            return x * 2

    _, meta = load_run(run_dir)
    monkeypatch.setattr(kernelwise.runs, "load_run", lambda path: (kw.nn.Sequential(Mystery()), meta))
    line = one_line_error(*cli(capsys, "export", run_dir, "-o", tmp_path / "m.onnx")[::2], "Mystery")
    assert "cannot export" in line
    assert not (tmp_path / "m.onnx").exists()


def test_export_without_the_onnx_package_says_how_to_install_it(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # `import onnx` raises ImportError
    one_line_error(*cli(capsys, "export", run_dir, "-o", tmp_path / "m.onnx")[::2], "pip install kernelwise[onnx]")


def test_predict_on_the_exported_file_says_what_predict_on_the_run_says(run_dir, exported, capsys):
    """The export carries the run's normalisation and class names, so the ONNX model gets the same input."""
    samples = sorted((run_dir / "samples").glob("*.png"))[:3]
    code, from_run, err = cli(capsys, "predict", run_dir, *samples)
    assert code == 0, err
    code, from_onnx, err = cli(capsys, "predict", exported, *samples)
    assert code == 0, err
    assert from_onnx == from_run
    props = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}
    assert set(props) == {"kernelwise.mean", "kernelwise.std", "kernelwise.class_names"}


def _with_metadata(source: Path, target: Path, **props: str) -> Path:
    model = onnx.load(str(source))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(target))
    return target


def test_predict_on_a_file_without_metadata_gives_pixels_in_0_1(run_dir, exported, tmp_path, capsys):
    from kernelwise.onnx.files import ImageModel

    bare = ImageModel.open(_with_metadata(exported, tmp_path / "bare.onnx"))
    assert bare.class_names is None
    sample = sorted((run_dir / "samples").glob("*.png"))[0]
    x, _ = bare.prepare(sample)
    from PIL import Image

    pixels = np.asarray(Image.open(sample).convert("L"), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(x[0, 0], pixels)


@pytest.mark.parametrize(
    ("props", "fragment"),
    [
        ({"kernelwise.mean": "[0.5"}, "is not JSON"),
        ({"kernelwise.std": "[0]"}, "must be positive"),
        ({"kernelwise.mean": '["a"]'}, "finite numbers"),
        ({"kernelwise.class_names": "{}"}, "non-empty JSON list"),
    ],
)
def test_bad_metadata_is_one_line(run_dir, exported, tmp_path, capsys, props, fragment):
    path = _with_metadata(exported, tmp_path / "bad.onnx", **props)
    sample = sorted((run_dir / "samples").glob("*.png"))[0]
    one_line_error(*cli(capsys, "predict", path, sample)[::2], fragment)
