"""The errors kernelwise raises on purpose: a mistake in what was asked or handed in, never a bug.

Every deliberate check in the library raises a :class:`KernelwiseError`. Each one also derives from
the built-in exception PyTorch (or Python) raises for the same mistake, so ``except ValueError`` and
``pytest.raises(TypeError)`` keep working. The command line prints a ``KernelwiseError`` as one line;
any other exception is a bug in kernelwise and keeps its traceback.

>>> import kernelwise as kw
>>> try:
...     kw.zeros(2, 3) @ kw.zeros(2, 3)
... except kw.errors.KernelwiseError as e:
...     print(type(e).__name__, isinstance(e, ValueError))
UsageError True
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DataError",
    "GraphError",
    "KernelwiseError",
    "MissingDependencyError",
    "UsageError",
    "UsageTypeError",
]


class KernelwiseError(Exception):
    """A mistake in what was asked or handed in (arguments, data, files), reported by a check."""


class UsageError(KernelwiseError, ValueError):
    """An argument with a wrong value or shape; the message names the argument and the shapes."""


class UsageTypeError(KernelwiseError, TypeError):
    """An argument of the wrong type; the message names the argument and the type it needs."""


class GraphError(KernelwiseError, RuntimeError):
    """Autograd used in a way it cannot follow (backward without a graph, in-place on a leaf), as PyTorch's
    ``RuntimeError``."""


class DataError(KernelwiseError, ValueError):
    """A dataset, image or other input file that is not what it should be."""


class CheckpointError(KernelwiseError, ValueError):
    """A checkpoint or saved state that is malformed, corrupt or does not match what loads it."""


class MissingDependencyError(KernelwiseError, RuntimeError):
    """An optional package that this call needs is not installed; the message says which to install."""
