"""A strict reader for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 sizes, then ``prod(sizes)`` values in row-major
order. Anything else (another magic, a payload that is short or long, sizes
whose product no array can hold, a gzip stream that ends early) is a
:class:`~kernelwise.errors.DataError` (a ``ValueError``) naming the file. The
sizes are checked against the file's length before the values are read: an
uncompressed file against its size, a gzip stream against the most its
compressed bytes can expand to, and a gzip stream is read no further than the
header says (plus one byte, to see trailing data).

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
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DataError

# IDX dtype codes (third byte of the magic number); values are stored big-endian.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


DEFLATE_MAX_RATIO = 1032  # the most one compressed byte can expand to (a run of one repeated byte)
_CHUNK = 1 << 24  # bytes read from a gzip stream at a time


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
    with path.open("rb") as raw:
        size = path.stat().st_size
        compressed = raw.read(2) == b"\x1f\x8b"  # else the file is the IDX data itself
        raw.seek(0)
        if not compressed:
            return _parse(path, raw, ndim, dtype, length=size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(path, stream, ndim, dtype, most=size * DEFLATE_MAX_RATIO)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: damaged or truncated gzip stream ({e})") from None


def _parse(
    path: Path,
    stream: BinaryIO,
    ndim: int | None,
    dtype: np.dtype | str | None,
    length: int | None = None,
    most: int = 0,
) -> np.ndarray:
    """The array in ``stream``, whose exact ``length`` is known (a plain file) or at most ``most`` (gzip)."""
    data = stream.read(4)
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero1, zero2, code, dims = data[0], data[1], data[2], data[3]
    if zero1 or zero2 or code not in IDX_DTYPES:
        raise DataError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000 followed by a dtype "
            f"code in {[hex(c) for c in IDX_DTYPES]} and the number of dimensions)"
        )
    value_type = IDX_DTYPES[code]
    if dtype is not None and value_type.newbyteorder("=") != np.dtype(dtype):
        raise DataError(
            f"{path}: holds {value_type.newbyteorder('=')} values (code 0x{code:02x}), expected {np.dtype(dtype)}"
        )
    if dims == 0 or (ndim is not None and dims != ndim):
        expected = f"{ndim}" if ndim is not None else "at least 1"
        raise DataError(f"{path}: has {dims} dimensions in its header, expected {expected}")
    header = 4 + 4 * dims
    data += stream.read(4 * dims)
    if len(data) < header:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, the {dims} sizes need {header})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    expected_bytes = math.prod(shape) * value_type.itemsize  # payload = prod(sizes) values; Python ints: no overflow
    if math.prod(max(s, 1) for s in shape) * value_type.itemsize > np.iinfo(np.intp).max:
        raise DataError(f"{path}: header declares shape {shape}, more values than any array can hold (corrupt file?)")
    if length is not None:  # the payload's length is known before reading it
        payload = length - header
    elif header + expected_bytes > most:
        raise DataError(
            f"{path}: truncated: header declares shape {shape} = {expected_bytes} bytes of data, "
            f"more than its {most // DEFLATE_MAX_RATIO} compressed bytes can hold"
        )
    else:  # read one byte past what the header declares, to see trailing data
        chunks, payload = [], 0
        while payload <= expected_bytes and (chunk := stream.read(min(_CHUNK, expected_bytes + 1 - payload))):
            chunks.append(chunk)
            payload += len(chunk)
    if payload != expected_bytes:
        what = "truncated" if payload < expected_bytes else "has trailing bytes"
        raise DataError(
            f"{path}: {what}: header declares shape {shape} = {expected_bytes} bytes of data, the file holds {payload}"
        )
    body = stream.read(expected_bytes) if length is not None else b"".join(chunks)
    values = np.frombuffer(body, dtype=value_type).reshape(shape)
    return values.astype(value_type.newbyteorder("="))  # a writable copy in native byte order
