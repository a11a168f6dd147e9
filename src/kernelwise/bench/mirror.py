"""The same network in PyTorch, with the same weights: the reference for accuracy and speed.

PyTorch is optional everywhere in kernelwise; callers pass the imported ``torch`` module.

Example:
    >>> import numpy as np, kernelwise as kw
    >>> from kernelwise.models import lenet5
    >>> torch = __import__("pytest").importorskip("torch")
    >>> model = lenet5(generator=0).eval()
    >>> net = to_torch(model, torch).eval()
    >>> x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    >>> bool(np.allclose(model(kw.tensor(x)).numpy(), net(torch.from_numpy(x)).detach().numpy(), atol=1e-5))
    True
"""

from __future__ import annotations

from typing import Any

from .. import models, nn
from ..errors import UsageTypeError


def _layer(module: nn.Module, torch: Any) -> Any:
    """One layer's PyTorch twin, built from the same hyperparameters."""
    tnn = torch.nn
    if isinstance(module, nn.Sequential):
        return tnn.Sequential(*(_layer(m, torch) for m in module))
    if isinstance(module, models.BasicBlock):
        return _block(module, torch)
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        cls = tnn.Conv1d if isinstance(module, nn.Conv1d) else tnn.Conv2d
        padding = module.padding
        if padding == "full":
            padding = tuple(d * (k - 1) for d, k in zip(module.dilation, module.kernel_size, strict=True))
        return cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                   padding=padding, dilation=module.dilation, groups=module.groups,
                   bias=module.bias is not None)  # fmt: skip
    if isinstance(module, nn.Linear):
        return tnn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        cls = tnn.BatchNorm1d if isinstance(module, nn.BatchNorm1d) else tnn.BatchNorm2d
        return cls(module.num_features, eps=module.eps, momentum=module.momentum, affine=module.affine)
    if isinstance(module, nn.MaxPool1d | nn.MaxPool2d):
        cls = tnn.MaxPool1d if isinstance(module, nn.MaxPool1d) else tnn.MaxPool2d
        return cls(module.kernel_size, module.stride, module.padding, module.dilation, ceil_mode=module.ceil_mode)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return tnn.AdaptiveAvgPool2d(module.output_size)
    if isinstance(module, nn.Flatten):
        return tnn.Flatten(module.start_dim, module.end_dim)
    if isinstance(module, nn.Dropout):
        return tnn.Dropout(module.p)
    simple = {nn.ReLU: tnn.ReLU, nn.Identity: tnn.Identity, nn.Sigmoid: tnn.Sigmoid, nn.Tanh: tnn.Tanh}
    for kind, twin in simple.items():
        if type(module) is kind:
            return twin()
    raise UsageTypeError(f"no PyTorch twin for {type(module).__name__}")


def _block(block: models.BasicBlock, torch: Any) -> Any:
    class TorchBasicBlock(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, child in block.named_children():
                setattr(self, name, _layer(child, torch))

        def forward(self, x: Any) -> Any:
            h = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(h)) + self.shortcut(x))

    return TorchBasicBlock()


def to_torch(model: nn.Module, torch: Any) -> Any:
    """A PyTorch module computing what ``model`` computes, with its parameters and buffers copied."""
    twin = _layer(model, torch)
    state = {name: torch.from_numpy(t.numpy().copy()) for name, t in model.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    twin.train(model.training)
    return twin
