"""Hostile and broken inputs: each ends in a one-line error (a non-zero exit on the command line),
never a traceback, a half-written file or a huge allocation.

The malicious files are made here, small: checkpoints with crafted metadata, PNG files whose header
declares far more pixels than their few kilobytes hold, IDX headers whose sizes overflow int64.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from kernelwise import checkpoint
from kernelwise.checkpoint import CheckpointError
from kernelwise.cli import main
from kernelwise.models import build_model

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20
DIGITS = {
    "model": "digits_cnn",
    "dataset": "digits",
    "input_shape": [1, 8, 8],
    "num_classes": 10,
    "class_names": [str(i) for i in range(10)],
    "mean": [0.3],
    "std": [0.4],
}


# --------------------------------------------------------------------------- helpers
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``kernelwise ARGV`` in this process, as a user runs it: (exit status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, fragment: str) -> None:
    assert status != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kernelwise: error: ") and fragment in lines[0], lines[0]


def write_checkpoint(path: Path, config: dict, model: str = "digits_cnn", **edits: np.ndarray) -> Path:
    """A safetensors file with ``model``'s weights (some replaced by ``edits``) and ``config`` as metadata."""
    from safetensors.numpy import save_file

    tensors = {name: np.array(t.numpy(), order="C") for name, t in build_model(model, generator=0).state_dict().items()}
    tensors.update({name.replace("_", "."): array for name, array in edits.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": checkpoint.FORMAT, "config": json.dumps(config)})
    return path


def run_dir(tmp_path: Path, name: str = "run", **config) -> Path:
    """A run directory holding a digits_cnn checkpoint whose metadata is DIGITS with ``config`` changed."""
    write_checkpoint(tmp_path / name / "model.safetensors", {**DIGITS, **config})
    return tmp_path / name


def peak_bytes(fn, *args):
    """(what ``fn(*args)`` returned or raised, the peak of the memory Python and NumPy allocated meanwhile)."""
    tracemalloc.start()
    try:
        try:
            result = fn(*args)
        except Exception as e:  # the caller checks which
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_png(path: Path, width: int, height: int, bit_depth: int = 8, color_type: int = 2) -> Path:
    """An all-black PNG written chunk by chunk: its rows of zeros compress ~1000×, so huge sizes stay small files."""
    channels = {0: 1, 2: 3}[color_type]  # grey, RGB
    row = b"\x00" + bytes(-(-width * channels * bit_depth // 8))  # filter byte "none", then the row's bytes
    packer = zlib.compressobj(1)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def image(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "digit.png"
    Image.new("L", (8, 8), 128).save(path)
    return path


# --------------------------------------------------------------------------- checkpoint metadata
def test_num_classes_must_be_what_the_last_layer_gives(tmp_path):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, "num_classes": 10**9})
    error, peak = peak_bytes(checkpoint.load, path)
    assert isinstance(error, CheckpointError)
    assert "num_classes 1000000000" in str(error) and "'8.weight' gives 10" in str(error)
    assert peak < 20 * MB  # the model for 10^9 classes would take 238 GiB


@pytest.mark.parametrize("value", [float("inf"), 10.5, "10", 0, -3, True, None, [10]])
def test_num_classes_must_be_a_positive_integer(tmp_path, value):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, "num_classes": value})
    with pytest.raises(CheckpointError, match=r"num_classes .* is not a positive integer"):
        checkpoint.load(path)


def test_infinite_num_classes_is_one_line_on_the_command_line(tmp_path, capsys, image):
    run = run_dir(tmp_path, num_classes=float("inf"))  # JSON Infinity
    status, _, err = run_cli(capsys, "predict", str(run), str(image))
    assert_one_line_error(status, err, "num_classes Infinity is not a positive integer")


def test_huge_input_shape_is_refused_before_anything_is_built(tmp_path):
    config = {**DIGITS, "model": "small_vgg", "input_shape": [3, 10**6, 10**6], "mean": [0, 0, 0], "std": [1, 1, 1]}
    path = write_checkpoint(tmp_path / "m.safetensors", config, model="small_vgg")
    error, peak = peak_bytes(checkpoint.load, path)
    assert isinstance(error, CheckpointError)
    assert "input_shape (3, 1000000, 1000000) holds 3,000,000,000,000 values" in str(error)
    assert peak < 20 * MB


def test_a_long_signal_is_refused_before_its_classifier_is_built(tmp_path):
    # MNIST-1D's Linear has 25·out(L) inputs: L = 10^7 would make it 10 × 31 million floats (1.25 GB)
    config = {**DIGITS, "model": "mnist1d_cnn", "input_shape": [1, 10**7], "class_names": None}
    path = write_checkpoint(tmp_path / "m.safetensors", config, model="mnist1d_cnn")
    error, peak = peak_bytes(checkpoint.load, path)
    assert peak < 20 * MB
    assert isinstance(error, CheckpointError) and "input_shape (1, 10000000)" in str(error)


def test_input_channels_must_be_what_the_first_layer_takes(tmp_path):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, "input_shape": [40000, 8, 8]})
    error, peak = peak_bytes(checkpoint.load, path)
    assert peak < 8 * MB  # a first layer for 40,000 channels: 16·40000·3·3 floats, 23 MB
    assert isinstance(error, CheckpointError)
    assert "40000 input channels, its first layer '0.weight' takes 1" in str(error)


