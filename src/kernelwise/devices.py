"""Devices: kernelwise computes on the CPU only, and says so when a program asks for another.

``kernelwise.device`` is PyTorch's ``torch.device``: ``device('cpu')``, ``device('cuda:0')``,
``device('cuda', 0)``. Naming a device is allowed (``device('cuda' if cuda.is_available() else
'cpu')`` runs as in PyTorch); putting something on a device other than the CPU is an error that
says kernelwise has no GPU backend (a ``NotImplementedError``). :func:`as_device` is that check,
for everything that takes a ``device=`` (``Tensor.to``, ``Module.to``, the creation functions);
:func:`parse_to` reads the arguments of ``.to(...)``.

Example:
    >>> import kernelwise as kw
    >>> kw.device("cpu"), str(kw.device("cuda", 1)), kw.zeros(2).device.type
    (device(type='cpu'), 'cuda:1', 'cpu')
    >>> kw.zeros(2).to("cuda")
    Traceback (most recent call last):
    ...
    NotImplementedError: device 'cuda': kernelwise has no GPU backend; it computes on the CPU only (use device 'cpu', \
or test kernelwise.cuda.is_available() first)
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError, UsageTypeError

# PyTorch's device types (torch.device('foo') lists them); only 'cpu' can hold tensors here
DEVICE_TYPES = (
    "cpu",
    "cuda",
    "ipu",
    "xpu",
    "mkldnn",
    "opengl",
    "opencl",
    "ideep",
    "hip",
    "ve",
    "fpga",
    "maia",
    "xla",
    "lazy",
    "vulkan",
    "mps",
    "meta",
    "hpu",
    "mtia",
    "privateuseone",
)


class device:
    """A device name, as ``torch.device``: a ``type`` ('cpu', 'cuda', ...) and an optional ``index``.

    Args:
        type: 'cpu', 'cuda', 'cuda:1', ... or another ``device``.
        index: the device's number, when ``type`` does not give one.

    Example:
        >>> import kernelwise as kw
        >>> d = kw.device("cpu")
        >>> d, d.type, d.index, str(d), d == kw.device("cpu"), kw.device("cuda:0")
        (device(type='cpu'), 'cpu', None, 'cpu', True, device(type='cuda', index=0))
    """

    __slots__ = ("_index", "_type")

    def __init__(self, type: str | device, index: int | None = None) -> None:
        if isinstance(type, device):
            if index is not None:
                raise UsageError(f"device: index={index!r} cannot be given with a device ({type!r})")
            self._type, self._index = type.type, type.index
            return
        if not isinstance(type, str):
            raise UsageTypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        name, colon, number = type.partition(":")
        if name not in DEVICE_TYPES:
            raise UsageError(
                f"device: expected one of {', '.join(DEVICE_TYPES)} at the start of the device string, got {type!r}"
            )
        if colon:
            if not number.isdigit() or index is not None:
                raise UsageError(f"device: invalid device string {type!r}")
            index = int(number)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise UsageError(f"device: index must be a non-negative int, got {index!r}")
        self._type, self._index = name, index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __repr__(self) -> str:
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{index})"

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __eq__(self, other: object) -> bool:
        # as PyTorch: a device equals a device, not a string (device('cpu') == 'cpu' is False)
        return isinstance(other, device) and (self._type, self._index) == (other._type, other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))


CPU = device("cpu")


def no_gpu_message(what: str) -> str:
    """The one sentence every request for a GPU gets."""
    return (
        f"{what}: kernelwise has no GPU backend; it computes on the CPU only "
        "(use device 'cpu', or test kernelwise.cuda.is_available() first)"
    )


def as_device(value: Any) -> device:
    """The device ``value`` names, which must be the CPU: 'cpu', 'cpu:0', ``device('cpu')``, or None (the CPU).

    Any other device ('cuda', 'cuda:0', 'mps', an int GPU number) is a NotImplementedError (a
    RuntimeError, as PyTorch raises) saying that kernelwise has no GPU backend; something that
    names no device is a TypeError or ValueError.

    Example:
        >>> from kernelwise.devices import as_device
        >>> as_device("cpu"), as_device(None)
        (device(type='cpu'), device(type='cpu'))
    """
    if value is None:
        return CPU
    if isinstance(value, bool) or not isinstance(value, str | device | int):
        raise UsageTypeError(f"device: expected 'cpu', a kernelwise.device or None, got {value!r}")
    if isinstance(value, int):  # torch.device(0) is the first accelerator
        raise NotImplementedError(no_gpu_message(f"device {value}"))
    dev = device(value)
    if dev.type != "cpu":
        raise NotImplementedError(no_gpu_message(f"device '{dev}'"))
    return dev


def _is_device(value: Any) -> bool:
    if isinstance(value, device | int) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and value.partition(":")[0] in DEVICE_TYPES


def parse_to(*args: Any, **kwargs: Any) -> tuple[device | None, Any, bool, bool]:
    """Read the arguments of ``.to(...)`` as PyTorch does: ``(device, dtype, non_blocking, copy)``.

    Accepted: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype and
    device), each positional or as ``device=``/``dtype=``, plus ``non_blocking=`` and ``copy=``
    (``to(x, dtype, non_blocking, copy)`` positionally too). ``device`` is None when none was given
    (else always the CPU: any other device raises, see :func:`as_device`); ``dtype`` is a NumPy dtype
    or None.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.devices import parse_to
        >>> parse_to("cpu", kw.float64)
        (device(type='cpu'), dtype('float64'), False, False)
        >>> parse_to(kw.zeros(1, dtype=kw.int64), copy=True)
        (device(type='cpu'), dtype('int64'), False, True)
    """
    from .tensor import Tensor, _dtype

    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy"}
    if unknown:
        raise UsageTypeError(f"to(): unexpected keyword argument(s) {sorted(unknown)}")
    dev, dtype = kwargs.get("device"), kwargs.get("dtype")
    flags = [kwargs.get("non_blocking", False), kwargs.get("copy", False)]
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        if dev is not None or dtype is not None:
            raise UsageTypeError(
                "to(): a tensor argument gives the dtype and device; do not pass device= or dtype= too"
            )
        dev, dtype = CPU, rest.pop(0).dtype
    elif rest and _is_device(rest[0]):
        if dev is not None:
            raise UsageTypeError("to(): the device is given twice (positionally and as device=)")
        dev = rest.pop(0)
        if rest and not isinstance(rest[0], bool):
            if dtype is not None:
                raise UsageTypeError("to(): the dtype is given twice (positionally and as dtype=)")
            dtype = rest.pop(0)
    elif rest and not isinstance(rest[0], bool):
        if dtype is not None:
            raise UsageTypeError("to(): the dtype is given twice (positionally and as dtype=)")
        dtype = rest.pop(0)
    if len(rest) > 2 or not all(isinstance(flag, bool) for flag in rest):
        raise UsageTypeError(
            f"to(): expected to(device, dtype, non_blocking, copy), to(dtype, ...) or to(tensor, ...), "
            f"got arguments {args!r}"
        )
    flags[: len(rest)] = rest
    return (None if dev is None else as_device(dev)), _dtype(dtype), bool(flags[0]), bool(flags[1])
