"""Checks run on every rank of an MPI job: ``mpiexec -n N python tests/mpi_workers.py CASE [CASE ...]``.

``tests/test_distributed.py`` starts this with 2 and 3 ranks. Each rank runs the cases in order and prints
``ok CASE rank R/N`` after each; a failed check prints its traceback and aborts the whole job (so that no
rank waits forever in a collective), and mpiexec exits non-zero.

Every expected value comes from one process that sees the whole batch, without kernelwise.distributed:
the global batch is the same on every rank (one seed), rank r takes its contiguous share of it (the
shares differ by one sample when the batch does not divide: 11 on 3 ranks is 4/4/3), and the one-process
reference runs on all of it in float64. Tolerances follow from float32 rounding: a float32 sum of n terms
is off by at most about n·u·Σ|terms| (u = 2⁻²⁴, Higham's bound), with n and Σ|terms| stated per check.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import kernelwise as kw
import kernelwise.distributed as dist
from kernelwise import nn
from kernelwise.nn.parallel import DistributedDataParallel

U = 2.0**-24  # float32's unit roundoff
B = 11  # the global batch: unequal shares on 2 and 3 ranks
CLASSES = 5


def shares(batch: int, ranks: int) -> list[np.ndarray]:
    """Contiguous shares of ``range(batch)``, their sizes differing by at most one."""
    return np.array_split(np.arange(batch), ranks)


def check_close(what: str, actual: np.ndarray, expected: np.ndarray, tol: float) -> float:
    """Assert ``|actual − expected| ≤ tol`` everywhere; return the largest difference (to report)."""
    diff = float(np.max(np.abs(np.asarray(actual, np.float64) - expected), initial=0.0))
    assert diff <= tol, f"{what}: differs by {diff:.3g} > {tol:.3g}"
    return diff


def global_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, 2, 8, 8)), rng.integers(0, CLASSES, B)


def make_cnn(seed: int, batch_norm: bool = False) -> nn.Module:
    kw.manual_seed(seed)
    conv = nn.Conv2d(2, 4, 3, bias=not batch_norm)  # a bias before BatchNorm would be cancelled by it
    layers = [conv, *([nn.BatchNorm2d(4)] if batch_norm else []), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 3 * 3, CLASSES))


def one_process_gradients(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[list, list]:
    """The float64 gradient of the mean loss over the whole batch, and Σ_i |gradient of sample i's term|."""
    model = model.double()
    losses = nn.functional.cross_entropy(model(kw.tensor(x)), kw.tensor(y), reduction="none") / len(y)
    magnitudes = [np.zeros(p.shape) for p in model.parameters()]
    for i in range(len(y)):
        model.zero_grad()
        losses[i].backward(retain_graph=True)
        for total, p in zip(magnitudes, model.parameters(), strict=True):
            total += np.abs(p.grad.numpy())
    model.zero_grad()
    losses.sum().backward()
    return [p.grad.numpy() for p in model.parameters()], magnitudes


def ddp_backward(ddp: DistributedDataParallel, x: np.ndarray, y: np.ndarray, rank: int, size: int) -> None:
    """Rank ``rank``'s share of the mean loss, weighted by share·N/B as the trainer does, and its backward."""
    idx = shares(len(y), size)[rank]
    loss = nn.functional.cross_entropy(ddp(kw.tensor(x[idx], dtype=kw.float32)), kw.tensor(y[idx]))
    (loss * (len(idx) * size / len(y))).backward()


