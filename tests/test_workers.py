"""kernelwise's workers and its chunked GEMM: NumPy's products, the same bits at any thread count."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import kernelwise as kw
from kernelwise import models, nn, workers
from kernelwise.ops import gemm
from kernelwise.threads import thread_limit

# (a shape, b shape, the axis plan() must cut): one case per way of cutting, worked out from the rule
CASES = [
    ((600, 300), (300, 40), "m"),  # 14.4 MFLOP -> 3 chunks of rows
    ((40, 300), (300, 600), "n"),  # the same, columns
    ((16, 6400), (6400, 150), "k"),  # a dL/dW product: K ≥ 8·max(M, N)
    ((8, 64, 200), (8, 200, 64), "batch"),  # stacked
    ((64, 200), (9, 200, 300), "batch"),  # a 2-d left operand broadcast over the stack
    ((2, 1, 50, 300), (3, 300, 70), "n"),  # both broadcast; 12.6 MFLOP wants 3 chunks, the stack has 2: columns
    ((5, 7), (7, 3), "m"),  # one chunk
]


def _operands(a_shape: tuple[int, ...], b_shape: tuple[int, ...], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(sum(a_shape) + sum(b_shape))
    return rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)


@pytest.fixture(autouse=True)
def steady():
    """Every test here runs with kernelwise.backends.cpu.steady_threads on (off again afterwards)."""
    kw.backends.cpu.steady_threads = True
    yield
    kw.backends.cpu.steady_threads = False


@pytest.fixture
def threads():
    """Set the workers' count in a test; the count before comes back afterwards."""
    before = kw.get_num_threads()
    yield kw.set_num_threads
    kw.set_num_threads(before)


def test_off_by_default_every_gemm_is_numpys():
    kw.backends.cpu.steady_threads = False
    a, b = _operands((600, 300), (300, 400), np.float32)
    assert np.array_equal(gemm.matmul(a, b), a @ b)
    seen: list[tuple[int, int]] = []
    workers.run_slices(lambda lo, hi: seen.append((lo, hi)), 10, 4)
    assert seen == [(0, 10)]  # a memory pass in one piece


