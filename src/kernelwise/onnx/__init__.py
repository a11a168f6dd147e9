"""ONNX in and out: :func:`export` writes a kernelwise model as an ONNX graph, :func:`load` reads one
as a kernelwise :class:`~kernelwise.nn.Module` that runs on kernelwise's own ops (so it trains).

Both need the ``onnx`` package (``pip install kernelwise[onnx]``); importing this module does not:
the modules import it inside their functions.
"""

from __future__ import annotations

from typing import Any

from .export import export  # the function takes the package attribute the submodule's import sets

__all__ = ["export", "load"]


def __getattr__(name: str) -> Any:
    """``load`` comes from its module on first use (the function, not the submodule of the same name)."""
    if name != "load":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .load import load as function

    globals()[name] = function
    return function
