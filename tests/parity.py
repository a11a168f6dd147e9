"""One helper for PyTorch parity: run a function in kernelwise and in torch, compare values and gradients."""

from __future__ import annotations

import numpy as np
import torch

import kernelwise as kw

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def check_parity(kw_fn, torch_fn, inputs, dtype, grad=None, seed=0):
    """Run kw_fn and torch_fn on the same arrays; compare the outputs and the gradients.

    Float arrays become ``dtype`` tensors that require grad (those whose index is in
    ``grad``, default all); the upstream gradient is a fixed random array.
    """
    grad = [i for i, a in enumerate(inputs) if a is not None and a.dtype.kind == "f"] if grad is None else grad
    kw_in, th_in = [], []
    for i, a in enumerate(inputs):
        if a is None:
            kw_in.append(None)
            th_in.append(None)
            continue
        a = a.astype(dtype) if a.dtype.kind == "f" else a
        kw_in.append(kw.tensor(a, requires_grad=i in grad))
        th_in.append(torch.tensor(a, requires_grad=i in grad))
    out, expected = kw_fn(*kw_in), torch_fn(*th_in)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(g)
    expected.backward(torch.from_numpy(g))
    for i in grad:
        np.testing.assert_allclose(kw_in[i].grad.numpy(), th_in[i].grad.numpy(), **TOL[dtype], err_msg=f"input {i}")
