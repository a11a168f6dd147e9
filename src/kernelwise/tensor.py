"""Tensor, Function and backward: the whole autograd core.

A :class:`Tensor` wraps a NumPy array. Every differentiable operation is a
:class:`Function` whose ``forward`` (arrays in, array out) sits next to its
``backward`` (gradient of the output in, gradients of the inputs out). Calling
``Function.apply`` on tensors records the function as the output's ``_ctx``, so
the outputs remember how they were made: that is the computational graph of the
recitation. ``Tensor.backward`` walks this graph in reverse topological order and
applies the chain rule, ``dL/dinput += dL/doutput · doutput/dinput``; gradients
of a tensor used twice are added, so it gets both contributions.

Example:
    >>> import kernelwise as kw
    >>> x, y, z = (kw.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    >>> f = (x + y) * z
    >>> f.backward()
    >>> x.grad.item(), y.grad.item(), z.grad.item()
    (-4.0, -4.0, 3.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from . import devices
from .errors import GraphError, UsageError, UsageTypeError
from .ops.layout import in_layout_of

_grad_enabled = True
_backward_callbacks: list[Callable[[], None]] | None = None  # the running backward's end-of-pass callbacks

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
uint8 = np.dtype("uint8")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

# Tensor.type() names, as PyTorch's legacy tensor types
_TYPE_NAMES = {
    float16: "torch.HalfTensor",
    float32: "torch.FloatTensor",
    float64: "torch.DoubleTensor",
    uint8: "torch.ByteTensor",
    int8: "torch.CharTensor",
    int16: "torch.ShortTensor",
    int32: "torch.IntTensor",
    int64: "torch.LongTensor",
    bool_: "torch.BoolTensor",
}


def get_default_dtype() -> np.dtype:
    """The dtype of tensors made from Python floats and of ``zeros``, ``rand``, ...: float32, as in PyTorch."""
    return float32


# --------------------------------------------------------------------------- grad mode
class _GradMode:
    """Sets whether operations are recorded for a ``with`` block (or a decorated function), then restores it.

    ``mode`` is True (record) or False (do not).
    """

    mode: bool

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._previous

    def clone(self) -> _GradMode:
        """A fresh manager in the same mode (each call of a decorated function enters its own)."""
        fresh = object.__new__(type(self))
        fresh.mode = self.mode
        return fresh

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator (``@kw.no_grad`` or ``@kw.no_grad()``) that stops recording the graph.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.tensor([1.0, 2.0], requires_grad=True)
        >>> with kw.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
        >>> @kw.no_grad
        ... def predict(x):
        ...     return w * x
        >>> predict(3.0).requires_grad, kw.is_grad_enabled()
        (False, True)
    """

    mode = False

    def __new__(cls, fn: Callable | None = None) -> Any:
        if fn is None:
            return super().__new__(cls)
        return cls()(fn)  # used as a decorator without parentheses


class enable_grad(no_grad):
    """Context manager and decorator that turns recording back on (inside ``no_grad``, for example).

    Example:
        >>> import kernelwise as kw
        >>> w = kw.tensor([1.0], requires_grad=True)
        >>> with kw.no_grad():
        ...     with kw.enable_grad():
        ...         y = w * 2
        >>> y.requires_grad
        True
    """

    mode = True


class inference_mode(no_grad):
    """``no_grad`` under PyTorch's name for inference; ``inference_mode(False)`` records, as ``enable_grad``.

    Example:
        >>> import kernelwise as kw
        >>> with kw.inference_mode():
        ...     kw.is_grad_enabled()
        False
    """

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):
            return cls()(mode)  # @inference_mode without parentheses
        return object.__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        if not isinstance(mode, bool):
            raise UsageTypeError(f"inference_mode: mode must be a bool, got {mode!r}")
        self.mode = not mode  # as PyTorch: inference mode off is grad mode on


class set_grad_enabled(_GradMode):
    """Turn recording on or off: at once when called, or for a ``with`` block, or around a decorated function.

    Example:
        >>> import kernelwise as kw
        >>> with kw.set_grad_enabled(False):
        ...     kw.is_grad_enabled()
        False
        >>> _ = kw.set_grad_enabled(False); kw.is_grad_enabled()
        False
        >>> _ = kw.set_grad_enabled(True); kw.is_grad_enabled()
        True
    """

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        if not isinstance(mode, bool):
            raise UsageTypeError(f"set_grad_enabled: mode must be a bool, got {mode!r}")
        self.mode = mode
        self._previous = _grad_enabled
        _grad_enabled = mode  # takes effect at once, as in PyTorch

    def __enter__(self) -> None:
        global _grad_enabled
        _grad_enabled = self.mode

    def __call__(self, fn: Callable) -> Callable:
        global _grad_enabled
        _grad_enabled = self._previous  # as a decorator, it changes nothing until the function runs
        return super().__call__(fn)

    def clone(self) -> _GradMode:
        fresh = object.__new__(type(self))
        fresh.mode, fresh._previous = self.mode, _grad_enabled
        return fresh


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return _grad_enabled


# --------------------------------------------------------------------------- dtypes
def _dtype(dtype: Any) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise UsageTypeError(f"dtype: {dtype!r} is not a dtype") from e
    _check_dtype(dt, "dtype")
    return dt


