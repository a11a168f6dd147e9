"""The layout contract, for every Function: batch-last inputs give the same values, and layout-keeping ops keep it.

kernelwise keeps a batch-last memory layout between convolution, ReLU and pooling (``ops/layout.py``,
``docs/layout.md``): an (N, C, H, W) array whose memory runs (C, H, W, N). Every Function must give the same
output and the same gradients for such an input as for the same values in C order; ReLU, pooling and the
elementwise ops must also return their output, and the gradient of their input, in the input's layout.

``BUILDERS`` holds, per Function subclass (by class name), calls that run it on a (N, C, H, W) tensor ``x``;
``test_every_function_has_a_builder`` fails when a new Function has no entry, so the table stays complete.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pytest

import kernelwise as kw
import kernelwise.nn.functional as F
from kernelwise.ops.layout import axis_order
from kernelwise.tensor import Function
from parity import assert_close, distinct, largest_size

N, C, H, W = 3, 4, 6, 4
BATCH_LAST = (1, 2, 3, 0)  # axis_order of an (N, C, H, W) view of (C, H, W, N) memory


def batch_last(a: np.ndarray) -> np.ndarray:
    """The same values, in (C, H, W, N) memory."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def const(*shape: int, seed: int = 1, low: float = -1.0, high: float = 1.0) -> kw.Tensor:
    """A second operand, in C order, the same in both runs."""
    return kw.tensor(np.random.default_rng(seed).uniform(low, high, shape))


def _max_unpool(x: kw.Tensor) -> kw.Tensor:
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    return F.max_unpool2d(y, indices, 2, output_size=(H, W))


def _dropout(x: kw.Tensor) -> kw.Tensor:
    return F.dropout(x, 0.5, generator=np.random.default_rng(7))


