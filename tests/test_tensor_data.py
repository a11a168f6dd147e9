"""``Tensor.data`` against PyTorch: a Tensor sharing the values, outside the graph, and assignable.

Each test does the same thing in kernelwise and in torch and compares what comes out: the
type and flags of ``x.data``, that writing through it changes ``x`` (and is never refused as an
in-place operation on a leaf), that ``p.data = other`` keeps the parameter the optimizer holds,
and the programs written with it (``p.data -= lr * p.grad.data``, ``loss.data.item()``,
``torch.max(outputs.data, 1)``, ``model.weight.data.normal_``-style initialisation in place).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernelwise as kw


def pair(values: np.ndarray, requires_grad: bool = False) -> tuple[kw.Tensor, torch.Tensor]:
    """The same float64 values as a kernelwise and a torch tensor."""
    return (
        kw.tensor(values.copy(), requires_grad=requires_grad),
        torch.tensor(values.copy(), requires_grad=requires_grad),
    )


VALUES = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])


@pytest.mark.parametrize("requires_grad", [False, True])
def test_data_is_a_tensor_outside_the_graph(requires_grad: bool) -> None:
    k, t = pair(VALUES, requires_grad)
    for kx, tx in ((k, t), (k * 2, t * 2)):  # a leaf and a result of an operation
        kd, td = kx.data, tx.data
        assert isinstance(kd, kw.Tensor) and isinstance(td, torch.Tensor)
        assert type(kd) is kw.Tensor and type(td) is torch.Tensor
        assert kd.requires_grad is td.requires_grad is False
        assert kd.is_leaf is td.is_leaf is True
        assert kd.grad is None and td.grad is None
        assert kd is not kx and td is not tx
        assert kd.shape == tuple(td.shape) and kd.dtype == np.float64 and td.dtype == torch.float64
        np.testing.assert_array_equal(kd.numpy(), td.numpy())


def test_parameter_data_is_a_plain_tensor() -> None:
    kp, tp = kw.nn.Parameter(kw.tensor(VALUES)), torch.nn.Parameter(torch.tensor(VALUES))
    assert type(kp.data) is kw.Tensor and type(tp.data) is torch.Tensor
    assert kp.data.requires_grad is tp.data.requires_grad is False


def test_data_shares_memory() -> None:
    k, t = pair(VALUES, requires_grad=True)
    assert np.shares_memory(k.data.numpy(), k.numpy())
    assert k.data.numpy() is k.numpy()  # a wrapper of the same array, not a copy
    for kx, tx in ((k, t), (k.data, t.data)):
        kx.data[0, 1] = 7.0
        tx.data[0, 1] = 7.0
    k.data.fill_(0.25)
    t.data.fill_(0.25)
    k.data[1] = kw.tensor([1.0, 2.0, 3.0], dtype=kw.float64)
    t.data[1] = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    np.testing.assert_array_equal(k.numpy(), t.detach().numpy())
    assert k.requires_grad and t.requires_grad and k.is_leaf and t.is_leaf


def test_in_place_on_data_is_allowed_on_a_leaf_that_requires_grad() -> None:
    k, t = pair(VALUES, requires_grad=True)
    with pytest.raises(RuntimeError):
        k.mul_(0.5)  # on the leaf itself it is refused, as in torch
    with pytest.raises(RuntimeError):
        t.mul_(0.5)
    k.data.mul_(0.5).add_(1.0)
    t.data.mul_(0.5).add_(1.0)
    k.data.copy_(k.data * 2)
    t.data.copy_(t.data * 2)
    np.testing.assert_array_equal(k.numpy(), t.detach().numpy())
    assert k.grad is None and t.grad is None and k.is_leaf and t.is_leaf and k.requires_grad


def test_in_place_on_data_is_not_recorded() -> None:
    k, t = pair(VALUES, requires_grad=True)
    ky, ty = (k * 3).sum(), (t * 3).sum()
    k.data.zero_()
    t.data.zero_()
    ky.backward()
    ty.backward()
    np.testing.assert_array_equal(k.grad.numpy(), t.grad.numpy())  # 3 everywhere: the zero_ is not in the graph
    np.testing.assert_array_equal(k.numpy(), t.detach().numpy())


def test_assigning_data_keeps_the_tensor() -> None:
    k, t = pair(VALUES, requires_grad=True)
    kid, tid = id(k), id(t)
    k.data = kw.tensor([1.0, 2.0, 3.0, 4.0], dtype=kw.float32)  # another shape and dtype
    t.data = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float32)
    assert id(k) == kid and id(t) == tid
    assert k.shape == tuple(t.shape) == (4,) and k.dtype == np.float32 and t.dtype == torch.float32
    assert k.requires_grad and t.requires_grad and k.is_leaf and t.is_leaf
    np.testing.assert_array_equal(k.numpy(), t.detach().numpy())
    source = kw.tensor([5.0, 6.0])
    k.data = source
    assert np.shares_memory(k.numpy(), source.numpy())  # as torch: the storage is taken, not copied
    ts = torch.tensor([5.0, 6.0])
    t.data = ts
    assert t.data_ptr() == ts.data_ptr()


def test_assigning_data_accepts_an_array_and_refuses_other_things() -> None:
    k = kw.tensor([1.0, 2.0], requires_grad=True)
    array = np.array([3.0, 4.0, 5.0])
    k.data = array  # kept for programs written when ``data`` was the array
    assert k.numpy() is array and k.requires_grad
    for bad in ([1.0, 2.0], 3.0, None, np.array(["a"])):
        with pytest.raises(TypeError):
            k.data = bad
    assert k.numpy() is array


def test_optimizer_updates_a_parameter_whose_data_was_assigned() -> None:
    km, tm = kw.nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    weight = np.arange(6, dtype=np.float64).reshape(2, 3) / 10
    km.weight.data = kw.tensor(weight.copy())
    tm.weight.data = torch.tensor(weight.copy())
    km.bias.data.fill_(0.5)
    tm.bias.data.fill_(0.5)
    kw_weight = km.weight
    k_opt = kw.optim.SGD(km.parameters(), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    for step in range(3):
        if step == 1:  # between steps: the optimizer holds the same objects
            km.weight.data = km.weight.data * 0.5
            tm.weight.data = tm.weight.data * 0.5
        for m, opt, xin in ((km, k_opt, kw.tensor(x)), (tm, t_opt, torch.tensor(x))):
            opt.zero_grad()
            (m(xin) ** 2).sum().backward()
            opt.step()
    assert km.weight is kw_weight and next(iter(km.parameters())) is kw_weight
    np.testing.assert_allclose(km.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(km.bias.numpy(), tm.bias.detach().numpy(), rtol=1e-14, atol=1e-15)


def test_hand_written_sgd_with_data() -> None:
    """The loop of the older PyTorch tutorials: ``p.data -= lr * p.grad.data``, and ``loss.data.item()``."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
    km, tm = kw.nn.Linear(5, 3).double(), torch.nn.Linear(5, 3).double()
    for kp, tp in zip(km.parameters(), tm.parameters(), strict=True):
        kp.data.copy_(kw.tensor(rng.standard_normal(tuple(kp.shape))))
        tp.data.copy_(torch.from_numpy(kp.numpy().copy()))
    lr, k_losses, t_losses = 0.3, [], []
    for _ in range(5):
        for m, losses, xin, yin, F in (
            (km, k_losses, kw.tensor(x), kw.tensor(y), kw.nn.functional),
            (tm, t_losses, torch.tensor(x), torch.tensor(y), torch.nn.functional),
        ):
            m.zero_grad()
            loss = F.cross_entropy(m(xin), yin)
            loss.backward()
            for p in m.parameters():
                p.data -= lr * p.grad.data
            losses.append(loss.data.item())
    assert k_losses == pytest.approx(t_losses, rel=1e-13)
    for kp, tp in zip(km.parameters(), tm.parameters(), strict=True):
        assert kp.requires_grad and kp.is_leaf
        np.testing.assert_allclose(kp.data.numpy(), tp.data.numpy(), rtol=1e-13, atol=1e-15)


