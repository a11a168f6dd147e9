"""kernelwise.onnx.export: each layer and each built-in model written as ONNX, checked by onnx's checker
and run by ONNX Runtime at two batch sizes against kernelwise's own output."""

from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import kernelwise as kw  # noqa: E402
from kernelwise import nn  # noqa: E402
from kernelwise.errors import UsageError  # noqa: E402
from kernelwise.models import build_model  # noqa: E402
from kernelwise.onnx.export import export  # noqa: E402


def _session(data: bytes):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _randomize_batch_norm(model, seed=0):
    """Running statistics and affine parameters away from their defaults, so BatchNorm's export is tested."""
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            c = module.num_features
            module.running_mean._array[...] = rng.standard_normal(c)
            module.running_var._array[...] = rng.uniform(0.5, 2.0, c)
            if module.weight is not None:
                module.weight._array[...] = rng.uniform(0.5, 1.5, c)
                module.bias._array[...] = rng.standard_normal(c)


def _expected(model, x):
    model.eval()
    with kw.no_grad():
        return model(kw.tensor(x)).numpy()


def _export_and_compare(model, shape, opset=None, batches=(2, 5)):
    """Export with batch ``batches[0]``, check the model, run it at each batch size; the largest difference."""
    _randomize_batch_norm(model)
    rng = np.random.default_rng(1)
    example = rng.standard_normal((batches[0], *shape)).astype(np.float32)
    buffer = io.BytesIO()
    proto = export(model, kw.tensor(example), buffer, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    session = _session(buffer.getvalue())
    worst = 0.0
    for n in batches:
        x = rng.standard_normal((n, *shape)).astype(np.float32) * 2
        want = _expected(model, x)
        got = session.run(None, {"input": x})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


LAYERS = {
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, generator=0), (3, 9)),
    "conv1d_stride_pad_dilation": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=2, dilation=2, generator=0), (3, 11)),
    "conv1d_groups_nobias": (lambda: nn.Conv1d(4, 6, 3, groups=2, bias=False, generator=0), (4, 9)),
    "conv1d_same": (lambda: nn.Conv1d(2, 3, 4, padding="same", generator=0), (2, 9)),
    "conv1d_full": (lambda: nn.Conv1d(2, 3, 3, padding="full", dilation=2, generator=0), (2, 7)),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3, generator=0), (3, 7, 6)),
    "conv2d_tuples": (
        lambda: nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), generator=0),
        (2, 8, 7),
    ),
    "conv2d_groups": (lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1, generator=0), (4, 5, 5)),
    "conv2d_same": (lambda: nn.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2), generator=0), (2, 7, 8)),
    "conv2d_valid": (lambda: nn.Conv2d(2, 3, 3, padding="valid", generator=0), (2, 6, 6)),
    "conv_transpose1d": (
        lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1, generator=0),
        (3, 6),
    ),
    "conv_transpose1d_groups": (lambda: nn.ConvTranspose1d(4, 6, 3, groups=2, dilation=2, generator=0), (4, 5)),
    "conv_transpose2d": (
        lambda: nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), generator=0),
        (3, 4, 5),
    ),
    "relu": (nn.ReLU, (3, 4)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "elu": (lambda: nn.ELU(0.7), (3, 4)),
    "gelu": (nn.GELU, (3, 4)),
    "gelu_tanh": (lambda: nn.GELU("tanh"), (3, 4)),
    "sigmoid": (nn.Sigmoid, (3, 4)),
    "tanh": (nn.Tanh, (3, 4)),
    "softplus": (nn.Softplus, (3, 4)),
    "softplus_beta": (lambda: nn.Softplus(beta=2.0, threshold=1.5), (3, 4)),
    "hardtanh": (lambda: nn.Hardtanh(-0.5, 1.5), (3, 4)),
    "relu6": (nn.ReLU6, (3, 4)),
    "silu": (nn.SiLU, (3, 4)),
    "softmax": (lambda: nn.Softmax(dim=1), (5,)),
    "softmax_last": (lambda: nn.Softmax(dim=-1), (2, 5)),
    "log_softmax": (lambda: nn.LogSoftmax(dim=1), (5,)),
    "maxpool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1, dilation=2), (2, 11)),
    "maxpool1d_ceil": (lambda: nn.MaxPool1d(2, ceil_mode=True), (2, 7)),
    "maxpool2d": (lambda: nn.MaxPool2d(2), (2, 6, 5)),
    "maxpool2d_ceil_pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 8, 7)),
    "minpool1d": (lambda: nn.MinPool1d(2), (2, 7)),
    "minpool2d": (lambda: nn.MinPool2d(3, stride=2, padding=1), (2, 7, 6)),
    "avgpool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1), (2, 9)),
    "avgpool1d_no_pad_count": (lambda: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 9)),
    "avgpool2d": (lambda: nn.AvgPool2d(2), (2, 6, 5)),
    "avgpool2d_ceil": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 8, 7)),
    "avgpool2d_ceil_no_pad_count": (lambda: nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), (2, 5, 5)),
    "avgpool2d_divisor": (lambda: nn.AvgPool2d(2, divisor_override=3), (2, 6, 4)),
    "adaptive_avg1d": (lambda: nn.AdaptiveAvgPool1d(1), (3, 7)),
    "adaptive_avg2d": (lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 4)),
    "adaptive_avg2d_divides": (lambda: nn.AdaptiveAvgPool2d((2, None)), (3, 6, 4)),
    "adaptive_max1d": (lambda: nn.AdaptiveMaxPool1d(1), (3, 7)),
    "adaptive_max2d": (lambda: nn.AdaptiveMaxPool2d((1, 1)), (3, 5, 4)),
    "batchnorm1d_2d_input": (lambda: nn.BatchNorm1d(4), (4,)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(3), (3, 5)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (3, 4, 5)),
    "batchnorm2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False), (3, 4, 5)),
    "dropout": (lambda: nn.Dropout(0.5), (3, 4)),
    "identity": (nn.Identity, (3, 4)),
    "linear": (lambda: nn.Linear(6, 3, generator=0), (6,)),
    "linear_3d_input": (lambda: nn.Linear(6, 3, generator=0), (4, 6)),
    "linear_no_bias": (lambda: nn.Linear(6, 3, bias=False, generator=0), (6,)),
    "flatten": (nn.Flatten, (2, 3, 4)),
    "flatten_middle": (lambda: nn.Flatten(1, 2), (2, 3, 4)),
    "flatten_tail": (lambda: nn.Flatten(2), (2, 3, 4)),
    "flatten_all": (lambda: nn.Flatten(0), (2, 3)),
    "maxpool1d_ceil_drops_last_window": (lambda: nn.MaxPool1d(2, stride=2, padding=1, ceil_mode=True), (2, 5)),
    "avgpool1d_ceil_drops_last_window": (lambda: nn.AvgPool1d(2, stride=2, padding=1, ceil_mode=True), (2, 5)),
    "minpool2d_ceil_drops_last_window": (lambda: nn.MinPool2d(2, stride=2, padding=1, ceil_mode=True), (2, 5, 4)),
    "unflatten": (lambda: nn.Unflatten(1, (3, -1)), (12,)),
    "unflatten_middle": (lambda: nn.Unflatten(2, (2, 2)), (3, 4, 5)),
    "downsample": (lambda: nn.Downsample(2), (2, 7, 6)),
    "downsample_tuple": (lambda: nn.Downsample((3,)), (2, 8)),
    "upsample_zeros": (lambda: nn.UpsampleZeros(2), (2, 3, 4)),
    "upsample_zeros_tuple": (lambda: nn.UpsampleZeros((1, 3)), (2, 3, 4)),
    "lazy_conv2d": (lambda: nn.LazyConv2d(3, 2), (2, 5, 5)),
    "lazy_linear": (lambda: nn.LazyLinear(3), (5,)),
    "lazy_batchnorm2d": (lambda: nn.LazyBatchNorm2d(), (2, 3, 3)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_onnx_runtime(name):
    build, shape = LAYERS[name]
    _export_and_compare(nn.Sequential(build()), shape)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh"])
def test_gelu_as_one_node_from_opset_20(name):
    build, shape = LAYERS[name]
    _export_and_compare(build(), shape, opset=20)


def test_a_bare_layer_exports():
    _export_and_compare(nn.Conv2d(1, 2, 3, generator=0), (1, 5, 5))


MODELS = [
    ("lenet5", (1, 28, 28)),
    ("digits_cnn", (1, 8, 8)),
    ("mnist1d_cnn", (1, 40)),
    ("small_vgg", (3, 16, 16)),
    ("small_resnet", (3, 16, 16)),
]


@pytest.mark.parametrize(("name", "shape"), MODELS)
def test_model_matches_onnx_runtime(name, shape):
    model = build_model(name, shape, generator=0)
    _export_and_compare(model, shape)


def test_nested_sequential_and_residual_block():
    from kernelwise.models import BasicBlock

    model = nn.Sequential(nn.Sequential(BasicBlock(2, 2, generator=0)), BasicBlock(2, 4, stride=2, generator=1))
    _export_and_compare(model, (2, 6, 6))


def test_training_mode_is_restored():
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Dropout())
    export(model, kw.zeros(2, 2), io.BytesIO())
    assert all(m.training for m in model.modules())


