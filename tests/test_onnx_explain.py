"""``kernelwise explain model MODEL.onnx``: an ONNX graph node by node, on a kernelwise export and on ResNet-50.

Expected shapes come from ONNX's own shape inference (``onnx.shape_inference``), the expected class from
ONNX Runtime, the ceil-mode sizes from PyTorch's rule worked by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402

from clirun import cli, one_line_error  # noqa: E402
from kernelwise.bench.inference import light_model_path, prepare_model  # noqa: E402
from kernelwise.cli import main  # noqa: E402
from kernelwise.explain import explain_model  # noqa: E402
from kernelwise.explain.model import explain_onnx  # noqa: E402
from kernelwise.explain.symbolic import Geometry  # noqa: E402
from kernelwise.onnx.files import ImageModel  # noqa: E402


def inferred_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every value's shape as ONNX's shape inference gives it, for a batch of one."""
    model = onnx.load(str(path))
    model.ir_version = max(model.ir_version, 4)  # initializers need not be listed as inputs (IR 4 on)
    for x in model.graph.input:
        dims = x.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    return {
        v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
        for v in [*inferred.graph.value_info, *inferred.graph.output]
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run trained two steps, exported to ``model.onnx`` beside it."""
    out = tmp_path_factory.mktemp("onnx-explain") / "digits"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERNELWISE_OFFLINE", "1")
        mp.setenv("MPLBACKEND", "Agg")
        assert main(["train", "--epochs", "1", "--max-steps", "2", "--out", str(out), "--no-progress"]) == 0
        assert main(["export", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The onnx wheel's ResNet-50 (opset 9) with seeded random weights, and an image of another size."""
    folder = tmp_path_factory.mktemp("resnet50")
    onnx.save(prepare_model(onnx.load(str(light_model_path("resnet50")))), str(folder / "resnet50.onnx"))
    pixels = (np.random.default_rng(1).random((180, 240, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "photo.png")
    return folder


def test_an_exported_run_explained_as_its_run_is(run_dir, capsys):
    image = sorted((run_dir / "samples").glob("*.png"))[0]
    path = run_dir / "model.onnx"
    code, out, err = cli(capsys, "explain", "model", path, "--image", image)
    assert code == 0, err
    shapes = inferred_shapes(path)
    e = explain_onnx(path, image)
    convs = [n for n in e.data["nodes"] if n["op"] == "Conv"]
    assert convs and all(n["formulas"] for n in convs)
    graph = onnx.load(str(path)).graph
    assert [n["op"] for n in e.data["nodes"]] == [n.op_type for n in graph.node]
    for node, entry in zip(graph.node, e.data["nodes"], strict=True):
        assert tuple(entry["output_shape"]) == shapes[node.output[0]], node.name
    # the same prediction the run's own explanation gives (the file carries the run's normalisation and names)
    run_prediction = explain_model(run_dir, image).sections[-1].lines
    assert re.search(r"Prediction\n-+\n  " + re.escape(run_prediction[0]), out)
    # the parameters counted node by node are the model's weights (running statistics are not parameters)
    from safetensors.numpy import load_file

    weights = load_file(run_dir / "model.safetensors")
    assert sum(n["parameters"] for n in e.data["nodes"]) == sum(
        a.size for name, a in weights.items() if "running" not in name and "num_batches" not in name
    )


def test_resnet50_node_by_node_with_onnx_runtimes_class(resnet50, capsys):
    path, image = resnet50 / "resnet50.onnx", resnet50 / "photo.png"
    code, out, err = cli(capsys, "explain", "model", path, "--image", image, "--png", resnet50 / "r.png")
    assert code == 0, err
    assert (resnet50 / "r.png").stat().st_size > 0
    e = explain_onnx(path, image, max_maps=2)
    graph = onnx.load(str(path)).graph
    assert len(e.data["nodes"]) == len(graph.node)
    shapes = inferred_shapes(path)
    by_name = {n.name: n for n in graph.node}
    for entry in e.data["nodes"]:
        assert tuple(entry["output_shape"]) == shapes[by_name[entry["name"]].output[0]], entry["name"]
    formulas = [f for n in e.data["nodes"] for f in n["formulas"]]
    assert sum(n["op"] == "Conv" for n in e.data["nodes"]) == 53
    assert "floor((224 - 7 + 2·3) / 2) + 1 = floor(223 / 2) + 1 = 112" in formulas[0]
    # feature maps: the first conv, then each new size (56, 28, 14, 7), two maps each, after the input
    rows = list(dict.fromkeys(p.row for p in e.pictures))
    assert [r.split()[-1] for r in rows[1:6]] == ["112×112", "56×56", "28×28", "14×14", "7×7"]
    assert rows[-1] == "filters of the first conv"
    # ONNX Runtime's top class on the same prepared input
    x, _ = ImageModel.open(path).prepare(image)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {session.get_inputs()[0].name: x})[0][0]
    assert re.search(rf"top-3: {int(np.argmax(scores))} ", out)


def test_without_an_image_shapes_and_filters_only(resnet50, capsys):
    e = explain_onnx(resnet50 / "resnet50.onnx")
    assert e.data["image"] is None and e.data["input_shape"] == [1, 3, 224, 224]
    assert {p.row for p in e.pictures} == {"filters of the first conv"}
    assert e.sections[-1].title != "Prediction"


def _graph(path: Path, inputs: list, nodes: list, initializers: list = ()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph.initializer.extend(initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_ceil_mode_pooling_shows_the_ceil_rule(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])
    pool = helper.make_node(
        "MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1
    )
    e = explain_onnx(_graph(tmp_path / "p.onnx", [x], [pool]))
    # by hand: ceil((5 - 2 + 2) / 2) + 1 = 4, but the 4th window would start at padded position 6, in the padding
    assert e.data["nodes"][0]["output_shape"] == [1, 1, 3, 3]
    assert e.data["nodes"][0]["formulas"][0].endswith(
        "= ceil(5 / 2) + 1 = 4 - 1 (the last window would start in the padding) = 3"
    )
    assert Geometry.make(5, 2, 2, ceil_mode=True, check=False).formulas()[0]["text"].endswith("ceil(3 / 2) + 1 = 3")


def test_input_sizes_it_cannot_make_up_are_one_line(tmp_path, capsys):
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"])
    dynamic = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])
    path = _graph(tmp_path / "dynamic.onnx", [dynamic], [conv], [w])
    one_line_error(*cli(capsys, "explain", "model", path)[::2], "explain needs fixed sizes after the batch")
    two = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 4, 4]) for n in ("a", "b")]
    path = _graph(tmp_path / "two.onnx", two, [helper.make_node("Add", ["a", "b"], ["y"])])
    one_line_error(*cli(capsys, "explain", "model", path)[::2], "takes 2 inputs")
    one_line_error(*cli(capsys, "explain", "model", tmp_path / "missing.onnx")[::2], "not found")
