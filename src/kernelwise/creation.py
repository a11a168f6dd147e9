"""Making tensors, with PyTorch's signatures and dtype defaults.

Sizes are given as PyTorch takes them: ``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros([2, 3])``,
``zeros(x.shape)`` or ``zeros(size=(2, 3))``. Every function takes ``dtype=`` (default float32, except
where PyTorch infers it: ``arange`` of ints and ``full`` of an int or bool are int64 and bool),
``requires_grad=`` and ``device=`` (the CPU only: another device is an error saying kernelwise has no
GPU backend). ``rand`` and ``randn`` draw from ``generator=`` (a :class:`Generator` or any
``numpy.random.Generator``), else from the default generator that ``kw.manual_seed`` resets.

Example:
    >>> import kernelwise as kw
    >>> kw.zeros(2, 3).dtype, kw.arange(3).tolist(), kw.arange(0.0, 1.0, 0.25).tolist(), kw.full((2,), 7).dtype
    (dtype('float32'), [0, 1, 2], [0.0, 0.25, 0.5, 0.75], dtype('int64'))
    >>> kw.randn(size=(2, 3)).shape, kw.ones(kw.zeros(4, 5).shape).shape
    ((2, 3), (4, 5))
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from . import random
from .devices import as_device
from .errors import UsageError, UsageTypeError
from .tensor import Tensor, _dtype, _to_array, get_default_dtype, int64

DEFAULT_SEED = 67280421310721  # the seed of a new torch.Generator


class Generator(np.random.Generator):
    """A random generator with PyTorch's ``manual_seed``; it is a ``numpy.random.Generator``.

    So it can be passed as ``generator=`` anywhere kernelwise draws random numbers (``rand``,
    ``randn``, ``nn.init``, dropout, ``DataLoader``). The numbers differ from PyTorch's: only the
    seeding is the same interface.

    Example:
        >>> import kernelwise as kw
        >>> rng = kw.Generator().manual_seed(42)
        >>> a = kw.randn(3, generator=rng).tolist()
        >>> a == kw.randn(3, generator=rng.manual_seed(42)).tolist(), rng.initial_seed()
        (True, 42)
    """

    def __init__(self, device: Any = "cpu") -> None:
        as_device(device)
        self._seed = DEFAULT_SEED
        super().__init__(np.random.PCG64(DEFAULT_SEED))

    def manual_seed(self, seed: int) -> Generator:
        """Restart the generator from ``seed`` (a non-negative int); returns the generator."""
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise UsageError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
        self._seed = int(seed)
        self.bit_generator.state = np.random.PCG64(self._seed).state
        return self

    def initial_seed(self) -> int:
        """The seed given to the last ``manual_seed`` (or the default one)."""
        return self._seed


# --------------------------------------------------------------------------- arguments
def _size(name: str, args: tuple[Any, ...], size: Any) -> tuple[int, ...]:
    """The shape given as varargs, as one tuple/list/Size, or as ``size=``."""
    if size is not None:
        if args:
            raise UsageTypeError(f"{name}(): the size is given twice (positionally and as size=)")
        args = (size,)
    if len(args) == 1 and isinstance(args[0], tuple | list):
        args = tuple(args[0])
    try:
        shape = tuple(operator.index(n) for n in args)  # ints, NumPy ints or integer 0-d tensors
    except TypeError:
        raise UsageTypeError(f"{name}(): size must be ints or one tuple of ints, got {args!r}") from None
    if any(n < 0 for n in shape):
        raise UsageError(f"{name}(): size {shape} must be non-negative")
    return shape


def _make(array: np.ndarray, requires_grad: bool, device: Any) -> Tensor:
    as_device(device)
    return Tensor(array, requires_grad=requires_grad)


def _float_dtype(name: str, dtype: Any) -> np.dtype:
    dt = _dtype(dtype) or get_default_dtype()
    if dt.kind != "f":
        raise UsageTypeError(f"{name}(): dtype must be a floating-point dtype, got {dt}")
    return dt


# --------------------------------------------------------------------------- constant
def zeros(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype``)."""
    return _make(np.zeros(_size("zeros", sizes, size), _dtype(dtype) or get_default_dtype()), requires_grad, device)


