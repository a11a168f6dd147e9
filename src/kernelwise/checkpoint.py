"""Checkpoints as safetensors: weights as tensors, architecture and config as JSON metadata.

Nothing here unpickles anything. Loading checks the file before trusting it: the
header's length is checked against the file's before it is read, the header is
parsed with duplicate names rejected, every tensor's byte range must lie inside the
file and the ranges must tile the data exactly (a truncated or padded file fails).
The metadata is then checked against the header before any tensor data is read or
any model is built: every size must be a positive integer, ``num_classes`` must be
the row count of the last layer's weight and the input channels the first layer's,
an input holds at most :data:`MAX_INPUT_VALUES` values, ``mean``/``std`` hold one
finite number per channel (``std`` positive) and ``class_names`` one string per
class. Every name, shape and dtype is compared with the architecture the metadata
names, and non-finite values are refused.

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
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, UsageError
from .tensor import Tensor

FORMAT = "kernelwise/1"
MAX_HEADER_BYTES = 100_000_000  # the JSON header's limit (the safetensors library's own)
MAX_INPUT_VALUES = 3 * 1024 * 1024  # the most values one input of a checkpoint's model may hold: 3×1024×1024

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


def save(path: str | os.PathLike, model: Any, config: dict[str, Any]) -> None:
    """Write ``model``'s state_dict and ``config`` (JSON-serialisable) to ``path``, atomically.

    ``config`` must name the architecture: ``model`` (a name from ``kernelwise.models.MODELS``),
    ``input_shape`` and ``num_classes``. The file is written next to ``path`` and renamed into
    place (:func:`kernelwise.files.write_atomic`), so an existing checkpoint is never left
    half-overwritten; it gets the permissions the umask gives any new file.
    """
    from safetensors.numpy import save_file

    from .files import write_atomic
    from .models import MODELS

    for key in ("model", "input_shape", "num_classes"):
        if key not in config:
            raise UsageError(f"config: missing {key!r} (needed to rebuild the model when loading)")
    if not isinstance(config["model"], str) or config["model"] not in MODELS:
        raise UsageError(
            f"config: model {config['model']!r} is not one load() can rebuild; name one of {', '.join(MODELS)}"
        )
    tensors = {name: np.array(t.numpy(), order="C") for name, t in model.state_dict().items()}  # keeps 0-d shapes
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise UsageError(f"save: parameter {name!r} has non-finite values; refusing to write {path}")
    try:
        metadata = {"format": FORMAT, "config": json.dumps(config, allow_nan=False)}
    except ValueError:
        raise UsageError(f"config: holds a non-finite number (NaN or inf); refusing to write {path}") from None
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


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
    return _read(path)


def _read(
    path: str | os.PathLike,
    before_data: Callable[[dict[str, tuple[np.dtype, tuple[int, ...]]], dict], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """:func:`read`; ``before_data(name -> (dtype, shape), config)`` may refuse the file before its data is read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    where = f"checkpoint {path}"
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise CheckpointError(f"{where} is truncated ({size} bytes): not a safetensors file")
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > size - 8 or header_len > MAX_HEADER_BYTES:  # checked before the header is read
            raise CheckpointError(f"{where} is truncated or not a safetensors file (header of {header_len} bytes)")
        try:
            header = json.loads(f.read(header_len).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except CheckpointError as e:
            raise CheckpointError(f"{where}: {e}") from None
        except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, an integer of over 4300 digits, deep nesting
            raise CheckpointError(f"{where} has a malformed header: {e}") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{where} has a malformed header (not a JSON object)")
        meta = header.pop("__metadata__", None) or {}
        data_len = size - 8 - header_len
        entries = {name: _entry(name, entry, data_len, where) for name, entry in header.items()}
        position = 0
        for _, _, begin, end in sorted(entries.values(), key=lambda e: (e[2], e[3])):
            if begin != position:
                raise CheckpointError(f"{where}: tensor data overlaps or has gaps (corrupt file)")
            position = end
        if position != data_len:
            raise CheckpointError(f"{where}: {data_len - position} unexpected bytes after the tensor data")
        config = _config(meta, where)
        if before_data is not None:
            before_data({name: (dtype, shape) for name, (dtype, shape, _, _) in entries.items()}, config)
        data = f.read(data_len)
    if len(data) != data_len:
        raise CheckpointError(f"{where} changed while it was read (truncated)")
    tensors: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, end) in entries.items():
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CheckpointError(f"{where}: tensor {name!r} has non-finite values (NaN or inf)")
    return tensors, config


