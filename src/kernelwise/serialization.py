"""``save`` and ``load`` as PyTorch names them, without pickle: one safetensors file per object.

What ``torch.save`` is used for in CNN programs can be saved: a model's ``state_dict()``, an
optimizer's (with its ``param_groups``), a checkpoint such as ``{'epoch': 3, 'model': ...,
'optimizer': ...}``, a lone tensor: anything made of dicts, OrderedDicts, lists, tuples, ``Size``,
strings, ints, floats, bools, None, Tensors, NumPy arrays and NumPy scalars. The tensors and arrays
go into a safetensors file, each named by where it sits (``model.conv1.weight``); the structure
around them is JSON in the file's metadata, under the key ``kernelwise.save``, with a reference to
each tensor by name. Floats are written with ``repr`` (so NaN and inf survive and every bit comes
back), dict keys keep their type (an optimizer's state is keyed by ints).

``load`` reads that file back, checking the structure (every node of a known kind, every reference
to a tensor in the file, every tensor used) before returning it. It also reads a plain safetensors
file (from ``safetensors.torch.save_file(model.state_dict(), path)``) as a state dict. It never
unpickles: a file written by ``torch.save`` (a zip archive or a pickle) is refused with a message
that says how to convert it.

Example:
    >>> import io, kernelwise as kw
    >>> model = kw.nn.Linear(3, 2)
    >>> buffer = io.BytesIO()
    >>> kw.save({"epoch": 3, "model": model.state_dict(), "lr": 0.1}, buffer)
    >>> _ = buffer.seek(0)
    >>> checkpoint = kw.load(buffer, weights_only=True)
    >>> checkpoint["epoch"], sorted(checkpoint["model"]), checkpoint["model"]["weight"].shape
    (3, ['bias', 'weight'], (2, 3))
"""

from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .devices import as_device
from .errors import UsageError, UsageTypeError
from .tensor import Size, Tensor

KEY = "kernelwise.save"  # the metadata entry that holds the structure
VERSION = 1
MAX_DEPTH = 100  # the deepest nesting written or read (a state dict is 3 deep)
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit

_NODES = ("float", "tensor", "ndarray", "numpy", "dict", "OrderedDict", "list", "tuple", "Size")


# --------------------------------------------------------------------------- save
def save(obj: Any, f: str | os.PathLike | Any) -> None:
    """Write ``obj`` to ``f`` (a file name or a binary file object) as one safetensors file.

    Args:
        obj: dicts, OrderedDicts, lists, tuples, ``Size``, str, int, float, bool, None, Tensors,
            NumPy arrays and scalars, nested. A Module itself cannot be saved: save its ``state_dict()``.
        f: a path (written whole or not at all: a temporary file renamed into place) or an object
            with ``write(bytes)``.

    Raises:
        TypeError: an object of another type, naming it and where it sits (``obj['model']['x']``).
    """
    from safetensors.numpy import save as to_bytes

    arrays: dict[str, np.ndarray] = {}
    structure = _Encoder(arrays).encode(obj, "obj", [], 0)
    metadata = {KEY: json.dumps({"version": VERSION, "object": structure}, allow_nan=False)}
    data = to_bytes(arrays, metadata=metadata)
    if isinstance(f, str | os.PathLike):
        from .files import write_atomic

        write_atomic(f, lambda tmp: Path(tmp).write_bytes(data))
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise UsageTypeError(f"save: f must be a file name or a binary file object, got {type(f).__name__}")


