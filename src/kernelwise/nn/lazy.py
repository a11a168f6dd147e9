"""Lazy layers (``LazyLinear``, ``LazyConv1d/2d``, ``LazyBatchNorm1d/2d``, ...): input sizes from the first input.

A lazy layer is built without ``in_features`` / ``in_channels`` / ``num_features``. Until its
first call its weight and bias are :class:`~kernelwise.nn.UninitializedParameter` s (shape
unknown; a BatchNorm's running statistics are uninitialized buffers). The first call
reads the size from the input, gives the parameters their shapes, draws them with the layer's
usual initialisation (from the ``generator`` given at construction, so ``LazyLinear(10,
generator=0)`` and ``Linear(n, 10, generator=0)`` start from the same weights) and turns the
layer into the plain class (``LazyLinear`` becomes ``Linear``), as PyTorch does.

The parameters are filled in place, so an optimizer built before the first call holds the very
objects that get trained (as in PyTorch); PyTorch's documentation still advises one "dry run"
batch before building the optimizer, and so does this one.

Example:
    >>> import kernelwise as kw
    >>> from kernelwise import nn
    >>> net = nn.Sequential(nn.LazyConv2d(6, 5, generator=0), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10, generator=1))
    >>> net[0]
    LazyConv2d(0, 6, kernel_size=(5, 5), stride=(1, 1))
    >>> tuple(net(kw.zeros(2, 1, 28, 28)).shape)   # the dry run: in_channels=1, in_features=6·24·24
    (2, 10)
    >>> net[0], net[3]
    (Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1)), Linear(in_features=3456, out_features=10, bias=True))
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .linear import Linear
from .module import Module, UninitializedBuffer, UninitializedParameter, _Uninitialized
from .normalization import BatchNorm1d, BatchNorm2d

__all__ = [
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyLinear",
]  # the lazy layers (LazyModuleMixin, their base, is imported by name, as in torch.nn.modules.lazy)


class LazyModuleMixin:
    """What makes a layer lazy: uninitialized tensors until the first call, then the plain layer.

    A lazy class lists this mixin first, then the layer it becomes (``cls_to_become``), and defines
    ``_infer_in_size(input)``. It takes the plain layer's arguments after the size it cannot know
    yet, and builds the plain layer with ``_unknown_size`` (None, or 0 for Linear) for it; the
    tensors whose shapes depend on it (those its ``_shapes()`` names) are then replaced by
    uninitialized ones of the same dtype, and its ``reset_parameters`` call is kept for the first
    call, where the tensors get their shapes and the plain layer's initialisation draws them.
    """

    cls_to_become: type[Module]
    _unknown_size: int | None = None  # what the plain layer takes for the size it cannot know yet
    _parameters: dict[str, Any]
    _buffers: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The plain layer's arguments after the size it cannot know yet."""
        super().__init__(self._unknown_size, *args, **kwargs)  # the plain layer, without its input size: empty tensors
        for name in self._shapes():  # type: ignore[attr-defined]
            if self._parameters.get(name) is not None:
                self._parameters[name] = UninitializedParameter(dtype=self._parameters[name].dtype)
            if self._buffers.get(name) is not None:
                self._buffers[name] = UninitializedBuffer(dtype=self._buffers[name].dtype)

    def reset_parameters(self, *args: Any) -> None:
        """Kept for the first call (the shapes are not known yet); the plain layer's runs then."""
        self._reset_args = args

    def has_uninitialized_params(self) -> bool:
        """Whether some parameter or buffer still waits for its shape."""
        return any(isinstance(t, _Uninitialized) for t in [*self._parameters.values(), *self._buffers.values()])

    def _infer_in_size(self, input: Tensor) -> None:
        raise NotImplementedError

    def initialize_parameters(self, input: Tensor) -> None:
        """Read the size from ``input``, give the tensors their shapes, draw them and become the plain layer.

        Tensors that already have values (``load_state_dict`` gave them their shapes) keep them.
        """
        if not isinstance(input, Tensor):
            raise UsageTypeError(f"{type(self).__name__}: input should be a Tensor, got {type(input).__name__}")
        self._infer_in_size(input)
        fresh = False
        for name, shape in self._shapes().items():  # type: ignore[attr-defined]
            tensor = self._parameters.get(name, self._buffers.get(name))
            if isinstance(tensor, _Uninitialized):
                tensor.materialize(shape)  # in place: an optimizer that holds it keeps it
                fresh = True
        args = self.__dict__.pop("_reset_args", ())
        self.__class__ = self.cls_to_become
        if fresh:
            self.reset_parameters(*args)  # type: ignore[attr-defined]  (the plain layer's initialisation)

    def forward(self, input: Tensor) -> Tensor:
        self.initialize_parameters(input)
        return self.forward(input)  # the plain layer's forward, now that self is one


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`~kernelwise.nn.Linear` whose ``in_features`` is the last dimension of its first input.

    Args:
        out_features: size of each output sample.
        bias: add a learned bias.
        device: ``'cpu'`` or None.
        dtype: dtype of the parameters (None: float32).
        generator: seed, ``numpy.random.Generator`` or None for the weights drawn at the first call.

    Example:
        >>> import kernelwise as kw
        >>> fc = kw.nn.LazyLinear(3, generator=0)
        >>> fc
        LazyLinear(in_features=0, out_features=3, bias=True)
        >>> tuple(fc(kw.zeros(4, 5)).shape), fc, tuple(fc.weight.shape)
        ((4, 3), Linear(in_features=5, out_features=3, bias=True), (3, 5))
    """

    cls_to_become = Linear
    _unknown_size = 0

    def _infer_in_size(self, input: Tensor) -> None:
        if input.ndim == 0:
            raise UsageError("LazyLinear: input must have at least 1 dimension (the features), got a 0-d tensor")
        self.in_features = int(input.shape[-1])


class _LazyConvMixin(LazyModuleMixin):
    """``in_channels`` from the first input: dim 1 of a batched input, dim 0 of an unbatched one."""

    _nd: int

    def _infer_in_size(self, input: Tensor) -> None:
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise UsageError(
                f"{type(self).__name__}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) input, "
                f"got shape {tuple(input.shape)}"
            )
        self._set_in_channels(input.shape[1] if input.ndim == nd + 2 else input.shape[0])  # type: ignore[attr-defined]


class LazyConv1d(_LazyConvMixin, Conv1d):
    """A :class:`~kernelwise.nn.Conv1d` whose ``in_channels`` is read from its first input.

    Args:
        out_channels, kernel_size, ...: the arguments of ``Conv1d`` after ``in_channels``.

    Example:
        >>> import kernelwise as kw
        >>> conv = kw.nn.LazyConv1d(4, 3, padding=1, generator=0)
        >>> tuple(conv(kw.zeros(2, 5, 7)).shape), conv.in_channels, type(conv).__name__
        ((2, 4, 7), 5, 'Conv1d')
    """

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvMixin, Conv2d):
    """A :class:`~kernelwise.nn.Conv2d` whose ``in_channels`` is read from its first input.

    Args:
        out_channels, kernel_size, ...: the arguments of ``Conv2d`` after ``in_channels``.

    Example:
        >>> import kernelwise as kw
        >>> conv = kw.nn.LazyConv2d(6, 5, generator=0)
        >>> tuple(conv(kw.zeros(3, 28, 28)).shape), tuple(conv.weight.shape)  # unbatched input: C_in = 3
        ((6, 24, 24), (6, 3, 5, 5))
    """

    cls_to_become = Conv2d


class LazyConvTranspose1d(_LazyConvMixin, ConvTranspose1d):
    """A :class:`~kernelwise.nn.ConvTranspose1d` whose ``in_channels`` is read from its first input.

    Args:
        out_channels, kernel_size, ...: the arguments of ``ConvTranspose1d`` after ``in_channels``.
    """

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    """A :class:`~kernelwise.nn.ConvTranspose2d` whose ``in_channels`` is read from its first input.

    Args:
        out_channels, kernel_size, ...: the arguments of ``ConvTranspose2d`` after ``in_channels``.
    """

    cls_to_become = ConvTranspose2d


class _LazyBatchNormMixin(LazyModuleMixin):
    """``num_features`` from the first input: its dim 1."""

    def _infer_in_size(self, input: Tensor) -> None:
        self._check_input_dims(input)  # type: ignore[attr-defined]  (the plain BatchNorm's)
        self.num_features = int(input.shape[1])


class LazyBatchNorm1d(_LazyBatchNormMixin, BatchNorm1d):
    """A :class:`~kernelwise.nn.BatchNorm1d` whose ``num_features`` is dim 1 of its first input.

    Args:
        eps, momentum, affine, track_running_stats, device, dtype, bias: as ``BatchNorm1d``'s.

    Example:
        >>> import kernelwise as kw
        >>> bn = kw.nn.LazyBatchNorm1d()
        >>> tuple(bn(kw.zeros(4, 3)).shape), bn
        ((4, 3), BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True))
    """

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNormMixin, BatchNorm2d):
    """A :class:`~kernelwise.nn.BatchNorm2d` whose ``num_features`` is dim 1 of its first input.

    Args:
        eps, momentum, affine, track_running_stats, device, dtype, bias: as ``BatchNorm2d``'s.

    Example:
        >>> import kernelwise as kw
        >>> bn = kw.nn.LazyBatchNorm2d()
        >>> _ = bn(kw.ones(2, 5, 3, 3))
        >>> tuple(bn.running_mean.shape), bn.num_batches_tracked.item()
        ((5,), 1)
    """

    cls_to_become = BatchNorm2d
