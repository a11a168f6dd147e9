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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .ops.layout import in_layout_of

_grad_enabled = True

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")


# --------------------------------------------------------------------------- grad mode
class no_grad:
    """Context manager (and decorator) that stops recording the graph.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.tensor([1.0, 2.0], requires_grad=True)
        >>> with kw.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    _enabled = False

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self._enabled

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager (and decorator) that turns recording back on inside ``no_grad``."""

    _enabled = True


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
        raise TypeError(f"dtype: {dtype!r} is not a dtype") from e
    _check_dtype(dt, "dtype")
    return dt


def _check_dtype(dt: np.dtype, name: str) -> None:
    if dt.kind not in "fiub":
        raise TypeError(
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
        arr = data.data
    elif isinstance(data, np.ndarray | np.generic):
        arr = np.asarray(data)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize < 8 and arr.dtype != np.uint8:
            pass  # keep the integer width the user chose
    else:
        try:
            arr = np.array(data)
        except ValueError as e:
            raise ValueError(f"data: cannot build a tensor from ragged or mixed data ({e})") from e
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
    ``backward`` must not modify ``grad_out`` in place.
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
        out = fn.forward(*[a.data if isinstance(a, Tensor) else a for a in args], **kwargs)
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
        raise RuntimeError(
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
            raise TypeError(f"mixed float dtypes: {a} and {b} operands; cast one with .float() or .double()")
        if b.kind == "f" or (a.kind == "b" and b.kind in "iu"):
            return t.to(b), other
        return t, other.to(a)
    if isinstance(other, np.ndarray) and other.ndim > 0:
        return _operand(t, Tensor(other))
    if isinstance(other, bool | int | float | np.generic | np.ndarray):
        value = np.asarray(other)
        if value.dtype.kind not in "fiub":
            raise TypeError(f"unsupported operand of dtype {value.dtype}")
        if t.dtype.kind == "f":
            return t, value.astype(t.dtype)
        if value.dtype.kind == "f":
            return t.to(float32), value.astype(float32)
        if t.dtype.kind == "b" and value.dtype.kind != "b":
            return t.to(int64), value.astype(int64)
        return t, value.astype(t.dtype)
    raise TypeError(f"unsupported operand type {type(other).__name__} for a Tensor")


def _axis_tuple(axis: Any, ndim: int, name: str = "axis") -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{name}={axis} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}={axis} repeats a dimension")
    return tuple(out)


class Tensor:
    """An n-dimensional array that can remember how it was computed.

    Args:
        data: array-like; see :func:`tensor` for the dtype rules.
        requires_grad: record operations on it so that ``backward`` fills ``grad``.
        dtype: optional dtype to convert to.

    Example:
        >>> import kernelwise as kw
        >>> t = kw.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        >>> (t * t).sum().backward()
        >>> t.grad.numpy().tolist()
        [[2.0, 4.0], [6.0, 8.0]]
    """

    __slots__ = ("__weakref__", "_ctx", "_retain", "data", "grad", "requires_grad")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__  # comparisons return tensors, identity stays the hash

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype, copy=False)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self._retain = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False, ctx: Function | None = None) -> Tensor:
        """Wrap an array produced by an operation (no conversion, no checks)."""
        t = object.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._retain = False
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made, False for results of recorded operations."""
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (float32, int64, bool_):
            extra += f", dtype={self.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), whether or not it requires grad."""
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory, as in PyTorch)."""
        return Tensor._make(self.data)

    def clone(self) -> Tensor:
        from .ops import shape

        return shape.Clone.apply(self)

    def to(self, dtype: Any) -> Tensor:
        """Convert to ``dtype``; float-to-float casts are differentiable."""
        dt = _dtype(dtype)
        if dt == self.dtype:
            return self
        from .ops import elementwise

        return elementwise.Cast.apply(self, dtype=dt)

    def float(self) -> Tensor:
        return self.to(float32)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, got {self.dtype}")
        if not requires_grad and not self.is_leaf:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``grad`` on this non-leaf tensor after ``backward``."""
        self._retain = True

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    # ----------------------------------------------------------------- backward
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf this tensor depends on.

        The graph is visited in reverse topological order (each node after every
        node that uses it); at each node the chain rule turns the gradient of its
        output into gradients of its inputs, which are summed per input.

        Args:
            gradient: dL/dself; may be omitted only for a one-element tensor.
            retain_graph: keep the saved values so that backward can run again.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph")
        if gradient is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward(): gradient can be omitted only for scalar outputs; this output has "
                    f"shape {self.shape}, pass gradient= of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = _to_array(gradient, self.dtype, copy=False)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): gradient has shape {grad.shape}, the tensor has shape {self.shape}")
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            g = in_layout_of(g, node.data)  # dL/dy in y's memory layout (ops/layout.py): same-order passes
            fn = node._ctx
            if fn is None or node._retain:
                g_copy = np.array(g, dtype=node.dtype)
                node.grad = Tensor._make(g_copy if node.grad is None else node.grad.data + g_copy)
                if fn is None:
                    continue
            in_grads = fn.backward(g)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            for inp, ig, need in zip(fn.inputs, in_grads, fn.needs_input_grad, strict=False):
                if not need or ig is None:
                    continue
                if ig.shape != inp.shape:
                    raise RuntimeError(
                        f"{type(fn).__name__}.backward returned a gradient of shape {ig.shape} "
                        f"for an input of shape {inp.shape}"
                    )
                key = id(inp)
                grads[key] = grads[key] + ig if key in grads else ig
            if not retain_graph:
                node._ctx = _Released(type(fn).__name__)

    # ----------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Add.apply(a, b)

    def __radd__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Add.apply(b, a)

    def __sub__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Sub.apply(a, b)

    def __rsub__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Sub.apply(b, a)

    def __mul__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Mul.apply(a, b)

    def __rmul__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Mul.apply(b, a)

    def __truediv__(self, other: Any) -> Tensor:
        a, b = _operand(self.float() if self.dtype.kind != "f" else self, other)
        return _E.Div.apply(a, b)

    def __rtruediv__(self, other: Any) -> Tensor:
        a, b = _operand(self.float() if self.dtype.kind != "f" else self, other)
        return _E.Div.apply(b, a)

    def __pow__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Pow.apply(a, b)

    def __rpow__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.Pow.apply(b, a)

    def __matmul__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.MatMul.apply(a, b)

    def __rmatmul__(self, other: Any) -> Tensor:
        a, b = _operand(self, other)
        return _E.MatMul.apply(b, a)

    def __neg__(self) -> Tensor:
        return _E.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def _compare(self, other: Any, op: Callable) -> Tensor:
        a, b = _operand(self, other)
        return Tensor._make(op(a.data, b.data if isinstance(b, Tensor) else b))

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

    def __getitem__(self, index: Any) -> Tensor:
        return _S.GetItem.apply(self, index=_index_arrays(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad and _grad_enabled:
            raise RuntimeError("in-place assignment to a tensor that requires grad; use kw.where or kw.no_grad()")
        self.data[_index_arrays(index)] = value.data if isinstance(value, Tensor) else value

    # ----------------------------------------------------------------- math
    def exp(self) -> Tensor:
        return _E.Exp.apply(self)

    def log(self) -> Tensor:
        return _E.Log.apply(self)

    def sqrt(self) -> Tensor:
        return _E.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return _E.Abs.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Limit values to [min, max]; the gradient passes where min <= x <= max."""
        if min is None and max is None:
            raise ValueError("clip(): at least one of min and max must be given")
        return _E.Clip.apply(self, lo=min, hi=max)

    clamp = clip

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
            raise TypeError(f"mean(): needs a floating-point tensor, got {self.dtype}")
        return _R.Mean.apply(self, axes=axes, keepdims=keepdim if keepdim is not None else keepdims)

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        """Largest values over ``axis``; the gradient is shared equally among ties.

        Unlike ``torch.max(dim)`` it returns the values only (use ``argmax`` for indices).
        """
        axes = _axis_tuple(dim if dim is not None else axis, self.ndim)
        return _R.Extremum.apply(self, axes=axes, keepdims=keepdim if keepdim is not None else keepdims, op=np.max)

    def min(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        """Smallest values over ``axis``; the gradient is shared equally among ties."""
        axes = _axis_tuple(dim if dim is not None else axis, self.ndim)
        return _R.Extremum.apply(self, axes=axes, keepdims=keepdim if keepdim is not None else keepdims, op=np.min)

    def argmax(
        self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None, keepdim: bool | None = None
    ) -> Tensor:
        """Index of the largest value (of the flattened tensor when no axis is given); int64, no gradient."""
        axis = dim if dim is not None else axis
        keepdims = keepdim if keepdim is not None else keepdims
        return Tensor._make(np.asarray(self.data.argmax(axis=axis, keepdims=keepdims), dtype=np.int64))

    def argmin(
        self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None, keepdim: bool | None = None
    ) -> Tensor:
        """Index of the smallest value (of the flattened tensor when no axis is given); int64, no gradient."""
        axis = dim if dim is not None else axis
        keepdims = keepdim if keepdim is not None else keepdims
        return Tensor._make(np.asarray(self.data.argmin(axis=axis, keepdims=keepdims), dtype=np.int64))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _S.Reshape.apply(self, shape=_S.resolve_shape(self.shape, shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        (s,) = _axis_tuple(start_dim, self.ndim, "start_dim")
        (e,) = _axis_tuple(end_dim, self.ndim, "end_dim")
        if s > e:
            raise ValueError(f"flatten(): start_dim={start_dim} comes after end_dim={end_dim}")
        return self.reshape((*self.shape[:s], int(np.prod(self.shape[s : e + 1])), *self.shape[e + 1 :]))

    def permute(self, *dims: Any) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], tuple | list):
            dims = tuple(dims[0])
        axes = _axis_tuple(dims, self.ndim, "dims")
        if len(axes) != self.ndim:
            raise ValueError(f"permute(): dims={dims} must name all {self.ndim} dimensions")
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
            raise ValueError(f"unsqueeze(): dim={dim} is out of range for a tensor of shape {self.shape}")
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
        return bool(self.data.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        """This tensor if it is contiguous, else a C-ordered copy (differentiable, as ``clone``)."""
        return self if self.is_contiguous() else self.clone()


def _index_arrays(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor of the graph below ``root``, each after all of its inputs."""
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
            stack.extend((t, False) for t, need in zip(fn.inputs, fn.needs_input_grad, strict=False) if need)
        elif isinstance(fn, _Released):
            fn.backward(np.empty(0))  # raises: this part of the graph was already used
    return order


# --------------------------------------------------------------------------- creation
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor, copying ``data``, with PyTorch's dtype inference.

    NumPy arrays keep their dtype (float64 stays float64, for gradient checks);
    Python floats and lists of floats become float32; integers int64; bools bool.

    Example:
        >>> import kernelwise as kw, numpy as np
        >>> kw.tensor([1.5, 2]).dtype, kw.tensor([1, 2]).dtype, kw.tensor(np.zeros(2)).dtype
        (dtype('float32'), dtype('int64'), dtype('float64'))
    """
    return Tensor(_to_array(data, dtype, copy=True), requires_grad=requires_grad)


def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"size: {tuple(shape)} must be non-negative integers")
    return tuple(int(n) for n in shape)


def zeros(*shape: Any, dtype: Any = float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape_arg(shape), dtype=_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape_arg(shape), dtype=_dtype(dtype)), requires_grad=requires_grad)


def full(shape: Sequence[int], fill_value: float, dtype: Any = float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(_shape_arg((shape,)), fill_value, dtype=_dtype(dtype)), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None) -> Tensor:
    return Tensor(np.zeros(t.shape, dtype=_dtype(dtype) or t.dtype))


def ones_like(t: Tensor, dtype: Any = None) -> Tensor:
    return Tensor(np.ones(t.shape, dtype=_dtype(dtype) or t.dtype))


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    return tensor(np.arange(start, end, step) if end is not None else np.arange(start), dtype=dtype)


from .ops import elementwise as _E  # noqa: E402  (the ops need Tensor defined first)
from .ops import reduce as _R  # noqa: E402
from .ops import shape as _S  # noqa: E402
