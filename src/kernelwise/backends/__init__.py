"""``torch.backends``: the switches programs set (``cudnn.benchmark``, ``cudnn.deterministic``), with no effect,
and kernelwise's own: ``conv.allow_winograd`` (off by default: the fast, less exact 3×3 algorithm) and
``cpu.steady_threads`` (off by default: GEMMs in fixed chunks on kernelwise's own workers, steady on a busy
machine and the same bits at any thread count).

kernelwise is deterministic and has no cuDNN or MPS; ``cudnn.is_available()`` and
``mps.is_available()`` are False.

Example:
    >>> import kernelwise as kw
    >>> kw.backends.cudnn.benchmark = True   # accepted, changes nothing
    >>> kw.backends.cudnn.deterministic, kw.backends.mps.is_available()
    (False, False)
    >>> kw.backends.cudnn.benchmark = False
"""

from . import conv, cpu, cudnn, mps

__all__ = ["conv", "cpu", "cudnn", "mps"]
