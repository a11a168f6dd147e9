"""kernelwise.distributed, DistributedDataParallel, DistributedSampler and SyncBatchNorm.

In-process tests run in a world of one process (no MPI needed). The multi-process tests start
``tests/mpi_workers.py`` under ``mpiexec`` with 2 and 3 ranks; each rank checks its results against a
computation in one process and the job fails if any check does (see that file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import kernelwise as kw
import kernelwise.distributed as dist
from kernelwise import nn
from kernelwise.data import DistributedSampler
from kernelwise.errors import MissingDependencyError, UsageError, UsageTypeError
from kernelwise.nn.parallel import DistributedDataParallel


@pytest.fixture(autouse=True)
def _outside_any_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts outside a process group and leaves none behind, whatever other tests did."""
    monkeypatch.setattr(dist, "_group", None)


@pytest.fixture
def world() -> Iterator[None]:
    """A world of one process, left as it was found."""
    dist.init_process_group()
    try:
        yield
    finally:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- the process group
def test_group_must_be_initialised_once() -> None:
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(UsageError, match="has not been initialized"):
        dist.all_reduce(kw.zeros(2))
    dist.init_process_group("mpi")
    try:
        assert (dist.is_initialized(), dist.get_rank(), dist.get_world_size()) == (True, 0, 1)
        with pytest.raises(UsageError, match="initialize the default process group twice"):
            dist.init_process_group()
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()
    with pytest.raises(UsageError, match="backend"):
        dist.init_process_group("nccl")


def test_launch_is_read_from_the_environment() -> None:
    assert dist.launched_by_mpi({}) is False
    assert dist.launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "3"}) is True
    assert dist.launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "1"}) is False
    assert dist.launched_by_mpi({"PMI_SIZE": "2"}) is True
    assert dist.launched_by_mpi({"SLURM_NTASKS": "4"}) is False  # an allocation, not an MPI launch
    assert dist.launched_by_mpi({"SLURM_STEP_NUM_TASKS": "4", "PMIX_RANK": "1"}) is True


def test_a_launch_without_mpi4py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(MissingDependencyError, match=r"pip install kernelwise\[mpi\]"):
        dist.init_process_group()
    assert not dist.is_initialized()


def test_collectives_in_a_world_of_one_leave_values_as_they_are(world: None) -> None:
    t = kw.tensor([[1.0, -2.0], [3.0, 4.0]])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op=op)
        assert t.tolist() == [[1.0, -2.0], [3.0, 4.0]]
    work = dist.all_reduce(t, async_op=True)
    assert work.is_completed() and work.wait() is True
    dist.broadcast(t, src=0)
    out = [kw.zeros(2, 2)]
    dist.all_gather(out, t)
    assert out[0].tolist() == t.tolist()
    dist.barrier()
    dist.abort()  # nothing to stop in a world of one
    assert dist.all_reduce_array(np.array([2.0, 5.0]), dist.ReduceOp.SUM).tolist() == [2.0, 5.0]


def test_collective_arguments_are_checked(world: None) -> None:
    with pytest.raises(UsageTypeError, match="tensor must be a Tensor"):
        dist.all_reduce(np.zeros(2))
    with pytest.raises(UsageTypeError, match="op must be a ReduceOp"):
        dist.all_reduce(kw.zeros(2), op="sum")
    with pytest.raises(UsageError, match="AVG needs a floating-point tensor"):
        dist.all_reduce(kw.tensor([1, 2]), op=dist.ReduceOp.AVG)
    with pytest.raises(UsageError, match=r"src=1 is not a rank"):
        dist.broadcast(kw.zeros(2), src=1)
    with pytest.raises(UsageTypeError, match="src must be an int"):
        dist.broadcast(kw.zeros(2), src=0.0)
    with pytest.raises(UsageError, match="tensor_list has 2 tensors, the world has 1"):
        dist.all_gather([kw.zeros(2), kw.zeros(2)], kw.zeros(2))
    with pytest.raises(UsageError, match=r"tensor_list\[0\] has shape \(3,\)"):
        dist.all_gather([kw.zeros(3)], kw.zeros(2))
    with pytest.raises(UsageTypeError, match=r"tensor_list\[0\] must be a Tensor"):
        dist.all_gather([np.zeros(2)], kw.zeros(2))


