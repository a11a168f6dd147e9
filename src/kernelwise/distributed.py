"""Collective communication between processes, under ``torch.distributed``'s names, over MPI.

Data-parallel training runs one process per worker (``mpiexec -n 4 kernelwise train ...``); the
processes form one *process group* of ``world_size`` ranks and exchange arrays with collectives:
``all_reduce`` (every rank ends up with the sum, mean, max, ... of everyone's tensor), ``broadcast``
(everyone gets rank ``src``'s tensor), ``all_gather`` and ``barrier``.

Two backends sit behind the same few methods:

* ``_MPIGroup``: MPI's ``COMM_WORLD`` through mpi4py (``pip install kernelwise[mpi]``), used when the
  environment says the process was started by ``mpiexec``/``srun`` with more than one rank
  (:func:`launched_by_mpi`);
* ``_SingleProcessGroup``: a world of one rank, where every collective leaves its tensor as it is.
  It needs no MPI at all, so single-process code (and its tests) runs the same code path.

mpi4py is imported only by ``init_process_group`` in a world launched by MPI, never when kernelwise is
imported. As in PyTorch, the collectives work in place on a tensor's values and are never recorded
by autograd.

Example (a world of one process; under ``mpiexec -n 2`` each rank prints its own rank and the sum):
    >>> import kernelwise as kw
    >>> import kernelwise.distributed as dist
    >>> dist.init_process_group("mpi")
    >>> dist.get_rank(), dist.get_world_size()
    (0, 1)
    >>> t = kw.tensor([1.0, 2.0])
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)
    >>> t.tolist()
    [1.0, 2.0]
    >>> dist.destroy_process_group()
"""

from __future__ import annotations

import enum
import importlib.util
import os
from typing import Any, Protocol

import numpy as np

from .errors import MissingDependencyError, UsageError, UsageTypeError
from .tensor import Tensor

__all__ = [
    "ReduceOp",
    "Work",
    "abort",
    "all_gather",
    "all_reduce",
    "all_reduce_array",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "launched_by_mpi",
]


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values, element by element (``torch.distributed.ReduceOp``).

    ``AVG`` is the sum divided by the world size (floating-point tensors only).
    """

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


# ----------------------------------------------------------------------------- launch detection
# Each pair: the variable holding the number of ranks, and a variable that must also be set for it
# to mean "this process is one rank of an MPI job" (None: the size variable says it on its own).
#   Open MPI's mpiexec (OMPI_COMM_WORLD_SIZE); MPICH, Intel MPI and srun --mpi=pmi2 (PMI_SIZE);
#   srun --mpi=pmix (the step's task count, only together with a PMIx rank, since SLURM_NTASKS is
#   also set inside a plain multi-task allocation that never started MPI).
_LAUNCH_VARIABLES = (
    ("OMPI_COMM_WORLD_SIZE", None),
    ("PMI_SIZE", None),
    ("SLURM_STEP_NUM_TASKS", "PMIX_RANK"),
    ("SLURM_NTASKS", "PMIX_RANK"),
)


def is_available() -> bool:
    """Whether the MPI backend can be used: mpi4py is installed (it is not imported here).

    Example:
        >>> import kernelwise.distributed as dist
        >>> isinstance(dist.is_available(), bool)
        True
    """
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available  # torch.distributed.is_mpi_available


def launched_by_mpi(environ: dict[str, str] | None = None) -> bool:
    """Whether this process is one of several ranks started by ``mpiexec`` or ``srun``.

    Read from the environment the launcher sets (see ``_LAUNCH_VARIABLES``: Open MPI, MPICH/Intel MPI
    and Slurm with PMI or PMIx), never by starting MPI. A launch of a single rank counts as no launch.

    Args:
        environ: the environment to read (default ``os.environ``).

    Example:
        >>> from kernelwise.distributed import launched_by_mpi
        >>> launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "4"}), launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "1"})
        (True, False)
        >>> launched_by_mpi({"SLURM_NTASKS": "8"}), launched_by_mpi({"SLURM_NTASKS": "8", "PMIX_RANK": "0"})
        (False, True)
    """
    env = os.environ if environ is None else environ
    for size_name, also_needed in _LAUNCH_VARIABLES:
        size = env.get(size_name, "")
        if size.isdigit() and int(size) > 1 and (also_needed is None or also_needed in env):
            return True
    return False


# ----------------------------------------------------------------------------- the two backends
class Work:
    """A collective started with ``async_op=True`` (``torch.distributed.Work``).

    ``wait()`` blocks until it has finished and its result is in the tensor; ``is_completed()``
    asks without blocking.
    """

    def __init__(self, request: Any = None, finish: Any = None) -> None:
        self._request = request  # an MPI request, or None when the result is already there
        self._finish = finish  # what to do once the data has arrived (copy back, divide)
        self._done = request is None
        if self._done:
            self._run_finish()

    def _run_finish(self) -> None:
        if self._finish is not None:
            self._finish()
            self._finish = None

    def is_completed(self) -> bool:
        """Whether the collective has finished (its result is then written by the next ``wait()``)."""
        if not self._done and self._request.Test():
            self._done = True
        return self._done

    def wait(self) -> bool:
        """Block until the collective has finished and its result is in the tensor; returns True."""
        if not self._done:
            self._request.Wait()
            self._done = True
        self._run_finish()
        return True


class _ProcessGroup(Protocol):
    """What a backend provides: its place in the world and the collectives on NumPy arrays (in place)."""

    rank: int
    size: int

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> Work: ...
    def broadcast(self, array: np.ndarray, src: int) -> Work: ...
    def all_gather(self, array: np.ndarray) -> np.ndarray: ...
    def barrier(self) -> None: ...
    def abort(self, code: int) -> None: ...


class _SingleProcessGroup:
    """A world of one rank: every collective's result is the tensor it was given."""

    rank = 0
    size = 1

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> Work:
        return Work()  # the sum, mean, max, ... over one rank is that rank's value

    def broadcast(self, array: np.ndarray, src: int) -> Work:
        return Work()

    def all_gather(self, array: np.ndarray) -> np.ndarray:
        return array[None].copy()  # (world_size, *shape)

    def barrier(self) -> None:
        pass

    def abort(self, code: int) -> None:
        pass  # nobody else to stop; the caller ends its own process