class _Encoder:
    """Turns an object into its JSON structure, moving tensors and arrays into ``arrays``."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.names: dict[int, str] = {}  # id of a tensor or array already stored -> its name
        self.open: set[int] = set()  # containers being encoded (a container inside itself is refused)

    def encode(self, obj: Any, where: str, parts: list[str], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise UsageError(f"save: {where} is nested more than {MAX_DEPTH} levels deep")
        if obj is None or isinstance(obj, bool) or type(obj) in (int, str):
            return obj
        if type(obj) is float:
            return {"float": repr(obj)}  # repr round-trips every float, NaN and inf included
        if isinstance(obj, Tensor):
            return {"tensor": self.store(obj, obj._array, parts)}
        if type(obj) is np.ndarray:
            if obj.dtype.kind not in "fiub":
                raise UsageTypeError(
                    f"save: {where} is a NumPy array of dtype {obj.dtype}; only bool, integer and "
                    "float arrays can be saved"
                )
            return {"ndarray": self.store(obj, obj, parts)}
        if isinstance(obj, np.generic) and obj.dtype.kind in "fiub":
            return {"numpy": self.store(obj, np.asarray(obj), parts)}
        if type(obj) is Size:
            return {"Size": list(obj)}
        kind = {dict: "dict", OrderedDict: "OrderedDict", list: "list", tuple: "tuple"}.get(type(obj))
        if kind is None:
            raise UsageTypeError(_unsupported(obj, where))
        if id(obj) in self.open:
            raise UsageError(f"save: {where} contains itself")
        self.open.add(id(obj))
        if kind in ("list", "tuple"):
            items = [self.encode(v, f"{where}[{i}]", [*parts, str(i)], depth + 1) for i, v in enumerate(obj)]
        else:
            items = []
            for key, value in obj.items():
                if key is not None and not isinstance(key, bool) and type(key) not in (int, float, str):
                    raise UsageTypeError(
                        f"save: {where} has a key of type {type(key).__name__} ({key!r}); keys may be "
                        "str, int, float, bool or None"
                    )
                item = self.encode(value, f"{where}[{key!r}]", [*parts, str(key)], depth + 1)
                items.append([self.encode(key, where, parts, depth + 1), item])
        self.open.discard(id(obj))
        return {kind: items}

    def store(self, obj: Any, array: np.ndarray, parts: list[str]) -> str:
        """Put ``array`` in the file under a name made of its path (the same object is stored once)."""
        if id(obj) in self.names:
            return self.names[id(obj)]
        name = ".".join(parts) or "tensor"
        unique, n = name, 1
        while unique in self.arrays or unique == "__metadata__":
            n += 1
            unique = f"{name}#{n}"
        self.arrays[unique] = np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")  # (keeps 0-d)
        self.names[id(obj)] = unique
        return unique


def _unsupported(obj: Any, where: str) -> str:
    from .nn.module import Module

    kind = type(obj).__name__
    if isinstance(obj, Module):
        return (
            f"save: {where} is a Module ({kind}); kernelwise saves no code, only values: save "
            f"model.state_dict() and load it with model.load_state_dict(kernelwise.load(f)), as PyTorch recommends"
        )
    return (
        f"save: {where} is a {type(obj).__module__}.{type(obj).__qualname__}, which cannot be saved without pickle; "
        "save dicts, lists, tuples, str, int, float, bool, None, Tensors and NumPy arrays (a state_dict())"
    )


# --------------------------------------------------------------------------- load
def load(
    f: str | os.PathLike | Any, map_location: Any = None, *, weights_only: bool | None = None, mmap: Any = None
) -> Any:
    """Read an object written by :func:`save` (or a plain safetensors file, as a state dict) from ``f``.

    Args:
        f: a file name or a binary file object.
        map_location: None, 'cpu', ``device('cpu')``, a dict mapping saved locations to 'cpu', or a
            function ``(tensor, 'cpu') -> tensor``; every tensor is on the CPU anyway.
        weights_only: accepted for PyTorch's signature; nothing is ever unpickled, so the file can
            only hold data, whatever its value.
        mmap: accepted for PyTorch's signature (the file is read whole).

    Returns:
        The saved object, with Tensors (not requiring grad) where Tensors were saved, NumPy arrays
        where arrays were.

    Raises:
        ValueError: a file written by ``torch.save`` or pickle (never unpickled), or a file that is
            not a well-formed kernelwise/safetensors file, naming the file.
    """
    from safetensors.numpy import load as from_bytes

    where = repr(os.fspath(f)) if isinstance(f, str | os.PathLike) else f"the file object {f!r}"
    _check_map_location(map_location)
    data = _read_bytes(f)
    _refuse_pickle(data, where)
    metadata = _metadata(data, where)
    try:
        arrays = from_bytes(data)
    except Exception as e:  # the library's SafetensorError: a malformed file
        raise UsageError(f"load: {where} is not a well-formed safetensors file ({e})") from None
    tensors = {name: Tensor(np.array(array, copy=True)) for name, array in arrays.items()}  # writable, own memory
    if KEY not in metadata:  # a plain safetensors file: a state dict
        return OrderedDict((name, _mapped(tensors[name], map_location)) for name in sorted(tensors))
    try:
        document = json.loads(metadata[KEY])
    except (json.JSONDecodeError, RecursionError) as e:
        raise UsageError(f"load: {where} has a malformed {KEY} entry: {e}") from None
    if not isinstance(document, dict) or document.get("version") != VERSION or "object" not in document:
        raise UsageError(f"load: {where} has a {KEY} entry of an unknown version (expected version {VERSION})")
    decoder = _Decoder(tensors, arrays, map_location, where)
    obj = decoder.decode(document["object"], "obj", 0)
    unused = sorted(set(arrays) - decoder.used)
    if unused:
        raise UsageError(f"load: {where} holds tensors its structure does not use: {unused[:5]}")
    return obj


def _read_bytes(f: Any) -> bytes:
    if isinstance(f, str | os.PathLike):
        with open(f, "rb") as file:
            return file.read()
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, bytes | bytearray):
            raise UsageTypeError(
                f"load: the file object must be opened in binary mode ('rb'), got {type(data).__name__}"
            )
        return bytes(data)
    raise UsageTypeError(f"load: f must be a file name or a binary file object, got {type(f).__name__}")


def _refuse_pickle(data: bytes, where: str) -> None:
    """A torch.save file (a zip archive holding a pickle, or a bare pickle) is refused, never unpickled."""
    header = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if 0 < header <= len(data) - 8 and data[8:9] == b"{":  # a safetensors header (its length may begin 80 0N)
        return
    if data[:4] == b"PK\x03\x04":
        kind = "a zip archive, as torch.save writes"
    elif data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        kind = "a pickle (an old torch.save file or pickle.dump)"
    else:
        return
    raise UsageError(
        f"load: {where} is {kind}; kernelwise never unpickles (a pickle can run any code). Convert it once in "
        "PyTorch: `from safetensors.torch import save_file; save_file(torch.load(path, weights_only=True), "
        "'model.safetensors')` for a file holding model.state_dict() (save the state_dict, not the model), "
        "then kernelwise.load('model.safetensors')"
    )


def _metadata(data: bytes, where: str) -> dict[str, Any]:
    """The ``__metadata__`` of a safetensors header (the tensors are checked by the library)."""
    if len(data) < 8:
        raise UsageError(f"load: {where} is too short ({len(data)} bytes) to be a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size > MAX_HEADER_BYTES:
        raise UsageError(f"load: {where} is not a safetensors file, or is truncated (header of {size} bytes)")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UsageError(f"load: {where} is not a safetensors file (its header is not JSON)") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _check_map_location(map_location: Any) -> None:
    """Every location it maps to must be the CPU (a function is called on each tensor instead)."""
    if isinstance(map_location, dict):
        for target in map_location.values():
            as_device(target)
    elif not callable(map_location):
        as_device(map_location)


def _mapped(tensor: Tensor, map_location: Any) -> Tensor:
    if not callable(map_location) or isinstance(map_location, dict):
        return tensor
    out = map_location(tensor, "cpu")  # PyTorch calls it with (storage, location)
    if not isinstance(out, Tensor):
        raise UsageTypeError(f"load: map_location returned a {type(out).__name__}, expected a Tensor")
    return out


class _Decoder:
    """Checks and rebuilds the JSON structure written by :class:`_Encoder`."""

    def __init__(self, tensors: dict[str, Tensor], arrays: dict[str, np.ndarray], map_location: Any, where: str):
        self.tensors, self.arrays, self.map_location, self.where = tensors, arrays, map_location, where
        self.used: set[str] = set()
        self.built: dict[str, Any] = {}  # a tensor referenced twice comes back as one object

    def fail(self, path: str, what: str) -> ValueError:
        return ValueError(f"load: {self.where}: {path} {what} (the file is malformed)")

    def decode(self, node: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(path, f"is nested more than {MAX_DEPTH} levels deep")
        if node is None or isinstance(node, bool | int | str):
            return node
        if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in _NODES:
            raise self.fail(path, f"is not a node of a known kind ({_short(node)})")
        ((kind, value),) = node.items()
        if kind == "float":
            return self.number(value, path)
        if kind in ("tensor", "ndarray", "numpy"):
            return self.reference(kind, value, path)
        if not isinstance(value, list):
            raise self.fail(path, f"should hold a list ({_short(node)})")
        if kind == "Size":
            if not all(type(n) is int and n >= 0 for n in value):
                raise self.fail(path, f"is a Size of other than non-negative ints ({_short(value)})")
            return Size(value)
        if kind in ("list", "tuple"):
            items = [self.decode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
            return items if kind == "list" else tuple(items)
        out: dict[Any, Any] = {} if kind == "dict" else OrderedDict()
        for pair in value:
            if not isinstance(pair, list) or len(pair) != 2:
                raise self.fail(path, f"has an entry that is not a [key, value] pair ({_short(pair)})")
            key = self.decode(pair[0], path, depth + 1)
            if key is not None and not isinstance(key, bool | int | float | str):
                raise self.fail(path, f"has a key of type {type(key).__name__}")
            if key in out:
                raise self.fail(path, f"has the key {key!r} twice")
            out[key] = self.decode(pair[1], f"{path}[{key!r}]", depth + 1)
        return out

    def number(self, value: Any, path: str) -> float:
        try:
            if not isinstance(value, str):
                raise ValueError
            return float(value)
        except ValueError:
            raise self.fail(path, f"is not a float ({_short(value)})") from None

    def reference(self, kind: str, name: Any, path: str) -> Any:
        if not isinstance(name, str) or name not in self.arrays:
            raise self.fail(path, f"names a tensor the file does not hold ({_short(name)})")
        self.used.add(name)
        if (kind, name) not in self.built:
            if kind == "tensor":
                built = _mapped(self.tensors[name], self.map_location)
            elif kind == "ndarray":
                built = self.tensors[name]._array
            elif self.arrays[name].ndim != 0:
                raise self.fail(path, f"is a NumPy scalar stored with shape {self.arrays[name].shape}")
            else:
                built = self.tensors[name]._array[()]
            self.built[kind, name] = built
        return self.built[kind, name]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
