"""A strict reader for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 sizes, then ``prod(sizes)`` values in row-major
order. Anything else (another magic, a payload that is short or long, a gzip
stream that ends early) is a ``ValueError`` naming the file.

Example:
    >>> import pathlib, struct, tempfile
    >>> from kernelwise.data.idx import read_idx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = path.write_bytes(struct.pack(">4BI", 0, 0, 0x08, 1, 3) + bytes([7, 2, 1]))
    >>> read_idx(path).tolist()
    [7, 2, 1]
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

# IDX dtype codes (third byte of the magic number); values are stored big-endian.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # not gzip: the file is the IDX data itself
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: damaged or truncated gzip stream ({e})") from None


def read_idx(path: str | Path, ndim: int | None = None, dtype: np.dtype | str | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array, checking every part of its structure.

    Args:
        path: the ``.gz`` or uncompressed IDX file.
        ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).
        dtype: if given, the value type the file must hold (``uint8`` for MNIST).

    Returns:
        the array, in native byte order, of the shape the header declares.

    Example:
        >>> import gzip, pathlib, struct, tempfile
        >>> from kernelwise.data.idx import read_idx
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "images-idx3-ubyte.gz"
        >>> _ = path.write_bytes(gzip.compress(struct.pack(">4B3I", 0, 0, 8, 3, 2, 2, 3) + bytes(range(12))))
        >>> read_idx(path, ndim=3, dtype="uint8").shape
        (2, 2, 3)
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero1, zero2, code, dims = data[0], data[1], data[2], data[3]
    if zero1 or zero2 or code not in IDX_DTYPES:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000 followed by a dtype "
            f"code in {[hex(c) for c in IDX_DTYPES]} and the number of dimensions)"
        )
    value_type = IDX_DTYPES[code]
    if dtype is not None and value_type.newbyteorder("=") != np.dtype(dtype):
        raise ValueError(
            f"{path}: holds {value_type.newbyteorder('=')} values (code 0x{code:02x}), expected {np.dtype(dtype)}"
        )
    if dims == 0 or (ndim is not None and dims != ndim):
        expected = f"{ndim}" if ndim is not None else "at least 1"
        raise ValueError(f"{path}: has {dims} dimensions in its header, expected {expected}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes, the {dims} sizes need {header})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    expected_bytes = int(np.prod(shape)) * value_type.itemsize  # payload = prod(sizes) values
    payload = len(data) - header
    if payload != expected_bytes:
        what = "truncated" if payload < expected_bytes else "has trailing bytes"
        raise ValueError(
            f"{path}: {what}: header declares shape {shape} = {expected_bytes} bytes of data, the file holds {payload}"
        )
    values = np.frombuffer(data, dtype=value_type, offset=header).reshape(shape)
    return values.astype(value_type.newbyteorder("="))  # a writable copy in native byte order
