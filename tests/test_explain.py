"""kernelwise explain: the equation generator against PyTorch, the presets against the recitation's numbers,
every sub-command's terminal and JSON output, the figures, and the argument errors.

Expected values come from PyTorch (forward and autograd), from the recitation's slides typed in by hand,
or from hand-worked sums; the written-out formulas are only evaluated (multiplied and added) here.
"""

import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from kernelwise.explain import (
    FormulaMismatch,
    explain_backward,
    explain_conv,
    explain_image,
    explain_model,
    explain_pool,
    explain_scan,
    explain_stride,
    explain_transpose,
    render_gif,
    render_png,
    render_text,
)
from kernelwise.explain.__main__ import main
from kernelwise.explain.symbolic import (
    Geometry,
    Names,
    conv_equations,
    conv_grad_bias_equations,
    conv_grad_input_equations,
    conv_grad_weight_equations,
    downsample_equations,
    evaluate,
    number,
    pool_equations,
    pool_grad_equations,
    transpose_equations,
    upsample_equations,
)
from kernelwise.explain.values import parse_array, parse_values

TOL = dict(rtol=1e-10, atol=1e-10)  # float64 throughout
RECITATION_POOL = [[4, 8, 3, 9], [16, 10, 0, 7], [6, 12, 13, 8], [67, 18, 3, 7]]


def torch_conv(x, w, b, grad, stride, padding, dilation):
    """PyTorch's forward and autograd gradients for unbatched (C, *size) numpy arrays."""
    fn = TF.conv1d if x.ndim == 2 else TF.conv2d
    X, W, B = (torch.tensor(a, requires_grad=True) for a in (x[None], w, b))
    y = fn(X, W, B, stride=stride, padding=padding, dilation=dilation)
    y.backward(torch.tensor(grad[None]))
    return y.detach().numpy()[0], X.grad.numpy()[0], W.grad.numpy(), B.grad.numpy()


# --------------------------------------------------------------------------- the generator against PyTorch
CONV_CASES = [
    (nd, k, s, p, d)
    for nd, k, s, p, d in itertools.product((1, 2), (1, 2, 3), (1, 2, 3), (0, 1, 2), (1, 2))
    if d * (k - 1) + 1 <= 5 + 2 * p
]


@pytest.mark.parametrize(("nd", "k", "s", "p", "d"), CONV_CASES)
def test_conv_formulas_equal_torch(nd, k, s, p, d):
    """Every written-out Z, dL/dW, dL/dA and dL/dB, evaluated on random numbers, equals PyTorch's."""
    rng = np.random.default_rng(100 * k + 10 * s + p + 1000 * d + 7 * nd)
    size = (5,) * nd
    g = Geometry.make(size, k, s, p, d)
    for C, O in ((1, 1), (2, 1), (1, 2), (2, 2)):
        x, w, b = rng.standard_normal((C, *size)), rng.standard_normal((O, C, *(k,) * nd)), rng.standard_normal(O)
        grad = rng.standard_normal((O, *g.out))
        y, gx, gw, gb = torch_conv(x, w, b, grad, s, p, d)
        env = {"A": x, "W": w, "B": b, "dL/dZ": grad}
        np.testing.assert_allclose(evaluate(conv_equations(g, C, O), env, y.shape), y, **TOL)
        np.testing.assert_allclose(evaluate(conv_grad_weight_equations(g, C, O), env, w.shape), gw, **TOL)
        np.testing.assert_allclose(evaluate(conv_grad_input_equations(g, C, O), env, x.shape), gx, **TOL)
        np.testing.assert_allclose(evaluate(conv_grad_bias_equations(g, O), env, b.shape), gb, **TOL)