# ----------------------------------------------------------------------------- the cases
def case_collectives(rank: int, size: int) -> None:
    held = [np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1) - 2 * r for r in range(size)]  # rank r's values
    every = np.stack(held)
    expected = {
        dist.ReduceOp.SUM: every.sum(0),
        dist.ReduceOp.AVG: every.sum(0) / size,
        dist.ReduceOp.MAX: every.max(0),
        dist.ReduceOp.MIN: every.min(0),
        dist.ReduceOp.PRODUCT: every.prod(0),
    }
    for op, result in expected.items():
        t = kw.tensor(held[rank])
        dist.all_reduce(t, op=op)
        check_close(f"all_reduce {op.name}", t.numpy(), result, size * U * np.abs(result).max())
    t = kw.tensor(np.asfortranarray(held[rank]))  # not C-contiguous: reduced through a contiguous copy
    work = dist.all_reduce(t, op=dist.ReduceOp.SUM, async_op=True)
    assert work.wait() is True and work.is_completed()
    check_close("async all_reduce", t.numpy(), expected[dist.ReduceOp.SUM], size * U * 30)
    for src in range(size):
        t = kw.tensor(held[rank])
        dist.broadcast(t, src=src)
        assert np.array_equal(t.numpy(), held[src]), f"broadcast from {src}"
    ints = kw.tensor([rank, 7])
    dist.broadcast(ints, src=size - 1)
    assert ints.tolist() == [size - 1, 7]
    gathered = [kw.zeros(2, 3) for _ in range(size)]
    dist.all_gather(gathered, kw.tensor(held[rank]))
    assert all(np.array_equal(g.numpy(), h) for g, h in zip(gathered, held, strict=True))
    assert dist.all_reduce_array(np.array([rank, 1]), dist.ReduceOp.SUM).tolist() == [sum(range(size)), size]
    dist.barrier()


def case_ddp(rank: int, size: int) -> None:
    x, y = global_batch()
    expected, magnitudes = one_process_gradients(make_cnn(0), x, y)
    n = B * 6 * 6  # the longest float32 sum behind one gradient: a conv weight's, over B samples × 6·6 positions
    for bucket_cap_mb in (25, 1e-4):  # one bucket; one bucket per parameter
        ddp = DistributedDataParallel(make_cnn(seed=rank), bucket_cap_mb=bucket_cap_mb)  # rank 0's weights win
        for p, q in zip(ddp.parameters(), make_cnn(0).parameters(), strict=True):
            assert np.array_equal(p.numpy(), q.numpy()), "parameters not broadcast from rank 0"
        ddp_backward(ddp, x, y, rank, size)
        worst = 0.0
        for (name, p), g, s in zip(ddp.module.named_parameters(), expected, magnitudes, strict=True):
            worst = max(worst, check_close(f"grad {name}", p.grad.numpy(), g, n * U * s.max()))
        print(f"measured ddp ranks={size} buckets={len(ddp._buckets)} max|grad - one process (float64)| = {worst:.2e}")
        kw.optim.SGD(ddp.parameters(), lr=0.5).step()
        for p in ddp.parameters():  # the same step everywhere: the copies stay equal, bit for bit
            copies = [kw.zeros(*p.shape) for _ in range(size)]
            dist.all_gather(copies, p.detach())
            assert all(np.array_equal(c.numpy(), p.numpy()) for c in copies), "ranks' parameters differ after step"
    batch_norm = nn.BatchNorm2d(3)
    batch_norm.running_mean._array[...] = rank
    DistributedDataParallel(batch_norm)
    assert batch_norm.running_mean.tolist() == [0.0, 0.0, 0.0], "buffers not broadcast from rank 0"
    unused_parameters(rank, size)


class Branches(nn.Module):
    """A trunk every rank uses, a branch only rank 0 uses, and one nobody uses."""

    def __init__(self) -> None:
        super().__init__()
        kw.manual_seed(3)
        self.trunk, self.branch, self.never = nn.Linear(3, 2), nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x: kw.Tensor, use_branch: bool) -> kw.Tensor:
        return self.trunk(x) + self.branch(x) if use_branch else self.trunk(x)