# Each entry: (id, fn(x) -> Tensor made by that Function, domain of x: "any" (distinct values in -1..1,
# none at 0) or "pos" (0.5..2.5), whether the op must keep the batch-last layout).
Builder = tuple[str, Callable[[kw.Tensor], kw.Tensor], str, bool]
BUILDERS: dict[str, list[Builder]] = {
    # elementwise
    "Abs": [("abs", lambda x: x.abs(), "any", True)],
    "Add": [
        ("add", lambda x: x + const(N, C, H, W), "any", True),
        ("add-bias", lambda x: x + const(C, 1, 1), "any", True),
    ],
    "Sub": [("sub", lambda x: x - const(N, C, H, W), "any", True)],
    "Mul": [("mul", lambda x: x * const(N, C, H, W), "any", True), ("mul-scalar", lambda x: x * 3.0, "any", True)],
    "Div": [("div", lambda x: x / const(N, C, H, W, low=0.5, high=2.0), "any", True)],
    "Neg": [("neg", lambda x: -x, "any", True)],
    "Exp": [("exp", lambda x: x.exp(), "any", True)],
    "Log": [("log", lambda x: x.log(), "pos", True)],
    "Sqrt": [("sqrt", lambda x: x.sqrt(), "pos", True)],
    "Pow": [("pow", lambda x: x**3, "any", True)],
    "Tanh": [("tanh", lambda x: x.tanh(), "any", True)],
    "Sigmoid": [("sigmoid", lambda x: x.sigmoid(), "any", True)],
    "ReLU": [("relu", lambda x: x.relu(), "any", True)],
    "Clip": [("clamp", lambda x: x.clamp(-0.5, 0.5), "any", True)],
    "Maximum": [("maximum", lambda x: kw.maximum(x, const(N, C, H, W)), "any", True)],
    "Minimum": [("minimum", lambda x: kw.minimum(x, const(N, C, H, W)), "any", True)],
    "Where": [("where", lambda x: kw.where(const(N, C, H, W)._array > 0, x, const(N, C, H, W, seed=2)), "any", False)],
    "Cast": [("float", lambda x: x.float(), "any", True)],
    "MatMul": [("matmul", lambda x: x @ const(W, 5), "any", False)],
    # activations
    "LeakyReLU": [("leaky_relu", lambda x: F.leaky_relu(x, 0.1), "any", True)],
    "GELU": [("gelu", lambda x: F.gelu(x), "any", True), ("gelu-tanh", lambda x: F.gelu(x, "tanh"), "any", True)],
    "ELU": [("elu", lambda x: F.elu(x), "any", True)],
    "Hardtanh": [("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.5), "any", True)],
    "Softplus": [("softplus", lambda x: F.softplus(x), "any", True)],
    "Dropout": [("dropout", _dropout, "any", True)],
    "Softmax": [("softmax", lambda x: F.softmax(x, 1), "any", False)],
    "LogSoftmax": [("log_softmax", lambda x: F.log_softmax(x, 1), "any", False)],
    # convolution
    "ConvNd": [("conv2d", lambda x: F.conv2d(x, const(5, C, 3, 3), const(5), padding=1), "any", False)],
    "ConvTransposeNd": [
        ("conv_transpose2d", lambda x: F.conv_transpose2d(x, const(C, 3, 2, 2), stride=2), "any", False)
    ],
    "Unfold": [("unfold", lambda x: F.unfold(x, 2), "any", False)],
    "Fold": [("fold", lambda x: F.fold(F.unfold(x, 2), (H, W), 2), "any", False)],
    # pooling and resampling
    "WindowPool": [
        ("max_pool2d", lambda x: F.max_pool2d(x, 2), "any", True),
        ("max_pool2d-overlapping", lambda x: F.max_pool2d(x, 3, 1, 1), "any", True),
        ("min_pool2d", lambda x: F.min_pool2d(x, 2), "any", True),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 2), "any", True),
    ],
    "AdaptivePool": [
        ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (4, 3)), "any", False),
        ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (4, 3)), "any", False),
    ],
    "MaxUnpool": [("max_unpool2d", _max_unpool, "any", False)],
    "Downsample": [("downsample", lambda x: F.downsample(x, 2), "any", False)],
    "UpsampleZeros": [("upsample_zeros", lambda x: F.upsample_zeros(x, 2), "any", False)],
    "Pad": [
        ("pad-constant", lambda x: F.pad(x, (1, 2, 0, 1)), "any", False),
        ("pad-reflect", lambda x: F.pad(x, (1, 1, 2, 1), "reflect"), "any", False),
    ],
    # normalisation, linear, losses
    "BatchNorm": [
        ("batch_norm", lambda x: F.batch_norm(x, None, None, const(C), const(C), training=True), "any", True)
    ],
    "Linear": [("linear", lambda x: F.linear(x, const(5, W), const(5)), "any", False)],
    "MSELoss": [("mse_loss", lambda x: F.mse_loss(x, const(N, C, H, W)), "any", False)],
    "NLLLoss": [
        (
            "nll_loss",
            lambda x: F.nll_loss(x, kw.tensor(np.random.default_rng(3).integers(0, C, (N, H, W)))),
            "any",
            False,
        )
    ],
    # reductions
    "Sum": [("sum", lambda x: x.sum(dim=1), "any", False), ("sum-all", lambda x: x.sum(), "any", False)],
    "Mean": [("mean", lambda x: x.mean(dim=(0, 2)), "any", False)],
    "Extremum": [("amax", lambda x: x.amax(dim=1), "any", False), ("amin", lambda x: x.amin(dim=(2, 3)), "any", False)],
    # shape
    "Clone": [("clone", lambda x: x.clone(), "any", True)],
    "Reshape": [("reshape", lambda x: x.reshape(N, -1), "any", False)],
    "Permute": [("permute", lambda x: x.permute(0, 2, 3, 1), "any", False)],
    "GetItem": [
        ("getitem-basic", lambda x: x[:, 1:, ::2], "any", True),
        ("getitem-advanced", lambda x: x[:, [0, 2, 2]], "any", False),
    ],
    "TakeAlong": [
        ("max-dim", lambda x: x.max(dim=1, keepdim=True).values, "any", False),
        ("sort", lambda x: kw.sort(x, 1).values, "any", False),
    ],
    "Expand": [("expand", lambda x: x[:, :1].expand(N, 3, H, W), "any", False)],
    "Cat": [("cat", lambda x: kw.cat([x, const(N, 2, H, W)], 1), "any", False)],
    "Stack": [("stack", lambda x: kw.stack([x, const(N, C, H, W)], 0), "any", False)],
}

# Cases that should keep the layout and do not, by case id: what breaks (the test expects the failure, and
# fails once the op keeps the layout, so that the entry goes).
KNOWN_BREAKS: dict[str, str] = {}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def library_functions() -> set[str]:
    """Every public Function subclass of kernelwise's modules (not those tests or doctests define)."""
    return {
        c.__name__
        for c in _subclasses(Function)
        if c.__module__.startswith("kernelwise.")
        and not c.__name__.startswith("_")
        and getattr(sys.modules.get(c.__module__), c.__name__, None) is c
    }