# ----------------------------------------------------------------------------- DistributedSampler
@pytest.mark.parametrize("n", [0, 1, 7, 10, 11, 12])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_shards_as_torchs(n: int, replicas: int, drop_last: bool) -> None:
    from torch.utils.data.distributed import DistributedSampler as TorchDistributedSampler

    dataset = range(n)
    for rank in range(replicas):
        ours = DistributedSampler(dataset, replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchDistributedSampler(dataset, replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
        assert all(type(i) is int for i in ours)


def test_distributed_sampler_shuffles_the_same_permutation_on_every_rank() -> None:
    shards = [list(DistributedSampler(range(10), 3, rank, seed=5)) for rank in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]
    order = [shards[i % 3][i // 3] for i in range(12)]  # the padded permutation, read back across ranks
    assert sorted(order[:10]) == list(range(10)) and order[10:] == order[:2]
    sampler = DistributedSampler(range(10), 3, 1, seed=5)
    first = list(sampler)
    assert list(sampler) == first  # the same epoch, the same order
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(list(sampler)) != []


def test_distributed_sampler_checks_its_arguments(world: None) -> None:
    assert (DistributedSampler(range(4)).num_replicas, DistributedSampler(range(4)).rank) == (1, 0)
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="shuffle"):
        DistributedSampler(range(4), 1, 0, shuffle="yes")


def test_distributed_sampler_under_torchs_paths() -> None:
    from kernelwise.utils.data import DistributedSampler as via_utils
    from kernelwise.utils.data.distributed import DistributedSampler as via_submodule

    assert via_utils is via_submodule is DistributedSampler


# ----------------------------------------------------------------------------- DistributedDataParallel
def _cnn(seed: int) -> nn.Module:
    kw.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))


def test_ddp_in_a_world_of_one_is_a_transparent_wrapper(world: None) -> None:
    x, y = kw.randn(5, 1, 6, 6), kw.tensor([0, 1, 2, 3, 0])
    plain, wrapped = _cnn(0), DistributedDataParallel(_cnn(0), bucket_cap_mb=1e-4)  # one bucket per parameter
    assert len(wrapped._buckets) == 4
    for model in (plain, wrapped):
        nn.functional.cross_entropy(model(x), y).backward()
    for p, q in zip(plain.parameters(), wrapped.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert wrapped.communication_bytes == sum(p.numel() + 1 for p in plain.parameters()) * 4  # grads and counts
    wrapped.reset_communication_stats()
    assert (wrapped.communication_seconds, wrapped.communication_bytes) == (0.0, 0)


def test_ddp_state_dict_has_torchs_module_prefix(world: None) -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    wrapped = DistributedDataParallel(model)
    keys = list(wrapped.state_dict())
    assert keys == [f"module.{k}" for k in model.state_dict()]
    fresh = DistributedDataParallel(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    fresh.load_state_dict(wrapped.state_dict())
    np.testing.assert_array_equal(fresh.module[0].weight.numpy(), model[0].weight.numpy())
    with pytest.raises(UsageError, match=r"missing keys: module\.0\.weight"):
        fresh.load_state_dict(model.state_dict())  # keys without the prefix do not fit the wrapper
    assert repr(wrapped).startswith("DistributedDataParallel(\n  (module): Sequential(")


def test_ddp_parameters_without_a_gradient_stay_none(world: None) -> None:
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Linear(2, 1), nn.Linear(2, 1)

        def forward(self, x: kw.Tensor) -> kw.Tensor:
            return self.used(x)

    model = DistributedDataParallel(TwoHeads())
    model(kw.ones(3, 2)).sum().backward()  # never waits for the unused head
    assert model.module.used.weight.grad.tolist() == [[3.0, 3.0]]
    assert model.module.unused.weight.grad is None and model.module.unused.bias.grad is None


def test_ddp_no_sync_and_accumulation(world: None) -> None:
    model = DistributedDataParallel(nn.Linear(2, 1))
    with model.no_sync():
        assert not model.require_backward_grad_sync
        model(kw.ones(1, 2)).sum().backward()
    assert model.require_backward_grad_sync and model.communication_bytes == 0
    model(kw.ones(2, 2)).sum().backward()
    assert model.module.bias.grad.tolist() == [3.0] and model.communication_bytes > 0


def test_ddp_checks_its_arguments(world: None) -> None:
    with pytest.raises(UsageTypeError, match="module must be a Module"):
        DistributedDataParallel(lambda x: x)
    with pytest.raises(UsageError, match="device_ids"):
        DistributedDataParallel(nn.Linear(2, 1), device_ids=[0])
    with pytest.raises(UsageError, match="bucket_cap_mb"):
        DistributedDataParallel(nn.Linear(2, 1), bucket_cap_mb=0)
    with pytest.raises(UsageError, match="lazy"):
        DistributedDataParallel(nn.LazyLinear(2))


def test_ddp_needs_the_process_group() -> None:
    with pytest.raises(UsageError, match="has not been initialized"):
        DistributedDataParallel(nn.Linear(2, 1))


# ----------------------------------------------------------------------------- SyncBatchNorm
def _same_weights(*layers: nn.Module, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    gamma, beta = rng.uniform(0.5, 2.0, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    for layer in layers:
        layer.weight.data, layer.bias.data = kw.tensor(gamma), kw.tensor(beta)


@pytest.mark.parametrize("initialised", [False, True])
def test_sync_batch_norm_in_a_world_of_one_is_batch_norm_exactly(initialised: bool) -> None:
    if initialised:
        dist.init_process_group()
    try:
        synced, plain = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)
        _same_weights(synced, plain)
        x = np.random.default_rng(1).standard_normal((5, 3, 4, 4)).astype(np.float32) + 2
        for layer in (synced, plain):
            for step in range(2):
                xt = kw.tensor(x + step, requires_grad=True)
                (layer(xt) ** 3).sum().backward()
                layer.x_grad = xt.grad.numpy()
        for name in ("weight", "bias"):
            np.testing.assert_array_equal(getattr(synced, name).grad.numpy(), getattr(plain, name).grad.numpy())
        np.testing.assert_array_equal(synced.x_grad, plain.x_grad)
        for name, buf in plain.state_dict().items():
            np.testing.assert_array_equal(synced.state_dict()[name].numpy(), buf.numpy())
    finally:
        dist.destroy_process_group()


def test_sync_batch_norm_matches_torch_in_one_process(world: None) -> None:
    import torch

    from parity import assert_close

    x = np.random.default_rng(2).standard_normal((6, 3, 5, 5)).astype(np.float32) * 3 + 1
    grad_out = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    ours, theirs = nn.SyncBatchNorm(3, momentum=0.3), torch.nn.BatchNorm2d(3, momentum=0.3)
    _same_weights(ours)
    with torch.no_grad():
        (
            theirs.weight.copy_(torch.from_numpy(ours.weight.numpy())),
            theirs.bias.copy_(torch.from_numpy(ours.bias.numpy())),
        )
    xk, xt = kw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yk, yt = ours(xk), theirs(xt)
    yk.backward(kw.tensor(grad_out))
    yt.backward(torch.from_numpy(grad_out))
    m = x.size // 3  # values per channel: the longest sum
    assert_close(yk.numpy(), yt.detach().numpy(), terms=m, what="output")
    assert_close(xk.grad.numpy(), xt.grad.numpy(), terms=m, what="grad input")
    for name in ("weight", "bias"):
        assert_close(getattr(ours, name).grad.numpy(), getattr(theirs, name).grad.numpy(), terms=m, what=name)
    for name in ("running_mean", "running_var"):
        assert_close(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), terms=m, what=name)
    ours.eval(), theirs.eval()
    assert_close(ours(kw.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), what="eval output")


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_mode() -> None:
    import torch

    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(4, affine=False)))
    model[1].eval()
    weight, running_mean = model[1].weight, model[1].running_mean
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model and isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][0], nn.SyncBatchNorm)
    assert model[1].weight is weight and model[1].running_mean is running_mean and not model[1].training
    assert model[2][0].weight is None and model[2][0].affine is False
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Sequential(torch.nn.BatchNorm1d(4, affine=False))
    )
    torch_converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(reference)
    assert list(converted.state_dict()) == list(torch_converted.state_dict())
    assert (
        repr(model[1]) == "SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )
    alone = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(2))
    assert isinstance(alone, nn.SyncBatchNorm)
    with pytest.raises(UsageError, match="process_group"):
        nn.SyncBatchNorm(2, process_group=object())