@pytest.mark.parametrize(
    "shape", [[1, -8, 8], [1, 8.0, 8], [1, "8", 8], [1, 8], [1, 8, 8, 1], "1x8x8", [1, 0, 8], [1, True, 8]]
)
def test_input_shape_must_be_positive_integers(tmp_path, shape):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, "input_shape": shape})
    with pytest.raises(CheckpointError, match=r"input_shape .* is not 3 positive integers"):
        checkpoint.load(path)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("std", [0], "std [0] has a value that is not positive"),
        ("std", [-0.5], "not positive"),
        ("std", [float("inf")], "std [Infinity] is not 1 finite number(s)"),
        ("mean", [float("nan")], "mean [NaN] is not 1 finite number(s)"),
        ("mean", [0.1, 0.2], "mean [0.1, 0.2] is not 1 finite number(s), one per channel"),
        ("mean", "0.1", "is not 1 finite number(s)"),
        ("std", [True], "is not 1 finite number(s)"),
    ],
)
def test_mean_and_std_must_be_finite_one_per_channel(tmp_path, key, value, fragment):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, key: value})
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(path)
    assert fragment in str(caught.value)


def test_zero_std_is_an_error_not_nan_percent(tmp_path, capsys, image):
    status, out, err = run_cli(capsys, "predict", str(run_dir(tmp_path, std=[0])), str(image))
    assert_one_line_error(status, err, "std [0] has a value that is not positive")
    assert "nan" not in out


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        (["a", "b"], "2 class_names for 10 classes"),
        ([str(i) for i in range(11)], "11 class_names for 10 classes"),
        (list(range(10)), "class_names is not a list of strings"),
        ("0123456789", "class_names is not a list of strings"),
    ],
)
def test_class_names_are_one_string_per_class(tmp_path, names, fragment):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, "class_names": names})
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(path)
    assert fragment in str(caught.value)


def test_too_few_class_names_is_one_line_on_the_command_line(tmp_path, capsys, image):
    status, _, err = run_cli(capsys, "predict", str(run_dir(tmp_path, class_names=["a", "b"])), str(image))
    assert_one_line_error(status, err, "2 class_names for 10 classes")


@pytest.mark.parametrize(("key", "value"), [("dataset", ["digits"]), ("config", "seed=0")])
def test_dataset_and_run_config_have_their_types(tmp_path, key, value):
    path = write_checkpoint(tmp_path / "m.safetensors", {**DIGITS, key: value})
    with pytest.raises(CheckpointError, match=key):
        checkpoint.load(path)


def test_a_shape_whose_size_overflows_int64_is_the_wrong_byte_size(tmp_path):
    header = {
        "__metadata__": {"format": checkpoint.FORMAT, "config": json.dumps(DIGITS)},
        "w": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]},  # 2^64 values: 0 in int64
    }
    head = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(head)) + head)
    with pytest.raises(CheckpointError, match=r"'w' of shape \(4294967296, 4294967296\) .* wrong byte size"):
        checkpoint.read(path)


