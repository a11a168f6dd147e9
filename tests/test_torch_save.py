"""kw.save / kw.load: every kind of object CNN programs save, bit for bit, and never a pickle.

Round trips compare types and bits (NaN payloads and -0.0 included); a file written by torch.save
(made here with torch) is refused without being unpickled (its pickle would raise if it were);
malformed files and unsupported objects are errors that name the file or the place in the object.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.numpy import save as safetensors_bytes

import kernelwise as kw
from kernelwise.serialization import KEY


def assert_identical(loaded: Any, saved: Any, where: str = "obj") -> None:
    """Same types all the way down; tensors and arrays with the same dtype, shape and bytes."""
    if isinstance(saved, kw.Tensor):
        assert type(loaded) is kw.Tensor, f"{where}: {type(loaded).__name__}"
        assert loaded.requires_grad is False, where
        assert_identical(loaded.numpy(), saved.numpy(), where)
    elif isinstance(saved, np.ndarray):
        assert type(loaded) is np.ndarray, f"{where}: {type(loaded).__name__}"
        assert loaded.dtype == saved.dtype and loaded.shape == saved.shape, where
        assert loaded.tobytes() == np.ascontiguousarray(saved).tobytes(), f"{where}: bytes differ"
        assert loaded.flags.writeable, where
    elif isinstance(saved, np.generic):
        assert type(loaded) is type(saved) and loaded.tobytes() == saved.tobytes(), where
    elif isinstance(saved, dict):
        assert type(loaded) is type(saved), f"{where}: {type(loaded).__name__} is not {type(saved).__name__}"
        assert list(loaded) == list(saved), f"{where}: keys {list(loaded)} != {list(saved)}"
        for (k1, v1), (k2, v2) in zip(loaded.items(), saved.items(), strict=True):
            assert type(k1) is type(k2), f"{where}: key {k1!r}"
            assert_identical(v1, v2, f"{where}[{k1!r}]")
    elif isinstance(saved, list | tuple):
        assert type(loaded) is type(saved), f"{where}: {type(loaded).__name__} is not {type(saved).__name__}"
        assert len(loaded) == len(saved), where
        for i, (a, b) in enumerate(zip(loaded, saved, strict=True)):
            assert_identical(a, b, f"{where}[{i}]")
    elif isinstance(saved, float):
        assert type(loaded) is float and struct.pack("<d", loaded) == struct.pack("<d", saved), f"{where}: {loaded!r}"
    else:
        assert type(loaded) is type(saved) and loaded == saved, f"{where}: {loaded!r} != {saved!r}"


def round_trip(obj: Any, tmp_path: Path, **load_args: Any) -> Any:
    path = tmp_path / "saved.pt"
    kw.save(obj, path)
    via_file = kw.load(path, **load_args)
    buffer = io.BytesIO()
    kw.save(obj, buffer)
    buffer.seek(0)
    via_buffer = kw.load(buffer, **load_args)
    assert_identical(via_buffer, via_file)
    assert buffer.getvalue() == path.read_bytes()  # the same bytes whichever way it is written
    return via_file


def small_net(seed: int = 0) -> kw.nn.Module:
    kw.manual_seed(seed)
    return kw.nn.Sequential(
        kw.nn.Conv2d(1, 3, 3), kw.nn.BatchNorm2d(3), kw.nn.ReLU(), kw.nn.Flatten(), kw.nn.Linear(12, 2)
    )


def trained_optimizer(name: str) -> tuple[kw.nn.Module, Any]:
    net = small_net()
    opt = {
        "sgd": lambda p: kw.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
        "adam": lambda p: kw.optim.Adam(p, lr=1e-3, betas=(0.8, 0.99)),
        "adamw": lambda p: kw.optim.AdamW(p, lr=1e-3),
    }[name](net.parameters())
    for _ in range(2):
        opt.zero_grad()
        net(kw.randn(4, 1, 4, 4)).sum().backward()
        opt.step()
    return net, opt


# --------------------------------------------------------------------------- round trips
def test_model_state_dict(tmp_path):
    net = small_net()
    state = net.state_dict()
    loaded = round_trip(state, tmp_path)
    assert_identical(loaded, OrderedDict((k, kw.Tensor(v.numpy())) for k, v in state.items()))
    other = small_net(seed=1)
    x = kw.randn(2, 1, 4, 4)
    assert not np.array_equal(other.eval()(x).numpy(), net.eval()(x).numpy())
    other.load_state_dict(loaded)
    np.testing.assert_array_equal(other.eval()(x).numpy(), net.eval()(x).numpy())


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizer_state_dict(tmp_path, name):
    _, opt = trained_optimizer(name)
    state = opt.state_dict()
    loaded = round_trip(state, tmp_path)
    assert_identical(loaded, state)
    assert any(isinstance(k, int) for k in loaded["state"])  # parameter numbers stay ints
    _, fresh = trained_optimizer(name)
    fresh.load_state_dict(loaded)
    assert_identical(fresh.state_dict(), state)


def test_training_checkpoint(tmp_path):
    net, opt = trained_optimizer("sgd")
    checkpoint = {
        "epoch": 3,
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "loss": 0.123456789012345,
        "best": float("inf"),
        "history": [1.5, 0.75, float("nan")],
        "classes": ("plane", "car"),
        "notes": None,
        "done": False,
        "shape": kw.Size([1, 28, 28]),
        "rng": np.random.default_rng(0).integers(0, 2**63, 4),
        "lr": np.float32(0.01),
        "step": np.int64(7),
    }
    loaded = round_trip(checkpoint, tmp_path, map_location="cpu", weights_only=True)
    assert_identical(loaded, {**checkpoint, "model": OrderedDict((k, v) for k, v in checkpoint["model"].items())})
    assert type(loaded["shape"]) is kw.Size


@pytest.mark.parametrize(
    "tensor",
    [
        kw.tensor(np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45, 3.4e38], dtype=np.float32)),
        kw.tensor(np.frombuffer(struct.pack("<Q", 0x7FF8DEADBEEF0001), dtype=np.float64)),  # a NaN payload
        kw.tensor(np.arange(24, dtype=np.float16).reshape(2, 3, 4)),
        kw.tensor(np.arange(6, dtype=np.float64).reshape(2, 3).T),  # not contiguous
        kw.tensor(np.array([True, False])),
        kw.tensor(np.array([0, 255], dtype=np.uint8)),
        kw.tensor(np.array([-(2**63), 2**63 - 1], dtype=np.int64)),
        kw.tensor(np.array([-5], dtype=np.int8)),
        kw.tensor(np.array([7], dtype=np.int16)),
        kw.tensor(np.array(2.5, dtype=np.float32)),  # 0-d
        kw.zeros(0, 3),  # empty
        kw.tensor(np.arange(4, dtype=">i4")),  # big-endian
    ],
    ids=lambda t: f"{t.dtype}-{t.shape}",
)
def test_lone_tensor_bit_exact(tmp_path, tensor):
    loaded = round_trip(tensor, tmp_path)
    assert type(loaded) is kw.Tensor and loaded.dtype == tensor.dtype.newbyteorder("=") and loaded.shape == tensor.shape
    assert (
        loaded.numpy().astype(tensor.dtype.newbyteorder("=")).tobytes()
        == np.ascontiguousarray(tensor.numpy(), dtype=tensor.dtype.newbyteorder("=")).tobytes()
    )


def test_parameters_come_back_as_plain_tensors_not_requiring_grad(tmp_path):
    w = kw.nn.Parameter(kw.ones(2, 2))
    loaded = round_trip({"w": w, "grad_needing": kw.ones(1, requires_grad=True)}, tmp_path)
    assert type(loaded["w"]) is kw.Tensor and not loaded["w"].requires_grad
    assert not loaded["grad_needing"].requires_grad
    loaded["w"].add_(1)  # writable, and its own memory
    assert w.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_plain_values_and_keys(tmp_path):
    obj = [
        {0: "int key", 1.5: "float key", "s": "str key", None: "none key", True: "bool key"},
        OrderedDict([("b", 1), ("a", 2)]),
        (),
        [],
        {},
        (1, (2, (3,))),
        2**80,
        -0.0,
        "ünïcode ✓",
        "",
    ]
    assert_identical(round_trip(obj, tmp_path), obj)


def test_same_tensor_twice_comes_back_as_one(tmp_path):
    t = kw.arange(3.0)
    loaded = round_trip({"a": t, "b": [t, t]}, tmp_path)
    assert loaded["a"] is loaded["b"][0] is loaded["b"][1]


def test_state_dict_file_opens_in_safetensors_and_torch(tmp_path):
    """A saved state_dict is a plain safetensors file whose tensor names are the state_dict's keys."""
    from safetensors.torch import load_file

    net = small_net()
    kw.save(net.state_dict(), tmp_path / "model.pt")
    tensors = load_file(tmp_path / "model.pt")
    assert sorted(tensors) == sorted(net.state_dict())
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(tensors[name].numpy(), value.numpy())


