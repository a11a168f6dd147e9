"""``torch.backends``: the switches programs set (``cudnn.benchmark``, ``cudnn.deterministic``), with no effect,
and kernelwise's own: ``conv.allow_winograd`` (off by default: the fast, less exact 3×3 algorithm).

kernelwise is deterministic and has no cuDNN or MPS; ``cudnn.is_available()`` and
``mps.is_available()`` are False.

Example:
    >>> import kernelwise as kw
    >>> kw.backends.cudnn.benchmark = True   # accepted, changes nothing
    >>> kw.backends.cudnn.deterministic, kw.backends.mps.is_available()
    (False, False)
    >>> kw.backends.cudnn.benchmark = False
"""

from . import conv, cudnn, mps

__all__ = ["conv", "cudnn", "mps"]