def _check_dtype(dt: np.dtype, name: str) -> None:
    if dt.kind not in "fiub":
        raise UsageTypeError(
            f"{name}: dtype {dt} is not supported (use a float, integer or bool dtype; "
            "object, complex and string arrays have no meaning here)"
        )


def _to_array(data: Any, dtype: Any = None, copy: bool = True) -> np.ndarray:
    """Convert ``data`` with PyTorch's dtype inference.

    NumPy arrays keep their dtype (float64 stays float64); Python floats and
    lists of floats become float32, Python ints int64, bools bool.
    """
    dt = _dtype(dtype)
    if isinstance(data, Tensor):
        arr = data._array
    elif isinstance(data, np.ndarray | np.generic):
        arr = np.asarray(data)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize < 8 and arr.dtype != np.uint8:
            pass  # keep the integer width the user chose
    else:
        try:
            arr = np.array(data)
        except ValueError as e:
            raise UsageError(f"data: cannot build a tensor from ragged or mixed data ({e})") from e
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    _check_dtype(arr.dtype, "data")
    if dt is not None and arr.dtype != dt:
        return arr.astype(dt)
    return np.array(arr, copy=True) if copy else arr


# --------------------------------------------------------------------------- Function
class Function:
    """One differentiable operation: ``forward`` and ``backward`` side by side.

    Subclasses implement ``forward(self, *arrays, **options) -> ndarray`` and
    ``backward(self, grad_out) -> ndarray | tuple``, one gradient per positional
    input (``None`` where no gradient is needed). ``forward`` saves on ``self``
    only what ``backward`` needs, and only when ``self.requires_grad`` is true.
    ``self.needs_input_grad[i]`` says whether input ``i`` wants a gradient.

    ``grad_out`` (dL/d output) has the output's shape and dtype, and arrives in the output's
    memory layout: where both are dense blocks, ``Tensor.backward`` has laid it out in the same
    axis order as the array ``forward`` returned (:func:`~kernelwise.ops.layout.in_layout_of`), so
    a batch-last output gets a batch-last ``grad_out``. It may also be a read-only or broadcast view
    (``sum``'s backward hands one): ``backward`` must not modify ``grad_out`` in place. Gradients
    that ``backward`` allocates should follow the layout of the input they belong to
    (:func:`~kernelwise.ops.layout.array_like_layout`), so the layout survives the backward pass too.
    """

    requires_grad: bool
    needs_input_grad: tuple[bool, ...]
    inputs: tuple[Any, ...]

    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``forward`` on the arrays of ``args`` and record the graph edge."""
        fn = cls()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        fn.requires_grad = requires_grad = _grad_enabled and any(needs)
        fn.needs_input_grad = needs
        out = fn.forward(*[a._array if isinstance(a, Tensor) else a for a in args], **kwargs)
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        if not requires_grad or out.dtype.kind != "f":  # integer and bool results are not differentiable
            return Tensor._make(out)
        fn.inputs = args
        return Tensor._make(out, True, fn)


class _Released(Function):
    """Stands in for a Function whose saved arrays were freed by ``backward``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def backward(self, grad_out: np.ndarray) -> Any:
        raise GraphError(
            f"trying to backward through the graph a second time (through {self.name}): "
            "its saved values were freed; call backward(retain_graph=True) the first time"
        )


# --------------------------------------------------------------------------- Tensor
def _operand(t: Tensor, other: Any) -> tuple[Any, Any]:
    """Bring ``t`` and ``other`` to one dtype, as PyTorch does.

    Python (and NumPy) scalars take the tensor's dtype; an integer or bool tensor
    meeting a float becomes that float. float32 and float64 tensors are not mixed
    silently: that is a TypeError (cast one with ``.float()`` or ``.double()``).
    """
    if isinstance(other, Tensor):
        a, b = t.dtype, other.dtype
        if a == b:
            return t, other
        if a.kind == "f" and b.kind == "f":
            raise UsageTypeError(f"mixed float dtypes: {a} and {b} operands; cast one with .float() or .double()")
        if b.kind == "f" or (a.kind == "b" and b.kind in "iu"):
            return t.to(b), other
        return t, other.to(a)
    if isinstance(other, np.ndarray) and other.ndim > 0:
        return _operand(t, Tensor(other))
    if isinstance(other, bool | int | float | np.generic | np.ndarray):
        value = np.asarray(other)
        if value.dtype.kind not in "fiub":
            raise UsageTypeError(f"unsupported operand of dtype {value.dtype}")
        if t.dtype.kind == "f":
            return t, value.astype(t.dtype)
        if value.dtype.kind == "f":
            return t.to(float32), value.astype(float32)
        if t.dtype.kind == "b" and value.dtype.kind != "b":
            return t.to(int64), value.astype(int64)
        return t, value.astype(t.dtype)
    raise UsageTypeError(f"unsupported operand type {type(other).__name__} for a Tensor")


