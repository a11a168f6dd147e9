"""ONNX in and out: :func:`export` writes a kernelwise model as an ONNX graph, :func:`load` reads one
as a kernelwise :class:`~kernelwise.nn.Module` that runs on kernelwise's own ops (so it trains).

Both need the ``onnx`` package (``pip install kernelwise[onnx]``); importing this module does not:
the modules import it inside their functions.
"""

from __future__ import annotations

# The functions take the package attributes that importing their submodules (of the same names) sets.
from .export import export
from .load import load

__all__ = ["export", "load"]
