"""The settings of the layer an explanation walks: sizes, stride, padding, dilation, channels and dims.

One frozen :class:`LayerSettings` carries them; the topic functions (``explain_conv``, ``explain_pool``,
``explain_backward``, ``explain_stride``, ``explain_transpose``) take one, or the same names as keywords,
which :meth:`LayerSettings.make` turns into one with the topic's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .symbolic import Geometry

if TYPE_CHECKING:
    from .values import Layer


@dataclass(frozen=True)
class LayerSettings:
    """One layer's settings, as ``conv1d``/``conv2d`` and the pooling functions take them.

    ``input_size``, ``kernel_size``: int (square in 2-D) or tuple; None for the topic's default or the size
    of the given numbers. ``stride``: None for the topic's default. ``padding``: ints, or 'valid', 'same',
    'full'. ``in_channels``, ``out_channels``: None for 1 or the given numbers' channels. ``dims``: 1, 2 or
    None (2, or 1 when the given numbers are 1-D).

    Example:
        >>> s = LayerSettings.make(None, {"input_size": 5}, "explain_stride", stride=2)
        >>> s.input_size, s.stride, s.padding
        (5, 2, 0)
        >>> LayerSettings.make(s, {"kernel": 3}, "explain_stride")
        Traceback (most recent call last):
        ...
        TypeError: explain_stride() got an unexpected keyword argument 'kernel'
    """

    input_size: Any = None
    kernel_size: Any = None
    stride: Any = None
    padding: Any = 0
    dilation: Any = 1
    in_channels: int | None = None
    out_channels: int | None = None
    dims: int | None = None

    def __post_init__(self) -> None:
        if self.dims not in (None, 1, 2):
            raise UsageError(f"--dims must be 1 or 2, got {self.dims}")

    @classmethod
    def make(
        cls,
        settings: LayerSettings | None,
        given: dict[str, Any],
        caller: str,
        without: tuple[str, ...] = (),
        **defaults: Any,
    ) -> LayerSettings:
        """``settings`` (default: all defaults) with the keywords ``given`` to ``caller`` replacing its fields.

        A keyword that is not a field, or is one of ``without``, raises the TypeError Python raises for an
        unexpected keyword argument of ``caller``. ``defaults`` fill the fields that are still None.
        """
        if settings is not None and not isinstance(settings, cls):
            raise TypeError(f"{caller}() takes a LayerSettings or keyword arguments, got {settings!r}")
        names = {f.name for f in fields(cls)} - set(without)
        for key in given:
            if key not in names:
                raise TypeError(f"{caller}() got an unexpected keyword argument {key!r}")
        merged = replace(settings or cls(), **given)
        return replace(merged, **{k: v for k, v in defaults.items() if getattr(merged, k) is None})

    def geometry(self, layer: Layer, stride: Any = None) -> Geometry:
        """The window walk over ``layer``'s sizes with these settings (``stride`` overrides this one's)."""
        return Geometry.make(
            layer.size, layer.kernel, self.stride if stride is None else stride, self.padding, self.dilation
        )