def _axis_tuple(axis: Any, ndim: int, name: str = "axis") -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise UsageError(f"{name}={axis} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise UsageError(f"{name}={axis} repeats a dimension")
    return tuple(out)


class Size(tuple):
    """A tensor's shape, as ``torch.Size``: a tuple of ints (equal to the plain tuple) with ``numel()``.

    Slicing and adding keep it a ``Size``.

    Example:
        >>> import kernelwise as kw
        >>> s = kw.zeros(2, 3, 4).shape
        >>> s, s == (2, 3, 4), type(s[1:]).__name__, s.numel()
        ((2, 3, 4), True, 'Size', 24)
    """

    __slots__ = ()

    def __new__(cls, sizes: Any = ()) -> Size:
        sizes = tuple(sizes)
        for n in sizes:
            if isinstance(n, bool) or not isinstance(n, int | np.integer):
                raise UsageTypeError(f"Size: expected a sequence of ints, got {sizes!r}")
        return super().__new__(cls, (int(n) for n in sizes))

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds (1 for ``Size([])``)."""
        return math.prod(self)

    def __getitem__(self, index: Any) -> Any:
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other: Any) -> Size:
        return Size(tuple(self) + tuple(other)) if isinstance(other, tuple) else NotImplemented

    def __radd__(self, other: Any) -> Size:
        return Size(tuple(other) + tuple(self)) if isinstance(other, tuple) else NotImplemented

    # repr stays the plain tuple's, "(2, 3, 4)" (torch shows "torch.Size([2, 3, 4])"): shapes are printed
    # in messages and doctests throughout the package as tuples


class Tensor:
    """An n-dimensional array that can remember how it was computed.

    Args:
        data: array-like; see :func:`tensor` for the dtype rules.
        requires_grad: record operations on it so that ``backward`` fills ``grad``.
        dtype: optional dtype to convert to.

    The values live in the NumPy array ``_array`` (the library's own code reads and writes it
    directly; users reach it through ``numpy()``). ``data`` is PyTorch's: a Tensor sharing that
    array, cut from the graph (``requires_grad`` False), and assigning ``t.data = other`` puts
    ``other``'s array in place of ``t``'s, keeping ``t`` itself (an optimizer holding it still
    updates it).

    Example:
        >>> import kernelwise as kw
        >>> t = kw.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> (t * t).sum().backward()
        >>> t.grad.numpy().tolist()
        [[2.0, 4.0], [6.0, 8.0]]
        >>> _ = t.data.mul_(10)  # in place on t's values, not recorded
        >>> t.tolist(), t.data.requires_grad
        ([[10.0, 20.0], [30.0, 40.0]], False)
    """

    __slots__ = ("__weakref__", "_array", "_ctx", "_post_accumulate_hooks", "_retain", "grad", "requires_grad")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__  # comparisons return tensors, identity stays the hash

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._array = _to_array(data, dtype, copy=False)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self._retain = False
        self._post_accumulate_hooks: dict[int, Callable[[Tensor], None]] | None = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False, ctx: Function | None = None) -> Tensor:
        """Wrap an array produced by an operation (no conversion, no checks)."""
        t = object.__new__(cls)
        t._array = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._retain = False
        t._post_accumulate_hooks = None
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def data(self) -> Tensor:
        """The same values as a Tensor outside the graph (shares memory, ``requires_grad`` False), as PyTorch's."""
        return Tensor._make(self._array)

    @data.setter
    def data(self, value: Any) -> None:
        """Replace the values by ``value``'s (a Tensor or a NumPy array; any shape and dtype), keeping this tensor."""
        if isinstance(value, Tensor):
            value = value._array
        if not isinstance(value, np.ndarray):
            raise UsageTypeError(f"data: expected a Tensor (or a NumPy array), got {type(value).__name__}")
        _check_dtype(value.dtype, "data")
        self._array = value

    @property
    def shape(self) -> Size:
        return tuple.__new__(Size, self._array.shape)  # (NumPy's shape is ints already: no checks)

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made, False for results of recorded operations."""
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def device(self) -> devices.device:
        """Where the values live: always the CPU (``device(type='cpu')``)."""
        return devices.CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def size(self, dim: int | None = None) -> Any:
        """The shape (a :class:`Size`), or the size of dimension ``dim``."""
        if dim is None:
            return self.shape
        (axis,) = _axis_tuple(dim, self.ndim, "dim")
        return self.shape[axis] if self.ndim else 1

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self._array.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise UsageTypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self._array, separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (float32, int64, bool_):
            extra += f", dtype={self.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise UsageError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self._array)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """An integer (or bool) one-element tensor used as an index: ``classes[label]``."""
        if self.dtype.kind not in "biu" or self._array.size != 1:
            raise UsageTypeError(
                f"only integer tensors of a single element can be converted to an index "
                f"(this one has dtype {self.dtype} and shape {self.shape})"
            )
        return int(self._array.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._array if dtype is None else self._array.astype(dtype)

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), whether or not it requires grad."""
        return self._array

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._array.size != 1:
            raise UsageError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self._array.item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory, as in PyTorch)."""
        return Tensor._make(self._array)

    def clone(self) -> Tensor:
        from .ops import shape

        return shape.Clone.apply(self)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """This tensor in another dtype (and on a device, which can only be the CPU), as PyTorch's ``to``.

        ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (other's dtype), each with
        ``non_blocking=`` (no effect) and ``copy=`` (a new tensor even when nothing changes). Returns
        this tensor itself when nothing changes; float-to-float casts are differentiable.

        Example:
            >>> import kernelwise as kw
            >>> x = kw.tensor([1.5, 2.0])
            >>> x.to("cpu") is x, x.to(kw.int64).tolist(), x.to("cpu", kw.float64).dtype
            (True, [1, 2], dtype('float64'))
        """
        _, dtype, _, copy = devices.parse_to(*args, **kwargs)
        out = self if dtype is None or dtype == self.dtype else _E.Cast.apply(self, dtype=dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        """This tensor (it is on the CPU already)."""
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """Not available: kernelwise has no GPU backend (a NotImplementedError saying so)."""
        raise NotImplementedError(devices.no_gpu_message("Tensor.cuda()"))

    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """Without ``dtype``: PyTorch's type name ('torch.FloatTensor', ...); with one: ``to(dtype)``.

        ``dtype`` may also be such a name.

        Example:
            >>> import kernelwise as kw
            >>> x = kw.tensor([1.0, 2.0])
            >>> x.type(), x.type(kw.int64).type(), x.type("torch.DoubleTensor").dtype
            ('torch.FloatTensor', 'torch.LongTensor', dtype('float64'))
        """
        if dtype is None:
            return _TYPE_NAMES[self.dtype]
        if isinstance(dtype, str) and dtype.startswith("torch."):
            by_name = {name: dt for dt, name in _TYPE_NAMES.items()}
            if dtype not in by_name:
                raise UsageTypeError(f"type(): unknown type name {dtype!r} (expected one of {sorted(by_name)})")
            dtype = by_name[dtype]
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(float32)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def int(self) -> Tensor:
        return self.to(int32)

    def bool(self) -> Tensor:
        return self.to(bool_)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind != "f":
            raise UsageTypeError(f"requires_grad: only floating-point tensors can require gradients, got {self.dtype}")
        if not requires_grad and not self.is_leaf:
            raise GraphError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``grad`` on this non-leaf tensor after ``backward``."""
        self._retain = True

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(self)`` in every ``backward`` right after this leaf's ``grad`` has been accumulated.

        The hook sees the finished ``grad`` of this backward (added to what was there before), so it can
        start work on it while backward goes on with the rest of the graph (data-parallel training starts
        sending gradients this way); its return value is ignored. Only leaves that require grad have one.

        Returns:
            a handle whose ``remove()`` unregisters the hook.

        Example:
            >>> import kernelwise as kw
            >>> w = kw.tensor([1.0, 2.0], requires_grad=True)
            >>> handle = w.register_post_accumulate_grad_hook(lambda t: print("grad", t.grad.tolist()))
            >>> (w * 3).sum().backward()
            grad [3.0, 3.0]
            >>> handle.remove()
            >>> (w * 3).sum().backward()
        """
        if not self.requires_grad:
            raise GraphError("cannot register a hook on a tensor that doesn't require gradient")
        if not self.is_leaf:
            raise GraphError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not callable(hook):
            raise UsageTypeError(
                f"register_post_accumulate_grad_hook: hook must be callable, got {type(hook).__name__}"
            )
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        handle = RemovableHandle(self._post_accumulate_hooks)
        self._post_accumulate_hooks[handle.id] = hook
        return handle

    # ----------------------------------------------------------------- in place
    # In-place operations change the values and are not recorded in the graph. As in PyTorch, they are
    # refused on a leaf that requires grad while recording (a parameter is updated under ``no_grad``);
    # unlike PyTorch, also on a tensor that is part of a graph (use the out-of-place operation there).
    def _check_inplace(self, name: str, other: Any = None) -> None:
        if not _grad_enabled:
            return
        if self.requires_grad and self.is_leaf:
            raise GraphError(
                f"{name}(): a leaf tensor that requires grad is being used in an in-place operation; "
                "do it under kw.no_grad() (as optimizers and initialisers do)"
            )
        if self.requires_grad or (isinstance(other, Tensor) and other.requires_grad):
            raise GraphError(
                f"{name}(): kernelwise does not record in-place operations in the graph; use the "
                f"out-of-place form (y = x + ..., x.clamp(...), ...) or kw.no_grad()"
            )

    def _write(self, name: str, values: Any, ufunc: Callable | None = None) -> Tensor:
        """``data = ufunc(data, values)`` (or ``data = values``) in place, with PyTorch's casting rule:
        the result may not be of a higher kind (bool < integer < float) than this tensor's dtype."""
        other = values._array if isinstance(values, Tensor) else np.asarray(values)
        if ufunc is not None:
            rank = {"b": 0, "u": 1, "i": 1, "f": 2}
            if other.dtype.kind not in rank or rank[other.dtype.kind] > rank[self.dtype.kind]:
                raise UsageTypeError(
                    f"{name}(): the result type {other.dtype} cannot be written into a {self.dtype} tensor"
                )
            if not isinstance(values, Tensor) and other.ndim == 0:
                other = other.astype(self.dtype)  # a number takes the tensor's dtype, as in PyTorch
        try:
            fits = np.broadcast_shapes(other.shape, self._array.shape) == self._array.shape
        except ValueError:
            fits = False
        if not fits:
            raise UsageError(
                f"{name}(): a value of shape {tuple(other.shape)} does not broadcast to the tensor's shape {self.shape}"
            )
        if ufunc is None:
            np.copyto(self._array, other, casting="unsafe")
        else:
            ufunc(self._array, other, out=self._array, casting="unsafe")
        return self

    def zero_(self) -> Tensor:
        """Set every value to 0, in place."""
        self._check_inplace("zero_")
        self._array[...] = 0
        return self

    def fill_(self, value: Any) -> Tensor:
        """Set every value to ``value`` (a number or a one-element tensor), in place."""
        self._check_inplace("fill_", value)
        if isinstance(value, Tensor) and value.numel() != 1:
            raise UsageError(f"fill_(): value must be a number or a one-element tensor, got shape {value.shape}")
        self._array[...] = value.item() if isinstance(value, Tensor) else value
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with draws from N(mean, std²), in place (as ``nn.init.normal_``): ``w.data.normal_(0, 0.01)``."""
        from .nn import init

        self._check_inplace("normal_")
        return init.normal_(self, mean, std, generator=generator)

    def uniform_(self, low: float = 0.0, high: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with draws from U(low, high), in place (as ``nn.init.uniform_``)."""
        from .nn import init

        self._check_inplace("uniform_")
        return init.uniform_(self, low, high, generator=generator)

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy ``src`` (broadcast to this shape, cast to this dtype) into this tensor.

        Example:
            >>> import kernelwise as kw
            >>> w = kw.zeros(2, 2, requires_grad=True)
            >>> with kw.no_grad():
            ...     _ = w.copy_(kw.tensor([1.0, 2.0]))
            >>> w.tolist()
            [[1.0, 2.0], [1.0, 2.0]]
        """
        self._check_inplace("copy_", src)
        return self._write("copy_", src)

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self += alpha * other``, in place."""
        self._check_inplace("add_", other)
        return self._write("add_", other if alpha == 1 else _scaled(other, alpha), np.add)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other``, in place."""
        self._check_inplace("sub_", other)
        return self._write("sub_", other if alpha == 1 else _scaled(other, alpha), np.subtract)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other``, in place."""
        self._check_inplace("mul_", other)
        return self._write("mul_", other, np.multiply)

    def div_(self, other: Any) -> Tensor:
        """``self /= other``, in place (a float tensor only: true division)."""
        self._check_inplace("div_", other)
        if self.dtype.kind != "f":
            raise UsageTypeError(f"div_(): true division cannot be written into a {self.dtype} tensor")
        return self._write("div_", other, np.true_divide)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """Limit the values to [min, max] in place (see :meth:`clamp`)."""
        self._check_inplace("clamp_", min if isinstance(min, Tensor) else max)
        with no_grad():
            result = self.clamp(min, max)
        if result.dtype != self.dtype:
            raise UsageTypeError(
                f"clamp_(): the result type {result.dtype} cannot be written into a {self.dtype} tensor"
            )
        return self._write("clamp_", result)

    clip_ = clamp_

    # ----------------------------------------------------------------- backward
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf this tensor depends on.

        The graph is visited in reverse topological order (each node after every
        node that uses it); at each node the chain rule turns the gradient of its
        output into gradients of its inputs, which are summed per input. A leaf's
        post-accumulate-grad hooks run as soon as its ``grad`` is complete, and the
        callbacks queued with :func:`queue_backward_callback` once the whole graph is done.

        Args:
            gradient: dL/dself; may be omitted only for a one-element tensor.
            retain_graph: keep the saved values so that backward can run again.
        """
        if not self.requires_grad:
            raise GraphError("backward(): this tensor does not require grad and has no graph")
        if gradient is None:
            if self._array.size != 1:
                raise UsageError(
                    f"backward(): gradient can be omitted only for scalar outputs; this output has "
                    f"shape {self.shape}, pass gradient= of that shape"
                )
            grad = np.ones_like(self._array)
        else:
            grad = _to_array(gradient, self.dtype, copy=False)
            if grad.shape != self.shape:
                raise UsageError(f"backward(): gradient has shape {grad.shape}, the tensor has shape {self.shape}")
        global _backward_callbacks
        outer_callbacks, _backward_callbacks = _backward_callbacks, []
        try:
            _chain_rule(self, grad, retain_graph)
            for callback in _backward_callbacks:  # a callback may queue more; the loop reaches them too
                callback()
        finally:
            _backward_callbacks = outer_callbacks

    # ----------------------------------------------------------------- operators
    # ``x += y``, ``-=``, ``*=``, ``/=``: in place where PyTorch writes in place unrecorded (under
    # no_grad, or when no operand requires grad), so ``p -= lr * p.grad`` updates the parameter; on
    # a tensor that is part of a graph (``Y += X`` in a forward pass) the result is the out-of-place
    # one, which holds the values PyTorch's recorded in-place operation gives.
    def _augmented(self, other: Any, name: str, in_place: Callable[[Any], Tensor], op: Callable) -> Tensor:
        if _grad_enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            if self.requires_grad and self.is_leaf:
                self._check_inplace(name)  # a leaf that requires grad: PyTorch's error
            return op(self, other)
        return in_place(other)

    def __iadd__(self, other: Any) -> Tensor:
        return self._augmented(other, "__iadd__", self.add_, Tensor.__add__)

    def __isub__(self, other: Any) -> Tensor:
        return self._augmented(other, "__isub__", self.sub_, Tensor.__sub__)

    def __imul__(self, other: Any) -> Tensor:
        return self._augmented(other, "__imul__", self.mul_, Tensor.__mul__)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._augmented(other, "__itruediv__", self.div_, Tensor.__truediv__)

    # The arithmetic operators (``t + x``, ``x - t``, ...) are made from one table, _ARITHMETIC, at the
    # end of this module (they need the ops, which need Tensor); this gives type checkers their signature.
    if TYPE_CHECKING:

        def _operator(self, other: Any) -> Tensor: ...

        __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _operator
        __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _operator

    def __neg__(self) -> Tensor:
        return _E.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def _compare(self, other: Any, op: Callable) -> Tensor:
        a, b = _operand(self, other)
        return Tensor._make(op(a._array, b._array if isinstance(b, Tensor) else b))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __getitem__(self, index: Any) -> Tensor:
        return _S.GetItem.apply(self, index=_index_arrays(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad and _grad_enabled:
            raise GraphError("in-place assignment to a tensor that requires grad; use kw.where or kw.no_grad()")
        self._array[_index_arrays(index)] = value._array if isinstance(value, Tensor) else value

    # ----------------------------------------------------------------- math
    def exp(self) -> Tensor:
        return _E.Exp.apply(self)

    def log(self) -> Tensor:
        return _E.Log.apply(self)

    def sqrt(self) -> Tensor:
        return _E.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return _E.Abs.apply(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        """Limit values to [min, max] (numbers or tensors that broadcast; max wins where min > max).

        The gradient passes to x where min <= x <= max, and to a tensor bound where it was taken.

        Example:
            >>> import kernelwise as kw
            >>> kw.tensor([-2.0, 0.5, 3.0]).clamp(min=0.0, max=kw.tensor([1.0, 1.0, 2.0])).tolist()
            [0.0, 0.5, 2.0]
        """
        if min is None and max is None:
            raise UsageError("clamp(): at least one of min and max must be given")
        x = self
        if min is not None:
            x, min = _operand(x, min)
        if max is not None:
            x, max = _operand(x, max)
            if isinstance(min, Tensor):
                min = min.to(x.dtype)
        return _E.Clip.apply(x, min, max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        """The larger of the two at each position; the gradient is split in half where they are equal."""
        a, b = _operand(self, other)
        return _E.Maximum.apply(a, b)

    def minimum(self, other: Tensor) -> Tensor:
        """The smaller of the two at each position; the gradient is split in half where they are equal."""
        a, b = _operand(self, other)
        return _E.Minimum.apply(a, b)

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def mm(self, other: Tensor) -> Tensor:
        """Matrix product of two 2-D tensors."""
        if self.ndim != 2 or not isinstance(other, Tensor) or other.ndim != 2:
            shape = other.shape if isinstance(other, Tensor) else type(other).__name__
            raise UsageError(f"mm(): both operands must be 2-D tensors, got shapes {self.shape} and {shape}")
        return self @ other

    def bmm(self, other: Tensor) -> Tensor:
        """Batched matrix product of two 3-D tensors with the same batch size."""
        if self.ndim != 3 or not isinstance(other, Tensor) or other.ndim != 3 or self.shape[0] != other.shape[0]:
            shape = other.shape if isinstance(other, Tensor) else type(other).__name__
            raise UsageError(
                f"bmm(): both operands must be 3-D tensors with the same batch size, "
                f"got shapes {self.shape} and {shape}"
            )
        return self @ other

    def softmax(self, dim: int) -> Tensor:
        from .ops.activation import softmax

        return softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from .ops.activation import log_softmax

        return log_softmax(self, dim)

    def relu(self) -> Tensor:
        return _E.ReLU.apply(self)

    def sigmoid(self) -> Tensor:
        return _E.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return _E.Tanh.apply(self)

    # ----------------------------------------------------------------- reductions
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        """Sum over ``axis`` (``dim`` is accepted as in PyTorch)."""
        axes = _axis_tuple(dim if dim is not None else axis, self.ndim)
        return _R.Sum.apply(self, axes=axes, keepdims=keepdim if keepdim is not None else keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        axes = _axis_tuple(dim if dim is not None else axis, self.ndim)
        if self.dtype.kind != "f":
            raise UsageTypeError(f"mean(): needs a floating-point tensor, got {self.dtype}")
        return _R.Mean.apply(self, axes=axes, keepdims=keepdim if keepdim is not None else keepdims)

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Any:
        """The largest value; along ``dim``: ``(values, indices)``; with a tensor: the elementwise maximum.

        As in PyTorch: ``x.max()`` shares the gradient equally among tied maxima (as ``amax``);
        ``x.max(dim)`` returns a named tuple whose indices are the first maximum of each row, and
        sends each value's whole gradient to that index.

        Example:
            >>> import kernelwise as kw
            >>> x = kw.tensor([[1.0, 3.0, 3.0], [4.0, 0.0, 2.0]])
            >>> x.max().item(), x.max(1).values.tolist(), x.max(dim=1).indices.tolist()
            (4.0, [3.0, 4.0], [1, 0])
        """
        return self._extremum(dim, keepdim, axis, largest=True)

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Any:
        """The smallest value; along ``dim``: ``(values, indices)``; with a tensor: the elementwise minimum."""
        return self._extremum(dim, keepdim, axis, largest=False)

    def _extremum(self, dim: Any, keepdim: bool, axis: Any, largest: bool) -> Any:
        if isinstance(dim, Tensor):
            return self.maximum(dim) if largest else self.minimum(dim)
        dim = axis if dim is None else dim
        if dim is None:
            op = np.max if largest else np.min
            return _R.Extremum.apply(self, axes=tuple(range(self.ndim)), keepdims=False, op=op)
        return _R.extremum_with_indices(self, dim, keepdim, largest)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """Largest values over one or several dimensions (all for ``()``); ties share the gradient equally."""
        return self._reduce_extremum(dim, keepdim, np.max)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """Smallest values over one or several dimensions (all for ``()``); ties share the gradient equally."""
        return self._reduce_extremum(dim, keepdim, np.min)

    def _reduce_extremum(self, dim: Any, keepdim: bool, op: Callable) -> Tensor:
        """``op`` (np.max or np.min) over ``dim``, one or several dimensions (all for ``()``)."""
        axes = _axis_tuple(None if dim == () else dim, self.ndim, "dim")
        return _R.Extremum.apply(self, axes=axes, keepdims=keepdim, op=op)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        return _S.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return _S.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _S.topk(self, k, dim, largest, sorted)

    def argmax(
        self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None, keepdim: bool | None = None
    ) -> Tensor:
        """Index of the largest value (of the flattened tensor when no axis is given); int64, no gradient."""
        return self._index_of_extremum(np.argmax, axis, keepdims, dim, keepdim)

    def argmin(
        self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None, keepdim: bool | None = None
    ) -> Tensor:
        """Index of the smallest value (of the flattened tensor when no axis is given); int64, no gradient."""
        return self._index_of_extremum(np.argmin, axis, keepdims, dim, keepdim)

    def _index_of_extremum(
        self, find: Callable, axis: int | None, keepdims: bool, dim: int | None, keepdim: bool | None
    ) -> Tensor:
        """``find`` (np.argmax or np.argmin) along ``dim`` (alias ``axis``), as an int64 tensor."""
        axis = dim if dim is not None else axis
        keepdims = keepdim if keepdim is not None else keepdims
        return Tensor._make(np.asarray(find(self._array, axis=axis, keepdims=keepdims), dtype=np.int64))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _S.Reshape.apply(self, shape=_S.resolve_shape(self.shape, shape))

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        """This tensor in ``other``'s shape."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def expand(self, *sizes: Any) -> Tensor:
        """Repeat size-1 dimensions (and add leading ones) to ``sizes`` without copying; -1 keeps a size."""
        return _S.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _S.expand(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        (s,) = _axis_tuple(start_dim, self.ndim, "start_dim")
        (e,) = _axis_tuple(end_dim, self.ndim, "end_dim")
        if s > e:
            raise UsageError(f"flatten(): start_dim={start_dim} comes after end_dim={end_dim}")
        return self.reshape((*self.shape[:s], int(np.prod(self.shape[s : e + 1])), *self.shape[e + 1 :]))

    def permute(self, *dims: Any) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], tuple | list):
            dims = tuple(dims[0])
        axes = _axis_tuple(dims, self.ndim, "dims")
        if len(axes) != self.ndim:
            raise UsageError(f"permute(): dims={dims} must name all {self.ndim} dimensions")
        return _S.Permute.apply(self, axes=axes)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two dimensions (the last two by default)."""
        (a,) = _axis_tuple(dim0, self.ndim, "dim0")
        (b,) = _axis_tuple(dim1, self.ndim, "dim1")
        axes = list(range(self.ndim))
        if a != b:
            axes[a], axes[b] = axes[b], axes[a]
        return self.permute(*axes)

    def unsqueeze(self, dim: int) -> Tensor:
        if not -self.ndim - 1 <= dim <= self.ndim:
            raise UsageError(f"unsqueeze(): dim={dim} is out of range for a tensor of shape {self.shape}")
        dim %= self.ndim + 1
        return self.reshape((*self.shape[:dim], 1, *self.shape[dim:]))

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        (dim,) = _axis_tuple(dim, self.ndim, "dim")
        if self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1 :])

    def is_contiguous(self) -> bool:
        """Whether the values lie in memory in C order (row-major) with no gaps.

        Not always: the batch-last convolution returns a view of (O, *out, N) memory (see ops/layout.py).
        """
        return bool(self._array.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        """This tensor if it is contiguous, else a C-ordered copy (differentiable, as ``clone``)."""
        from .ops import shape

        return self if self.is_contiguous() else shape.Clone.apply(self, contiguous=True)


def _scaled(other: Any, alpha: Any) -> Tensor:
    """``alpha * other`` for ``add_(other, alpha=...)``, with the dtype rules of ``*``."""
    return (other if isinstance(other, Tensor) else Tensor(other)) * alpha


def _index_arrays(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index._array
    if isinstance(index, tuple):
        return tuple(i._array if isinstance(i, Tensor) else i for i in index)
    return index


def _chain_rule(root: Tensor, grad: np.ndarray, retain_graph: bool) -> None:
    """``root.backward(grad)``: the chain rule over the graph in reverse topological order."""
    grads: dict[int, np.ndarray] = {id(root): grad}
    for node in reversed(_topological_order(root)):
        grad_out = grads.pop(id(node), None)
        if grad_out is None:
            continue
        grad_out = in_layout_of(grad_out, node._array)  # dL/dy in y's memory layout (ops/layout.py)
        fn = node._ctx
        if fn is None or node._retain:
            g_copy = np.array(grad_out, dtype=node.dtype)
            node.grad = Tensor._make(g_copy if node.grad is None else node.grad._array + g_copy)
            if fn is None:
                # a leaf is visited once, after everything that uses it: its grad is complete here
                for hook in list((node._post_accumulate_hooks or {}).values()):
                    hook(node)
                continue
        in_grads = fn.backward(grad_out)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for inp, ig, need in zip(fn.inputs, in_grads, fn.needs_input_grad, strict=False):
            if not need or ig is None:
                continue
            if ig.shape != inp.shape:
                raise GraphError(
                    f"{type(fn).__name__}.backward returned a gradient of shape {ig.shape} "
                    f"for an input of shape {inp.shape}"
                )
            key = id(inp)
            grads[key] = grads[key] + ig if key in grads else ig
        if not retain_graph:
            node._ctx = _Released(type(fn).__name__)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor of the graph below ``root``, each after all of its inputs.

    A depth-first search that finishes a node's leaf inputs (parameters) last, so that they come right
    before the node in this order and right after it in backward's (reversed) order: a layer's weight
    gradient is complete, and its post-accumulate-grad hooks run, as soon as that layer's backward has
    run, while the layers below are still to come (data-parallel training sends it meanwhile).
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        fn = node._ctx
        if fn is not None and not isinstance(fn, _Released):
            inputs = [t for t, need in zip(fn.inputs, fn.needs_input_grad, strict=False) if need]
            stack.extend((t, False) for t in inputs if t._ctx is None)  # leaves: popped, so finished, last
            stack.extend((t, False) for t in inputs if t._ctx is not None)
        elif isinstance(fn, _Released):
            fn.backward(np.empty(0))  # raises: this part of the graph was already used
    return order


def queue_backward_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once when the ``backward()`` now running has finished the whole graph.

    Callable only from inside a backward pass (a gradient hook); kernelwise's equivalent of PyTorch's
    ``Variable._execution_engine.queue_callback``. Callbacks run in the order they were queued, after every
    leaf's ``grad`` is final and before ``backward()`` returns (data-parallel training finishes its
    gradient exchange there). If backward fails, its queued callbacks are dropped.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise.tensor import queue_backward_callback
        >>> w = kw.tensor([1.0], requires_grad=True)
        >>> def hook(t):
        ...     print("grad ready")
        ...     queue_backward_callback(lambda: print("backward done"))
        >>> _ = w.register_post_accumulate_grad_hook(hook)
        >>> (w * 2).sum().backward()
        grad ready
        backward done
    """
    if _backward_callbacks is None:
        raise GraphError("queue_backward_callback: no backward pass is running (call it from a gradient hook)")
    _backward_callbacks.append(callback)