def test_nested_tensor_names_follow_the_structure(tmp_path):
    from safetensors import safe_open

    kw.save(
        {"model": {"fc.weight": kw.ones(1)}, "opt": {"state": {0: {"m": kw.zeros(1)}}}, "x": [kw.ones(2)]},
        tmp_path / "f",
    )
    with safe_open(tmp_path / "f", "np") as f:
        assert sorted(f.keys()) == ["model.fc.weight", "opt.state.0.m", "x.0"]
        assert json.loads(f.metadata()[KEY])["version"] == 1


def test_loads_a_plain_safetensors_state_dict_from_torch(tmp_path):
    """The conversion route: torch writes safetensors, kernelwise loads it as a state dict."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 2)
    save_file(ref.state_dict(), tmp_path / "model.safetensors")
    state = kw.load(tmp_path / "model.safetensors")
    assert list(state) == ["bias", "weight"] and all(type(v) is kw.Tensor for v in state.values())
    for name, value in ref.state_dict().items():
        assert state[name].dtype == np.float32 and state[name].numpy().tobytes() == value.numpy().tobytes()
    ours = kw.nn.Linear(3, 2)
    ours.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(kw.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-6)


def test_map_location_forms(tmp_path):
    kw.save({"w": kw.ones(2)}, tmp_path / "f")
    for location in (None, "cpu", kw.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert kw.load(tmp_path / "f", map_location=location)["w"].tolist() == [1.0, 1.0]
    doubled = kw.load(tmp_path / "f", map_location=lambda t, loc: t * 2)
    assert doubled["w"].tolist() == [2.0, 2.0]
    for location in ("cuda", "cuda:0", {"cpu": "cuda:1"}):
        with pytest.raises(NotImplementedError, match="kernelwise has no GPU backend"):
            kw.load(tmp_path / "f", map_location=location)


# --------------------------------------------------------------------------- torch and pickle files
class Bomb:
    """Unpickling this runs code: the test fails if kw.load ever unpickles."""

    def __reduce__(self):
        return (pytest.fail, ("kw.load unpickled the file",))


@pytest.mark.parametrize(
    "write",
    [
        lambda path: torch.save(torch.nn.Linear(2, 2).state_dict(), path),
        lambda path: torch.save({"model": Bomb()}, path),
        lambda path: torch.save(torch.ones(2), path, _use_new_zipfile_serialization=False),
        lambda path: path.write_bytes(pickle.dumps(Bomb())),
        lambda path: path.write_bytes(pickle.dumps({"a": 1}, protocol=5)),
    ],
    ids=["torch-zip-state-dict", "torch-zip-code", "torch-legacy", "pickle-code", "pickle-5"],
)
def test_torch_and_pickle_files_are_refused_unopened(tmp_path, write):
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(ValueError, match="kernelwise never unpickles") as info:
        kw.load(path)
    message = str(info.value)
    assert str(path) in message and "safetensors" in message and "state_dict()" in message
    with pytest.raises(ValueError, match="kernelwise never unpickles"):
        kw.load(io.BytesIO(path.read_bytes()), weights_only=False)


def test_a_safetensors_header_that_begins_like_a_pickle_loads():
    """The header's length is the file's first 8 bytes: 0x380 = 896 reads 80 03 ..., a pickle's first two bytes."""
    for i in range(2000):  # the name's length moves the header's length in steps of 8 (its padding)
        buffer = io.BytesIO()
        kw.save({"w" + "x" * i: kw.ones(2)}, buffer)
        data = buffer.getvalue()
        if data[0] == 0x80 and data[1] in (2, 3, 4, 5):
            break
    else:
        pytest.fail("no name length gave a header of 0x280-0x580 bytes")
    assert kw.load(io.BytesIO(data))["w" + "x" * i].tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- errors
