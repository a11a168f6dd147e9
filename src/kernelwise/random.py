"""Random numbers: every draw takes an explicit seed or ``numpy.random.Generator``.

``manual_seed(s)`` resets the default generator used when none is passed, so the
same seed gives bit-identical weights, dropout masks and shuffles.

Example:
    >>> import kernelwise as kw
    >>> _ = kw.manual_seed(0); a = kw.random.generator().random()
    >>> _ = kw.manual_seed(0); b = kw.random.generator().random()
    >>> a == b
    True
"""

from __future__ import annotations

import numpy as np

from .errors import UsageError, UsageTypeError

_default = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to ``seed`` and return it."""
    global _default
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise UsageError(f"seed: must be a non-negative integer, got {seed!r}")
    _default = np.random.default_rng(int(seed))
    return _default


def generator(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """The generator to draw from: ``seed`` as a Generator, a new one seeded by it, or the default."""
    if seed is None:
        return _default
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, int | np.integer) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise UsageTypeError(f"generator: expected None, a non-negative int seed or numpy.random.Generator, got {seed!r}")