# ----------------------------------------------------------------------------- several processes
def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def run_workers(ranks: int, *cases: str) -> str:
    """Run ``tests/mpi_workers.py CASES`` on ``ranks`` processes; fail with its output unless every rank passed."""
    mpiexec = _mpiexec()
    if not dist.is_available() or mpiexec is None:
        pytest.skip("needs mpi4py and mpiexec: pip install kernelwise[mpi]")
    env = {
        **os.environ,
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMPI_MCA_rmaps_base_oversubscribe": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    command = [
        mpiexec,
        "--oversubscribe",
        "-n",
        str(ranks),
        sys.executable,
        str(Path(__file__).parent / "mpi_workers.py"),
    ]
    try:
        done = subprocess.run([*command, *cases], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"mpiexec -n {ranks} {' '.join(cases)} did not finish in 60 s:\n{e.stdout}\n{e.stderr}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for case in cases:
        for rank in range(ranks):
            assert f"ok {case} rank {rank}/{ranks}" in done.stdout, output
    return done.stdout


@pytest.mark.parametrize("ranks", [2, 3])
def test_across_ranks(ranks: int) -> None:
    stdout = run_workers(ranks, "collectives", "ddp", "no_sync", "syncbn", "ddp_syncbn")
    print(stdout)  # the measured differences, for pytest -s