def test_unsupported_objects_name_type_and_place():
    buffer = io.BytesIO()
    with pytest.raises(TypeError, match=r"save: obj\['model'\] is a Module \(Sequential\).*model\.state_dict\(\)"):
        kw.save({"model": small_net()}, buffer)
    with pytest.raises(TypeError, match=r"save: obj is a Module \(Linear\)"):
        kw.save(kw.nn.Linear(1, 1), buffer)
    with pytest.raises(TypeError, match=r"save: obj\['opt'\]\['sched'\]\[1\] is a builtins\.function"):
        kw.save({"opt": {"sched": [1, lambda epoch: 0.1]}}, buffer)
    with pytest.raises(TypeError, match=r"save: obj\[0\] is a builtins\.set"):
        kw.save([{1, 2}], buffer)
    with pytest.raises(TypeError, match=r"save: obj is a torch\.Tensor"):
        kw.save(torch.ones(1), buffer)
    with pytest.raises(TypeError, match=r"save: obj\['d'\] has a key of type tuple"):
        kw.save({"d": {(1, 2): 3}}, buffer)
    with pytest.raises(TypeError, match=r"save: obj\['a'\] is a NumPy array of dtype object"):
        kw.save({"a": np.array([object()])}, buffer)
    with pytest.raises(TypeError, match=r"save: obj is a NumPy array of dtype complex128"):
        kw.save(np.ones(2, dtype=complex), buffer)
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"save: obj\[0\] contains itself"):
        kw.save(loop, buffer)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 100 levels deep"):
        kw.save(deep, buffer)
    with pytest.raises(TypeError, match="f must be a file name or a binary file object, got int"):
        kw.save({}, 3)
    assert buffer.getvalue() == b""  # nothing written by a failed save


