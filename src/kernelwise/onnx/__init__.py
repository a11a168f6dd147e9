"""ONNX in and out: :func:`export` writes a kernelwise model as an ONNX graph, :func:`load` reads one
as a kernelwise :class:`~kernelwise.nn.Module` that runs on kernelwise's own ops (so it trains).

Both need the ``onnx`` package (``pip install kernelwise[onnx]``); importing this module does not.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export", "load"]


def __getattr__(name: str) -> Any:
    """``export`` and ``load`` come from their modules on first use."""
    if name == "export":
        from .export import export

        return export
    if name == "load":
        from .load import load

        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