CASES = [
    pytest.param(name, fn, domain, keeps, id=case_id)
    for name, builders in BUILDERS.items()
    for case_id, fn, domain, keeps in builders
]


def test_every_function_has_a_builder() -> None:
    missing = library_functions() - set(BUILDERS)
    assert not missing, f"Function subclasses without an entry in BUILDERS: {sorted(missing)}"
    assert not set(BUILDERS) - library_functions(), "BUILDERS names a class that is not a Function"


def _values(domain: str) -> np.ndarray:
    x = distinct((N, C, H, W)) / (N * C * H * W / 8)  # distinct, in -1..1: no ties for max/min/sort
    x = np.where(x == 0, 0.03125, x)  # and none at a kink
    return x + 1.5 if domain == "pos" else x


def _run(fn: Callable, x: np.ndarray, grad_seed: int = 5) -> tuple:
    """Output, the Function's own backward result for x, and x.grad through the engine."""
    xt = kw.Tensor(x, requires_grad=True)  # keeps x's strides
    out = fn(xt)
    upstream = np.random.default_rng(grad_seed).standard_normal(out.shape).astype(out.dtype)
    direct = None
    ctx = out._ctx
    if ctx is not None and len(ctx.inputs) >= 1 and ctx.inputs[0] is xt:  # the Function took x itself
        from kernelwise.ops.layout import in_layout_of

        direct = ctx.backward(in_layout_of(upstream, out._array))  # as the engine hands it
        direct = direct[0] if isinstance(direct, tuple) else direct
    out.backward(upstream)
    return out, direct, xt


@pytest.mark.parametrize(("name", "fn", "domain", "keeps"), CASES)
def test_batch_last_input_same_values_and_layout(name: str, fn: Callable, domain: str, keeps: bool) -> None:
    values = _values(domain)
    x_c, x_bl = values.copy(), batch_last(values)
    assert axis_order(x_bl) == BATCH_LAST and np.array_equal(x_bl, x_c)

    out_c, _, xt_c = _run(fn, x_c)
    out_bl, direct_bl, xt_bl = _run(fn, x_bl)
    probe = fn(kw.Tensor(x_bl, requires_grad=True))
    assert type(probe._ctx).__name__ == name, f"the builder made a {type(probe._ctx).__name__}, not a {name}"

    terms = largest_size(values, out_c.numpy())
    assert out_bl.dtype == out_c.dtype and out_bl.shape == out_c.shape
    assert_close(out_bl.numpy(), out_c.numpy(), out_c.dtype, terms=terms, what=f"{name}: output")
    assert_close(xt_bl.grad.numpy(), xt_c.grad.numpy(), terms=terms, what=f"{name}: dL/dx")

    if keeps:
        problems = []
        if axis_order(out_bl._array) != BATCH_LAST:
            problems.append(f"output in axis order {axis_order(out_bl._array)}")
        if direct_bl is None:
            problems.append("the builder's Function does not take x itself")
        elif axis_order(direct_bl) != BATCH_LAST and np.ndim(direct_bl) == 4:
            problems.append(f"backward returns dL/dx in axis order {axis_order(direct_bl)}")
        case_id = next(c for c, f, _, _ in BUILDERS[name] if f is fn)
        if case_id in KNOWN_BREAKS:
            assert problems, f"{case_id} keeps the layout now: remove it from KNOWN_BREAKS"
            pytest.xfail(f"{KNOWN_BREAKS[case_id]} ({'; '.join(problems)})")
        assert not problems, f"{name} loses the batch-last layout: {'; '.join(problems)}"


def test_grad_out_arrives_in_the_output_layout() -> None:
    """The engine hands backward dL/dy in y's layout, whatever layout the caller's gradient has."""
    seen = []

    class Spy(Function):
        def forward(self, x):
            return x.copy(order="K")

        def backward(self, grad_out):
            seen.append(axis_order(grad_out))
            return grad_out

    x = kw.Tensor(batch_last(_values("any")), requires_grad=True)
    y = Spy.apply(x)
    y.backward(np.ones((N, C, H, W)))  # a C-order gradient
    assert seen == [BATCH_LAST]