def unused_parameters(rank: int, size: int) -> None:
    rows = [np.random.default_rng(10 + r).standard_normal((4, 3)) for r in range(size)]
    reference = Branches().double()
    magnitudes = {name: np.zeros(p.shape) for name, p in reference.named_parameters()}
    for r in range(size):  # one process: every rank's loss in turn, gradients summed, then the mean over ranks
        before = {
            name: (p.grad.numpy().copy() if p.grad is not None else 0) for name, p in reference.named_parameters()
        }
        (reference(kw.tensor(rows[r]), use_branch=r == 0) ** 2).sum().backward()
        for name, p in reference.named_parameters():
            if p.grad is not None:
                magnitudes[name] += np.abs(p.grad.numpy() - before[name])
    ddp = DistributedDataParallel(Branches(), bucket_cap_mb=1e-5)  # buckets of one parameter, sent in order
    (ddp(kw.tensor(rows[rank], dtype=kw.float32), use_branch=rank == 0) ** 2).sum().backward()
    n = 4 * size  # 4 rows per rank, summed over the ranks
    for name, p in ddp.module.named_parameters():
        if name.startswith("never"):
            assert p.grad is None, f"{name}: no rank used it, its grad must stay None"
            continue
        expected = dict(reference.named_parameters())[name].grad.numpy() / size
        check_close(f"grad {name}", p.grad.numpy(), expected, n * U * magnitudes[name].max())


def case_no_sync(rank: int, size: int) -> None:
    (x1, y1), (x2, y2) = global_batch(1), global_batch(2)
    g1, m1 = one_process_gradients(make_cnn(0), x1, y1)
    g2, m2 = one_process_gradients(make_cnn(0), x2, y2)
    ddp = DistributedDataParallel(make_cnn(0))
    ddp.reset_communication_stats()  # count from here: the broadcast on wrap is not part of it
    with ddp.no_sync():
        ddp_backward(ddp, x1, y1, rank, size)
    assert ddp.communication_bytes == 0, "no_sync sent gradients"
    ddp_backward(ddp, x2, y2, rank, size)  # reduces the sum of both micro-batches' gradients
    n = 2 * B * 6 * 6
    for (name, p), a, b, s1, s2 in zip(ddp.module.named_parameters(), g1, g2, m1, m2, strict=True):
        check_close(f"accumulated grad {name}", p.grad.numpy(), a + b, n * U * (s1 + s2).max())
    assert ddp.communication_seconds >= 0 and ddp.communication_bytes > 0


