"""Ready-made networks, each a plain ``Sequential`` (or a few small Modules).

Every builder takes ``generator`` (a seed or ``numpy.random.Generator``) so the same
seed gives bit-identical weights; the layer names match the equivalent PyTorch
model, so a checkpoint loads into it with ``load_state_dict``.

Example:
    >>> import kernelwise as kw
    >>> from kernelwise.models import lenet5
    >>> model = lenet5(generator=0)
    >>> model(kw.zeros(2, 1, 28, 28)).shape
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn
from .errors import UsageError
from .random import generator as _generator
from .tensor import Tensor


def lenet5(num_classes: int = 10, in_channels: int = 1, generator: Any = None) -> nn.Sequential:
    """LeNet-5 for 28×28 input: conv 6@5×5 (pad 2), max-pool, conv 16@5×5, max-pool, 120-84-classes.

    Shape: (N, in_channels, 28, 28) -> (N, num_classes)
    """
    rng = _generator(generator)
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2, generator=rng),  # (N, 6, 28, 28)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 6, 14, 14)
        nn.Conv2d(6, 16, 5, generator=rng),  # (N, 16, 10, 10)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 16, 5, 5)
        nn.Flatten(),  # (N, 400)
        nn.Linear(16 * 5 * 5, 120, generator=rng),
        nn.ReLU(),
        nn.Linear(120, 84, generator=rng),
        nn.ReLU(),
        nn.Linear(84, num_classes, generator=rng),
    )


def mnist1d_cnn(
    num_classes: int = 10, in_channels: int = 1, channels: int = 25, length: int = 40, generator: Any = None
) -> nn.Sequential:
    """The MNIST-1D paper's CNN (Greydanus 2020): three strided Conv1d + ReLU, then one Linear.

    Shape: (N, 1, 40) -> (N, 25, 19) -> (N, 25, 10) -> (N, 25, 5) -> (N, num_classes)
    """
    rng = _generator(generator)
    out = length
    for k in (5, 3, 3):
        out = (out - k + 2) // 2 + 1  # floor((L - k + 2P) / S) + 1 with P = 1, S = 2
    return nn.Sequential(
        nn.Conv1d(in_channels, channels, 5, stride=2, padding=1, generator=rng),
        nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1, generator=rng),
        nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1, generator=rng),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(channels * out, num_classes, generator=rng),
    )


def digits_cnn(num_classes: int = 10, in_channels: int = 1, generator: Any = None) -> nn.Sequential:
    """A small CNN for scikit-learn's 8×8 digits.

    Shape: (N, 1, 8, 8) -> (N, 16, 8, 8) -> (N, 32, 8, 8) -> (N, 32, 4, 4) -> (N, num_classes)
    """
    rng = _generator(generator)
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, generator=rng),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, generator=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64, generator=rng),
        nn.ReLU(),
        nn.Linear(64, num_classes, generator=rng),
    )


def _conv_bn_relu(cin: int, cout: int, rng: np.random.Generator, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False, generator=rng),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


def small_vgg(num_classes: int = 10, in_channels: int = 3, width: int = 32, generator: Any = None) -> nn.Sequential:
    """A small VGG-style network (3×3 conv + BatchNorm + ReLU blocks, max-pool between stages) for
    32×32 colour images; global average pooling makes it work for other sizes ≥ 8 too.

    Shape: (N, in_channels, H, W) -> (N, num_classes)
    """
    rng = _generator(generator)
    w = width
    return nn.Sequential(
        *_conv_bn_relu(in_channels, w, rng),
        *_conv_bn_relu(w, w, rng),
        nn.MaxPool2d(2),
        *_conv_bn_relu(w, 2 * w, rng),
        *_conv_bn_relu(2 * w, 2 * w, rng),
        nn.MaxPool2d(2),
        *_conv_bn_relu(2 * w, 4 * w, rng),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, num_classes, generator=rng),
    )


class BasicBlock(nn.Module):
    """The residual block: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The shortcut is the identity, or a strided 1×1 conv + BatchNorm when the shape changes.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, generator: Any = None) -> None:
        super().__init__()
        rng = _generator(generator)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False, generator=rng)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False, generator=rng)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        if stride != 1 or cin != cout:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False, generator=rng), nn.BatchNorm2d(cout)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def small_resnet(num_classes: int = 10, in_channels: int = 3, width: int = 16, generator: Any = None) -> nn.Sequential:
    """A small ResNet for 32×32 colour images: a stem, three stages of two BasicBlocks
    (widths w, 2w, 4w; the last two stages halve the size), global average pooling, Linear.

    Shape: (N, in_channels, 32, 32) -> (N, num_classes)
    """
    rng = _generator(generator)
    w = width
    return nn.Sequential(
        *_conv_bn_relu(in_channels, w, rng),
        BasicBlock(w, w, generator=rng),
        BasicBlock(w, w, generator=rng),
        BasicBlock(w, 2 * w, stride=2, generator=rng),
        BasicBlock(2 * w, 2 * w, generator=rng),
        BasicBlock(2 * w, 4 * w, stride=2, generator=rng),
        BasicBlock(4 * w, 4 * w, generator=rng),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, num_classes, generator=rng),
    )


