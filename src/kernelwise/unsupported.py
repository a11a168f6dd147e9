"""PyTorch names that have no meaning in kernelwise: using one raises an error that names it.

A program ported with ``import kernelwise as torch`` then stops with a sentence saying what is
missing and what to do, rather than an ``AttributeError``.

Example:
    >>> import kernelwise as kw
    >>> kw.compile(kw.nn.Linear(2, 2))
    Traceback (most recent call last):
    ...
    NotImplementedError: kernelwise.compile: kernelwise has no compiler; use the model itself (drop the \
torch.compile call)
"""

from __future__ import annotations

from typing import Any

from .devices import no_gpu_message


def unsupported(name: str, reason: str) -> type:
    """A class standing in for PyTorch's ``name``: creating (or calling) it raises NotImplementedError."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{name}: {reason}")

    return type(name.rpartition(".")[2], (), {"__new__": refuse, "__doc__": f"Not available: {reason}."})


def needs_gpu(name: str) -> type:
    """A stand-in for a CUDA-only PyTorch name (a stream, an event, ...)."""
    return unsupported(name, no_gpu_message(name).partition(": ")[2])


def compile(model: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``torch.compile``: not available (kernelwise runs its NumPy code as written)."""
    raise NotImplementedError(
        "kernelwise.compile: kernelwise has no compiler; use the model itself (drop the torch.compile call)"
    )
