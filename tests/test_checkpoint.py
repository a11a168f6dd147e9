"""Checkpoints: round trip, every malformed-file case, and loading into PyTorch."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import kernelwise as kw
from kernelwise import checkpoint
from kernelwise.checkpoint import CheckpointError
from kernelwise.models import build_model

CONFIG = {"model": "digits_cnn", "input_shape": [1, 8, 8], "num_classes": 10}


def _raw(path: Path, header: str | bytes, data: bytes, length: int | None = None) -> Path:
    """Write a safetensors-shaped file by hand: 8-byte little-endian header size, header, data."""
    head = header.encode() if isinstance(header, str) else header
    path.write_bytes(struct.pack("<Q", len(head) if length is None else length) + head + data)
    return path


def _saved(tmp_path: Path, name: str = "digits_cnn", shape: list[int] | None = None) -> tuple[Path, kw.nn.Module]:
    config = {**CONFIG, "model": name, "input_shape": shape or CONFIG["input_shape"]}
    model = build_model(name, input_shape=tuple(config["input_shape"]), generator=3)
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model, config)
    return path, model


def _header_and_data(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def test_round_trip_gives_identical_weights_and_outputs(tmp_path):
    path, model = _saved(tmp_path)
    loaded, config = checkpoint.load(path)
    assert config == CONFIG
    for (name, a), (name_b, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == name_b
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = kw.tensor(np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32))
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


def test_save_is_atomic_and_leaves_no_partial_file(tmp_path):
    path, _ = _saved(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    model = build_model("digits_cnn", generator=0)
    next(iter(model.parameters())).numpy()[0] = np.nan
    before = path.read_bytes()
    with pytest.raises(ValueError, match="non-finite"):
        checkpoint.save(path, model, CONFIG)
    assert path.read_bytes() == before  # the earlier checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_save_needs_the_architecture_in_config(tmp_path):
    with pytest.raises(ValueError, match="input_shape"):
        checkpoint.save(tmp_path / "m.safetensors", build_model("digits_cnn", generator=0), {"model": "digits_cnn"})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        checkpoint.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("cut", [0, 5, 20, -1, -100])
def test_truncated_file(tmp_path, cut):
    path, _ = _saved(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    with pytest.raises(CheckpointError, match=r"truncated|outside the file|malformed"):
        checkpoint.load(path)


def test_trailing_bytes_are_rejected(tmp_path):
    path, _ = _saved(tmp_path)
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        checkpoint.load(path)


def test_header_that_is_not_json(tmp_path):
    with pytest.raises(CheckpointError, match="malformed header"):
        checkpoint.load(_raw(tmp_path / "bad.safetensors", "{not json", b""))


def test_header_of_random_bytes(tmp_path):
    with pytest.raises(CheckpointError, match="malformed header"):
        checkpoint.load(_raw(tmp_path / "bad.safetensors", bytes([0xFF, 0xFE, 0x00, 0x81]), b""))


def test_duplicate_tensor_names(tmp_path):
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    header = f'{{"a": {entry}, "a": {entry}}}'
    with pytest.raises(CheckpointError, match="duplicate"):
        checkpoint.load(_raw(tmp_path / "dup.safetensors", header, b"\0\0\0\0"))


def test_overlapping_tensor_data(tmp_path):
    header = json.dumps(
        {
            "__metadata__": {"format": checkpoint.FORMAT, "config": json.dumps(CONFIG)},
            "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        }
    )
    with pytest.raises(CheckpointError, match="overlaps"):
        checkpoint.load(_raw(tmp_path / "o.safetensors", header, b"\0\0\0\0"))


def test_wrong_byte_size_for_shape(tmp_path):
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})
    with pytest.raises(CheckpointError, match="wrong byte size"):
        checkpoint.load(_raw(tmp_path / "s.safetensors", header, b"\0\0\0\0"))


def test_unsupported_dtype(tmp_path):
    header = json.dumps({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}})
    with pytest.raises(CheckpointError, match="unsupported dtype"):
        checkpoint.load(_raw(tmp_path / "d.safetensors", header, b"\0" * 8))


def test_file_not_written_by_kernelwise(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(path))
    with pytest.raises(CheckpointError, match="not written by kernelwise"):
        checkpoint.load(path)


def _rewrite(path: Path, tensors: dict[str, np.ndarray], config: dict | None = None) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata={"format": checkpoint.FORMAT, "config": json.dumps(config or CONFIG)})


def test_missing_tensor(tmp_path):
    path, _ = _saved(tmp_path)
    tensors, _ = checkpoint.read(path)
    del tensors["0.bias"]
    _rewrite(path, tensors)
    with pytest.raises(CheckpointError, match=r"missing \['0.bias'\]"):
        checkpoint.load(path)


def test_extra_tensor(tmp_path):
    path, _ = _saved(tmp_path)
    tensors, _ = checkpoint.read(path)
    tensors["extra.weight"] = np.zeros(3, np.float32)
    _rewrite(path, tensors)
    with pytest.raises(CheckpointError, match=r"unexpected \['extra.weight'\]"):
        checkpoint.load(path)


def test_wrong_shape(tmp_path):
    path, _ = _saved(tmp_path)
    tensors, _ = checkpoint.read(path)
    tensors["0.weight"] = np.zeros((16, 1, 5, 5), np.float32)
    _rewrite(path, tensors)
    with pytest.raises(CheckpointError, match=r"'0.weight' is float32\[16, 1, 5, 5\].*float32\[16, 1, 3, 3\]"):
        checkpoint.load(path)


def test_wrong_dtype(tmp_path):
    path, _ = _saved(tmp_path)
    tensors, _ = checkpoint.read(path)
    tensors["0.weight"] = tensors["0.weight"].astype(np.float64)
    _rewrite(path, tensors)
    with pytest.raises(CheckpointError, match="float64"):
        checkpoint.load(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(tmp_path, bad):
    path, _ = _saved(tmp_path)
    tensors, _ = checkpoint.read(path)
    tensors["0.weight"] = tensors["0.weight"].copy()
    tensors["0.weight"].flat[3] = bad
    _rewrite(path, tensors)
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoint.load(path)


def test_config_naming_an_unknown_model(tmp_path):
    path, _ = _saved(tmp_path)
    tensors, _ = checkpoint.read(path)
    _rewrite(path, tensors, {**CONFIG, "model": "alexnet"})
    with pytest.raises(CheckpointError, match="unknown model 'alexnet'"):
        checkpoint.load(path)


def test_checkpoint_never_unpickles(tmp_path):
    """A pickle disguised as a checkpoint is rejected as malformed, never executed."""
    import pickle

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


# --------------------------------------------------------------------- PyTorch interop
torch = pytest.importorskip("torch")
tnn = torch.nn


def _torch_lenet5():
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
    )  # fmt: skip


def _torch_mnist1d_cnn():
    return tnn.Sequential(
        tnn.Conv1d(1, 25, 5, stride=2, padding=1), tnn.ReLU(),
        tnn.Conv1d(25, 25, 3, stride=2, padding=1), tnn.ReLU(),
        tnn.Conv1d(25, 25, 3, stride=2, padding=1), tnn.ReLU(),
        tnn.Flatten(), tnn.Linear(125, 10),
    )  # fmt: skip


class _TorchBlock(tnn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.conv2 = tnn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU()
        if stride != 1 or cin != cout:
            self.shortcut = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride=stride, bias=False), tnn.BatchNorm2d(cout))
        else:
            self.shortcut = tnn.Identity()

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def _torch_small_resnet(w=16):
    return tnn.Sequential(
        tnn.Conv2d(3, w, 3, padding=1, bias=False), tnn.BatchNorm2d(w), tnn.ReLU(),
        _TorchBlock(w, w), _TorchBlock(w, w), _TorchBlock(w, 2 * w, 2), _TorchBlock(2 * w, 2 * w),
        _TorchBlock(2 * w, 4 * w, 2), _TorchBlock(4 * w, 4 * w),
        tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(4 * w, 10),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "shape", "make_torch"),
    [
        ("lenet5", [1, 28, 28], _torch_lenet5),
        ("mnist1d_cnn", [1, 40], _torch_mnist1d_cnn),
        ("small_resnet", [3, 32, 32], _torch_small_resnet),
    ],
)
def test_checkpoint_loads_into_the_equivalent_pytorch_model(tmp_path, name, shape, make_torch):
    from safetensors.torch import load_file

    path, model = _saved(tmp_path, name, shape)
    if name == "small_resnet":  # non-trivial running statistics: one training-mode pass
        model.train()
        model(kw.tensor(np.random.default_rng(1).standard_normal((4, *shape)).astype(np.float32)))
        checkpoint.save(path, model, {**CONFIG, "model": name, "input_shape": shape})
    net = make_torch()
    net.load_state_dict(load_file(str(path)), strict=True)
    net.eval()
    model.eval()
    x = np.random.default_rng(2).standard_normal((2, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(kw.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_model_round_trip_keeps_scalar_buffers(tmp_path):
    path, _ = _saved(tmp_path, "small_vgg", [3, 16, 16])
    tensors, _ = checkpoint.read(path)
    assert tensors["1.num_batches_tracked"].shape == () and tensors["1.num_batches_tracked"].dtype == np.int64
    loaded, _ = checkpoint.load(path)
    assert loaded.state_dict()["1.num_batches_tracked"].shape == ()