def case_syncbn(rank: int, size: int) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, 3, 4, 4)) * [[[[1.0]], [[0.1]], [[3.0]]]] + 5.0  # channels of different spread
    grad_out = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 2.0, 3), rng.standard_normal(3)
    idx = shares(B, size)[rank]
    reference = nn.BatchNorm2d(3, dtype=np.float64)  # one process, the whole batch, float64
    synced = nn.SyncBatchNorm(3)
    for layer, dtype in ((reference, np.float64), (synced, np.float32)):
        layer.weight._array[...], layer.bias._array[...] = gamma.astype(dtype), beta.astype(dtype)
    m = B * 4 * 4  # values per channel: the statistics are sums of m terms
    for step in range(2):  # the running statistics move twice
        x_all = kw.tensor(x + step, requires_grad=True)
        y_all = reference(x_all)
        y_all.backward(kw.tensor(grad_out))
        x_mine = kw.tensor(x[idx] + step, dtype=kw.float32, requires_grad=True)
        y_mine = synced(x_mine)
        y_mine.backward(kw.tensor(grad_out[idx], dtype=kw.float32))
        sigma = np.sqrt(x_all.numpy().var(axis=(0, 2, 3)) + reference.eps)
        x_hat = (x_all.numpy() - x_all.numpy().mean(axis=(0, 2, 3), keepdims=True)) / sigma.reshape(1, 3, 1, 1)
        size_y = np.abs(gamma).max() * np.abs(x + step).max() / sigma.min() + np.abs(beta).max()
        size_dx = np.abs(gamma).max() / sigma.min() * np.abs(grad_out).max() * (2 + np.abs(x_hat).max() ** 2)
        worst = check_close("output", y_mine.numpy(), y_all.numpy()[idx], (m + 2) * U * size_y)
        worst = max(
            worst, check_close("grad input", x_mine.grad.numpy(), x_all.grad.numpy()[idx], (m + 2) * U * size_dx)
        )
        # dγ and dβ are each rank's share of the sums (DistributedDataParallel averages them): their sum is the whole
        for name, terms in (("weight", grad_out * x_hat), ("bias", grad_out)):
            total = dist.all_reduce_array(getattr(synced, name).grad.numpy(), dist.ReduceOp.SUM)
            expected = getattr(reference, name).grad.numpy()
            check_close(f"grad {name}", total, expected, (m + size) * U * np.abs(terms).sum(axis=(0, 2, 3)).max())
            getattr(synced, name).grad, getattr(reference, name).grad = None, None
        largest = np.abs(x + step).max()
        check_close("running_mean", synced.running_mean.numpy(), reference.running_mean.numpy(), (m + 2) * U * largest)
        check_close("running_var", synced.running_var.numpy(), reference.running_var.numpy(), (m + 2) * U * largest**2)
        assert synced.num_batches_tracked.item() == step + 1
        plain = nn.BatchNorm2d(3)  # for the report: one process in float32 (its own rounding, not a bound)
        plain.weight._array[...], plain.bias._array[...] = gamma, beta
        x32 = kw.tensor(x + step, dtype=kw.float32, requires_grad=True)
        plain(x32).backward(kw.tensor(grad_out, dtype=kw.float32))
        y32 = nn.functional.batch_norm(x32.detach(), None, None, plain.weight.detach(), plain.bias.detach(), True)
        versus32 = max(
            np.abs(y_mine.numpy() - y32.numpy()[idx]).max(), np.abs(x_mine.grad.numpy() - x32.grad.numpy()[idx]).max()
        )
        print(f"measured syncbn ranks={size} step {step} max|output, grad input - one process| = {worst:.2e} "
              f"(float64), {versus32:.2e} (float32)")  # fmt: skip
    synced.eval()  # evaluation: the running statistics, as BatchNorm2d
    reference.eval()
    size_eval = np.abs(gamma).max() * np.abs(x).max() / np.sqrt(reference.running_var.numpy().min()) + 2
    y_eval = synced(kw.tensor(x[idx], dtype=kw.float32)).numpy()
    check_close("eval output", y_eval, reference(kw.tensor(x)).numpy()[idx], 8 * U * size_eval)


def case_ddp_syncbn(rank: int, size: int) -> None:
    """The trainer's set-up: a CNN with BatchNorm, converted to SyncBatchNorm, in DistributedDataParallel."""
    x, y = global_batch(5)
    expected, magnitudes = one_process_gradients(make_cnn(0, batch_norm=True), x, y)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(make_cnn(rank, batch_norm=True))
    assert isinstance(model[1], nn.SyncBatchNorm)
    ddp = DistributedDataParallel(model)
    ddp_backward(ddp, x, y, rank, size)
    n = 2 * B * 6 * 6  # the conv's sums and BatchNorm's, each over B samples × 6·6 positions
    worst = 0.0
    for (name, p), g, s in zip(ddp.module.named_parameters(), expected, magnitudes, strict=True):
        worst = max(worst, check_close(f"grad {name}", p.grad.numpy(), g, n * U * s.max()))
    print(f"measured ddp+syncbn ranks={size} max|grad - one process (float64)| = {worst:.2e}")


CASES: dict[str, Callable[[int, int], None]] = {
    "collectives": case_collectives,
    "ddp": case_ddp,
    "no_sync": case_no_sync,
    "syncbn": case_syncbn,
    "ddp_syncbn": case_ddp_syncbn,
}


def main(cases: list[str]) -> None:
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    try:
        assert size > 1, "not started by mpiexec with several ranks"
        for case in cases:
            CASES[case](rank, size)
            print(f"ok {case} rank {rank}/{size}", flush=True)
    except BaseException:
        print(f"rank {rank}/{size} failed:\n{traceback.format_exc()}", flush=True)
        sys.stderr.flush()
        dist.abort(1)  # the other ranks may be waiting in a collective: stop them all
        raise


if __name__ == "__main__":
    main(sys.argv[1:])