@pytest.mark.parametrize("shape", [[2.5, 2], ["2", 2]])
def test_tensor_sizes_in_the_header_are_integers(tmp_path, shape):
    header = {
        "__metadata__": {"format": checkpoint.FORMAT, "config": json.dumps(DIGITS)},
        "w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 16]},
    }
    head = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(head)) + head + bytes(16))
    with pytest.raises(CheckpointError, match="'w' is malformed"):
        checkpoint.read(path)


def test_a_file_is_checked_against_its_header_before_its_data_is_read(tmp_path):
    path = write_checkpoint(tmp_path / "m.safetensors", DIGITS)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size + 64 * MB)  # 64 MB of zeros no tensor accounts for (a sparse file: nothing on disk)
    error, peak = peak_bytes(checkpoint.load, path)
    assert isinstance(error, CheckpointError) and f"{64 * MB} unexpected bytes after the tensor data" in str(error)
    assert peak < 8 * MB


# --------------------------------------------------------------------------- checkpoint.save
def test_save_refuses_a_model_name_load_cannot_rebuild(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=r"model 'custom' .*digits_cnn, lenet5, mnist1d_cnn, small_vgg, small_resnet"):
        checkpoint.save(path, build_model("digits_cnn", generator=0), {**DIGITS, "model": "custom"})
    assert not path.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_saved_files_get_the_permissions_the_umask_gives(tmp_path, umask, mode):
    from kernelwise.data.download import write_atomically

    old = os.umask(umask)
    try:
        checkpoint.save(tmp_path / "model.safetensors", build_model("digits_cnn", generator=0), DIGITS)
        write_atomically(b"payload", tmp_path / "cache" / "train-images-idx3-ubyte.gz")
    finally:
        os.umask(old)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == mode
    assert (tmp_path / "cache" / "train-images-idx3-ubyte.gz").stat().st_mode & 0o777 == mode
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["train-images-idx3-ubyte.gz"]


# --------------------------------------------------------------------------- class names
def test_names_are_shown_escaped_and_cut():
    from kernelwise.names import file_stem, plotted, shown

    assert shown("a\nb\tc") == "a\\nb\\tc"
    assert shown("\x1b[31mred") == "\\x1b[31mred"
    assert shown("abc\u202eevil") == "abc\\u202eevil"  # a right-to-left override
    assert shown("x" * 100_000) == "x" * 63 + "…"
    assert shown("T-shirt/top") == "T-shirt/top"
    assert plotted("$\\frac{a}{b}$") == "\\$\\frac{a}{b}\\$"
    assert plotted("y" * 30) == "y" * 19 + "…"
    assert file_stem("T-shirt/top") == "T-shirt_top"
    assert file_stem("../../etc/passwd") == "_.._etc_passwd"
    assert file_stem("a b\x00c") == "a_b_c"
    assert file_stem("..") == "class"
    assert file_stem("猫") == "猫"
    assert file_stem("z" * 300) == "z" * 64


def test_samples_are_named_after_their_class_safely(tmp_path):
    from kernelwise.runs import write_samples

    test_set = [(np.zeros((1, 2, 2), np.float32), 0), (np.zeros((1, 2, 2), np.float32), 1)]
    meta = {"class_names": ["T-shirt/top", "../escape"], "mean": [0.0], "std": [1.0]}
    paths = write_samples(test_set, meta, tmp_path / "samples")
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["test0_T-shirt_top.png", "test1__escape.png"]
    assert all(p.parent == tmp_path / "samples" for p in paths)


def test_predict_escapes_and_cuts_the_class_name(tmp_path, capsys, image):
    name = "\x1b[2J" + "x" * 1000  # clear-screen, then a kilobyte
    bias = np.zeros(10, np.float32)
    bias[0] = 50.0  # class 0 wins whatever the picture
    config = {**DIGITS, "class_names": [name] + [str(i) for i in range(1, 10)]}
    run = tmp_path / "run"
    write_checkpoint(run / "model.safetensors", config, **{"8_bias": bias})
    status, out, err = run_cli(capsys, "predict", str(run), str(image))
    assert status == 0, err
    first = out.splitlines()[0]
    assert first == f"{image}: \\x1b[2J" + "x" * 59 + "…"
    assert "\x1b" not in out