def _entry(name: str, entry: Any, data_len: int, where: str) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """One header entry as (dtype, shape, begin, end), every number an integer and the range inside the data."""
    try:
        dtype = np.dtype(_DTYPES[entry["dtype"]])
        shape, offsets = entry["shape"], entry["data_offsets"]
        numbers = [*shape, *offsets]
        if len(offsets) != 2 or not all(type(n) is int for n in numbers):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{where}: entry {name!r} is malformed or has an unsupported dtype") from None
    begin, end = offsets
    if any(n < 0 for n in shape) or not 0 <= begin <= end <= data_len:
        raise CheckpointError(f"{where}: tensor {name!r} lies outside the file (truncated?)")
    if end - begin != math.prod(shape) * dtype.itemsize:  # Python integers: no overflow
        raise CheckpointError(
            f"{where}: tensor {name!r} of shape {tuple(shape)} and dtype {dtype} has the wrong byte size"
        )
    return dtype, tuple(shape), begin, end


def _config(meta: Any, where: str) -> dict[str, Any]:
    """The config in a header's ``__metadata__``: a JSON object that names a model."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("config"), str):
        raise CheckpointError(f"{where} was not written by kernelwise (no {FORMAT!r} metadata)")
    try:
        config = json.loads(meta["config"])
    except (ValueError, RecursionError) as e:  # bad JSON, an integer of over 4300 digits, deep nesting
        raise CheckpointError(f"{where} has malformed config metadata: {e}") from None
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointError(f"{where}: its config does not name a model")
    return config


def load(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Rebuild the model a checkpoint names and load its weights, checking every one.

    The config is checked against the tensors' shapes before any data is read or any model
    is built (see the module's docstring). Returns (model, config). The model is in eval mode.
    """
    from .models import build_model

    where = f"checkpoint {path}"
    tensors, config = _read(path, lambda shapes, config: check_config(config, shapes, where))
    model = build_model(config["model"], input_shape=tuple(config["input_shape"]), num_classes=config["num_classes"])
    for name, want in model.state_dict().items():  # the shapes check_config expected, now from the model itself
        got = tensors[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise CheckpointError(
                f"{where}: {name!r} is {got.dtype}{list(got.shape)}, "
                f"model {config['model']} needs {want.dtype}{list(want.shape)}"
            )
    model.load_state_dict({name: Tensor(array) for name, array in tensors.items()})
    model.eval()
    return model, config


def check_config(
    config: dict[str, Any], shapes: dict[str, tuple[np.dtype, tuple[int, ...]]], where: str = "checkpoint"
) -> None:
    """Check a checkpoint's config against its tensors' (dtype, shape), allocating nothing of the sizes it names.

    ``model`` must be a known architecture; ``input_shape`` positive integers, at most
    :data:`MAX_INPUT_VALUES` values; ``num_classes`` a positive integer. The tensors must be the ones
    that model has, of the shapes it has for that input: the architecture is built for one input
    channel and one class (its size then depends on nothing the file could inflate), and the first
    layer's weight must take the config's input channels, the last layer's weight give its
    ``num_classes``. The optional ``mean``, ``std`` (one finite number per channel, ``std`` > 0),
    ``class_names`` (one string per class), ``dataset`` (a string) and ``config`` (an object, its
    ``data_dir`` a string or null) are checked too. Raises CheckpointError.
    """
    from .models import MODELS, build_model

    name = config.get("model")
    if not isinstance(name, str) or name not in MODELS:
        raise CheckpointError(
            f"{where}: cannot rebuild its model: unknown model {name!r}; choose one of {', '.join(MODELS)}"
        )
    input_shape = config.get("input_shape")
    rank = len(MODELS[name].input_shape)
    if not _positive_ints(input_shape) or len(input_shape) != rank:
        raise CheckpointError(
            f"{where}: input_shape {_short(input_shape)} is not {rank} positive integers (channels, size) for {name}"
        )
    if math.prod(input_shape) > MAX_INPUT_VALUES:
        raise CheckpointError(
            f"{where}: input_shape {tuple(input_shape)} holds {math.prod(input_shape):,} values per input, "
            f"more than the {MAX_INPUT_VALUES:,} a checkpoint may ask for"
        )
    num_classes = config.get("num_classes")
    if not _positive_ints([num_classes]):
        raise CheckpointError(f"{where}: num_classes {_short(num_classes)} is not a positive integer")
    channels, *spatial = input_shape
    try:  # one channel, one class: every tensor but the first weight's channels and the last layer's classes
        probe = build_model(name, input_shape=(1, *spatial), num_classes=1).state_dict()
    except ValueError as e:
        raise CheckpointError(f"{where}: cannot rebuild its model for input_shape {tuple(input_shape)}: {e}") from None
    missing, extra = sorted(set(probe) - set(shapes)), sorted(set(shapes) - set(probe))
    if missing or extra:
        raise CheckpointError(f"{where} does not match model {name}: missing {missing}, unexpected {extra}")
    expected = {key: (t.numpy().dtype, tuple(t.shape)) for key, t in probe.items()}
    first = next(iter(expected))  # every model starts with a convolution: (out, in_channels, *kernel)
    last = [key for key, (_, shape) in expected.items() if len(shape) == 2][-1]  # the classifier: (classes, in)
    bias = last.rsplit(".", 1)[0] + ".bias"
    got_first, got_last = shapes[first][1], shapes[last][1]
    if len(got_first) > 1 and got_first[1] != channels:
        raise CheckpointError(
            f"{where}: its config says {channels} input channels, its first layer {first!r} takes {got_first[1]}"
        )
    if got_last and got_last[0] != num_classes:
        raise CheckpointError(
            f"{where}: its config says num_classes {num_classes}, its last layer {last!r} gives {got_last[0]}"
        )
    dtype, shape = expected[first]
    expected[first] = (dtype, (shape[0], channels, *shape[2:]))
    expected[last] = (expected[last][0], (num_classes, expected[last][1][1]))
    if bias in expected:
        expected[bias] = (expected[bias][0], (num_classes,))
    for key, (want_dtype, want_shape) in expected.items():
        got_dtype, got_shape = shapes[key]
        if got_shape != want_shape or got_dtype != want_dtype:
            raise CheckpointError(
                f"{where}: {key!r} is {got_dtype}{list(got_shape)}, model {name} needs {want_dtype}{list(want_shape)}"
            )
    _check_metadata(config, channels, num_classes, where)


def _check_metadata(config: dict[str, Any], channels: int, num_classes: int, where: str) -> None:
    """The optional entries a run adds: normalisation, class names, dataset, run config."""
    for key in ("mean", "std"):
        values = config.get(key)
        if values is None:
            continue
        numbers = isinstance(values, list) and all(type(v) in (int, float) for v in values)
        if not numbers or len(values) != channels or not all(math.isfinite(v) for v in values):
            raise CheckpointError(
                f"{where}: {key} {_short(values)} is not {channels} finite number(s), one per channel"
            )
        if key == "std" and not all(v > 0 for v in values):
            raise CheckpointError(f"{where}: std {_short(values)} has a value that is not positive")
    names = config.get("class_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CheckpointError(f"{where}: class_names is not a list of strings")
        if len(names) != num_classes:
            raise CheckpointError(f"{where}: {len(names):,} class_names for {num_classes:,} classes")
    if not isinstance(config.get("dataset", ""), str):
        raise CheckpointError(f"{where}: dataset {_short(config['dataset'])} is not a name")
    run_config = config.get("config", {})
    if not isinstance(run_config, dict):
        raise CheckpointError(f"{where}: its run config is not a JSON object")
    if not isinstance(run_config.get("data_dir"), str | None):
        raise CheckpointError(f"{where}: the data_dir {_short(run_config['data_dir'])} of its run config is not a path")


def _positive_ints(values: Any) -> bool:
    return isinstance(values, list) and all(type(v) is int and v > 0 for v in values)


def _short(value: Any, limit: int = 60) -> str:
    """A value from the file, for a message: its JSON, cut to ``limit`` characters."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
