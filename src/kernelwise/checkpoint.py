"""Checkpoints as safetensors: weights as tensors, architecture and config as JSON metadata.

Nothing here unpickles anything. Loading checks the file before trusting it: the
header is parsed with duplicate names rejected, every tensor's byte range must lie
inside the file and the ranges must tile the data exactly (a truncated or padded
file fails), then every name, shape and dtype is compared with the architecture
the metadata names, and non-finite values are refused.

Example:
    >>> import tempfile, pathlib
    >>> from kernelwise import checkpoint
    >>> from kernelwise.models import build_model
    >>> model = build_model("digits_cnn", generator=0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> checkpoint.save(path, model, {"model": "digits_cnn", "input_shape": [1, 8, 8], "num_classes": 10})
    >>> loaded, config = checkpoint.load(path)
    >>> config["model"]
    'digits_cnn'
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

FORMAT = "kernelwise/1"

# safetensors dtype codes and their NumPy dtypes
_DTYPES = {
    "F16": "float16",
    "F32": "float32",
    "F64": "float64",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
    "BOOL": "bool",
}


class CheckpointError(ValueError):
    """A checkpoint file that is malformed or does not match its architecture."""


def save(path: str | os.PathLike, model: Any, config: dict[str, Any]) -> None:
    """Write ``model``'s state_dict and ``config`` (JSON-serialisable) to ``path``, atomically.

    ``config`` must name the architecture: ``model`` (a name from ``kernelwise.models.MODELS``),
    ``input_shape`` and ``num_classes``. The file is written next to ``path`` and renamed into
    place, so an existing checkpoint is never left half-overwritten.
    """
    from safetensors.numpy import save_file

    for key in ("model", "input_shape", "num_classes"):
        if key not in config:
            raise ValueError(f"config: missing {key!r} (needed to rebuild the model when loading)")
    tensors = {name: np.array(t.numpy(), order="C") for name, t in model.state_dict().items()}  # keeps 0-d shapes
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"save: parameter {name!r} has non-finite values; refusing to write {path}")
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "config": json.dumps(config)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [k for k, _ in pairs]
    dup = {k for k in names if names.count(k) > 1}
    if dup:
        raise CheckpointError(f"duplicate tensor names in the header: {sorted(dup)}")
    return dict(pairs)


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a checkpoint file: returns (name -> array, config).

    Raises CheckpointError (a ValueError) for any malformed or truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    raw = path.read_bytes()
    where = f"checkpoint {path}"
    if len(raw) < 8:
        raise CheckpointError(f"{where} is truncated ({len(raw)} bytes): not a safetensors file")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        raise CheckpointError(f"{where} is truncated or not a safetensors file (header of {header_len} bytes)")
    try:
        header = json.loads(raw[8 : 8 + header_len].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{where} has a malformed header: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where} has a malformed header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    data = raw[8 + header_len :]
    ranges = []
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        try:
            dtype = np.dtype(_DTYPES[entry["dtype"]])
            shape = tuple(int(n) for n in entry["shape"])
            begin, end = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{where}: entry {name!r} is malformed or has an unsupported dtype") from None
        if any(n < 0 for n in shape) or not 0 <= begin <= end <= len(data):
            raise CheckpointError(f"{where}: tensor {name!r} lies outside the file (truncated?)")
        if end - begin != int(np.prod(shape)) * dtype.itemsize:
            raise CheckpointError(
                f"{where}: tensor {name!r} of shape {shape} and dtype {dtype} has the wrong byte size"
            )
        ranges.append((begin, end))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    position = 0
    for begin, end in sorted(ranges):
        if begin != position:
            raise CheckpointError(f"{where}: tensor data overlaps or has gaps (corrupt file)")
        position = end
    if position != len(data):
        raise CheckpointError(f"{where}: {len(data) - position} unexpected bytes after the tensor data")
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CheckpointError(f"{where}: tensor {name!r} has non-finite values (NaN or inf)")
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{where} was not written by kernelwise (no {FORMAT!r} metadata)")
    try:
        config = json.loads(meta["config"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{where} has malformed config metadata: {e}") from None
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointError(f"{where}: its config does not name a model")
    return tensors, config


def load(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Rebuild the model a checkpoint names and load its weights, checking every one.

    Returns (model, config). The model is in eval mode.
    """
    from .models import build_model

    tensors, config = read(path)
    try:
        model = build_model(
            config["model"], input_shape=tuple(config["input_shape"]), num_classes=int(config["num_classes"])
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: cannot rebuild its model from the config: {e}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"checkpoint {path} does not match model {config['model']}: missing {missing}, unexpected {extra}"
        )
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise CheckpointError(
                f"checkpoint {path}: {name!r} is {got.dtype}{list(got.shape)}, "
                f"model {config['model']} needs {want.dtype}{list(want.shape)}"
            )
    model.load_state_dict({name: Tensor(array) for name, array in tensors.items()})
    model.eval()
    return model, config
