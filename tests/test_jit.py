"""kernelwise.jit: freeze and optimize_for_inference against PyTorch, ONNX Runtime and the unfrozen module."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.errors import UsageError, UsageTypeError
from kernelwise.ops import frozen
from kernelwise.ops.fastconv import choose_method

EPS32 = float(np.finfo(np.float32).eps)


def _filled(module: kw.nn.Module, seed: int) -> kw.nn.Module:
    """``module`` with random weights, and BatchNorm statistics far from 0 and 1 (so folding changes numbers)."""
    rng = np.random.default_rng(seed)
    for name, p in module.named_parameters():
        p._array[...] = rng.standard_normal(p.shape).astype(p._array.dtype) * (0.3 if "weight" in name else 1.0)
    for name, b in module.named_buffers():
        if name.endswith("running_mean"):
            b._array[...] = rng.standard_normal(b.shape)
        elif name.endswith("running_var"):
            b._array[...] = rng.uniform(0.2, 3.0, b.shape)
    return module.eval()


def _run(module: kw.nn.Module, x: np.ndarray) -> np.ndarray:
    with kw.no_grad():
        return module(kw.tensor(x)).numpy()


# --------------------------------------------------------------------------- freeze
CONVS = [  # (input shape, in, out, kernel, padding, stride): a shape for every fast path the dispatcher picks
    ((2, 3, 12, 12), 3, 8, 3, 1, 2),  # im2col with a bias
    ((1, 16, 10, 10), 16, 16, 5, 2, 1),  # shifted
    ((1, 128, 6, 6), 128, 128, 3, 1, 1),  # winograd2
    ((2, 8, 5, 5), 8, 12, 1, 0, 1),  # matmul, fewer inputs than outputs: [W | b] against X with a row of ones
    ((2, 12, 5, 5), 12, 8, 1, 0, 1),  # matmul, more: W as it is, the bias added after
    ((16, 6, 14, 14), 6, 16, 5, 0, 1),  # chwn
]


@pytest.mark.parametrize(("shape", "cin", "cout", "k", "pad", "stride"), CONVS)
def test_freeze_keeps_every_bit_and_computes_the_weights_once(shape, cin, cout, k, pad, stride) -> None:
    conv = _filled(kw.nn.Conv2d(cin, cout, k, stride=stride, padding=pad), seed=cin + k)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ice = kw.jit.freeze(conv)
    assert ice.weight.numpy().flags.writeable is False and ice.weight.requires_grad is False
    assert frozen.is_frozen(ice.weight._array) and not frozen.is_frozen(conv.weight._array)
    expected = _run(conv, x)
    first, second = _run(ice, x), _run(ice, x)  # the second reads what the first derived
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    kept = frozen._FROZEN[id(ice.weight._array)][1]
    method = choose_method(shape, conv.weight.shape, (stride,) * 2, ((pad, pad),) * 2, (1, 1), 1, needs_grad=False)
    # a 1×1 convolution reads W as it is, unless it takes its bias into the GEMM (fewer inputs than outputs)
    assert bool(kept) == (method != "matmul" or cin < cout), method
    assert all(not v[1].flags.writeable for v in kept.values() if isinstance(v[1], np.ndarray))
    assert conv.weight.numpy().flags.writeable and conv.training is False  # the original is untouched


def test_an_unfrozen_weight_changed_in_place_is_read_anew() -> None:
    torch = pytest.importorskip("torch")
    conv = _filled(kw.nn.Conv2d(128, 128, 3, padding=1), seed=3)  # winograd2: a transformed kernel
    x = np.random.default_rng(2).standard_normal((1, 128, 6, 6)).astype(np.float32)
    _run(conv, x)
    conv.weight._array *= -2.0  # in place, as an optimizer step
    w = torch.from_numpy(conv.weight.numpy().astype(np.float64))
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x.astype(np.float64)), w, torch.from_numpy(conv.bias.numpy().astype(np.float64)), padding=1
    )
    got = _run(conv, x)
    assert np.abs(got - ref.numpy()).max() <= 1e-4 * np.abs(ref.numpy()).max()


def test_a_frozen_module_refuses_writes_and_training() -> None:
    model = kw.nn.Sequential(kw.nn.Linear(3, 2)).eval()
    ice = kw.jit.freeze(model)
    with pytest.raises(ValueError, match="read-only"):
        ice[0].weight.numpy()[0, 0] = 1.0
    with pytest.raises(UsageError, match=r"'0\.weight' is read-only \(a frozen module"):
        ice.load_state_dict(model.state_dict())
    bn = kw.jit.freeze(kw.nn.BatchNorm2d(3).eval()).train()
    with pytest.raises(UsageError, match="training updates running_mean and running_var, which are read-only"):
        bn(kw.randn(2, 3, 4, 4))
    with pytest.raises(UsageError, match="which are read-only here"):
        kw.nn.functional.batch_norm(kw.randn(2, 3, 4, 4), bn.running_mean, bn.running_var, training=True)
    with pytest.raises(UsageError, match=r"training mode; call \.eval\(\)"):
        kw.jit.freeze(kw.nn.Linear(2, 2))
    with pytest.raises(UsageTypeError, match=r"expected a kernelwise\.nn\.Module, got ndarray"):
        kw.jit.optimize_for_inference(np.zeros(3))


def test_derived_values_follow_the_other_arrays_they_read() -> None:
    w, b1, b2 = (frozen.freeze_array(np.full(3, v)) for v in (1.0, 2.0, 5.0))
    assert frozen.derived(w, "w+b", lambda: w + b1, b1).tolist() == [3.0, 3.0, 3.0]
    assert frozen.derived(w, "w+b", lambda: w + b2, b2).tolist() == [6.0, 6.0, 6.0]  # another b: computed anew
    plain = np.ones(3)
    assert frozen.derived(w, "w+p", lambda: w + plain, plain).tolist() == [2.0, 2.0, 2.0]
    plain[:] = 4.0  # not frozen: never kept
    assert frozen.derived(w, "w+p", lambda: w + plain, plain).tolist() == [5.0, 5.0, 5.0]


# --------------------------------------------------------------------------- BatchNorm folded into the convolution
def _torch_copy(model: kw.nn.Module) -> Any:
    """The same network in PyTorch, float64."""
    torch = pytest.importorskip("torch")
    layers = []
    for layer in model:
        name = type(layer).__name__
        if name.startswith("Conv"):
            t = getattr(torch.nn, name)(
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                layer.stride,
                layer.padding,
                bias=layer.bias is not None,
            )
        elif name.startswith("BatchNorm"):
            t = getattr(torch.nn, name)(layer.num_features, eps=layer.eps, affine=layer.affine)
        else:
            t = getattr(torch.nn, name)()
        layers.append(t)
    ref = torch.nn.Sequential(*layers).double().eval()
    ref.load_state_dict({k: torch.from_numpy(v.numpy().astype(np.float64)) for k, v in model.state_dict().items()})
    return ref


SEQUENTIALS = {
    "conv2d+bn, bias": lambda: kw.nn.Sequential(kw.nn.Conv2d(3, 8, 3, padding=1), kw.nn.BatchNorm2d(8), kw.nn.ReLU()),
    "conv2d no bias, bn not affine": lambda: kw.nn.Sequential(
        kw.nn.Conv2d(4, 6, 3, bias=False), kw.nn.BatchNorm2d(6, affine=False)
    ),
    "conv1d+bn": lambda: kw.nn.Sequential(kw.nn.Conv1d(3, 5, 3), kw.nn.BatchNorm1d(5), kw.nn.Tanh()),
    "winograd2 width": lambda: kw.nn.Sequential(kw.nn.Conv2d(128, 128, 3, padding=1), kw.nn.BatchNorm2d(128)),
}


@pytest.mark.parametrize("name", list(SEQUENTIALS))
def test_folded_batchnorm_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    model = _filled(SEQUENTIALS[name](), seed=7)
    conv = model[0]
    shape = (2, conv.in_channels, 9) if isinstance(conv, kw.nn.Conv1d) else (2, conv.in_channels, 8, 8)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    fast = kw.jit.optimize_for_inference(model)
    assert isinstance(fast[1], kw.nn.Identity) and isinstance(model[1], kw.nn.BatchNorm1d | kw.nn.BatchNorm2d)
    ref = _torch_copy(model)(torch.from_numpy(x.astype(np.float64))).detach().numpy()
    # float32 error of a sum of K products (plus the bias), relative to the sum of their magnitudes
    K = conv.in_channels * int(np.prod(conv.kernel_size))
    w_abs = torch.from_numpy(np.abs(fast[0].weight.numpy()).astype(np.float64))
    conv_fn = torch.nn.functional.conv1d if x.ndim == 3 else torch.nn.functional.conv2d
    magnitude = conv_fn(torch.from_numpy(np.abs(x).astype(np.float64)), w_abs, padding=conv.padding).numpy()
    magnitude += np.abs(fast[0].bias.numpy()).reshape(-1, *[1] * (x.ndim - 2))
    bound = 2 * (K + 2) * EPS32 * magnitude.max()
    for module in (model, fast):
        assert np.abs(_run(module, x) - ref).max() <= bound


def test_fold_skips_what_it_cannot_fold() -> None:
    model = kw.nn.Sequential(
        kw.nn.Conv2d(3, 4, 3),
        kw.nn.ReLU(),
        kw.nn.BatchNorm2d(4),
        kw.nn.Conv2d(4, 4, 3),
        kw.nn.BatchNorm2d(4, track_running_stats=False),
    )
    fast = kw.jit.optimize_for_inference(_filled(model, seed=1))
    assert [type(m).__name__ for m in fast] == ["Conv2d", "ReLU", "BatchNorm2d", "Conv2d", "BatchNorm2d"]
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    np.testing.assert_array_equal(_run(fast, x), _run(model, x))  # nothing folded: the same sums


# --------------------------------------------------------------------------- ONNX graphs
def test_onnx_conv_batchnorm_pairs_fold_and_match_onnx_runtime() -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)

    def init(name: str, *shape: int, positive: bool = False) -> Any:
        a = rng.standard_normal(shape).astype(np.float32) * 0.3
        return numpy_helper.from_array(np.abs(a) + 0.5 if positive else a, name)

    # c1 -> bn1 -> relu (folded); c2 (read twice) -> bn2 and the output (kept); c3 (no bias) -> bn3 (folded)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s1", "o1", "m1", "v1"], ["n1"], epsilon=1e-3),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"]),
        helper.make_node("BatchNormalization", ["c2", "s2", "o2", "m2", "v2"], ["n2"]),
        helper.make_node("Conv", ["n2", "w3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("BatchNormalization", ["c3", "s3", "o3", "m3", "v3"], ["y"]),
    ]
    inits = [init("w1", 6, 3, 3, 3), init("b1", 6), init("w2", 6, 6, 3, 3), init("w3", 5, 6, 1, 1)]
    for i, ch in ((1, 6), (2, 6), (3, 5)):
        inits += [init(f"s{i}", ch), init(f"o{i}", ch), init(f"m{i}", ch), init(f"v{i}", ch, positive=True)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 10, 10])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "c2")],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    x = rng.standard_normal((2, 3, 10, 10)).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    ref = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    module = kw.onnx.load(data).eval()
    fast = kw.jit.optimize_for_inference(module)
    assert [n.op_type for n in fast.nodes] == ["Conv+Relu", "Conv", "BatchNormalization", "Conv"]
    assert [n.op_type for n in module.nodes].count("BatchNormalization") == 3  # the original is untouched
    with kw.no_grad():
        outs = fast(kw.tensor(x))
    for got, want in zip(outs, ref, strict=True):
        scale = float(np.abs(want).max())
        assert got.shape == want.shape
        assert np.abs(got.numpy() - want).max() <= 64 * 60 * EPS32 * scale  # sums of up to 54 terms, twice rounded


def test_onnx_relu_runs_in_place_only_on_a_new_array_it_alone_reads() -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # s = a + b read by the Relu only (fused); t = Sum(s) of one input is s itself (not fused);
    # u = a + s is read by the Relu and the output (not fused)
    nodes = [
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("Sum", ["r"], ["t"]),
        helper.make_node("Relu", ["t"], ["q"]),
        helper.make_node("Add", ["a", "q"], ["u"]),
        helper.make_node("Relu", ["u"], ["y"]),
    ]
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("a", "b")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "u", "t")]
    model = helper.make_model(helper.make_graph(nodes, "g", info, outs), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    module = kw.onnx.load(model.SerializeToString()).eval()
    fast = kw.jit.optimize_for_inference(module)
    assert [n.op_type for n in fast.nodes] == ["Add+Relu", "Sum", "Relu", "Add", "Relu"]
    a, b = (np.random.default_rng(i).standard_normal((2, 3)).astype(np.float32) for i in (1, 2))
    r = np.maximum(a + b, 0)
    u = a + r
    with kw.no_grad():
        got = fast(kw.tensor(a), kw.tensor(b))
    for value, want in zip(got, (np.maximum(u, 0), u, r), strict=True):
        np.testing.assert_array_equal(value.numpy(), want)
    x = kw.tensor(a, requires_grad=True)  # a gradient to record: the Relu is not in place
    y, _, _ = fast(x, kw.tensor(b))
    y.sum().backward()
    ref_a = (u > 0) * (1 + (a + b > 0))  # dy/da through u = a + relu(a + b)
    np.testing.assert_array_equal(x.grad.numpy(), ref_a.astype(np.float32))