class _Custom(nn.Module):
    def forward(self, x):
        return x * 2


def test_unknown_module_is_named_with_its_path():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), _Custom()))
    with pytest.raises(UsageError, match=r"_Custom at '1\.1'"):
        export(model, kw.zeros(2, 3), io.BytesIO())


def test_subclass_with_its_own_forward_is_unknown():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(UsageError, match="Doubled"):
        export(nn.Sequential(Doubled()), kw.zeros(2, 3), io.BytesIO())


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        (lambda: nn.AdaptiveAvgPool2d(2), (1, 5, 4), "output_size"),
        (lambda: nn.MaxPool2d(2, return_indices=True), (1, 4, 4), "return_indices"),
        (lambda: nn.BatchNorm2d(2, track_running_stats=False), (2, 3, 3), "running statistics"),
    ],
)
def test_layers_that_do_not_map_raise(layer, shape, message):
    with pytest.raises(UsageError, match=message):
        export(nn.Sequential(layer()), kw.zeros(2, *shape), io.BytesIO())


def test_path_and_file_object_give_the_same_model(tmp_path):
    model = build_model("digits_cnn", generator=0)
    x = kw.zeros(2, 1, 8, 8)
    buffer = io.BytesIO()
    export(model, x, buffer)
    path = tmp_path / "digits.onnx"
    export(model, (x,), path)
    export(model, x, str(tmp_path / "digits2.onnx"))
    assert path.read_bytes() == buffer.getvalue() == (tmp_path / "digits2.onnx").read_bytes()
    with open(tmp_path / "digits3.onnx", "wb") as handle:
        export(model, x, handle)
    assert (tmp_path / "digits3.onnx").read_bytes() == buffer.getvalue()
    assert not list(tmp_path.glob("*.partial"))


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_batch_is_dynamic_by_default_and_fixed_on_request():
    model = nn.Sequential(nn.Linear(3, 2, generator=0))
    dynamic = export(model, kw.zeros(4, 3), io.BytesIO())
    assert _dims(dynamic.graph.input[0]) == ["batch", 3]
    assert _dims(dynamic.graph.output[0]) == ["batch", 2]
    buffer = io.BytesIO()
    fixed = export(model, kw.zeros(4, 3), buffer, dynamic_batch=False)
    assert _dims(fixed.graph.input[0]) == [4, 3]
    assert _dims(fixed.graph.output[0]) == [4, 2]
    session = _session(buffer.getvalue())
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        session.run(None, {"input": np.zeros((5, 3), np.float32)})