def ones(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype``)."""
    return _make(np.ones(_size("ones", sizes, size), _dtype(dtype) or get_default_dtype()), requires_grad, device)


def empty(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor to be filled (its values are zeros here, so runs are reproducible)."""
    return zeros(*sizes, size=size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``fill_value``; its dtype as PyTorch infers it (bool, int64, float32) unless ``dtype``."""
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    dt = _dtype(dtype) or _to_array(value, copy=False).dtype
    return _make(np.full(_size("full", (size,), None), value, dt), requires_grad, device)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The n×m identity matrix (m = n by default)."""
    (n,) = _size("eye", (n,), None)
    (m,) = _size("eye", (n if m is None else m,), None)
    return _make(np.eye(n, m, dtype=_dtype(dtype) or get_default_dtype()), requires_grad, device)


def _like(name: str, input: Tensor, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    if not isinstance(input, Tensor):
        raise UsageTypeError(f"{name}(): input must be a Tensor, got {type(input).__name__}")
    return input.shape, _dtype(dtype) or input.dtype


def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``input``'s shape and dtype."""
    return _make(np.zeros(*_like("zeros_like", input, dtype)), requires_grad, device)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``input``'s shape and dtype."""
    return _make(np.ones(*_like("ones_like", input, dtype)), requires_grad, device)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``input``'s shape and dtype to be filled (zeros here)."""
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(
    input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``fill_value`` in ``input``'s shape and dtype."""
    shape, dt = _like("full_like", input, dtype)
    return _make(
        np.full(shape, fill_value.item() if isinstance(fill_value, Tensor) else fill_value, dt), requires_grad, device
    )


# --------------------------------------------------------------------------- ranges
def _number(name: str, value: Any) -> int | float:
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise UsageTypeError(f"arange/linspace: {name} must be a number, got {value!r}")
    return value


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``start, start + step, ...`` up to but not including ``end`` (``arange(n)``: 0 .. n-1).

    int64 when every argument is an int, else float32 (unless ``dtype``). As in PyTorch, the count is
    ceil((end - start) / step) and each value start + i·step, computed in float64 and then cast
    (PyTorch's vectorised kernel adds the step per SIMD lane, which can differ in the last bit).

    Example:
        >>> import kernelwise as kw
        >>> kw.arange(5).tolist(), kw.arange(1, 2, 0.25).tolist(), kw.arange(3, dtype=kw.float64).dtype
        ([0, 1, 2, 3, 4], [1.0, 1.25, 1.5, 1.75], dtype('float64'))
    """
    if end is None:
        start, end = 0, start
    start, end, step = _number("start", start), _number("end", end), _number("step", step)
    integer = all(isinstance(v, int | np.integer) for v in (start, end, step))
    dt = _dtype(dtype) or (int64 if integer else get_default_dtype())
    if step == 0:
        raise UsageError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise UsageError(f"arange(): the bounds start={start}, end={end} are inconsistent with the sign of step={step}")
    if integer:
        values = np.arange(start, end, step, dtype=np.int64)
    else:
        count = math.ceil((float(end) - float(start)) / float(step))
        values = np.float64(start) + np.float64(step) * np.arange(count, dtype=np.float64)  # start + i·step
    return _make(values.astype(dt, copy=False), requires_grad, device)


def linspace(
    start: Any, end: Any, steps: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 unless ``dtype``).

    As in PyTorch: step = (end - start)/(steps - 1) in the tensor's float dtype; the first half counts
    up from start (start + i·step), the second half down from end (end - (steps - 1 - i)·step); its
    vectorised kernel can differ in the last bit.

    Example:
        >>> import kernelwise as kw
        >>> kw.linspace(0, 1, 5).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    start, end = _number("start", start), _number("end", end)
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise UsageError(f"linspace(): steps must be a non-negative int, got {steps!r}")
    dt = _dtype(dtype) or get_default_dtype()
    work = dt if dt.kind == "f" else np.dtype(np.float64)  # integer results are computed in float64
    first, last = work.type(start), work.type(end)
    i = np.arange(steps)
    if steps == 1:
        values = np.full(1, first)
    else:
        step = (last - first) / work.type(steps - 1)
        up = first + step * i.astype(work)  # start + i·step
        down = last - step * (steps - 1 - i).astype(work)  # end - (steps - 1 - i)·step
        values = np.where(i < steps // 2, up, down)
    return _make(values.astype(dt), requires_grad, device)


# --------------------------------------------------------------------------- random
def _draw(name: str, draw: Callable[..., np.ndarray], shape: tuple[int, ...], generator: Any, dtype: Any) -> np.ndarray:
    """``draw(generator, shape)``, a ``numpy.random.Generator`` method, drawn in float32 or float64, in ``dtype``."""
    dt = _float_dtype(name, dtype)
    values = draw(random.generator(generator), shape, dtype=np.float64 if dt == np.float64 else np.float32)
    return values.astype(dt, copy=False)


def _random(name: str, draw: Callable[..., np.ndarray], doc: str) -> Callable[..., Tensor]:
    """The public ``name`` (rand, randn): a tensor of the given sizes drawn by ``draw``, its docstring ``doc``."""

    def random_tensor(
        *sizes: Any,
        size: Any = None,
        generator: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        values = _draw(name, draw, _size(name, sizes, size), generator, dtype)
        return _make(values, requires_grad, device)

    random_tensor.__name__ = random_tensor.__qualname__ = name
    random_tensor.__doc__ = doc
    return random_tensor


rand = _random("rand", np.random.Generator.random, """Uniform random numbers in [0, 1) (float32 unless ``dtype``).""")
randn = _random(
    "randn",
    np.random.Generator.standard_normal,
    """Standard normal random numbers (mean 0, variance 1; float32 unless ``dtype``).""",
)


def rand_like(
    input: Tensor, *, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``rand`` of ``input``'s shape and dtype."""
    shape, dt = _like("rand_like", input, dtype)
    return _make(_draw("rand_like", np.random.Generator.random, shape, generator, dt), requires_grad, device)


def randn_like(
    input: Tensor, *, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``randn`` of ``input``'s shape and dtype."""
    shape, dt = _like("randn_like", input, dtype)
    return _make(_draw("randn_like", np.random.Generator.standard_normal, shape, generator, dt), requires_grad, device)


# --------------------------------------------------------------------------- from data
def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (a change to one shows in the other).

    Example:
        >>> import kernelwise as kw, numpy as np
        >>> a = np.zeros(2)
        >>> t = kw.from_numpy(a); a[0] = 5
        >>> t.tolist(), t.dtype
        ([5.0, 0.0], dtype('float64'))
    """
    if not isinstance(array, np.ndarray):
        raise UsageTypeError(f"from_numpy(): expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, without copying when it already is one (or a NumPy array) of ``dtype``.

    Example:
        >>> import kernelwise as kw, numpy as np
        >>> a = np.ones(2, dtype=np.float32)
        >>> kw.as_tensor(a).numpy() is a, kw.as_tensor([1, 2]).dtype
        (True, dtype('int64'))
    """
    as_device(device)
    if isinstance(data, Tensor):
        return data.to(dtype) if dtype is not None else data
    return Tensor(_to_array(data, dtype, copy=False))


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a kernelwise Tensor (or a subclass such as Parameter)."""
    return isinstance(obj, Tensor)


__all__ = [
    "Generator",
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "is_tensor",
    "linspace",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randn",
    "randn_like",
    "zeros",
    "zeros_like",
]