@pytest.mark.parametrize("a_shape, b_shape, axis", CASES)
def test_plan_cuts_the_axis_the_rule_names(a_shape, b_shape, axis):
    got, chunks = gemm.plan(a_shape, b_shape)
    assert got == axis
    flops = 2 * np.prod(np.broadcast_shapes(a_shape[:-2], b_shape[:-2])) * a_shape[-2] * a_shape[-1] * b_shape[-1]
    assert chunks & (chunks - 1) == 0  # a power of two: even shares for 2, 4 or 8 workers
    assert 1 <= chunks <= min(gemm.MAX_CHUNKS, max(1, flops // gemm.CHUNK_FLOPS))  # never more than the work allows


def test_plan_hand_worked():
    # 2·512·1152·3136 = 3.7 GFLOP: 8 chunks (the cap) of 392 columns
    assert gemm.plan((512, 1152), (1152, 3136)) == ("n", 8)
    # 2·16·6400·150 = 30.7 MFLOP: work for 7 chunks, the power of two below is 4; K = 6400 ≥ 8·150 is cut
    assert gemm.plan((16, 6400), (6400, 150)) == ("k", 4)
    # 3 stacked products of 2·256³ = 33.6 MFLOP: the work wants 8 chunks, the stack has 3: every matrix's rows
    assert gemm.plan((3, 256, 256), (3, 256, 256)) == ("m", 8)
    # a batch of 1 (a 1×1 convolution on one image), 2·256·784·128 = 51 MFLOP: the 784 positions
    assert gemm.plan((256, 128), (1, 128, 784)) == ("n", 8)
    # 2·6·5·3000 = 0.18 MFLOP: one chunk
    assert gemm.plan((6, 3000), (3000, 5)) == ("k", 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_shape, b_shape, axis", CASES)
def test_matmul_equals_numpy(a_shape, b_shape, axis, dtype, threads):
    a, b = _operands(a_shape, b_shape, dtype)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    k = a_shape[-1]
    # each element is a K-term dot product in the dtype: |error| ≤ K·eps·Σ|a||b| (a loose form of the bound)
    bound = k * np.finfo(dtype).eps * np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    for n in (1, 2, 3):
        threads(n)
        got = gemm.matmul(a, b)
        assert got.shape == want.shape and got.dtype == dtype
        assert (np.abs(got - want) <= bound).all()


@pytest.mark.parametrize("a_shape, b_shape, axis", CASES)
def test_the_same_bits_at_any_thread_count(a_shape, b_shape, axis, threads):
    a, b = _operands(a_shape, b_shape, np.float32)
    results = []
    for n in (1, 2, 3, 8):
        threads(n)
        results.append(gemm.matmul(a, b))
    for r in results[1:]:
        assert np.array_equal(r, results[0])


def test_matmul_into_out_and_vectors(threads):
    threads(2)
    a, b = _operands((300, 400), (400, 500), np.float32)
    out = np.zeros((300, 600), np.float32)
    view = gemm.matmul(a, b, out=out[:, :500])  # a strided output
    assert view.base is out
    np.testing.assert_allclose(out[:, :500], a.astype(np.float64) @ b, rtol=0, atol=1e-3)
    assert (out[:, 500:] == 0).all()
    v = np.arange(4.0)
    assert gemm.matmul(v, v) == 14.0
    np.testing.assert_array_equal(gemm.matmul(np.eye(4), v), v)


def test_blas_thread_count_is_restored():
    def count() -> int:
        return next(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")

    with threadpool_limits(2, user_api="blas"):
        before = count()
        gemm.matmul(*_operands((200, 300), (300, 400), np.float32))
        assert count() == before == 2


def test_a_task_error_reaches_the_caller_and_the_pool_goes_on(threads):
    threads(2)
    done: list[int] = []

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        workers.run([lambda: done.append(1), fails, lambda: done.append(3)])
    assert sorted(done) == [1, 3]  # the other tasks ran to the end
    workers.run([lambda: done.append(4), lambda: done.append(5)])
    assert sorted(done) == [1, 3, 4, 5]


def test_nested_and_concurrent_calls_run_inline(threads):
    threads(2)
    a, b = _operands((400, 300), (300, 500), np.float32)
    want = gemm.matmul(a, b)
    inner: list[np.ndarray] = []
    workers.run([lambda: inner.append(gemm.matmul(a, b)), lambda: None])  # a GEMM inside a task
    assert np.array_equal(inner[0], want)
    got: dict[int, np.ndarray] = {}
    callers = [threading.Thread(target=lambda i=i: got.__setitem__(i, gemm.matmul(a, b))) for i in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    for r in got.values():
        np.testing.assert_allclose(r, want, rtol=0, atol=1e-3)  # correct; another thread's run may hold the BLAS count


def _child(queue) -> None:  # runs in a forked child
    a, b = _operands((400, 300), (300, 500), np.float32)
    queue.put(float(np.abs(gemm.matmul(a, b) - a.astype(np.float64) @ b).max()))


def test_a_forked_child_gets_its_own_pool(threads):
    threads(2)
    gemm.matmul(*_operands((400, 300), (300, 500), np.float32))  # the parent's helpers are running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    err = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0 and err < 1e-3


def test_set_num_threads_sets_numpys_blas_too(threads):
    """As torch.set_num_threads: the default mode's GEMMs (NumPy's BLAS) run on that many threads."""
    for n in (2, 1):
        threads(n)
        assert next(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas") == n


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            kw.set_num_threads(bad)


def test_thread_limit_sets_the_workers_and_restores_them(threads):
    threads(1)
    with thread_limit(3) as n:
        assert n == kw.get_num_threads() == 3
    assert kw.get_num_threads() == 1


def _train_steps(name: str, shape: tuple[int, ...], n_threads: int) -> list[np.ndarray]:
    model = getattr(models, name)(generator=0)
    opt = kw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(1)
    x = kw.tensor(rng.standard_normal(shape).astype(np.float32))
    y = kw.tensor(rng.integers(0, 10, shape[0]))
    kw.set_num_threads(n_threads)
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("name, shape", [("lenet5", (64, 1, 28, 28)), ("small_resnet", (8, 3, 32, 32))])
def test_training_steps_give_the_same_bits_at_any_thread_count(name, shape, threads):
    """Two SGD steps: the weights at 1, 2 and 3 threads are identical, bit for bit."""
    one = _train_steps(name, shape, 1)
    for n in (2, 3):
        for p, q in zip(one, _train_steps(name, shape, n), strict=True):
            assert np.array_equal(p, q)


# one case per convolution path, its shapes large enough for several chunks
CONV_PATHS = [
    ("windows", (4, 8, 20, 20), (16, 8, 3, 3), 2),
    ("matmul", (8, 64, 14, 14), (96, 64, 1, 1), 1),
    ("im2col", (4, 16, 24, 24), (32, 16, 3, 3), 2),
    ("chwn", (64, 6, 14, 14), (16, 6, 5, 5), 1),
    ("im2col_bands", (3, 16, 24, 24), (32, 16, 3, 3), 1),
    ("shifted", (4, 32, 20, 20), (32, 32, 3, 3), 1),
    ("winograd2", (2, 128, 10, 10), (128, 128, 3, 3), 1),
]


def _conv_grads(method: str, x_shape, w_shape, stride: int) -> list[np.ndarray]:
    from kernelwise.ops.conv import ConvNd

    rng = np.random.default_rng(3)
    x = kw.tensor(rng.standard_normal(x_shape).astype(np.float32), requires_grad=True)
    w = kw.tensor(rng.standard_normal(w_shape).astype(np.float32), requires_grad=True)
    b = kw.tensor(rng.standard_normal(w_shape[0]).astype(np.float32), requires_grad=True)
    pad = (w_shape[2] // 2,) * 2
    y = ConvNd.apply(x, w, b, stride=(stride,) * 2, padding=(pad, pad), dilation=(1, 1), groups=1, method=method)
    g = kw.tensor(rng.standard_normal(y.shape).astype(np.float32))
    (y * g).sum().backward()
    return [y.detach().numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy(), b.grad.numpy().copy()]


@pytest.mark.parametrize("method, x_shape, w_shape, stride", CONV_PATHS)
def test_every_conv_path_gives_the_same_bits_at_any_thread_count(method, x_shape, w_shape, stride, threads):
    """O, dL/dX, dL/dW, dL/db at 1, 2 and 3 threads: identical; and within float32 rounding of the default mode."""
    threads(1)
    one = _conv_grads(method, x_shape, w_shape, stride)
    for n in (2, 3):
        threads(n)
        for p, q in zip(one, _conv_grads(method, x_shape, w_shape, stride), strict=True):
            assert np.array_equal(p, q)
    kw.backends.cpu.steady_threads = False
    terms = w_shape[1] * w_shape[2] * w_shape[3] * max(x_shape[0] * x_shape[2] * x_shape[3], w_shape[0])
    for p, q in zip(one, _conv_grads(method, x_shape, w_shape, stride), strict=True):
        scale = float(np.abs(q).max())
        # two summation orders of sums of ≤ `terms` products: |difference| ≤ 2·terms·eps·scale (loose, as gemm's bound)
        assert np.abs(p - q).max() <= 2 * terms * np.finfo(np.float32).eps * scale


@pytest.mark.parametrize("steady_threads", [False, True])
def test_gemm_clock_counts_the_gemms_inside_its_block(steady_threads):
    kw.backends.cpu.steady_threads = steady_threads
    a, b = _operands((40, 300), (300, 600), np.float32)
    before = gemm.matmul(a, b)  # before any block: counted nowhere
    with gemm.gemm_clock() as outer:
        np.testing.assert_array_equal(gemm.matmul(a, b), before)  # the clock does not change the product
        with gemm.gemm_clock() as inner:
            gemm.matmul(a, b)
            # a Linear layer's forward is one GEMM, its backward two (dL/dX and dL/dW)
            x = kw.randn(5, 300, requires_grad=True)
            nn.Linear(300, 7)(x).sum().backward()
    gemm.matmul(a, b)  # after the blocks: counted nowhere
    assert (inner.calls, outer.calls) == (4, 5)
    assert 0 < inner.seconds <= outer.seconds
    assert not gemm._CLOCKS  # both blocks closed


def test_gemm_clock_closes_when_its_block_raises():
    with pytest.raises(RuntimeError, match="stop"), gemm.gemm_clock():
        raise RuntimeError("stop")
    assert not gemm._CLOCKS
