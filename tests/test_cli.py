"""The ``kernelwise`` command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def kw_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERNELWISE_OFFLINE": "1", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "kernelwise", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def one_line_error(result: subprocess.CompletedProcess, fragment: str, code: int | None = None) -> None:
    assert result.returncode != 0 if code is None else result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "digits"
    result = kw_cli("train", "--epochs", "2", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "epoch   2/2  train loss" in result.stdout
    return out


def test_train_writes_the_run_directory(run_dir):
    assert {p.name for p in run_dir.iterdir()} >= {"model.safetensors", "metrics.json", "curves.png", "samples"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert 0.8 < metrics["test_accuracy"] <= 1
    assert metrics["train_images_per_second"] > 0
    assert metrics["seed"] == 0 and {"kernelwise", "numpy", "python"} <= set(metrics["versions"])
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run_dir.glob("*.partial"))


def test_predict_on_the_sample_digits(run_dir):
    samples = sorted((run_dir / "samples").glob("*.png"))
    assert len(samples) >= 3
    result = kw_cli("predict", str(run_dir), *map(str, samples))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("top-3:") == len(samples)
    correct = 0
    for sample, line in zip(samples, [l for l in result.stdout.splitlines() if not l.startswith(" ")], strict=True):
        correct += line.split(": ")[1].split()[0] == sample.stem.split("_")[1]
    assert correct >= len(samples) - 2  # a 2-epoch model may miss one or two


def test_predict_converts_colour_and_size_and_says_so(run_dir, tmp_path):
    from PIL import Image

    picture = tmp_path / "big.png"
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(picture)
    result = kw_cli("predict", str(run_dir), str(picture))
    assert result.returncode == 0, result.stderr
    assert "RGB -> grayscale" in result.stdout and "resized 30×40 -> 8×8" in result.stdout


def test_predict_rejects_a_file_that_is_not_an_image(run_dir, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("not a picture")
    one_line_error(kw_cli("predict", str(run_dir), str(bogus)), "not an image file")


def test_predict_with_a_broken_checkpoint(run_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (run_dir / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    one_line_error(kw_cli("predict", str(broken), str(next((run_dir / "samples").glob("*.png")))), "truncated")


def test_evaluate_prints_per_class_accuracy_and_draws_the_confusion_matrix(run_dir):
    result = kw_cli("evaluate", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and result.stdout.count(" images)\n") == 10  # one line per class
    assert (run_dir / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_a_missing_run():
    one_line_error(kw_cli("evaluate", "/nonexistent/run"), "run directory not found")


def test_summary():
    result = kw_cli("summary", "--model", "lenet5")
    assert result.returncode == 0, result.stderr
    assert "floor((28 - 5 + 2·2) / 1) + 1 = 28" in result.stdout and "61,706 parameters" in result.stdout


def test_python_dash_m_and_help():
    result = kw_cli("--help")
    assert result.returncode == 0 and "train" in result.stdout and "predict" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment", "code"),
    [
        (("train", "--model", "alexnet"), "invalid choice: 'alexnet'", 2),
        (("train", "--dataset", "imagenet"), "invalid choice: 'imagenet'", 2),
        (("train", "--epochs", "0"), "--epochs must be a positive integer", 1),
        (("train", "--lr", "-1"), "--lr must be positive", 1),
        (("train", "--model", "lenet5"), "lenet5 expects input of shape", 1),
        (("summary", "--model", "nope"), "unknown model 'nope'", 1),
        (("frobnicate",), "invalid choice: 'frobnicate'", 2),
    ],
)
def test_user_mistakes_give_one_line(args, fragment, code):
    one_line_error(kw_cli(*args), fragment, code)


def test_missing_dataset_files_say_where_to_put_them(tmp_path):
    result = kw_cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path))
    one_line_error(result, "train-images-idx3-ubyte.gz")
    assert str(tmp_path) in result.stderr


def test_train_lenet5_on_the_mnist_sample_for_a_few_steps(mnist_sample, tmp_path):
    out = tmp_path / "lenet"
    result = kw_cli("train", "--dataset", "mnist", "--data-dir", str(mnist_sample), "--epochs", "1",
                    "--max-steps", "20", "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["input_shape"] == [1, 28, 28]


def test_train_on_a_folder_of_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, shade in (("dark", 40), ("light", 210)):
        folder = tmp_path / "pictures" / label
        folder.mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(shade + rng.normal(0, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "run"
    result = kw_cli("train", "--dataset", "images", "--data-dir", str(tmp_path / "pictures"), "--epochs", "2",
                    "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["model"] == "small_vgg" and meta["class_names"] == ["dark", "light"]
    assert meta["input_shape"] == [3, 12, 12]
    predicted = kw_cli("predict", str(out), str(tmp_path / "pictures" / "light" / "0.png"))
    assert predicted.returncode == 0, predicted.stderr
