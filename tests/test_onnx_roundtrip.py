"""kernelwise.onnx.export then kernelwise.onnx.load: the same outputs and the same parameter gradients."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("onnx")

import kernelwise as kw
from kernelwise import nn


def _net() -> nn.Module:
    kw.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5),
    )
    bn = net[1]
    with kw.no_grad():  # running statistics and affine terms away from their defaults
        rng = np.random.default_rng(1)
        bn.running_mean.numpy()[...] = rng.uniform(-0.5, 0.5, 6).astype(np.float32)
        bn.running_var.numpy()[...] = rng.uniform(0.5, 2.0, 6).astype(np.float32)
        bn.weight.numpy()[...] = rng.uniform(0.5, 1.5, 6).astype(np.float32)
        bn.bias.numpy()[...] = rng.uniform(-0.5, 0.5, 6).astype(np.float32)
    return net.eval()


def test_export_then_load_gives_the_same_outputs_and_parameter_gradients() -> None:
    net = _net()
    x = kw.randn(4, 3, 8, 8)
    buffer = io.BytesIO()
    kw.onnx.export(net, x, buffer)
    module = kw.onnx.load(buffer.getvalue())

    original = dict(net.named_parameters())
    loaded = dict(module.named_parameters())
    # the exporter names each initializer after the parameter's path in the model
    assert sorted(module.onnx_names[k] for k in loaded) == sorted(original)

    target = kw.tensor(np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32))

    def loss(y: kw.Tensor) -> kw.Tensor:
        diff = y - target
        return (diff * diff).mean()

    y_net, y_loaded = net(x), module(x)
    np.testing.assert_allclose(y_loaded.detach().numpy(), y_net.detach().numpy(), rtol=1e-5, atol=1e-6)
    loss(y_net).backward()
    loss(y_loaded).backward()
    assert net.training is False
    for name, p in loaded.items():
        ref = original[module.onnx_names[name]]
        assert p.grad is not None and ref.grad is not None, name
        assert p.grad.shape == ref.grad.shape, name
        np.testing.assert_allclose(p.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
        assert np.abs(ref.grad.numpy()).max() > 0, name