def test_evaluate_prints_and_plots_names_as_plain_text(tmp_path, capsys):
    names = ["$\\nosuchmacro$", "line\nbreak", "T-shirt/top", "\x1b[31m"] + [str(i) for i in range(4, 10)]
    run = run_dir(tmp_path, class_names=names)
    status, out, err = run_cli(capsys, "evaluate", str(run))
    assert status == 0, err  # as mathtext, $\nosuchmacro$ is a parse error
    assert "\x1b" not in out and "line\\nbreak" in out and "\\x1b[31m" in out
    assert (run / "confusion.png").stat().st_size > 0


class _Labels(Exception):
    """Raised by the stand-in for tight_layout, carrying the tick labels the figure was given."""


def test_confusion_figure_labels_are_short_plain_text(tmp_path, monkeypatch):
    import matplotlib.figure

    from kernelwise.runs import confusion_figure

    def tight_layout(fig, *args, **kwargs):
        ax = fig.axes[0]
        raise _Labels([t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()])

    monkeypatch.setattr(matplotlib.figure.Figure, "tight_layout", tight_layout)
    names = [chr(ord("a") + i) * 100_000 for i in range(9)] + ["$x$"]  # 100 KB names hang tight_layout
    with pytest.raises(_Labels) as caught:
        confusion_figure(np.eye(10, dtype=np.int64), names, tmp_path / "confusion.png", "title")
    labels = caught.value.args[0]
    assert len(labels) == 20
    assert labels[0] == "a" * 19 + "…" and labels[9] == "\\$x\\$"


# --------------------------------------------------------------------------- images
@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """20000×20000 one-bit pixels (400 megapixels, past Pillow's own limit) in a file of a few kilobytes."""
    return write_png(tmp_path_factory.mktemp("bomb") / "bomb.png", 20000, 20000, bit_depth=1, color_type=0)


COMMANDS = {
    "predict": lambda run, image: ["predict", str(run), str(image)],
    "explain image": lambda run, image: ["explain", "image", str(image)],
    "explain model": lambda run, image: ["explain", "model", str(run), "--image", str(image)],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_decompression_bomb_is_one_line(tmp_path, capsys, bomb, command):
    status, _, err = run_cli(capsys, *COMMANDS[command](run_dir(tmp_path), bomb))
    assert_one_line_error(status, err, f"{bomb}: more pixels than the 40,000,000 this reads")


@pytest.mark.parametrize("command", COMMANDS)
def test_pictures_over_40_megapixels_are_refused_before_decoding(tmp_path, capsys, command):
    # 7000×7000 = 49 megapixels: under Pillow's own limits, over kernelwise's
    big = write_png(tmp_path / "big.png", 7000, 7000, bit_depth=1, color_type=0)
    status, _, err = run_cli(capsys, *COMMANDS[command](run_dir(tmp_path), big))
    assert_one_line_error(status, err, f"{big}: 7000×7000 pixels, more than the 40,000,000 this reads")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from /proc")
def test_a_large_picture_never_takes_hundreds_of_megabytes(tmp_path):
    big = write_png(tmp_path / "big.png", 8000, 8000)  # RGB: 192 MB once decoded
    run = run_dir(tmp_path)
    code = (  # VmHWM: this process's peak resident memory (ru_maxrss would include the parent's, from the fork)
        "import re\n"
        "from kernelwise.cli import main\n"
        f"status = main(['predict', {str(run)!r}, {str(big)!r}])\n"
        "print(status, re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read())[1])\n"
    )
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "KERNELWISE_OFFLINE": "1"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    status, peak_kb = (int(v) for v in result.stdout.splitlines()[-1].split())
    assert peak_kb < 200 * 1024  # decoding it (and the copy that followed) took 590 MB
    assert status == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- IDX headers
def idx_header(*sizes: int, code: int = 0x08) -> bytes:
    return struct.pack(f">4B{len(sizes)}I", 0, 0, code, len(sizes), *sizes)


@pytest.mark.parametrize("name", ["train-images-idx4-ubyte", "train-images-idx4-ubyte.gz"])
def test_idx_sizes_that_overflow_int64_name_the_file(tmp_path, name):
    from kernelwise.data.idx import read_idx

    data = idx_header(65536, 65536, 65536, 65536)  # 2^64 values: 0 in int64, and no data follows
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(ValueError, match=rf"{name}: header declares shape \(65536, 65536, 65536, 65536\)"):
        read_idx(path)


def test_a_gzip_stream_is_read_no_further_than_its_header_says(tmp_path):
    from kernelwise.data.idx import read_idx

    path = tmp_path / "train-labels-idx1-ubyte.gz"
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip framing
    body = packer.compress(idx_header(10) + bytes(10))
    body += b"".join(packer.compress(bytes(MB)) for _ in range(64)) + packer.flush()  # then 64 MB of zeros
    path.write_bytes(body)
    error, peak = peak_bytes(read_idx, path)
    assert isinstance(error, ValueError) and f"{path}: has trailing bytes" in str(error)
    assert peak < 8 * MB


# --------------------------------------------------------------------------- dataset statistics
def test_dataset_with_infinite_pixels_is_refused():
    from kernelwise.data._prepare import package

    x = np.zeros((4, 1, 2, 2), np.float32)
    x[0, 0, 0, 0] = np.inf
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"images: .*mean \[inf\].*finite"):
        package("images", (x.copy(), labels), (x.copy(), labels), ("a", "b"), normalize=True)