@pytest.mark.parametrize(("nd", "k", "s", "p", "d"), CONV_CASES[::7])
def test_explain_conv_runs_its_own_check_for_many_settings(nd, k, s, p, d):
    e = explain_conv(
        input_size=5, kernel_size=k, stride=s, padding=p, dilation=d, in_channels=2, out_channels=2, dims=nd
    )
    out = e.data["output_shape"]
    assert out == [2, *[(5 + 2 * p - d * (k - 1) - 1) // s + 1] * nd]


POOL_CASES = [
    (nd, k, s, p, d)
    for nd, k, s, p, d in itertools.product((1, 2), (1, 2, 3), (1, 2, 3), (0, 1), (1, 2))
    if p <= k // 2 and d * (k - 1) + 1 <= 5 + 2 * p
]


@pytest.mark.parametrize(("nd", "k", "s", "p", "d"), POOL_CASES)
def test_pool_formulas_and_routing_equal_torch(nd, k, s, p, d):
    """max / min / mean of every window and where each gradient goes, against PyTorch's pooling and autograd."""
    rng = np.random.default_rng(31 * k + 7 * s + p + 100 * d + nd)
    C, size = 2, (5,) * nd
    g = Geometry.make(size, k, s, p, d)
    x, grad = rng.standard_normal((C, *size)), rng.standard_normal((C, *g.out))
    env = {"A": x, "dL/dZ": grad}
    max_pool = TF.max_pool1d if nd == 1 else TF.max_pool2d
    avg_pool = TF.avg_pool1d if nd == 1 else TF.avg_pool2d
    oracles = {
        "max": lambda t: max_pool(t, k, s, p, d),
        "min": lambda t: -max_pool(-t, k, s, p, d),
        "mean": lambda t: avg_pool(t, k, s, p),
    }
    for reducer, fn in oracles.items():
        if reducer == "mean" and d > 1:
            continue
        X = torch.tensor(x[None], requires_grad=True)
        y = fn(X)
        y.backward(torch.tensor(grad[None]))
        np.testing.assert_allclose(evaluate(pool_equations(g, C, reducer), env, y.shape[1:]), y.detach()[0], **TOL)
        routed = evaluate(pool_grad_equations(g, C, reducer, x), env, x.shape)
        np.testing.assert_allclose(routed, X.grad[0].numpy(), **TOL)


def test_transpose_formulas_equal_torch_conv_transpose():
    rng = np.random.default_rng(5)
    for nd, k, s, p, d in ((2, 3, 2, 0, 1), (2, 2, 3, 1, 1), (1, 3, 2, 1, 2), (1, 2, 1, 0, 1)):
        x, w = rng.standard_normal((2, *(3,) * nd)), rng.standard_normal((2, 3, *(k,) * nd))
        fn = TF.conv_transpose1d if nd == 1 else TF.conv_transpose2d
        y = fn(torch.tensor(x[None]), torch.tensor(w), stride=s, padding=p, dilation=d).numpy()[0]
        g = Geometry.make(y.shape[1:], k, s, p, d)
        assert g.out == x.shape[1:]
        np.testing.assert_allclose(evaluate(transpose_equations(g, 2, 3), {"X": x, "W": w}, y.shape), y, **TOL)


def test_stride_as_dropping_and_zero_insertion_equals_torch():
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((1, 6, 6)), rng.standard_normal((1, 1, 2, 2))
    full = TF.conv2d(torch.tensor(x[None]), torch.tensor(w)).numpy()[0]
    strided = TF.conv2d(torch.tensor(x[None]), torch.tensor(w), stride=2).numpy()[0]
    np.testing.assert_allclose(
        evaluate(downsample_equations(full.shape[1:], (2, 2), 1), {"Y": full}, strided.shape), strided, **TOL
    )
    grad = rng.standard_normal(strided.shape)
    spread = evaluate(upsample_equations(full.shape[1:], (2, 2), 1), {"dL/dZ": grad}, full.shape)
    expected = np.zeros_like(full)
    expected[:, ::2, ::2] = grad  # zero insertion, by hand
    np.testing.assert_allclose(spread, expected, **TOL)


def test_a_wrong_formula_is_refused(monkeypatch):
    """The check can fail: a generator that forgets one term makes explain_conv raise instead of showing it."""
    import kernelwise.explain.conv as conv_module

    def missing_term(*args, **kwargs):
        eqs = conv_grad_input_equations(*args, **kwargs)
        eqs[4].terms.pop()
        return eqs

    monkeypatch.setattr(conv_module, "conv_grad_input_equations", missing_term)
    with pytest.raises(FormulaMismatch, match="dL/dA"):
        explain_conv(input_size=3, kernel_size=2)


# --------------------------------------------------------------------------- the recitation's examples
def test_edge_preset_gives_rows_0_0_4_4_0_0():
    e = explain_conv(values="edge")
    out = next(g for g in e.sections[1].grids if g.name == "Z")
    assert out.cells == [["0", "0", "4", "4", "0", "0"]] * 6
    text = render_text(e)
    assert text.count("0 0 4 4 0 0") == 6
    assert "= floor((8 - 3 + 2·0) / 1) + 1 = floor(5 / 1) + 1 = 6" in text


def test_first_slide_equations_as_strings():
    eqs = explain_conv().sections[1].equations
    assert [str(e) for e in eqs[:3]] == [
        "Z[1,1] = A[1,1]·W[1,1] + A[1,2]·W[1,2] + A[2,1]·W[2,1] + A[2,2]·W[2,2] + B",
        "Z[1,2] = A[1,2]·W[1,1] + A[1,3]·W[1,2] + A[2,2]·W[2,1] + A[2,3]·W[2,2] + B",
        "Z[1,3] = A[1,3]·W[1,1] + A[1,4]·W[1,2] + A[2,3]·W[2,1] + A[2,4]·W[2,2] + B",
    ]
    strided = explain_conv(stride=2).sections[1].equations
    assert str(strided[1]) == "Z[1,2] = A[1,3]·W[1,1] + A[1,4]·W[1,2] + A[2,3]·W[2,1] + A[2,4]·W[2,2] + B"


def test_pooling_preset_gives_the_recitation_results():
    e = explain_pool()
    outputs = {s.title.split()[0]: next(g for g in s.grids if g.name == "Z").cells for s in e.sections[1:4]}
    assert outputs == {
        "Max": [["16", "9"], ["67", "13"]],
        "Mean": [["9.5", "4.75"], ["25.75", "7.75"]],
        "Min": [["4", "0"], ["6", "3"]],
    }
    assert e.data["max"]["output"] == [[[16.0, 9.0], [67.0, 13.0]]]
    # max routing by hand: dL/dZ = [[1, 2], [3, 4]] goes to 16 (row 2, col 1), 9, 67 and 13
    assert e.data["max"]["grad_input"] == [[[0, 0, 0, 2], [1, 0, 0, 0], [0, 0, 4, 0], [3, 0, 0, 0]]]
    assert e.data["mean"]["grad_input"][0][0] == [0.25, 0.25, 0.5, 0.5]
    text = render_text(e)
    for line in (
        "Z[1,1] = max(A[1,1], A[1,2], A[2,1], A[2,2])",
        "= max(4, 8, 16, 10)",
        "= (4 + 8 + 16 + 10) / 4",
        "= 9.5",
        "dL/dA[2,1] = dL/dZ[1,1]",
        "dL/dA[1,1] = dL/dZ[1,1]/4",
    ):
        assert line in text


def test_chain_rule_numbers():
    lines = explain_backward().sections[0].lines
    for expected in (
        "q = x + y = (-2) + 5 = 3",
        "f = q·z = 3·(-4) = -12",
        "df/dq = z = -4",
        "df/dz = q = 3",
        "df/dx = df/dq·dq/dx = -4·1 = -4",
        "df/dy = df/dq·dq/dy = -4·1 = -4",
    ):
        assert any(expected in line for line in lines), expected


def test_backward_formulas_of_the_2x2_filter_as_strings():
    e = explain_backward()
    grad_f = [str(q) for q in e.sections[3].equations]
    assert grad_f == [
        "dL/dF[1,1] = dL/dO[1,1]·X[1,1] + dL/dO[1,2]·X[1,2] + dL/dO[2,1]·X[2,1] + dL/dO[2,2]·X[2,2]",
        "dL/dF[1,2] = dL/dO[1,1]·X[1,2] + dL/dO[1,2]·X[1,3] + dL/dO[2,1]·X[2,2] + dL/dO[2,2]·X[2,3]",
        "dL/dF[2,1] = dL/dO[1,1]·X[2,1] + dL/dO[1,2]·X[2,2] + dL/dO[2,1]·X[3,1] + dL/dO[2,2]·X[3,2]",
        "dL/dF[2,2] = dL/dO[1,1]·X[2,2] + dL/dO[1,2]·X[2,3] + dL/dO[2,1]·X[3,2] + dL/dO[2,2]·X[3,3]",
    ]
    grad_x = [str(q) for q in e.sections[4].equations]
    assert grad_x == [
        "dL/dX[1,1] = dL/dO[1,1]·F[1,1]",
        "dL/dX[1,2] = dL/dO[1,1]·F[1,2] + dL/dO[1,2]·F[1,1]",
        "dL/dX[1,3] = dL/dO[1,2]·F[1,2]",
        "dL/dX[2,1] = dL/dO[1,1]·F[2,1] + dL/dO[2,1]·F[1,1]",
        "dL/dX[2,2] = dL/dO[1,1]·F[2,2] + dL/dO[1,2]·F[2,1] + dL/dO[2,1]·F[1,2] + dL/dO[2,2]·F[1,1]",
        "dL/dX[2,3] = dL/dO[1,2]·F[2,2] + dL/dO[2,2]·F[1,2]",
        "dL/dX[3,1] = dL/dO[2,1]·F[2,1]",
        "dL/dX[3,2] = dL/dO[2,1]·F[2,2] + dL/dO[2,2]·F[2,1]",
        "dL/dX[3,3] = dL/dO[2,2]·F[2,2]",
    ]
    local = e.sections[2].lines[0]
    assert local.startswith("dO[1,1]/dF[1,1] = X[1,1]   dO[1,1]/dF[1,2] = X[1,2]")
    rotated = next(g for g in e.sections[6].grids if g.label == "rot180(F)")
    assert rotated.cells == [["F[2,2]", "F[2,1]"], ["F[1,2]", "F[1,1]"]]


def test_backward_with_numbers_matches_torch_and_shows_the_conclusions():
    x = np.arange(9.0).reshape(1, 3, 3)
    f = np.array([[[[1.0, -1.0], [2.0, 0.0]]]])
    e = explain_backward(values="input=0,1,2/3,4,5/6,7,8;kernel=1,-1/2,0;grad=1,2/3,4")
    _, gx, gw, _ = torch_conv(x, f, np.zeros(1), np.array([[[1.0, 2], [3, 4]]]), 1, 0, 1)
    np.testing.assert_allclose(e.data["grad_input"], gx, **TOL)
    np.testing.assert_allclose(e.data["grad_weight"], gw, **TOL)
    conclusion = e.sections[5]
    assert next(g for g in conclusion.grids if g.name == "dL/dF").values.tolist() == gw[0, 0].tolist()
    full = e.sections[6]
    padded = full.grids[0].values
    assert padded.shape == (4, 4) and padded[1:3, 1:3].tolist() == [[1, 2], [3, 4]] and padded[0].tolist() == [0] * 4
    assert full.grids[1].values.tolist() == [[0, 2], [-1, 1]]  # rot180 of [[1, -1], [2, 0]]


def test_stride_drops_the_intermediates():
    e = explain_stride(values="input=1,2,3,4/5,6,7,8/9,10,11,12/13,14,15,16;kernel=1,0/0,1;grad=1,2/3,4")
    x = np.arange(1.0, 17).reshape(1, 4, 4)
    w = np.array([[[[1.0, 0], [0, 1]]]])
    full = TF.conv2d(torch.tensor(x[None]), torch.tensor(w)).numpy()[0, 0]
    assert e.data["y"][0] == full.tolist()
    assert e.data["z"][0] == full[::2, ::2].tolist()
    assert e.data["grad_y"][0] == [[1, 0, 2], [0, 0, 0], [3, 0, 4]]
    text = render_text(e)
    assert "Z[1,2] = Y[1,3]" in text and "dL/dY[1,2] = 0" in text and "[7]" in text


def test_transpose_equals_torch_and_upsampling_view():
    e = explain_transpose(values="input=1,2/3,4;kernel=1,2,0/0,1,0/3,0,1", stride=2)
    expected = TF.conv_transpose2d(
        torch.tensor([[[[1.0, 2], [3, 4]]]]), torch.tensor([[[[1.0, 2, 0], [0, 1, 0], [3, 0, 1]]]]), stride=2
    )
    assert e.data["y"][0] == expected.numpy()[0, 0].tolist()
    assert e.data["up"][0] == [[1, 0, 2], [0, 0, 0], [3, 0, 4]]
    assert "(2 - 1)·2 - 2·0 + 1·(3 - 1) + 0 + 1 = 5" in render_text(e)


def test_scan_mlp_equals_torch_conv1d():
    e = explain_scan(values="input=3,1,4,1,5,9,2,6", kernel_size=3, out_channels=2)
    mlp, cnn = e.data["mlp"], e.data["cnn"]
    w1 = np.array(e.sections[0].grids[0].values)
    b1 = np.array(e.sections[0].grids[1].values)[:, 0]
    x = torch.tensor([[3.0, 1, 4, 1, 5, 9, 2, 6]], dtype=torch.float64)
    expected = TF.conv1d(x[None], torch.tensor(w1.reshape(2, 1, 3)), torch.tensor(b1))[0]
    np.testing.assert_allclose(mlp["pre"], expected.numpy(), **TOL)
    np.testing.assert_allclose(cnn["pre"], expected.numpy(), **TOL)
    assert e.data["same"] is True


def test_output_size_formula_and_what_the_floor_drops():
    f = Geometry.make((5, 7), 2, stride=2).formulas()
    assert f[0]["text"] == (
        "Output height = floor((H_in - H_k + 2P) / S) + 1 = floor((5 - 2 + 2·0) / 2) + 1 = floor(3 / 2) + 1 = 2"
    )
    assert f[0]["dropped"] == [5] and f[1]["dropped"] == [7]
    assert f[0]["note"] == "the floor drops row 5: stride 2 does not divide 3, so no window reaches it"
    dilated = Geometry.make(7, 3, 2, 1, 2).formulas()[0]
    assert dilated["text"].endswith("= floor((7 - 2·(3 - 1) - 1 + 2·1) / 2) + 1 = floor(4 / 2) + 1 = 3")
    assert "the floor drops" in render_text(explain_conv(input_size=5, stride=2))


def test_padding_and_channels_are_written_out():
    e = explain_conv(input_size=3, kernel_size=2, padding=1, in_channels=2, out_channels=2)
    first = str(e.sections[1].equations[0])
    assert first == (
        "Z[1,1,1] = (0·W[1,1,1,1] + 0·W[1,1,1,2] + 0·W[1,1,2,1] + A[1,1,1]·W[1,1,2,2]) + "
        "(0·W[1,2,1,1] + 0·W[1,2,1,2] + 0·W[1,2,2,1] + A[2,1,1]·W[1,2,2,2]) + B[1]"
    )
    input_grid = e.sections[1].grids[0]
    assert input_grid.cells[0] == ["0"] * 5 and input_grid.cells[1][1] == "A[1,1,1]"
    assert len([g for g in e.sections[1].grids if g.name == "Z"]) == 2  # one output map per filter


def test_number_format():
    assert [number(v) for v in (4.0, -0.0, 9.5, 1 / 3, -2.25, 12345.678, 1e-7)] == [
        "4",
        "0",
        "9.5",
        "0.3333",
        "-2.25",
        "1.235e+04",
        "1e-07",
    ]


def test_values_parsing():
    assert parse_array("1,2/3,4", "input").tolist() == [[1, 2], [3, 4]]
    assert parse_array("[[1, 2], [3, 4]]", "input").shape == (2, 2)
    assert parse_array("1 2//3 4", "input").tolist() == [[[1, 2]], [[3, 4]]]
    v = parse_values("a=1,2;w=3", allowed=("input", "kernel"))
    assert set(v.arrays) == {"input", "kernel"}


# --------------------------------------------------------------------------- the command line
def test_cli_conv_edge_terminal_output(capsys):
    assert main(["conv", "--values", "edge", "--max-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "  Input A               Kernel W       Output Z" in out
    assert "Z[1,1] = A[1,1]·W[1,1] + A[1,2]·W[1,2] + A[1,3]·W[1,3] + A[2,1]·W[2,1] + A[2,2]·W[2,2] +" in out
    assert "= 0·(-1) + 0·0 + 0·1 + 0·(-2) + 0·0 + 0·2 + 0·(-1) + 0·0 + 0·1 + 0" in out
    assert "... 34 more (--max-steps 36 shows them all)" in out
    assert max(len(line) for line in out.splitlines()) <= 100


@pytest.mark.parametrize(
    ("argv", "lines"),
    [
        (["pool"], ["Max pooling", "[16]", "= max(4, 8, 16, 10)", "Backward of mean pooling"]),
        (["stride", "--values", "random:1"], ["Stride-1 output Y", "Z[1,2] = Y[1,3]", "zero-insertion upsampling"]),
        (
            ["backward", "--max-steps", "0"],
            [
                "df/dx = df/dq·dq/dx = -4·1 = -4",
                "dL/dX[3,3] = dL/dO[2,2]·F[2,2]",
                "Conclusion: dL/dX = Full convolution(rot180(F), dL/dO)",
            ],
        ),
        (["transpose"], ["Output height = (n - 1)·S - 2P + d·(k - 1) + output_padding + 1", "rot180(W)"]),
        (
            ["scan"],
            [
                "window 1: x[1..3]",
                "h_MLP[1,1] = W1[1,1]·x[1] + W1[1,2]·x[2] + W1[1,3]·x[3] + b1[1]",
                "h_CNN[1,1] = x[1]·K[1,1] + x[2]·K[1,2] + x[3]·K[1,3] + b1[1]",
            ],
        ),
        (
            ["conv", "--dims", "1", "--input-size", "6", "--kernel-size", "3", "--dilation", "2"],
            [
                "Output length = floor((L_in - d·(L_k - 1) - 1 + 2P) / S) + 1",
                "Z[1] = A[1]·W[1] + A[3]·W[2] + A[5]·W[3] + B",
            ],
        ),
    ],
)
def test_cli_sub_commands_print_their_key_lines(capsys, argv, lines):
    assert main(argv) == 0
    out = capsys.readouterr().out
    for line in lines:
        assert line in out, line
    assert max(len(line) for line in out.splitlines()) <= 100


def test_cli_json_structure(capsys):
    assert main(["conv", "--values", "edge", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["topic"] == "conv"
    size, walk = data["sections"][0], data["sections"][1]
    assert [f["output"] for f in size["formulas"]] == [6, 6] and size["formulas"][0]["numerator"] == 5
    first = walk["equations"][0]
    assert first["lhs"] == "Z[1,1]" and first["terms"][0] == ["A[1,1]", "W[1,1]"] and first["bias"] == "B"
    assert first["value"] == 0 and first["numbers"].startswith("0·(-1) + 0·0")
    assert walk["equations_total"] == 36 and len(walk["equations"]) == 12
    output = next(g for g in walk["grids"] if g["name"] == "Z")
    assert output["values"][0] == [0, 0, 4, 4, 0, 0]


def test_png_and_gif_are_written_and_readable(tmp_path, capsys):
    from PIL import Image

    png, gif = tmp_path / "conv.png", tmp_path / "conv.gif"
    assert main(["conv", "--png", str(png), "--gif", str(gif), "--max-steps", "3", "--step", "2"]) == 0
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 300
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 3
    render_png(explain_pool(), tmp_path / "pool.png", step=1)
    assert render_gif(explain_backward(), tmp_path / "back.gif", max_steps=2) == 2
    with Image.open(tmp_path / "pool.png") as im:
        assert im.size[1] > 100
    assert "wrote" in capsys.readouterr().err


def test_html_page_is_self_contained(tmp_path):
    page = tmp_path / "conv.html"
    assert main(["conv", "--values", "edge", "--html", str(page)]) == 0
    text = page.read_text()
    assert "<script>" in text and "kw-data" in text
    for remote in ("http://", "https://", "src=", "href="):
        assert remote not in text, remote
    data = json.loads(text.split('id="kw-data">')[1].split("</script>")[0])
    assert data["engine"]["output"][0][0] == [0, 0, 4, 4, 0, 0]  # filter 1, row 1


def test_image_command(tmp_path, capsys):
    from PIL import Image

    pixels = np.arange(6 * 5, dtype=np.uint8).reshape(6, 5) * 8  # 5 wide, 6 high
    Image.fromarray(np.stack([pixels, 255 - pixels, pixels // 2], -1)).save(tmp_path / "rgb.png")
    Image.fromarray(pixels).save(tmp_path / "gray.png")
    assert main(["image", str(tmp_path / "gray.png"), "--crop", "1,2,3,2"]) == 0
    out = capsys.readouterr().out
    assert "(C, H, W) = (1, 6, 5)" in out
    assert " 88  96 104" in out and "128 136 144" in out  # rows 2-3, columns 1-3 of the gray picture
    e = explain_image(tmp_path / "rgb.png")
    assert e.data["shape"] == [3, 6, 5] and [g.label for g in e.sections[1].grids] == [
        "I[0] (R)",
        "I[1] (G)",
        "I[2] (B)",
    ]
    assert e.data["matrix"][1][0][0] == 255
    assert main(["image", str(tmp_path / "rgb.png"), "--png", str(tmp_path / "img.png")]) == 0
    assert (tmp_path / "img.png").stat().st_size > 0


def test_model_command(run_dir, tmp_path, capsys):
    from PIL import Image

    digit = np.zeros((8, 8), dtype=np.uint8)
    digit[2:6, 3:5] = 255
    Image.fromarray(digit).save(tmp_path / "digit.png")
    assert main(["model", str(run_dir), "--image", str(tmp_path / "digit.png"), "--png", str(tmp_path / "m.png")]) == 0
    out = capsys.readouterr().out
    assert "Conv2d                  (1, 8, 8) -> (16, 8, 8)" in out
    assert "MaxPool2d              (32, 8, 8) -> (32, 4, 4)" in out
    assert "= floor((8 - 2 + 2·0) / 2) + 1 = floor(6 / 2) + 1 = 4" in out
    assert "top-3:" in out
    e = explain_model(run_dir)
    assert [layer["output_shape"] for layer in e.data["layers"]][:5] == [
        [16, 8, 8],
        [16, 8, 8],
        [32, 8, 8],
        [32, 8, 8],
        [32, 4, 4],
    ]
    assert e.data["image"] is None


# --------------------------------------------------------------------------- errors
def test_error_kernel_larger_than_input():
    with pytest.raises(ValueError, match="no window fits"):
        explain_conv(input_size=3, kernel_size=5)


def test_error_unknown_values_key():
    with pytest.raises(ValueError, match="unknown key 'weights'"):
        explain_conv(values="input=1,2/3,4;weights=1")


def test_error_ragged_values():
    with pytest.raises(ValueError, match="rectangular"):
        explain_conv(values="input=1,2/3;kernel=1")


def test_error_values_disagree_with_size():
    with pytest.raises(ValueError, match=r"--input-size \(5, 5\) disagrees with the given input"):
        explain_conv(input_size=5, values="edge")


def test_error_kernel_channels_disagree():
    with pytest.raises(ValueError, match="has 2 channels, the input"):
        explain_conv(values="input=[[1,2],[3,4]];kernel=[[[[1]],[[1]]]]")


def test_error_pool_padding_too_large():
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        explain_pool(padding=2)


def test_error_mean_pool_with_dilation():
    with pytest.raises(ValueError, match="mean pooling has no dilation"):
        explain_pool(dilation=2, stride=1)


def test_error_pool_needs_numbers():
    with pytest.raises(ValueError, match="give numbers"):
        explain_pool(values="symbols")


def test_error_unknown_pool_mode():
    with pytest.raises(ValueError, match="--mode 'median'"):
        explain_pool(modes=("median",))


def test_error_stride_one_has_nothing_to_drop():
    with pytest.raises(ValueError, match="nothing to drop"):
        explain_stride(stride=1)


def test_error_transpose_output_padding():
    with pytest.raises(ValueError, match="output_padding"):
        explain_transpose(output_padding=2, stride=2)


def test_error_crop_outside(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="outside the 4×4 picture"):
        explain_image(tmp_path / "a.png", crop="2,2,3,3")


def test_error_not_an_image(tmp_path):
    (tmp_path / "a.png").write_text("hello")
    with pytest.raises(ValueError, match="not an image file"):
        explain_image(tmp_path / "a.png")


def test_error_missing_run_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        explain_model(tmp_path / "nothing")


def test_error_html_for_a_topic_without_page(tmp_path, capsys):
    assert main(["scan", "--html", str(tmp_path / "s.html")]) == 1
    assert "has no interactive page" in capsys.readouterr().err


def test_error_bad_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["conv", "--padding", "wide"])
    assert e.value.code == 2
    assert "--padding" in capsys.readouterr().err


def test_error_negative_max_steps(capsys):
    assert main(["conv", "--max-steps", "-1"]) == 1
    assert "--max-steps must be >= 0" in capsys.readouterr().err


def test_engine_check_message():
    from kernelwise.explain.engine import check

    with pytest.raises(FormulaMismatch, match=r"largest difference 1 at index \(1,\)"):
        check("Z", np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert math.isclose(1.0, 1.0)
    assert Names().grad("Z") == "dL/dZ"
