"""The default convolution paths are as exact as PyTorch's: on every shape of the conv suite, the float32
error of O, dL/dX and dL/dW (against a float64 computation, relative to each array's largest value) stays
within 4× of PyTorch's float32 error on the same inputs.

Both errors are measured here, on this machine's BLAS kernels, so the bound moves with them; a floor of
float32's unit roundoff keeps it meaningful where PyTorch happens to be exact. Winograd's F(4×4, 3×3),
6–37× PyTorch's error, runs only behind ``kernelwise.backends.conv.allow_winograd``: the last test shows
that the bound catches it.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import kernelwise as kw  # noqa: E402
from kernelwise.bench.conv import CONV_CASES, ConvCase  # noqa: E402
from kernelwise.ops.conv import conv1d, conv2d  # noqa: E402

BOUND = 4.0  # times PyTorch's float32 error
UNIT_ROUNDOFF = 2.0**-24


def _inputs(case: ConvCase, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, W (scaled as kaiming-uniform would: unit-scale outputs) and dL/dO; a batch of 2 keeps it quick."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, case.in_channels, *case.size))
    k = (case.kernel,) * len(case.size)
    w = rng.standard_normal((case.out_channels, case.in_channels, *k)) / np.sqrt(case.in_channels * np.prod(k))
    out = [(n + 2 * case.padding - case.kernel) // case.stride + 1 for n in case.size]
    g = rng.standard_normal((2, case.out_channels, *out))
    return x.astype(np.float32), w.astype(np.float32), g.astype(np.float32)


def _torch(case: ConvCase, x: np.ndarray, w: np.ndarray, g: np.ndarray, dtype: object) -> list[np.ndarray]:
    X = torch.tensor(x, dtype=dtype, requires_grad=True)
    W = torch.tensor(w, dtype=dtype, requires_grad=True)
    conv = torch.nn.functional.conv2d if len(case.size) == 2 else torch.nn.functional.conv1d
    y = conv(X, W, None, case.stride, case.padding)
    y.backward(torch.tensor(g, dtype=dtype))
    return [y.detach().numpy(), X.grad.numpy(), W.grad.numpy()]


def _kernelwise(case: ConvCase, x: np.ndarray, w: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    X, W = kw.tensor(x, requires_grad=True), kw.tensor(w, requires_grad=True)
    conv = conv2d if len(case.size) == 2 else conv1d
    y = conv(X, W, None, case.stride, case.padding)
    y.backward(kw.tensor(g))
    return [y.numpy(), X.grad.numpy(), W.grad.numpy()]


def _errors(got: list[np.ndarray], exact: list[np.ndarray]) -> np.ndarray:
    return np.array([np.abs(a - e).max() / np.abs(e).max() for a, e in zip(got, exact, strict=True)])


def _compare(case: ConvCase, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, w, g = _inputs(case, seed)
    exact = _torch(case, x.astype(np.float64), w.astype(np.float64), g.astype(np.float64), torch.float64)
    ours = _errors(_kernelwise(case, x, w, g), exact)
    theirs = np.maximum(_errors(_torch(case, x, w, g, torch.float32), exact), UNIT_ROUNDOFF)
    return ours, theirs


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.note)
def test_default_path_error_within_4x_of_pytorchs(case: ConvCase) -> None:
    assert not kw.backends.conv.allow_winograd
    ours, theirs = _compare(case, seed=0)
    for what, mine, torchs in zip(("O", "dL/dX", "dL/dW"), ours, theirs, strict=True):
        assert mine <= BOUND * torchs, f"{case.note} {what}: error {mine:.2e}, PyTorch's {torchs:.2e}"


def test_the_bound_catches_winograd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kw.backends.conv, "allow_winograd", True)
    case = next(c for c in CONV_CASES if c.note == "ResNet stage 3")  # 256 channels, 3×3: Winograd's case
    ours, theirs = _compare(case, seed=0)
    assert (ours > BOUND * theirs).any(), (ours, theirs)