def test_names_and_opset():
    buffer = io.BytesIO()
    proto = export(nn.Sequential(nn.ReLU()), kw.zeros(2, 3), buffer, input_names=["x"], output_names=["y"])
    assert [i.name for i in proto.graph.input] == ["x"]
    assert [o.name for o in proto.graph.output] == ["y"]
    assert proto.opset_import[0].version == 17
    got = _session(buffer.getvalue()).run(["y"], {"x": np.array([[-1.0, 0.0, 2.0]], np.float32)})[0]
    assert got.tolist() == [[0.0, 0.0, 2.0]]
    assert export(nn.ReLU(), kw.zeros(2, 3), io.BytesIO(), opset=18).opset_import[0].version == 18


def test_only_identities_still_give_a_graph():
    buffer = io.BytesIO()
    export(nn.Sequential(nn.Identity(), nn.Dropout()), kw.zeros(2, 3), buffer, output_names=["out"])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(_session(buffer.getvalue()).run(None, {"input": x})[0], x)


@pytest.mark.parametrize(
    "kwargs",
    [{"opset": 16}, {"input_names": ["a", "b"]}, {"output_names": "y"}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(UsageError):
        export(nn.ReLU(), kw.zeros(2, 3), io.BytesIO(), **kwargs)


def test_two_inputs_are_refused():
    with pytest.raises(UsageError, match="one input"):
        export(nn.ReLU(), (kw.zeros(2, 3), kw.zeros(2, 3)), io.BytesIO())


def test_float64_model():
    model = nn.Sequential(nn.Linear(4, 3, dtype=np.float64, generator=0), nn.Tanh())
    x = np.random.default_rng(0).standard_normal((3, 4))
    buffer = io.BytesIO()
    export(model, kw.tensor(x), buffer)
    got = _session(buffer.getvalue()).run(None, {"input": x})[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _expected(model, x), rtol=1e-12, atol=1e-12)


def test_without_onnx_the_error_says_what_to_install(monkeypatch):
    from kernelwise.errors import MissingDependencyError

    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"pip install kernelwise\[onnx\]"):
        export(nn.ReLU(), kw.zeros(2, 3), io.BytesIO())


def test_the_package_attribute_is_the_function_even_after_the_module_is_imported() -> None:
    import importlib

    import kernelwise.onnx

    importlib.import_module("kernelwise.onnx.export")  # sets the package's attribute to the submodule
    assert callable(kernelwise.onnx.export)
    assert kernelwise.onnx.export is importlib.import_module("kernelwise.onnx.export").export


def test_metadata_is_stored_and_checked(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    proto = export(model, kw.randn(2, 3), tmp_path / "m.onnx", metadata={"kernelwise.class_names": '["a", "b"]'})
    assert {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props} == {
        "kernelwise.class_names": '["a", "b"]'
    }
    assert len(proto.metadata_props) == 1
    with pytest.raises(TypeError, match="metadata"):
        export(model, kw.randn(2, 3), tmp_path / "n.onnx", metadata={"k": 1})
