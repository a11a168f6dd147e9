"""The PyTorch-compatible functional API: ``import kernelwise.nn.functional as F``.

Same names, argument names, defaults and semantics as ``torch.nn.functional`` for
this subset, plus what PyTorch lacks: ``padding='full'``, ``min_pool1d/2d``,
``downsample`` and ``upsample_zeros``. Each function checks its arguments (clear
``ValueError``/``TypeError`` naming the argument and the shapes) and then applies
one Function from ``kernelwise.ops``.
"""
