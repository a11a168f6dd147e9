"""The named tuples that ``max(dim)``, ``min(dim)``, ``sort`` and ``topk`` return, as ``torch.return_types``.

Each is a tuple ``(values, indices)`` (so ``_, predicted = kw.max(outputs, 1)`` unpacks it) whose
fields also have names (``kw.max(outputs, 1).indices``).

Example:
    >>> import kernelwise as kw
    >>> result = kw.tensor([[1.0, 5.0, 3.0]]).max(1)
    >>> result.values.tolist(), result.indices.tolist(), type(result).__name__
    ([5.0], [1], 'max')
"""

from collections import namedtuple

max = namedtuple("max", ["values", "indices"], module=__name__)
min = namedtuple("min", ["values", "indices"], module=__name__)
sort = namedtuple("sort", ["values", "indices"], module=__name__)
topk = namedtuple("topk", ["values", "indices"], module=__name__)
