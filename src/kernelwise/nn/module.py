"""Module and Parameter: the stateful side of ``kernelwise.nn``.

A :class:`Module` holds hyperparameters, :class:`Parameter` s (tensors that an
optimizer updates) and buffers (tensors that are state but not trained, such as
BatchNorm's running statistics). Assigning one of them as an attribute registers
it, in assignment order, so that ``parameters()``, ``state_dict()`` and
``repr()`` find it with the same dotted names as PyTorch (``features.0.weight``).
The computation itself lives in ``kernelwise.nn.functional``: a layer's
``forward`` is one call to a stateless function.

Example:
    >>> import kernelwise as kw
    >>> from kernelwise import nn
    >>> class Affine(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = nn.Parameter(kw.ones(2))
    ...         self.register_buffer("calls", kw.zeros(1))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> model = nn.Sequential(Affine(), nn.Identity())
    >>> [name for name, _ in model.named_parameters()], list(model.state_dict())
    (['0.scale'], ['0.scale', '0.calls'])
    >>> model(kw.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..devices import as_device, parse_to
from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor, _dtype

__all__ = [
    "Flatten",
    "Identity",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ParameterList",
    "Sequential",
    "Unflatten",
    "UninitializedBuffer",
    "UninitializedParameter",
]


class Parameter(Tensor):
    """A tensor that is a trainable parameter of a :class:`Module`.

    It shares memory with ``data`` (as ``torch.nn.Parameter`` does) and is a leaf
    of the graph that requires grad, so ``backward`` fills its ``grad``.

    Args:
        data: the initial values (a Tensor, a NumPy array or array-like; the dtype
            rules are those of :func:`kernelwise.tensor`).
        requires_grad: whether backward computes its gradient.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.Parameter(kw.tensor([1.0, -2.0]))
        >>> w.requires_grad, w.is_leaf
        (True, True)
        >>> w
        Parameter containing:
        tensor([ 1., -2.], requires_grad=True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _Uninitialized:
    """A tensor whose shape is not known yet: a lazy layer's parameter or buffer before its first call.

    It holds only its dtype (as an empty array, so ``Module.to(dtype)`` converts it as any other);
    its shape and values raise a ``ValueError`` that says to run a batch first. ``materialize(shape)``
    gives it its shape and makes it a plain ``cls_to_become`` in place (the same object), so an
    optimizer that already holds it keeps working, as in PyTorch.
    """

    __slots__ = ()
    cls_to_become: type[Tensor]
    _array: np.ndarray

    def materialize(self, shape: tuple[int, ...], dtype: Any = None) -> None:
        """Give it ``shape`` (values unset until ``reset_parameters`` or a load fills them) and make it plain."""
        self._array = np.empty(tuple(shape), dtype=self._array.dtype if dtype is None else _dtype(dtype))
        self.__class__ = self.cls_to_become  # the same object: whoever holds it (an optimizer) holds the real one

    def _uninitialized(self, what: str) -> Any:
        raise UsageError(
            f"{what} of an uninitialized {'parameter' if isinstance(self, Parameter) else 'buffer'}: a lazy "
            "layer (LazyLinear, LazyConv2d, ...) learns its shapes from its first input; run one batch through "
            "the model first"
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return self._uninitialized("shape")

    @property
    def ndim(self) -> int:
        return self._uninitialized("ndim")

    def size(self, dim: int | None = None) -> Any:
        return self._uninitialized("size()")

    def numel(self) -> int:
        return self._uninitialized("numel()")

    def numpy(self) -> np.ndarray:
        return self._uninitialized("numpy()")

    def tolist(self) -> Any:
        return self._uninitialized("tolist()")

    def item(self) -> Any:
        return self._uninitialized("item()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._uninitialized("the values")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _empty(dtype: Any, who: str) -> np.ndarray:
    dt = _dtype(dtype)
    if dt is None or dt.kind != "f":
        raise UsageTypeError(f"{who}: dtype={dtype!r} should be a floating-point dtype")
    return np.empty(0, dtype=dt)


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter whose shape is not known yet (see ``_Uninitialized``): a lazy layer's weight before its first call.

    Example:
        >>> import kernelwise as kw
        >>> w = kw.nn.UninitializedParameter()
        >>> w
        <UninitializedParameter>
        >>> w.materialize((2, 3))
        >>> type(w).__name__, tuple(w.shape)
        ('Parameter', (2, 3))
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(_empty(dtype, "UninitializedParameter"), requires_grad)


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape is not known yet: a lazy BatchNorm's running statistics before its first call.

    Example:
        >>> import kernelwise as kw
        >>> b = kw.nn.UninitializedBuffer()
        >>> b.materialize((4,))
        >>> type(b).__name__, tuple(b.shape)
        ('Tensor', (4,))
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, dtype: Any = np.float32) -> None:
        super().__init__(_empty(dtype, "UninitializedBuffer"), requires_grad)


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _addindent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first (PyTorch's repr layout)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def parameter_dtype(device: Any, dtype: Any) -> np.dtype:
    """The dtype of a layer's parameters: ``dtype`` (None: float32), which must be floating, on the CPU ``device``.

    Example:
        >>> parameter_dtype("cpu", None), parameter_dtype(None, "float64")
        (dtype('float32'), dtype('float64'))
    """
    as_device(device)  # the CPU (or None): anything else is an error
    dt = _dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise UsageTypeError(f"dtype={dtype!r}: parameters need a floating-point dtype")
    return dt


def add_weight_and_bias(layer: Module, bias: bool, device: Any, dtype: Any) -> None:
    """Give ``layer`` an empty ``weight`` and ``bias`` Parameter (None without ``bias``), shaped by its ``_shapes()``.

    For a layer whose ``reset_parameters`` then draws them (Linear, the convolutions).

    Example:
        >>> from kernelwise import nn
        >>> class Scale(nn.Module):
        ...     def _shapes(self):
        ...         return {"weight": (3,), "bias": (3,)}
        >>> layer = Scale()
        >>> add_weight_and_bias(layer, bias=False, device=None, dtype=None)
        >>> tuple(layer.weight.shape), layer.weight.dtype, layer.bias
        ((3,), dtype('float32'), None)
    """
    dt = parameter_dtype(device, dtype)
    shapes = layer._shapes()  # type: ignore[attr-defined]
    layer.weight = Parameter(np.empty(shapes["weight"], dtype=dt))
    if bias:
        layer.bias = Parameter(np.empty(shapes["bias"], dtype=dt))
    else:
        layer.register_parameter("bias", None)


def _check_name(name: Any, kind: str) -> None:
    if not isinstance(name, str):
        raise UsageTypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise UsageError(f'{kind} name {name!r} must be non-empty and must not contain "."')


def _check_value(value: Any, expected: type, kind: str, name: str) -> None:
    """A TypeError unless ``value`` is None or an ``expected`` (what the registry of ``kind`` holds)."""
    if value is not None and not isinstance(value, expected):
        raise UsageTypeError(
            f"cannot assign {type(value).__name__} as {kind} {name!r} ({expected.__name__} or None expected)"
        )


_REGISTRIES = ("_parameters", "_buffers", "_modules")


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, then assign parameters,
    sub-modules and buffers as attributes, and define ``forward``; calling the
    module runs ``forward``.

    Attributes:
        training: True in training mode (dropout active, BatchNorm uses batch
            statistics), False after ``eval()``.
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    # ----------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- registration
    def _registries(self) -> tuple[dict, dict, dict]:
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(
                f"cannot assign parameters, modules or buffers before {type(self).__name__}.__init__() "
                "has called super().__init__()"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._register("_parameters", name, value)
        elif isinstance(value, Module):
            self._register("_modules", name, value)
        elif (registry := self._registry_holding(name)) is not None:
            kind, expected = _REGISTRY_KINDS[registry]
            _check_value(value, expected, kind, name)  # what is registered stays of its kind (or None)
            self.__dict__[registry][name] = value
        else:
            object.__setattr__(self, name, value)

    def _register(self, registry: str, name: str, value: Any) -> None:
        """Put ``value`` in ``registry`` as ``name`` (in its old place, if any), and out of every other place."""
        self._registries()
        self.__dict__.pop(name, None)
        for other in _REGISTRIES:
            if other != registry:
                self.__dict__[other].pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__[registry][name] = value

    def _registry_holding(self, name: str) -> str | None:
        """The registry (``"_parameters"``, ``"_buffers"`` or ``"_modules"``) that has ``name``, if any."""
        return next((registry for registry in _REGISTRIES if name in self.__dict__.get(registry, {})), None)

    def _check_free(self, name: str, registry: str) -> None:
        """A KeyError if ``name`` is a plain attribute or in a registry other than ``registry``."""
        if name in self.__dict__ or self._registry_holding(name) not in (None, registry):
            raise KeyError(f"attribute {name!r} already exists")

    def __getattr__(self, name: str) -> Any:
        # Called only when normal lookup fails: look in the three registries.
        registry = self._registry_holding(name)
        if registry is not None:
            return self.__dict__[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or None: a declared but absent parameter, like ``bias=False``) as ``name``."""
        self._registries()
        _check_name(name, "parameter")
        _check_value(param, Parameter, "parameter", name)
        self._check_free(name, "_parameters")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (e.g. BatchNorm's ``running_mean``).

        Args:
            name: attribute name.
            tensor: the buffer, or None (declared, absent, left out of ``state_dict``).
            persistent: whether ``state_dict`` includes it.
        """
        self._registries()
        _check_name(name, "buffer")
        _check_value(tensor, Tensor, "buffer", name)
        self._check_free(name, "_buffers")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add ``module`` as the child ``name``."""
        self._registries()
        _check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise UsageTypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_free(name, "_modules")
        self._modules[name] = module

    register_module = add_module

    # ----------------------------------------------------------------- traversal
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every module below it (pre-order), with dotted names.

        A module reachable by two paths is listed once, under the first, unless ``remove_duplicate=False``.

        Example:
            >>> from kernelwise import nn
            >>> relu = nn.ReLU()
            >>> net = nn.Sequential(nn.Linear(2, 2), relu, relu)
            >>> [name for name, _ in net.named_modules()], len(list(net.named_modules(remove_duplicate=False)))
            (['', '0', '1'], 4)
        """
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules, each once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()  # a tensor shared by two modules is listed once (unless remove_duplicate=False)
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, in registration order, each parameter once.

        Args:
            prefix: put before every name.
            recurse: include the parameters of sub-modules (False: this module's own only).
            remove_duplicate: list a parameter shared by two modules once (False: under each name).
        """
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (each once), as :meth:`named_parameters` without names: what an optimizer takes."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs, persistent or not, as :meth:`named_parameters`."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (each once), persistent or not."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first) and then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all below it."""
        if not isinstance(mode, bool):
            raise UsageTypeError(f"train(): mode should be a bool, got {type(mode).__name__}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: drop them (None) or fill them with zeros."""
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.zero_()

    # ----------------------------------------------------------------- device and dtype
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move to a device and/or convert floating-point parameters, gradients and buffers to a dtype, in place.

        PyTorch's forms: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype),
        with ``device=``, ``dtype=`` and ``non_blocking=`` keywords. kernelwise computes on the CPU
        only: the device may be ``'cpu'`` (``'cpu:0'``) or ``kernelwise.device('cpu')``; any other
        device is a ``RuntimeError`` (see :mod:`kernelwise.devices`). Integer buffers (BatchNorm's
        ``num_batches_tracked``) keep their dtype, as in PyTorch. The Parameter objects stay the same,
        so an optimizer built before still holds them.

        Example:
            >>> from kernelwise import nn
            >>> fc = nn.Linear(2, 1, generator=0).to("cpu", dtype="float64")
            >>> fc.weight.dtype, fc.to("cpu") is fc
            (dtype('float64'), True)
        """
        _, dt, _, _ = parse_to(*args, **kwargs)  # a device other than the CPU raises here
        if dt is None:
            return self
        if dt.kind != "f":
            raise UsageTypeError(f"Module.to(): only floating-point dtypes are accepted, got {str(dt)!r}")
        for module in self.modules():
            for tensor in [*module._parameters.values(), *module._buffers.values()]:
                if tensor is None or tensor.dtype.kind != "f":
                    continue
                tensor._array = tensor._array.astype(dt, copy=False)
                if tensor.grad is not None:
                    tensor.grad._array = tensor.grad._array.astype(dt, copy=False)
        return self

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64."""
        return self.to(np.float64)

    def half(self) -> Module:
        """Floating-point parameters and buffers to float16."""
        return self.to(np.float16)

    def cpu(self) -> Module:
        """The module itself: kernelwise's tensors live on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Always a ``RuntimeError``: kernelwise has no GPU backend."""
        as_device("cuda" if device is None else device)
        return self

    # ----------------------------------------------------------------- state
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, in PyTorch's order.

        For each module: its parameters, then its buffers, then its children's
        entries. Values share memory with the module (``detach()`` ed unless
        ``keep_vars``); copy them to keep a snapshot.
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        dot = f"{prefix}." if prefix else ""
        for name, param in self._parameters.items():
            if param is not None:  # an uninitialized (lazy) parameter is listed as itself, as in PyTorch
                keep = keep_vars or isinstance(param, _Uninitialized)
                out[dot + name] = param if keep else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                out[dot + name] = buf if keep_vars or isinstance(buf, _Uninitialized) else buf.detach()
        for name, module in self._modules.items():  # a module used twice is saved under both names, as in PyTorch
            if module is not None:
                out.update(module.state_dict(prefix=dot + name, keep_vars=keep_vars))
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Everything is checked before anything is copied, so a failed load leaves the
        module unchanged. Values may be Tensors or NumPy arrays of any real dtype: they
        are cast to the dtype of the parameter or buffer they go into (float64 values
        into a float32 model round to float32), as PyTorch's ``copy_`` does. An
        uninitialized parameter of a lazy layer takes the value's shape.

        Args:
            state_dict: name -> values, as returned by :meth:`state_dict`.
            strict: whether missing or unexpected keys are an error.

        Returns:
            ``(missing_keys, unexpected_keys)``, both empty when ``strict``.

        Raises:
            ValueError: missing or unexpected keys (when strict), listing them; a shape
                mismatch, naming the key and both shapes.
            TypeError: a value that is not a Tensor or array, or not of a real (float, integer or bool) dtype.

        Example:
            >>> import numpy as np
            >>> from kernelwise import nn
            >>> fc = nn.Linear(2, 1)
            >>> fc.load_state_dict({"weight": np.array([[0.1, 0.2]]), "bias": np.zeros(1)})  # float64 values
            IncompatibleKeys(missing_keys=[], unexpected_keys=[])
            >>> fc.weight.dtype, fc.weight.tolist() == [[np.float32(0.1), np.float32(0.2)]]
            (dtype('float32'), True)
        """
        if not isinstance(state_dict, Mapping):
            raise UsageTypeError(f"state_dict: expected a mapping of names to tensors, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing keys: " + ", ".join(missing))
            if unexpected:
                parts.append("unexpected keys: " + ", ".join(unexpected))
            raise UsageError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, _Uninitialized):
                if isinstance(target, _Uninitialized):
                    continue  # both lazy: nothing to copy yet
                raise UsageError(
                    f"load_state_dict: {key!r} is uninitialized in the state dict (a lazy layer's that never ran)"
                )
            if isinstance(value, Tensor):
                value = value._array
            if not isinstance(value, np.ndarray | np.generic):
                raise UsageTypeError(
                    f"load_state_dict: {key!r} should be a Tensor or NumPy array, got {type(value).__name__}"
                )
            value = np.asarray(value)
            if value.dtype.kind not in "fiub":
                raise UsageTypeError(
                    f"load_state_dict: {key!r} has dtype {value.dtype}; values should be real numbers "
                    "(float, integer or bool)"
                )
            if isinstance(target, _Uninitialized):
                updates.append((target, value))  # takes the value's shape below
                continue
            if value.shape != target.shape:
                raise UsageError(
                    f"load_state_dict: size mismatch for {key!r}: the checkpoint has shape {value.shape}, "
                    f"the module has shape {tuple(target.shape)}"
                )
            if not target._array.flags.writeable:
                raise UsageError(
                    f"load_state_dict: {key!r} is read-only (a frozen module, kernelwise.jit.freeze): "
                    "load into the module it was frozen from, then freeze again"
                )
            updates.append((target, value))
        for target, value in updates:
            if isinstance(target, _Uninitialized):
                target.materialize(value.shape)
            target._array[...] = value  # copy in place, cast to the target's dtype: the module keeps its tensors
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The arguments shown inside ``repr``; layers override it (non-default arguments only)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_addindent(repr(module), 2)}" for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]  # one line of arguments: Conv2d(1, 6, kernel_size=...)
        else:
            body = "\n  " + "\n  ".join(lines) + "\n" if lines else ""
        return f"{type(self).__name__}({body})"


_REGISTRY_KINDS: dict[str, tuple[str, type]] = {
    "_parameters": ("parameter", Parameter),
    "_buffers": ("buffer", Tensor),
    "_modules": ("child module", Module),
}


class Sequential(Module):
    """Modules applied one after the other: ``forward(x) = m_n(...m_2(m_1(x)))``.

    Args:
        *args: the modules, named ``"0"``, ``"1"``, ...; or one ``OrderedDict``
            of name -> module.

    Example:
        >>> import kernelwise as kw
        >>> from kernelwise import nn
        >>> net = nn.Sequential(nn.Identity(), nn.Flatten())
        >>> len(net), net[1], net(kw.zeros(2, 3, 4)).shape
        (2, Flatten(start_dim=1, end_dim=-1), (2, 12))
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def _index(self, idx: int) -> str:
        if not isinstance(idx, int | np.integer) or isinstance(idx, bool):
            raise UsageTypeError(f"{type(self).__name__} indices must be integers or slices, got {type(idx).__name__}")
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return list(self._modules)[int(idx) % n]

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._index(idx), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def _renumber(self, modules: list[Module]) -> None:
        """Name the children "0", "1", ... again, after a deletion or an insertion (as PyTorch does)."""
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def __delitem__(self, idx: int | slice) -> None:
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            del modules[idx]
        else:
            self._index(idx)  # checks the index
            del modules[int(idx)]
        self._renumber(modules)

    def insert(self, index: int, module: Module) -> Sequential:
        """Put ``module`` before position ``index`` (``-len <= index <= len``); the children are renumbered."""
        if not isinstance(module, Module):
            raise UsageTypeError(f"{type(self).__name__}.insert: {type(module).__name__} is not a Module subclass")
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise UsageTypeError(f"{type(self).__name__}.insert: index should be an int, got {type(index).__name__}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"insert: index {index} is out of range for {type(self).__name__} of length {n}")
        modules = list(self._modules.values())
        modules.insert(int(index), module)
        self._renumber(modules)
        return self

    def pop(self, idx: int | slice) -> Any:
        """Remove and return the module (or the container of modules) at ``idx``."""
        module = self[idx]
        del self[idx]
        return module

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise UsageError(f"Sequential + {type(other).__name__}: only a Sequential can be added to a Sequential")
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise UsageError(f"Sequential += {type(other).__name__}: only a Sequential can be added to a Sequential")
        return self.extend(list(other))

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters are registered (named ``"0"``, ``"1"``, ...).

    Indexing, slicing, ``len``, iteration, ``append``, ``extend``, ``insert``, ``pop``, ``del``
    and ``+`` work as on a list; deleting or inserting renumbers the children, as in PyTorch.

    Example:
        >>> from kernelwise import nn
        >>> blocks = nn.ModuleList([nn.Identity(), nn.Identity()])
        >>> blocks.append(nn.Flatten())
        ModuleList(
          (0-1): 2 x Identity()
          (2): Flatten(start_dim=1, end_dim=-1)
        )
        >>> del blocks[0]
        >>> blocks.insert(0, nn.ReLU())[0], len(blocks)
        (ReLU(), 3)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    __len__ = Sequential.__len__
    __iter__ = Sequential.__iter__
    _index = Sequential._index
    __setitem__ = Sequential.__setitem__
    __delitem__ = Sequential.__delitem__
    _renumber = Sequential._renumber
    insert = Sequential.insert
    pop = Sequential.pop

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __iadd__(self, other: Iterable[Module]) -> ModuleList:
        return self.extend(other)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, Module) and not isinstance(modules, ModuleList | Sequential):
            raise UsageTypeError(f"ModuleList.extend should be called with an iterable, got {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def __repr__(self) -> str:
        # PyTorch folds runs of identical child reprs: "(0-1): 2 x Identity()"
        lines: list[str] = []
        items = [(name, repr(module)) for name, module in self._modules.items()]
        start = 0
        while start < len(items):
            end = start
            while end + 1 < len(items) and items[end + 1][1] == items[start][1]:
                end += 1
            text = _addindent(items[start][1], 2)
            if end == start:
                lines.append(f"({items[start][0]}): {text}")
            else:
                lines.append(f"({items[start][0]}-{items[end][0]}): {end - start + 1} x {text}")
            start = end + 1
        if not lines:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys (in insertion order).

    Args:
        modules: a mapping of name -> module, or an iterable of ``(name, module)`` pairs.

    Example:
        >>> from kernelwise import nn
        >>> heads = nn.ModuleDict({"digit": nn.Linear(4, 10, generator=0), "parity": nn.Linear(4, 2, generator=1)})
        >>> list(heads), "digit" in heads, [name for name, _ in heads.named_parameters()][:2]
        (['digit', 'parity'], True, ['digit.weight', 'digit.bias'])
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) the modules of a mapping or of ``(name, module)`` pairs, in their order."""
        if isinstance(modules, Module) and not isinstance(modules, ModuleDict):
            raise UsageTypeError(
                f"ModuleDict.update should be called with a mapping or pairs, got {type(modules).__name__}"
            )
        pairs = modules.items() if isinstance(modules, Mapping | ModuleDict) else modules
        for i, pair in enumerate(pairs):
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise UsageError(f"ModuleDict.update: element {i} should be a (name, module) pair, got {pair!r}")
            self[pair[0]] = pair[1]


def _as_parameter(value: Any, where: str) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)  # shares the tensor's memory, as torch.nn.Parameter(tensor) does
    raise UsageTypeError(f"{where}: expected a Parameter or Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """A list of parameters, registered as ``"0"``, ``"1"``, ... (a Tensor is made a Parameter).

    Example:
        >>> import kernelwise as kw
        >>> scales = kw.nn.ParameterList([kw.ones(2), kw.zeros(3)])
        >>> len(scales), list(scales.state_dict()), scales[1].requires_grad
        (2, ['0', '1'], True)
    """

    def __init__(self, values: Iterable[Tensor] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _key(self, idx: int) -> str:
        if isinstance(idx, bool) or not isinstance(idx, int | np.integer):
            raise UsageTypeError(f"ParameterList indices must be integers or slices, got {type(idx).__name__}")
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ParameterList of length {n}")
        return str(int(idx) % n)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ParameterList(list(self)[idx])
        return self._parameters[self._key(idx)]

    def __setitem__(self, idx: int, value: Tensor) -> None:
        self._parameters[self._key(idx)] = _as_parameter(value, "ParameterList")

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def append(self, value: Tensor) -> ParameterList:
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        if isinstance(values, Tensor):
            raise UsageTypeError("ParameterList.extend should be called with an iterable of tensors, got a Tensor")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        sizes = ["x".join(map(str, p.shape)) for p in self]  # (2, 3) -> "2x3", as PyTorch shows it
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {sizes[i]}]" for i, p in enumerate(self))


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored, as in PyTorch).

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Identity(54, unused="x")(kw.tensor([1.0])).tolist()
        [1.0]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Flatten(Module):
    """Flattens dimensions ``start_dim`` to ``end_dim`` into one.

    Args:
        start_dim: first dimension to flatten (default 1: keep the batch).
        end_dim: last dimension to flatten.

    Shape:
        - Input: ``(*, S_start, ..., S_end, *)``
        - Output: ``(*, S_start · ... · S_end, *)``

    Example:
        >>> import kernelwise as kw
        >>> kw.nn.Flatten()(kw.zeros(2, 3, 4, 5)).shape
        (2, 60)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension ``dim`` into ``unflattened_size`` (the inverse of :class:`Flatten`).

    Args:
        dim: the dimension to split.
        unflattened_size: the sizes it becomes; their product is the size of ``dim`` (one may be -1).

    Shape:
        - Input: ``(*, S_dim, *)``
        - Output: ``(*, U_1, ..., U_n, *)`` with ``U_1 · ... · U_n = S_dim``

    Example:
        >>> import kernelwise as kw
        >>> tuple(kw.nn.Unflatten(1, (2, 5))(kw.zeros(3, 10)).shape)
        (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise UsageTypeError(f"Unflatten: dim should be an int, got {type(dim).__name__}")
        if not isinstance(unflattened_size, tuple | list) or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in unflattened_size
        ):
            raise UsageTypeError(f"Unflatten: unflattened_size should be a tuple of ints, got {unflattened_size!r}")
        self.dim = int(dim)
        self.unflattened_size = tuple(int(v) for v in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if not -len(shape) <= self.dim < len(shape):
            raise UsageError(f"Unflatten: dim={self.dim} is out of range for input of shape {shape}")
        d = self.dim % len(shape)
        sizes = self.unflattened_size
        known = math.prod(v for v in sizes if v != -1)  # one -1 takes what the others leave
        fits = known == shape[d] if -1 not in sizes else known > 0 and shape[d] % known == 0
        if not fits or sizes.count(-1) > 1:
            raise UsageError(
                f"Unflatten: unflattened_size {sizes} does not multiply to {shape[d]}, "
                f"the size of dim {self.dim} of input of shape {shape}"
            )
        return input.reshape(*shape[:d], *sizes, *shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
