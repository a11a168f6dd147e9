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

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor, _dtype

__all__ = ["Flatten", "Identity", "Module", "ModuleList", "Parameter", "Sequential"]


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


def _check_name(name: Any, kind: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise ValueError(f'{kind} name {name!r} must be non-empty and must not contain "."')


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
            params, buffers, modules = self._registries()
            self.__dict__.pop(name, None)
            buffers.pop(name, None)
            modules.pop(name, None)
            self._non_persistent_buffers.discard(name)
            params[name] = value
        elif isinstance(value, Module):
            params, buffers, modules = self._registries()
            self.__dict__.pop(name, None)
            params.pop(name, None)
            buffers.pop(name, None)
            self._non_persistent_buffers.discard(name)
            modules[name] = value
        elif name in self.__dict__.get("_parameters", {}):
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} (Parameter or None expected)"
                )
            self._parameters[name] = None
        elif name in self.__dict__.get("_modules", {}):
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} (Module or None expected)"
                )
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", {}):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Called only when normal lookup fails: look in the three registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
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
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} (Parameter or None expected)")
        if name in self.__dict__ or name in self._buffers or name in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
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
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} (Tensor or None expected)")
        if name in self.__dict__ or name in self._parameters or name in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
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
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if name in self.__dict__ or name in self._parameters or name in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo: set[int] | None = None, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, each once, with dotted names."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name)

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

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()  # a tensor shared by two modules is listed once
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, in registration order, each parameter once."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
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
            raise TypeError(f"train(): mode should be a bool, got {type(mode).__name__}")
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

    # ----------------------------------------------------------------- dtype
    def to(self, dtype: Any) -> Module:
        """Convert floating-point parameters, their gradients and buffers to ``dtype``, in place.

        Integer buffers (BatchNorm's ``num_batches_tracked``) keep their dtype, as in PyTorch.
        The Parameter objects stay the same, so an optimizer built before still holds them.
        """
        dt = _dtype(dtype)
        if dt is None or dt.kind != "f":
            raise TypeError(f"Module.to(): only floating-point dtypes are accepted, got {dtype!r}")
        for module in self.modules():
            for tensor in [*module._parameters.values(), *module._buffers.values()]:
                if tensor is None or tensor.dtype.kind != "f":
                    continue
                tensor.data = tensor.data.astype(dt, copy=False)
                if tensor.grad is not None:
                    tensor.grad.data = tensor.grad.data.astype(dt, copy=False)
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

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
            if param is not None:
                out[dot + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                out[dot + name] = buf if keep_vars else buf.detach()
        for name, module in self._modules.items():  # a module used twice is saved under both names, as in PyTorch
            if module is not None:
                out.update(module.state_dict(prefix=dot + name, keep_vars=keep_vars))
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Everything is checked before anything is copied, so a failed load leaves the
        module unchanged. Values may be Tensors or NumPy arrays; dtypes are not
        converted silently.

        Args:
            state_dict: name -> values, as returned by :meth:`state_dict`.
            strict: whether missing or unexpected keys are an error.

        Returns:
            ``(missing_keys, unexpected_keys)``, both empty when ``strict``.

        Raises:
            ValueError: missing or unexpected keys (when strict), listing them; a shape
                mismatch, naming the key and both shapes.
            TypeError: a value that is not a Tensor or array, or whose dtype differs.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a mapping of names to tensors, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing keys: " + ", ".join(missing))
            if unexpected:
                parts.append("unexpected keys: " + ", ".join(unexpected))
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                value = value.data
            if not isinstance(value, np.ndarray | np.generic):
                raise TypeError(
                    f"load_state_dict: {key!r} should be a Tensor or NumPy array, got {type(value).__name__}"
                )
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(
                    f"load_state_dict: size mismatch for {key!r}: the checkpoint has shape {value.shape}, "
                    f"the module has shape {target.shape}"
                )
            if value.dtype != target.dtype:
                raise TypeError(
                    f"load_state_dict: dtype mismatch for {key!r}: the checkpoint has {value.dtype}, "
                    f"the module has {target.dtype} (convert the module with .to() or the values first)"
                )
            updates.append((target, value))
        for target, value in updates:
            target.data[...] = value  # copy in place: the module keeps its tensor objects
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
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got {type(idx).__name__}")
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

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters are registered (named ``"0"``, ``"1"``, ...).

    Example:
        >>> from kernelwise import nn
        >>> blocks = nn.ModuleList([nn.Identity(), nn.Identity()])
        >>> blocks.append(nn.Flatten())
        ModuleList(
          (0-1): 2 x Identity()
          (2): Flatten(start_dim=1, end_dim=-1)
        )
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    __len__ = Sequential.__len__
    __iter__ = Sequential.__iter__
    _index = Sequential._index
    __setitem__ = Sequential.__setitem__

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, Module) and not isinstance(modules, ModuleList | Sequential):
            raise TypeError(f"ModuleList.extend should be called with an iterable, got {type(modules).__name__}")
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