def test_dataset_std_that_float32_rounds_to_zero_leaves_the_channel_unscaled():
    from kernelwise.data._prepare import package

    x = np.zeros((1000, 1, 2, 2), np.float32)
    x[0, 0, 0, 0] = 1.4e-45  # the smallest float32: the channel's deviation (2e-47) is 0 in float32
    labels = np.arange(1000) % 2
    train, _, info = package("images", (x.copy(), labels), (x.copy(), labels), ("a", "b"), normalize=True)
    assert info.std == (1.0,)
    assert np.isfinite(train[0][0].numpy()).all()


# --------------------------------------------------------------------------- explain's files
def test_a_failing_html_leaves_the_existing_file_as_it_was(tmp_path, capsys):
    notes = tmp_path / "notes.html"
    notes.write_text("my notes")
    status, _, err = run_cli(capsys, "explain", "scan", "--html", str(notes))
    assert_one_line_error(status, err, "--html: 'scan' has no interactive page")
    assert notes.read_text() == "my notes"


@pytest.mark.parametrize(("option", "registry", "fmt"), [("--png", "SAVE", "PNG"), ("--gif", "SAVE_ALL", "GIF")])
def test_a_full_disk_leaves_the_existing_figure_as_it_was(tmp_path, capsys, monkeypatch, option, registry, fmt):
    from PIL import Image

    Image.init()  # registers the format plugins
    save = getattr(Image, registry)[fmt]

    def full_disk(im, fp, filename):
        if not str(filename).startswith(str(tmp_path)):  # matplotlib draws the figure into memory with Pillow too
            return save(im, fp, filename)
        fp.write(b"half a picture")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(getattr(Image, registry), fmt, full_disk)
    figure = tmp_path / f"figure.{fmt.lower()}"
    figure.write_bytes(b"the old figure")
    status, _, err = run_cli(capsys, "explain", "conv", option, str(figure))
    assert figure.read_bytes() == b"the old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == [figure.name]
    assert_one_line_error(status, err, f"cannot write {figure}: No space left on device")


@pytest.mark.parametrize("option", ["--json", "--html"])
def test_infinite_values_never_reach_json_raw(tmp_path, capsys, option):
    page = tmp_path / "page.html"
    argv = ["explain", "conv", "--values", "input=inf,1,1/1,1,1/1,1,1;kernel=1,1/1,1", option]
    status, out, err = run_cli(capsys, *argv, *([str(page)] if option == "--html" else []))
    assert status == 0, err
    text = page.read_text().split('id="kw-data">')[1].split("</script>")[0] if option == "--html" else out
    assert "Infinity" not in text and "NaN" not in text and '"inf"' in text  # JSON has no infinities: strings
