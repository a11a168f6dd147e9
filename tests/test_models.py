"""Ready-made models: shapes, reproducibility, argument errors and the summary's numbers."""

from __future__ import annotations

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.models import MODELS, build_model
from kernelwise.summary import format_summary, summarize


@pytest.mark.parametrize(
    ("name", "shape"),
    [("digits_cnn", (1, 8, 8)), ("lenet5", (1, 28, 28)), ("mnist1d_cnn", (1, 40)), ("small_vgg", (3, 32, 32)),
     ("small_resnet", (3, 32, 32))],
)  # fmt: skip
def test_output_shape(name, shape):
    model = build_model(name, input_shape=shape, num_classes=7, generator=0)
    assert model(kw.zeros(2, *shape)).shape == (2, 7)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_model("lenet5", generator=s) for s in (5, 5, 6))
    for (_, pa), (_, pb), (_, pc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
        if pa.numel() > 1 and pa.dtype.kind == "f" and pa.numpy().std() > 0:
            assert not np.array_equal(pa.numpy(), pc.numpy())


def test_channels_follow_the_data_and_small_vgg_takes_other_sizes():
    assert build_model("lenet5", input_shape=(3, 28, 28), generator=0)(kw.zeros(1, 3, 28, 28)).shape == (1, 10)
    assert build_model("small_vgg", input_shape=(1, 20, 12), generator=0)(kw.zeros(1, 1, 20, 12)).shape == (1, 10)
    assert build_model("mnist1d_cnn", input_shape=(1, 60), generator=0)(kw.zeros(1, 1, 60)).shape == (1, 10)


def test_unknown_model():
    with pytest.raises(ValueError, match=r"unknown model 'vgg99'.*lenet5"):
        build_model("vgg99")


@pytest.mark.parametrize(
    ("name", "shape", "fragment"),
    [("lenet5", (1, 8, 8), r"lenet5 expects input of shape \('C', 28, 28\).*\(1, 8, 8\)"),
     ("digits_cnn", (1, 28), "digits_cnn expects"),
     ("small_vgg", (3, 4, 4), "at least 8")],
)  # fmt: skip
def test_input_that_does_not_fit(name, shape, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_model(name, input_shape=shape)


def test_every_model_has_a_spec():
    assert set(MODELS) == {"digits_cnn", "lenet5", "mnist1d_cnn", "small_vgg", "small_resnet"}


def test_lenet5_summary_numbers_by_hand():
    rows = summarize(build_model("lenet5", generator=0), (1, 28, 28))
    shapes = [r["output_shape"] for r in rows]
    assert shapes == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5), (400,),
                      (120,), (120,), (84,), (84,), (10,)]  # fmt: skip
    # parameters: 6·1·5·5+6, 16·6·5·5+16, 400·120+120, 120·84+84, 84·10+10
    assert [r["parameters"] for r in rows if r["parameters"]] == [156, 2416, 48120, 10164, 850]
    assert sum(r["parameters"] for r in rows) == 61706
    # FLOPs: 2·(1·5·5)·6·28·28 for conv1, 2·(6·5·5)·16·10·10 for conv2, 2·in·out for linears
    assert rows[0]["flops"] == 2 * 25 * 6 * 784
    assert rows[3]["flops"] == 2 * 150 * 16 * 100
    assert rows[7]["flops"] == 2 * 400 * 120
    assert rows[0]["formula"] == "floor((28 - 5 + 2·2) / 1) + 1 = 28"
    assert rows[2]["formula"] == "floor((28 - 2 + 2·0) / 2) + 1 = 14"
    rect = summarize(kw.nn.Sequential(kw.nn.Conv2d(1, 2, (3, 1), stride=(2, 1), generator=0)), (1, 9, 4))
    assert rect[0]["formula"] == "floor((9 - 3 + 2·0) / 2) + 1 = 4, floor((4 - 1 + 2·0) / 1) + 1 = 4"
    text = format_summary("lenet5", rows, (1, 28, 28))
    assert "61,706 parameters" in text


def test_summary_of_a_residual_model_counts_nested_layers():
    model = build_model("small_resnet", generator=0)
    rows = summarize(model, (3, 32, 32))
    assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in model.parameters())
    block = rows[3]  # first BasicBlock: two 3×3 convs 16→16 on 32×32, no bias
    assert block["flops"] == 2 * (2 * 16 * 9 * 16 * 32 * 32)
    assert rows[-1]["output_shape"] == (10,)


@pytest.mark.parametrize(
    ("length", "kernel", "stride", "padding", "expected_formula"),
    [
        (8, 3, 2, 0, "ceil((8 - 3 + 2·0) / 2) + 1 = 4"),
        (4, 2, 2, 1, "ceil((4 - 2 + 2·1) / 2) + 1 = 3"),
        (5, 2, 2, 1, "ceil((5 - 2 + 2·1) / 2) + 1 - 1 (the last window would start in the padding) = 3"),
    ],
)
def test_summary_formula_follows_ceil_mode(length, kernel, stride, padding, expected_formula):
    """A pooling layer with ceil_mode shows the ceil rule, and PyTorch's drop of a window that would start in the
    right padding; the sizes are PyTorch's (hand-checked: 5 + 2 = 7 padded, windows start at 0, 2, 4; 6 >= 5 + 1)."""
    (row,) = summarize(kw.nn.Sequential(kw.nn.MaxPool1d(kernel, stride, padding, ceil_mode=True)), (1, length))
    assert row["formula"] == expected_formula
    assert row["output_shape"][-1] == int(expected_formula.rsplit("= ", 1)[1])