class _MPIGroup:
    """MPI's ``COMM_WORLD`` through mpi4py; buffers are contiguous copies when the array is not."""

    def __init__(self) -> None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise MissingDependencyError(
                "kernelwise.distributed: this process was started by mpiexec/srun but mpi4py is missing: "
                "pip install kernelwise[mpi]"
            ) from e
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}  # fmt: skip

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> Work:
        buffer = np.ascontiguousarray(array)  # MPI reads and writes one contiguous block
        request = self._comm.Iallreduce(self._MPI.IN_PLACE, buffer, op=self._ops[op])
        divisor = self.size if op is ReduceOp.AVG else 1  # the mean is the sum over the world size
        return Work(request, lambda: _copy_back(buffer, array, divisor))

    def broadcast(self, array: np.ndarray, src: int) -> Work:
        buffer = np.ascontiguousarray(array)
        return Work(self._comm.Ibcast(buffer, root=src), lambda: _copy_back(buffer, array))

    def all_gather(self, array: np.ndarray) -> np.ndarray:
        gathered = np.empty((self.size, *array.shape), dtype=array.dtype)
        self._comm.Allgather(np.ascontiguousarray(array), gathered)
        return gathered

    def barrier(self) -> None:
        self._comm.Barrier()

    def abort(self, code: int) -> None:
        self._comm.Abort(code)


def _copy_back(buffer: np.ndarray, array: np.ndarray, divisor: int = 1) -> None:
    """Put a collective's result (in ``buffer``) into ``array``, divided by ``divisor`` (AVG)."""
    if divisor != 1:
        np.divide(buffer, divisor, out=buffer)
    if buffer is not array:
        array[...] = buffer.reshape(array.shape)


_group: _ProcessGroup | None = None  # the default process group, once initialised


# ----------------------------------------------------------------------------- the process group
def init_process_group(backend: str = "mpi") -> None:
    """Join the default process group: every rank of an MPI launch, or a world of one process.

    Args:
        backend: ``"mpi"`` (the only backend; PyTorch's ``"gloo"`` is accepted as a synonym, so that
            CPU programs written for torch run unchanged).

    Raises:
        UsageError: the group is already initialised, or an unknown backend.
        MissingDependencyError: started by mpiexec/srun but mpi4py is not installed.

    Example:
        >>> import kernelwise.distributed as dist
        >>> dist.init_process_group()
        >>> dist.is_initialized(), dist.get_world_size()
        (True, 1)
        >>> dist.destroy_process_group()
    """
    global _group
    if backend not in ("mpi", "gloo"):
        raise UsageError(f"init_process_group: backend must be 'mpi' (or 'gloo'), got {backend!r}")
    if _group is not None:
        raise UsageError("init_process_group: trying to initialize the default process group twice!")
    _group = _MPIGroup() if launched_by_mpi() else _SingleProcessGroup()


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and not undone by ``destroy_process_group``)."""
    return _group is not None


def destroy_process_group() -> None:
    """Leave the default process group (MPI itself stays up until the process exits)."""
    global _group
    _group = None


def _default_group(caller: str) -> _ProcessGroup:
    if _group is None:
        raise UsageError(
            f"{caller}: Default process group has not been initialized, please make sure to call init_process_group."
        )
    return _group


def get_rank() -> int:
    """This process's rank, ``0 <= rank < world_size``."""
    return _default_group("get_rank").rank


def get_world_size() -> int:
    """The number of processes in the default group."""
    return _default_group("get_world_size").size


# ----------------------------------------------------------------------------- collectives
def _check_tensor(tensor: Any, name: str, caller: str) -> np.ndarray:
    if not isinstance(tensor, Tensor):
        raise UsageTypeError(f"{caller}: {name} must be a Tensor, got {type(tensor).__name__}")
    return tensor._array


