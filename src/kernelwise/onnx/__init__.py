"""ONNX in and out: :func:`export` writes a kernelwise model as an ONNX graph, :func:`load` reads one
as a kernelwise :class:`~kernelwise.nn.Module` that runs on kernelwise's own ops (so it trains).

Both need the ``onnx`` package (``pip install kernelwise[onnx]``); importing this module does not.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export", "load"]


def __getattr__(name: str) -> Any:
    """``export`` and ``load`` come from their modules on first use.

    Importing a submodule sets the package's attribute of that name to the submodule; the function
    then takes its place, so ``kernelwise.onnx.export`` is the function every time.
    """
    if name == "export":
        from .export import export as function
    elif name == "load":
        from .load import load as function
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = function
    return function
