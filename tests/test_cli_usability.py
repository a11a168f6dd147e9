"""The command line as a newcomer meets it on a fresh clone: reaching the command, paths with ``..``,
evaluating a run from another folder, the recipes' own settings, errors in the command line's words,
``--data-dir`` alone, ``--threads``, tiny image folders, ``summary``, models that do not fit, ``--help``,
and runs named by their ``model.safetensors``.

Each test runs ``kernelwise.cli.main`` as the command does (or ``.venv/bin/kernelwise`` in a subprocess
where the exit status matters); nothing here downloads anything (``KERNELWISE_OFFLINE`` is set).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clirun import cli, one_line_error
from kernelwise.cli import main
from kernelwise.data.advice import infer_dataset, small_split_warning

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNELWISE_OFFLINE", "1")  # a download attempt is an error, never a network access
    monkeypatch.setenv("MPLBACKEND", "Agg")


def write_pictures(root: Path, per_class: int, size: int = 8) -> Path:
    """Two classes of gray pictures, ``dark`` and ``light``, ``per_class`` each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, shade in (("dark", 40), ("light", 210)):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(shade + rng.normal(0, 10, (size, size)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def write_idx_mnist(folder: Path, train: int = 20, test: int = 10) -> Path:
    """The four MNIST IDX files (uncompressed), with ``train``/``test`` 28×28 images and labels 0..9 in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        images = np.random.default_rng(n).integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">4B3I", 0, 0, 8, 3, n, 28, 28) + images.tobytes()
        )
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">4BI", 0, 0, 8, 1, n) + labels.tobytes())
    return folder


@pytest.fixture(scope="module")
def picture_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """small_vgg trained one step on 2 classes × 4 gray 8×8 pictures (``--data-dir`` alone)."""
    root = tmp_path_factory.mktemp("picture-run")
    pictures = write_pictures(root / "pics", per_class=4)
    out = root / "run"
    code = main(["train", "--data-dir", str(pictures), "--epochs", "1", "--max-steps", "1", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for MNIST-1D's cache, so the data is generated once for this module."""
    pytest.importorskip("mnist1d")
    return tmp_path_factory.mktemp("mnist1d")


# 1. Reaching the command after `make demo`


def test_readme_says_how_to_reach_the_command_in_the_venv():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert ".venv/bin/kernelwise" in quick_start and "source .venv/bin/activate" in quick_start
    command = ROOT / ".venv" / "bin" / "kernelwise"
    if command.is_file():  # the path the README gives runs the command
        result = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage: kernelwise" in result.stdout


# 2. A --data-dir with `..`


def test_data_dir_through_a_parent_folder(tmp_path, monkeypatch, capsys):
    write_pictures(tmp_path / "pics", per_class=4)
    (tmp_path / "pics" / "dark" / ".thumbnail.png").write_bytes(b"not a picture")  # hidden inside: still skipped
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    code, out, err = cli(capsys, "train", "--dataset", "images", "--data-dir", "../pics", "--epochs", "1",
                         "--max-steps", "1", "--out", "../run", "--no-progress")  # fmt: skip
    assert code == 0, err
    # 4 pictures per class, round(4 · 0.2) = 1 of each to the test split
    assert "on images: 6 train / 2 test images of shape (1, 8, 8)" in out


def test_data_dir_below_a_hidden_parent_folder(tmp_path, capsys):
    pictures = write_pictures(tmp_path / ".cache" / "pics", per_class=4)  # e.g. ~/.cache/pics
    code, out, err = cli(capsys, "train", "--dataset", "images", "--data-dir", pictures, "--epochs", "1",
                         "--max-steps", "1", "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "on images: 6 train / 2 test images" in out


def test_image_folder_loader_with_a_relative_parent_path(tmp_path, monkeypatch):
    from kernelwise.data import load_image_folder

    write_pictures(tmp_path / "pics", per_class=4)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    train, test, info = load_image_folder("../pics")
    assert (len(train), len(test), info.classes) == (6, 2, ("dark", "light"))


# 3. evaluate reads the run's own data folder


def test_train_stores_the_data_folder_absolute_and_evaluate_reuses_it(tmp_path, monkeypatch, capsys):
    write_idx_mnist(tmp_path / "digits-idx")
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "train", "--dataset", "mnist", "--data-dir", "digits-idx", "--epochs", "1",
                       "--max-steps", "1", "--out", "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["data_dir"]
    assert Path(saved).is_absolute() and Path(saved).samefile(tmp_path / "digits-idx")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = cli(capsys, "evaluate", str(tmp_path / "run"))
    assert code == 0, err  # without the saved folder it would try to download MNIST (an error offline)
    assert "lenet5 on mnist test set (10 images" in out


def test_evaluate_data_dir_given_wins_over_the_saved_one(picture_run, tmp_path, capsys):
    other = write_pictures(tmp_path / "more", per_class=10)  # round(10 · 0.2) = 2 test images per class
    code, out, err = cli(capsys, "evaluate", str(picture_run), "--data-dir", str(other))
    assert code == 0, err
    assert "small_vgg on images test set (4 images" in out


def test_evaluate_when_the_saved_folder_is_gone(tmp_path, capsys):
    pictures = write_pictures(tmp_path / "pics", per_class=4)
    code, _, err = cli(capsys, "train", "--data-dir", pictures, "--epochs", "1", "--max-steps", "1",
                       "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    pictures.rename(tmp_path / "moved")
    code, _, err = cli(capsys, "evaluate", tmp_path / "run")
    line = one_line_error(code, err, f"folder not found: {pictures}")
    assert "--data-dir" in line


# 4. The recipe's schedule


def test_mnist1d_trains_with_its_recipes_step_schedule(mnist1d_cache, tmp_path, capsys):
    code, out, err = cli(capsys, "train", "--dataset", "mnist1d", "--data-dir", mnist1d_cache, "--epochs", "1",
                         "--max-steps", "1", "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "adam lr 0.01 (step)" in out  # the MNIST-1D recipe: ×0.1 at 1/3 and 2/3 of the run
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["schedule"] == "step"


def test_an_explicit_schedule_still_wins(tmp_path, capsys):
    code, out, err = cli(capsys, "train", "--schedule", "constant", "--epochs", "1", "--max-steps", "1",
                         "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "adam lr 0.002 (constant)" in out


# 5. Errors in the command line's words


def test_a_data_dir_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    code, _, err = cli(capsys, "train", "--dataset", "mnist", "--data-dir", missing)
    line = one_line_error(code, err, f"folder not found: {missing}")
    assert "download" not in line
    assert not missing.exists()  # nothing was created there either


def test_images_without_a_folder_names_the_option(capsys):
    code, _, err = cli(capsys, "train", "--dataset", "images")
    line = one_line_error(code, err, "--data-dir")
    assert "data_dir=" not in line


def test_offline_download_error_names_the_option(tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--dataset", "cifar10", "--data-dir", tmp_path)
    line = one_line_error(code, err, "cifar-10-binary.tar.gz")
    assert "--data-dir" in line and "data_dir=" not in line
    code, _, err = cli(capsys, "train", "--dataset", "mnist", "--data-dir", tmp_path)
    line = one_line_error(code, err, "train-images-idx3-ubyte.gz")
    assert "--data-dir" in line and "data_dir=" not in line


# 6. --data-dir without --dataset


def test_infer_dataset_from_the_files(tmp_path):
    idx = write_idx_mnist(tmp_path / "idx")
    assert infer_dataset(idx) == "mnist"
    assert infer_dataset(idx, prefer="fashion-mnist") == "fashion-mnist"  # same file names: the caller's choice
    write_idx_mnist(tmp_path / "clothes" / "fashion-mnist")
    assert infer_dataset(tmp_path / "clothes") == "fashion-mnist"
    cifar = tmp_path / "cifar" / "cifar-10-batches-bin"
    cifar.mkdir(parents=True)
    (cifar / "test_batch.bin").write_bytes(bytes(3073))
    assert infer_dataset(tmp_path / "cifar") == "cifar10"
    assert infer_dataset(write_pictures(tmp_path / "pics", per_class=2)) == "images"
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert infer_dataset(tmp_path / "empty") is None
    with pytest.raises(FileNotFoundError, match="folder not found"):
        infer_dataset(tmp_path / "missing")


def test_train_with_a_data_dir_alone_trains_on_its_files(picture_run):
    metrics = json.loads((picture_run / "metrics.json").read_text())
    assert metrics["dataset"] == "images" and metrics["model"] == "small_vgg"
    assert metrics["class_names"] == ["dark", "light"]


def test_train_with_a_data_dir_alone_on_mnist_files(tmp_path, capsys):
    folder = write_idx_mnist(tmp_path / "idx")
    code, out, err = cli(capsys, "train", "--data-dir", folder, "--epochs", "1", "--max-steps", "1",
                         "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "training lenet5" in out and "on mnist: 20 train / 10 test images of shape (1, 28, 28)" in out


def test_train_with_a_data_dir_it_cannot_read(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no data here")
    code, _, err = cli(capsys, "train", "--data-dir", tmp_path)
    one_line_error(code, err, "--dataset")


# 7. --threads


def test_threads_limits_blas_and_restores_it(picture_run, capsys):
    from kernelwise.threads import blas_info

    before = blas_info().threads
    code, out, err = cli(capsys, "evaluate", picture_run, "--threads", "1")
    assert code == 0, err
    assert "1 BLAS thread)" in out.splitlines()[0]
    assert blas_info().threads == before


def test_thread_limit_inside_and_after():
    from kernelwise.threads import blas_info, thread_limit

    before = blas_info().threads
    with thread_limit(1) as count:
        assert count == 1 and blas_info().threads == 1
    assert blas_info().threads == before
    with pytest.raises(ValueError, match="positive integer"), thread_limit(0):
        pass


@pytest.mark.parametrize("command", ["train", "evaluate RUN", "predict RUN x.png", "bench --no-torch --tiny"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_threads_must_be_a_positive_integer(command, value, capsys):
    code, _, err = cli(capsys, *command.split(), "--threads", value)
    line = one_line_error(code, err, "--threads")
    assert "positive integer" in line


def test_threads_in_a_subprocess_without_any_limit_set(picture_run):
    command = Path(sys.executable).parent / "kernelwise"
    if not command.is_file():
        pytest.skip("the kernelwise command is not installed beside this Python")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([str(command), "evaluate", str(picture_run), "--threads", "1"], capture_output=True,
                            text=True, env=env, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 BLAS thread)" in result.stdout.splitlines()[0]
    result = subprocess.run([str(command), "train", "--threads", "0"], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


# 8. Tiny image folders


def test_tiny_folder_warns_that_the_test_split_says_little(tmp_path, capsys):
    pictures = write_pictures(tmp_path / "pics", per_class=4)
    code, out, err = cli(capsys, "train", "--data-dir", pictures, "--epochs", "1", "--max-steps", "1",
                         "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "only 2 images" in warnings[0] and "50 %" in warnings[0]  # one of 2 test images is half the accuracy


def test_digits_test_split_is_big_enough(tmp_path, capsys):
    code, out, err = cli(capsys, "train", "--epochs", "1", "--max-steps", "1", "--out", tmp_path / "run",
                         "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "warning:" not in out


@pytest.mark.parametrize(
    ("counts", "warns"),
    [
        ([3] * 10, True),  # 30 images, but 3 of a class
        ([5] * 6, False),  # 30 images, 5 of each class
        ([5, 5, 5, 5, 9], True),  # 5 of each class, but 29 in all
        ([4, 40], True),  # 44 images, 4 of one class
    ],
)
def test_small_split_warning_thresholds(counts, warns):
    from kernelwise.data import TensorDataset

    labels = np.repeat(np.arange(len(counts)), counts)
    test_set = TensorDataset(np.zeros((len(labels), 1, 2, 2), dtype=np.float32), labels)
    warning = small_split_warning(test_set, [f"c{i}" for i in range(len(counts))])
    assert (warning is not None) == warns
    if warns:
        assert f"only {len(labels)} images ({min(counts)} of class 'c{int(np.argmin(counts))}')" in warning


def test_readme_documents_how_an_image_folder_is_split():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "round(20 %) of its images" in readme and "`--seed`" in readme and "train/" in readme


# 9. summary


def test_summary_of_a_model_uses_its_datasets_input_shape(capsys):
    code, out, err = cli(capsys, "summary", "--model", "mnist1d_cnn")
    assert code == 0, err
    # length 40: 40 -> 19 -> 10 -> 5; 150 + 1,900 + 1,900 + (25·5·10 + 10) = 5,210 parameters
    assert "input (1, 40)" in out and "total: 5,210 parameters" in out


def test_summary_shows_each_layer_in_full(capsys):
    code, out, err = cli(capsys, "summary", "--model", "lenet5")
    assert code == 0, err
    assert "Linear(in_features=400, out_features=120, bias=True)" in out
    assert "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))" in out


def test_summary_of_a_run_uses_its_model_and_input_shape(picture_run, capsys):
    code, out, err = cli(capsys, "summary", picture_run)
    assert code == 0, err
    # small_vgg on 1 channel and 2 classes: convs 288, 9,216, 18,432, 36,864, 73,728 (no bias),
    # batch norms 64 + 64 + 128 + 128 + 256, linear 128·2 + 2 = 258: 139,426 parameters
    assert "input (1, 8, 8)" in out and "total: 139,426 parameters" in out


def test_summary_mistakes(picture_run, capsys):
    one_line_error(*cli(capsys, "summary")[::2], "--model")
    one_line_error(*cli(capsys, "summary", picture_run, "--model", "lenet5")[::2], "not both")
    code, _, err = cli(capsys, "summary", "--model", "lenet5", "--input-shape", "1", "32", "32")
    line = one_line_error(code, err, "lenet5 expects input of shape")
    assert "data" not in line  # no data is involved in a summary
    one_line_error(*cli(capsys, "summary", picture_run, "--num-classes", "3")[::2], "go with --model")


def test_evaluate_a_checkpoint_that_names_no_dataset(tmp_path, capsys):
    from kernelwise import checkpoint
    from kernelwise.models import build_model

    path = tmp_path / "model.safetensors"  # saved from Python with only what rebuilding the model needs
    checkpoint.save(path, build_model("digits_cnn", generator=0), {"model": "digits_cnn", "input_shape": [1, 8, 8],
                                                                    "num_classes": 10})  # fmt: skip
    one_line_error(*cli(capsys, "evaluate", path)[::2], "names no dataset: pass --dataset")
    code, out, _ = cli(capsys, "evaluate", path, "--dataset", "digits")
    assert code == 0 and "digits_cnn on digits test set" in out


# 10. A model that does not fit the data


def test_a_model_that_does_not_fit_the_digits_names_those_that_do(capsys):
    code, _, err = cli(capsys, "train", "--model", "lenet5")
    line = one_line_error(code, err, "lenet5 expects input of shape")
    # 8×8 digits: digits_cnn is made for them, small_vgg and small_resnet take any size from 8
    assert line.endswith("models that fit (1, 8, 8): digits_cnn, small_vgg, small_resnet")


def test_lenet5_on_mnist1d_suggests_the_mnist1d_cnn(mnist1d_cache, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--dataset", "mnist1d", "--data-dir", mnist1d_cache, "--model", "lenet5",
                       "--out", tmp_path / "run")  # fmt: skip
    line = one_line_error(code, err, "lenet5 expects input of shape")
    assert line.endswith("models that fit (1, 40): mnist1d_cnn")  # the only 1-d model


# 11. --help


def test_train_help_shows_every_default_and_the_recipes(capsys):
    code, out, _ = cli(capsys, "train", "--help")
    assert code == 0
    flat = " ".join(out.split())  # argparse wraps lines
    for option in ("--epochs", "--batch-size", "--optimizer", "--lr", "--schedule", "--model"):
        assert f"{option}" in flat
    assert flat.count("default: the dataset's recipe") >= 6
    assert "(default: 0)" in flat and "default: 0 (adamw: 0.01)" in flat
    rows = {line.split()[0]: line.split()[1:7] for line in out.splitlines() if line.startswith("  ") and line.split()}
    # the recipes of the README's accuracy table
    assert rows["digits"] == ["digits_cnn", "12", "32", "adam", "0.002", "cosine"]
    assert rows["mnist"] == ["lenet5", "10", "64", "sgd", "0.05", "cosine"]
    assert rows["mnist1d"] == ["mnist1d_cnn", "150", "100", "adam", "0.01", "step"]
    assert {"fashion-mnist", "cifar10", "images"} <= set(rows)


def test_top_level_help_names_the_models_and_datasets(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for name in ("lenet5", "mnist1d_cnn", "digits_cnn", "small_vgg", "small_resnet"):
        assert name in out
    for name in ("digits", "mnist", "fashion-mnist", "mnist1d", "cifar10", "images"):
        assert name in out


# 12. A run named by its model.safetensors


def test_commands_take_the_checkpoint_file(picture_run, capsys):
    checkpoint = picture_run / "model.safetensors"
    (picture_run / "confusion.png").unlink(missing_ok=True)
    code, out, err = cli(capsys, "evaluate", checkpoint)
    assert code == 0, err
    assert "small_vgg on images test set (2 images" in out
    assert (picture_run / "confusion.png").is_file()  # beside the checkpoint, in the run directory
    sample = next((picture_run / "samples").glob("*.png"))
    code, out, err = cli(capsys, "predict", checkpoint, sample)
    assert code == 0, err
    assert "top-3:" in out
    code, out, err = cli(capsys, "summary", checkpoint)
    assert code == 0, err
    assert "input (1, 8, 8)" in out


# 13. A bug says so, with its traceback; a mistake is one line


@pytest.mark.parametrize(
    ("module", "name", "argv"),
    [
        ("kernelwise.summary", "summarize", ["summary", "--model", "lenet5"]),
        ("kernelwise.explain.engine", "check", ["explain", "conv"]),
    ],
)
def test_a_bug_prints_its_traceback_and_asks_to_report_it(monkeypatch, capsys, module, name, argv):
    import importlib

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero inside kernelwise")

    monkeypatch.setattr(importlib.import_module(module), name, broken)
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: division by zero inside" in err
    assert err.strip().splitlines()[-1] == (
        "kernelwise: internal error (a bug in kernelwise, not in your input): please report it"
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["summary", "--model", "nonesuch"], "unknown model 'nonesuch'"),
        (["explain", "conv", "--width", "0"], "--width must be a positive number of columns"),
        (["explain", "conv", "--values", "input=1,2,3/4,5,6/7,8,9;kernel=1,0/0,1;grad=1,2,3"],
         "--values grad: expected 4 numbers (shape (1, 2, 2)), got 3"),
        (["explain", "conv", "--values", "input=1,2,3/4,5,6/7,8,9;kernel=1,0/0,1;bias=1,2"],
         "--values bias: expected 1 number, got 2"),
        (["explain", "pool", "--values", "input=1,2/3,4;grad=1,2,3"], "--values grad: expected 1 number"),
        (["explain", "conv", "--values", "input=nan,1/1,1;kernel=1,0/0,1"], "NaN is not a number"),
        (["explain", "conv", "--values", "input=1e300,1/1,1;kernel=1,0/0,1"], "a number beyond ±1e+100"),
        (["explain", "conv", "--values", "input=[{}];kernel=1"], "not a list of numbers"),
        (["explain", "conv", "--values", "input=inf,-inf,1/1,1,1/1,1,1;kernel=1,0/1,1"],
         "the infinite numbers given meet as inf - inf or inf·0"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_with_status_1(capsys, argv, fragment):
    code, _, err = cli(capsys, *argv)
    assert code == 1
    assert one_line_error(code, err, fragment).startswith("kernelwise: error: ")


def test_files_that_are_not_what_they_should_be_are_data_errors(tmp_path, capsys, picture_run):
    from kernelwise.data.idx import read_idx
    from kernelwise.errors import DataError
    from kernelwise.images import open_image

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    with pytest.raises(DataError, match="not an image file"):
        open_image(junk)
    with pytest.raises(DataError, match="bad IDX magic number"):
        read_idx(junk)
    one_line_error(*cli(capsys, "predict", picture_run, junk)[::2], "is not an image file Pillow can read")
    pictures = write_pictures(tmp_path / "pics", per_class=2)
    (pictures / "dark" / "0.png").write_bytes(b"broken")
    code, _, err = cli(capsys, "train", "--data-dir", pictures, "--out", tmp_path / "run", "--no-progress")
    one_line_error(code, err, "0.png: cannot read this image")


def _resume_with_state(tmp_path: Path, picture_run: Path, change: Any) -> Path:
    """A copy of ``picture_run`` whose saved training state went through ``change(state.json's document)``."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(picture_run, run)
    state = next((run / "checkpoint").glob("epoch-*")) / "state.json"
    document = json.loads(state.read_text())
    change(document)
    state.write_text(json.dumps(document))
    return run


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["history"].__setitem__(0, {}), "the metrics of epoch 1 lack epoch, train_loss"),
        (lambda d: d["history"][0].__setitem__("seconds", "x"), "history must hold one object of numbers"),
        (lambda d: d.__setitem__("rng", None), "sha256 and rng objects"),
        (lambda d: d["optimizer"].__setitem__("param_groups", [1]), "param_groups is not a list of objects"),
        (lambda d: d["optimizer"]["numbers"].__setitem__("x", {}), "state.json is malformed"),
        (lambda d: d["rng"]["loader"].__setitem__("uinteger", -1), "random generator 'loader' is malformed"),
        (lambda d: d.__setitem__("epoch", "9" * 5000), "state.json is malformed: Exceeds the limit"),
    ],
)
def test_resume_from_a_malformed_state_is_one_line(tmp_path, capsys, picture_run, change, fragment):
    run = _resume_with_state(tmp_path, picture_run, change)
    state = next((run / "checkpoint").glob("epoch-*")) / "state.json"
    state.write_text(state.read_text().replace('"' + "9" * 5000 + '"', "9" * 5000))  # a JSON integer of 5000 digits
    code, _, err = cli(capsys, "train", "--resume", run, "--epochs", "2", "--no-progress")
    one_line_error(code, err, fragment)


def test_a_checkpoint_whose_run_config_has_a_data_dir_that_is_no_path(tmp_path, capsys):
    from kernelwise import checkpoint
    from kernelwise.models import build_model

    path = tmp_path / "model.safetensors"
    config = {"model": "digits_cnn", "input_shape": [1, 8, 8], "num_classes": 10, "dataset": "digits",
              "config": {"data_dir": 1.5}}  # fmt: skip
    checkpoint.save(path, build_model("digits_cnn", generator=0), config)
    one_line_error(*cli(capsys, "evaluate", path)[::2], "the data_dir 1.5 of its run config is not a path")