def test_a_failed_save_leaves_an_existing_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    kw.save({"epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        kw.save({"epoch": 2, "bad": object()}, path)
    assert path.read_bytes() == before and kw.load(path) == {"epoch": 1}


def with_structure(structure: Any, tensors: dict[str, np.ndarray] | None = None) -> io.BytesIO:
    """A safetensors file whose kernelwise.save entry holds ``structure`` (as a crafted file would)."""
    text = structure if isinstance(structure, str) else json.dumps({"version": 1, "object": structure})
    return io.BytesIO(safetensors_bytes(tensors or {}, metadata={KEY: text}))


@pytest.mark.parametrize(
    ("structure", "tensors", "message"),
    [
        ({"tensor": "missing"}, None, r"obj names a tensor the file does not hold \('missing'\)"),
        ({"list": [1, {"tensor": 5}]}, {"a": np.ones(1)}, r"obj\[1\] names a tensor the file does not hold"),
        ({"dict": [["a", {"pickle": "x"}]]}, None, r"obj\['a'\] is not a node of a known kind"),
        ({"float": "one"}, None, r"obj is not a float \('one'\)"),
        ({"float": 1.5}, None, "obj is not a float"),
        ({"dict": [["a", 1], ["a", 2]]}, None, "obj has the key 'a' twice"),
        ({"dict": [["a", 1, 2]]}, None, "not a \\[key, value\\] pair"),
        ({"dict": [[{"list": []}, 1]]}, None, "obj has a key of type list"),
        ({"list": "abc"}, None, "obj should hold a list"),
        ({"Size": [2, -1]}, None, "obj is a Size of other than non-negative ints"),
        ({"numpy": "a"}, {"a": np.ones(2)}, r"obj is a NumPy scalar stored with shape \(2,\)"),
        ([1, 2], None, "obj is not a node of a known kind"),
        ({"tensor": "a"}, {"a": np.ones(1), "b": np.ones(1)}, r"holds tensors its structure does not use: \['b'\]"),
        ({"list": [{"list": []}]}, None, None),  # well formed: loads
    ],
)
def test_malformed_structures_are_refused(structure, tensors, message):
    f = with_structure(structure, tensors)
    if message is None:
        assert kw.load(f) == [[]]
        return
    with pytest.raises(ValueError, match=message):
        kw.load(f)


def test_malformed_files_are_refused(tmp_path):
    deep = '{"version": 1, "object": ' + '{"list": [' * 150 + "]}" * 150 + "}"
    with pytest.raises(ValueError, match="nested more than 100 levels deep"):
        kw.load(with_structure(deep))
    with pytest.raises(ValueError, match=r"malformed kernelwise\.save entry"):
        kw.load(with_structure("{not json"))
    with pytest.raises(ValueError, match="unknown version"):
        kw.load(with_structure(json.dumps({"version": 99, "object": 1})))
    good = io.BytesIO()
    kw.save({"w": kw.ones(3)}, good)
    data = good.getvalue()
    with pytest.raises(ValueError, match="is not a well-formed safetensors file"):
        kw.load(io.BytesIO(data[:-4]))
    with pytest.raises(ValueError, match="too short"):
        kw.load(io.BytesIO(b"abc"))
    with pytest.raises(ValueError, match="is not a safetensors file, or is truncated"):
        kw.load(io.BytesIO(struct.pack("<Q", 2**40) + b"{}"))
    with pytest.raises(ValueError, match="its header is not JSON"):
        kw.load(io.BytesIO(struct.pack("<Q", 4) + b"\xff\xfe{}"))
    (tmp_path / "text.pt").write_text("hello, this is not a checkpoint")
    with pytest.raises(ValueError, match=r"'.*text\.pt' is not a safetensors file"):
        kw.load(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError):
        kw.load(tmp_path / "absent.pt")
    with pytest.raises(TypeError, match=r"opened in binary mode \('rb'\)"):
        kw.load(io.StringIO("text"))
    with pytest.raises(TypeError, match="f must be a file name or a binary file object, got float"):
        kw.load(1.5)


def test_floats_survive_exactly(tmp_path):
    values = [0.1, 1 / 3, -0.0, math.pi, 5e-324, 1.7976931348623157e308, float("nan"), float("-inf")]
    assert_identical(round_trip(values, tmp_path), values)