def test_no_grad_update_through_data() -> None:
    """``with no_grad(): p.data.add_(p.grad, alpha=-lr)``: in place, the same storage."""
    k, t = pair(VALUES, requires_grad=True)
    (k * k).sum().backward()
    (t * t).sum().backward()
    before = k.numpy()
    with kw.no_grad():
        k.data.add_(k.grad, alpha=-0.25)
    with torch.no_grad():
        t.data.add_(t.grad, alpha=-0.25)
    assert k.numpy() is before
    np.testing.assert_array_equal(k.numpy(), t.detach().numpy())


def test_numpy_item_and_max_of_data() -> None:
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 3.0], [-1.0, -2.0, -0.5]])
    k, t = pair(logits, requires_grad=True)
    kout, tout = k * 2, t * 2
    assert isinstance(kout.data.numpy(), np.ndarray)
    np.testing.assert_array_equal(kout.data.numpy(), tout.data.numpy())
    kv, ki = kw.max(kout.data, 1)
    tv, ti = torch.max(tout.data, 1)
    np.testing.assert_array_equal(kv.numpy(), tv.numpy())
    np.testing.assert_array_equal(ki.numpy(), ti.numpy())
    assert not kv.requires_grad and not tv.requires_grad
    kloss, tloss = (kout**2).mean(), (tout**2).mean()
    assert kloss.data.item() == tloss.data.item()
    labels = np.array([1, 0, 2])
    k_correct = (ki == kw.tensor(labels)).sum().item()
    t_correct = (ti == torch.tensor(labels)).sum().item()
    assert k_correct == t_correct


def test_initialisation_through_data() -> None:
    """``model.weight.data.normal_(0, 0.01)`` and friends write into the parameter."""
    layer = kw.nn.Linear(20, 30)
    weight = layer.weight
    layer.weight.data.normal_(0, 0.01)
    layer.bias.data.zero_()
    assert layer.weight is weight and weight.requires_grad
    assert abs(float(weight.numpy().std()) - 0.01) < 0.002
    assert not layer.bias.numpy().any()
    torch_layer = torch.nn.Linear(20, 30)
    torch_layer.weight.data.normal_(0, 0.01)
    torch_layer.bias.data.zero_()
    assert not torch_layer.bias.detach().numpy().any()


def test_augmented_assignment_as_pytorch() -> None:
    """``p -= lr * p.grad`` under no_grad updates the parameter itself (the textbook's hand-written
    SGD); ``y += x`` in a forward pass gives the recorded result; ``b += 1`` writes through an alias;
    on a leaf that requires grad, outside no_grad, it is refused."""
    results = {}
    for lib, (w, _) in ((kw, pair(VALUES, True)), (torch, pair(VALUES, True)[::-1])):
        ((w * w).sum()).backward()
        params = [w]
        with lib.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p *= 2.0
                p /= 4.0
                p += 1.0
        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = x * 3
        y += x
        y.sum().backward()
        a = lib.zeros(3, dtype=lib.float64)
        b = a
        b += 1
        with pytest.raises(RuntimeError, match="leaf"):
            w += 1
        results[lib.__name__] = [w.detach().numpy().copy(), x.grad.numpy().copy(), y.detach().numpy(), a.numpy()]
    for got, want in zip(results["kernelwise"], results["torch"], strict=True):
        np.testing.assert_array_equal(got, want)