def _check_op(op: Any, array: np.ndarray, caller: str) -> ReduceOp:
    if not isinstance(op, ReduceOp):
        raise UsageTypeError(f"{caller}: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    if op is ReduceOp.AVG and not np.issubdtype(array.dtype, np.floating):
        raise UsageError(f"{caller}: ReduceOp.AVG needs a floating-point tensor, got {array.dtype}")
    return op


def _check_src(src: Any, size: int, caller: str) -> int:
    if isinstance(src, bool) or not isinstance(src, int | np.integer):
        raise UsageTypeError(f"{caller}: src must be an int rank, got {type(src).__name__}")
    if not 0 <= src < size:
        raise UsageError(f"{caller}: src={src} is not a rank of this world (0 <= src < {size})")
    return int(src)


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across all ranks, element by element, and leave the result in it on every rank.

    Args:
        tensor: the values to reduce; overwritten by the result (same shape and dtype on every rank).
        op: a :class:`ReduceOp` (``SUM`` by default; ``AVG`` is the mean over the ranks).
        async_op: return a :class:`Work` at once (the result is in ``tensor`` after its ``wait()``);
            otherwise block and return None.

    Example:
        >>> import kernelwise as kw
        >>> import kernelwise.distributed as dist
        >>> dist.init_process_group()
        >>> t = kw.tensor([1.0, 4.0])
        >>> work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
        >>> work.wait(), t.tolist()
        (True, [1.0, 4.0])
        >>> dist.destroy_process_group()
    """
    array = _check_tensor(tensor, "tensor", "all_reduce")
    op = _check_op(op, array, "all_reduce")
    work = _default_group("all_reduce").all_reduce(array, op)
    if async_op:
        return work
    work.wait()
    return None


def all_reduce_array(array: np.ndarray, op: ReduceOp = ReduceOp.SUM) -> np.ndarray:
    """``all_reduce`` on a NumPy array (numbers a trainer sums: losses, counts); returns the result, a new array.

    Example:
        >>> import numpy as np
        >>> import kernelwise.distributed as dist
        >>> dist.init_process_group()
        >>> dist.all_reduce_array(np.array([3.0, 1.0]), dist.ReduceOp.MAX).tolist()
        [3.0, 1.0]
        >>> dist.destroy_process_group()
    """
    if not isinstance(array, np.ndarray | np.generic | float | int):
        raise UsageTypeError(f"all_reduce_array: array must be a NumPy array, got {type(array).__name__}")
    result = np.array(array)  # a copy, reduced in place
    _default_group("all_reduce_array").all_reduce(result, _check_op(op, result, "all_reduce_array")).wait()
    return result


def broadcast(tensor: Tensor, src: int = 0, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank (same shape and dtype everywhere).

    Example:
        >>> import kernelwise as kw
        >>> import kernelwise.distributed as dist
        >>> dist.init_process_group()
        >>> t = kw.tensor([5, 6])
        >>> dist.broadcast(t, src=0)
        >>> t.tolist()
        [5, 6]
        >>> dist.destroy_process_group()
    """
    array = _check_tensor(tensor, "tensor", "broadcast")
    group = _default_group("broadcast")
    work = group.broadcast(array, _check_src(src, group.size, "broadcast"))
    if async_op:
        return work
    work.wait()
    return None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[i]`` with rank ``i``'s ``tensor``, on every rank.

    Args:
        tensor_list: ``world_size`` tensors of ``tensor``'s shape, overwritten.
        tensor: this rank's contribution.
        async_op: accepted for PyTorch's signature; the gather has finished when this returns.

    Example:
        >>> import kernelwise as kw
        >>> import kernelwise.distributed as dist
        >>> dist.init_process_group()
        >>> out = [kw.zeros(2)]
        >>> dist.all_gather(out, kw.tensor([1.0, 2.0]))
        >>> out[0].tolist()
        [1.0, 2.0]
        >>> dist.destroy_process_group()
    """
    array = _check_tensor(tensor, "tensor", "all_gather")
    group = _default_group("all_gather")
    if not isinstance(tensor_list, list | tuple):
        raise UsageTypeError(f"all_gather: tensor_list must be a list of Tensors, got {type(tensor_list).__name__}")
    if len(tensor_list) != group.size:
        raise UsageError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the world has {group.size} ranks")
    for i, out in enumerate(tensor_list):
        out_array = _check_tensor(out, f"tensor_list[{i}]", "all_gather")
        if out_array.shape != array.shape:
            raise UsageError(
                f"all_gather: tensor_list[{i}] has shape {tuple(out_array.shape)}, tensor has {tuple(array.shape)}"
            )
    gathered = group.all_gather(array)
    for out, values in zip(tensor_list, gathered, strict=True):
        out._array[...] = values
    return Work() if async_op else None


def barrier() -> None:
    """Wait until every rank has reached this call."""
    _default_group("barrier").barrier()


def abort(code: int = 1) -> None:
    """Stop every rank of the job at once (MPI's ``Abort``), so that one failing rank leaves none waiting.

    In a world of one process (or before ``init_process_group``) it does nothing: the caller ends its own
    process as usual.
    """
    if _group is not None:
        _group.abort(code)