class RemovableHandle:
    """What registering a hook returns: ``remove()`` unregisters it (``torch.utils.hooks.RemovableHandle``)."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Unregister the hook (again: nothing)."""
        self._hooks.pop(self.id, None)


# --------------------------------------------------------------------------- creation
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    """Make a tensor, copying ``data``, with PyTorch's dtype inference.

    NumPy arrays keep their dtype (float64 stays float64, for gradient checks);
    Python floats and lists of floats become float32; integers int64; bools bool.
    ``device`` can only be the CPU. The other ways to make tensors are in ``kernelwise.creation``.

    Example:
        >>> import kernelwise as kw, numpy as np
        >>> kw.tensor([1.5, 2]).dtype, kw.tensor([1, 2]).dtype, kw.tensor(np.zeros(2)).dtype
        (dtype('float32'), dtype('int64'), dtype('float64'))
    """
    devices.as_device(device)
    return Tensor(_to_array(data, dtype, copy=True), requires_grad=requires_grad)


from .ops import elementwise as _E  # noqa: E402  (the ops need Tensor defined first)
from .ops import reduce as _R  # noqa: E402
from .ops import shape as _S  # noqa: E402


def _arithmetic(name: str, function: type[Function], reflected: bool) -> Callable[[Tensor, Any], Tensor]:
    """Tensor's operator ``name``: the operands brought to one dtype, then ``function`` applied to them.

    ``reflected`` (``__radd__``, ...: ``x + t`` where x is not a Tensor) applies it to (other, self).
    Division is true division: an integer or bool tensor is divided as a float one.
    """
    true_division = function is _E.Div

    def operator(self: Tensor, other: Any) -> Tensor:
        a, b = _operand(self.float() if true_division and self.dtype.kind != "f" else self, other)
        return function.apply(b, a) if reflected else function.apply(a, b)

    operator.__name__ = name
    operator.__qualname__ = f"Tensor.{name}"
    return operator


_ARITHMETIC = {  # operator: (its Function, reflected)
    "__add__": (_E.Add, False),
    "__radd__": (_E.Add, True),
    "__sub__": (_E.Sub, False),
    "__rsub__": (_E.Sub, True),
    "__mul__": (_E.Mul, False),
    "__rmul__": (_E.Mul, True),
    "__truediv__": (_E.Div, False),
    "__rtruediv__": (_E.Div, True),
    "__pow__": (_E.Pow, False),
    "__rpow__": (_E.Pow, True),
    "__matmul__": (_E.MatMul, False),
    "__rmatmul__": (_E.MatMul, True),
}
for _name, (_function, _reflected) in _ARITHMETIC.items():
    setattr(Tensor, _name, _arithmetic(_name, _function, _reflected))