@dataclass(frozen=True)
class ModelSpec:
    """A model builder and the input it expects (``None`` in a size means any)."""

    build: Callable[..., nn.Module]
    input_shape: tuple[int | None, ...]
    default_dataset: str
    min_size: int = 1


MODELS: dict[str, ModelSpec] = {
    "digits_cnn": ModelSpec(digits_cnn, (1, 8, 8), "digits"),
    "lenet5": ModelSpec(lenet5, (1, 28, 28), "mnist"),
    "mnist1d_cnn": ModelSpec(mnist1d_cnn, (1, None), "mnist1d", min_size=12),
    "small_vgg": ModelSpec(small_vgg, (3, None, None), "cifar10", min_size=8),
    "small_resnet": ModelSpec(small_resnet, (3, None, None), "cifar10", min_size=8),
}


def _input_problem(name: str, input_shape: tuple[int, ...]) -> str | None:
    """Why model ``name`` cannot take inputs of ``input_shape`` (C, *spatial), or None when its spec allows them."""
    spec = MODELS[name]
    spatial = input_shape[1:]
    want = spec.input_shape[1:]
    if len(spatial) != len(want) or any(w is not None and w != s for w, s in zip(want, spatial, strict=False)):
        shown = ("C", *("any" if w is None else w for w in want))
        return f"model {name} expects input of shape {shown} (channels, size), got {tuple(input_shape)}"
    if min(spatial) < spec.min_size:
        return f"model {name} needs inputs of at least {spec.min_size} samples per side, got {tuple(input_shape)}"
    return None


def _build(name: str, input_shape: tuple[int, ...] | None, num_classes: int, generator: Any) -> nn.Module:
    kwargs: dict[str, Any] = {"num_classes": num_classes, "generator": generator}
    if input_shape is not None:
        kwargs["in_channels"] = input_shape[0]
        if name == "mnist1d_cnn":
            kwargs["length"] = input_shape[1]
    return MODELS[name].build(**kwargs)


def models_that_fit(input_shape: tuple[int, ...], num_classes: int = 10) -> list[str]:
    """The models that take inputs of ``input_shape`` (C, *spatial): each is built for it and runs one
    sample of zeros through, so a size its layers shrink to nothing is found too.

    Example:
        >>> models_that_fit((1, 40))
        ['mnist1d_cnn']
    """
    from .tensor import no_grad

    fits = []
    for name in MODELS:
        if _input_problem(name, input_shape) is not None:
            continue
        try:
            model = _build(name, input_shape, num_classes, generator=0)
            model.eval()
            with no_grad():
                model(Tensor(np.zeros((1, *input_shape), dtype=np.float32)))
        except (ValueError, TypeError):
            continue
        fits.append(name)
    return fits


def build_model(
    name: str, input_shape: tuple[int, ...] | None = None, num_classes: int = 10, generator: Any = None
) -> nn.Module:
    """Build model ``name`` for inputs of ``input_shape`` (C, *spatial), checking that they fit.

    Raises ValueError for an unknown name (listing the known ones) or an input it cannot take
    (naming the models that take it).
    """
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if input_shape is not None:
        problem = _input_problem(name, tuple(input_shape))
        if problem is not None:
            fits = models_that_fit(tuple(input_shape), num_classes)
            shape = tuple(input_shape)
            hint = f"models that fit {shape}: {', '.join(fits)}" if fits else f"no model here takes {shape}"
            raise UsageError(f"{problem}; {hint}")
    return _build(name, input_shape, num_classes, generator)
