"""Data-parallel training: ``DistributedDataParallel`` keeps one model's copies on every rank in step.

Each rank (one process of ``mpiexec -n N``, see :mod:`kernelwise.distributed`) runs the same model on its
own slice of the batch. After ``loss.backward()`` every rank holds the gradient of its own slice;
``DistributedDataParallel`` replaces it by the mean over the ranks, so that every optimizer takes the same
step and the copies stay equal. With each rank's loss the mean over its slice and equal slices, that mean
is the gradient of the whole batch.

How the gradients travel (PyTorch's design, on MPI): the trainable parameters, in reverse order (the order
backward finishes them, roughly), are packed into *buckets* of at most ``bucket_cap_mb`` megabytes (the
first bucket at most 1 MiB, so that sending starts early). A post-accumulate-grad hook on each parameter counts
the finished gradients; as soon as a bucket is complete, its gradients are copied into one flat array and
a non-blocking all-reduce (sum) of it starts, while backward goes on with the layers below. When backward
has finished (an end-of-backward callback), the remaining buckets are sent, every reduction is waited
for, divided by the world size and copied back into ``.grad``, before ``optimizer.step()``. Buckets
start in the same order on every rank (a bucket waits for those before it), as MPI needs.

Parameters that get no gradient in a backward (a branch not taken) count as zeros. Each bucket carries,
behind the gradients, one number per parameter (1 where this rank had a gradient); a parameter that had
none on any rank keeps ``grad`` None, as it would in one process.

Example (a world of one process, where the mean over ranks is the rank's own gradient):
    >>> import kernelwise as kw
    >>> import kernelwise.distributed as dist
    >>> from kernelwise import nn
    >>> from kernelwise.nn.parallel import DistributedDataParallel
    >>> dist.init_process_group()
    >>> model = DistributedDataParallel(nn.Linear(2, 1))
    >>> model(kw.ones(4, 2)).sum().backward()
    >>> model.module.bias.grad.tolist()
    [4.0]
    >>> list(model.state_dict())
    ['module.weight', 'module.bias']
    >>> dist.destroy_process_group()
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import distributed as dist
from ..errors import UsageError, UsageTypeError
from ..tensor import Tensor, is_grad_enabled, queue_backward_callback
from .module import Module, Parameter, _Uninitialized

__all__ = ["DistributedDataParallel"]

_MIB = 1024 * 1024
_FIRST_BUCKET_BYTES = 1 * _MIB  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES: the first bucket leaves early


@dataclass(eq=False)
class _Bucket:
    """Parameters whose gradients travel together, in one flat array.

    Layout of ``flat``: the gradients one after the other (``offsets[i]`` where parameter i starts,
    C order), then one "had a gradient" count per parameter, summed over the ranks like the gradients.
    """

    params: list[Parameter]
    offsets: list[int]
    numel: int  # gradient elements (the counts follow them)
    ready: int = 0  # parameters whose gradient is final in this backward
    flat: np.ndarray | None = None
    work: dist.Work | None = None

    def pack(self) -> np.ndarray:
        """The flat array to reduce: this rank's gradients (zeros where none) and the gradient counts."""
        flat = np.zeros(self.numel + len(self.params), dtype=self.params[0].dtype)
        for i, (param, start) in enumerate(zip(self.params, self.offsets, strict=True)):
            if param.grad is not None:
                flat[start : start + param.numel()] = param.grad._array.ravel()
                flat[self.numel + i] = 1
        return flat

    def unpack(self, world_size: int) -> None:
        """Write the mean over the ranks into each parameter's ``grad`` (None stays None if no rank had one)."""
        grads, counts = self.flat[: self.numel], self.flat[self.numel :]
        grads /= world_size  # the sum over the ranks -> their mean
        for param, start, count in zip(self.params, self.offsets, counts, strict=True):
            if count == 0:
                continue  # no rank had a gradient for it
            mean = grads[start : start + param.numel()].reshape(param.shape)
            if param.grad is None:
                param.grad = Tensor._make(mean.copy())
            else:
                param.grad._array[...] = mean


@dataclass(eq=False)
class _BackwardState:
    """What one synchronised backward has done so far."""

    next_bucket: int = 0  # the buckets before this one have been sent
    callback_queued: bool = False
    started: list[_Bucket] = field(default_factory=list)


def _assign_buckets(params: list[Parameter], bucket_cap_bytes: int) -> list[_Bucket]:
    """Cut ``params`` (in the order given) into buckets of one dtype and at most ``bucket_cap_bytes`` each."""
    buckets: list[_Bucket] = []
    current: list[Parameter] = []
    cap = min(_FIRST_BUCKET_BYTES, bucket_cap_bytes)
    for param in params:
        nbytes = sum(p._array.nbytes for p in current)
        if current and (param.dtype != current[0].dtype or nbytes + param._array.nbytes > cap):
            buckets.append(_make_bucket(current))
            current, cap = [], bucket_cap_bytes
        current.append(param)
    if current:
        buckets.append(_make_bucket(current))
    return buckets


def _make_bucket(params: list[Parameter]) -> _Bucket:
    offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
    return _Bucket(params=params, offsets=offsets[:-1], numel=offsets[-1])


class DistributedDataParallel(Module):
    """Run ``module`` on every rank and average its gradients across the ranks after each backward.

    ``torch.nn.parallel.DistributedDataParallel`` on the CPU over MPI. Call
    :func:`kernelwise.distributed.init_process_group` first. On wrap, the parameters and buffers of rank 0
    are copied to every rank; ``forward`` calls ``module``; ``backward`` leaves in every parameter's
    ``grad`` the mean over the ranks (see the module docstring for the buckets). ``state_dict()`` keys
    start with ``module.``, as PyTorch's; save ``ddp.module.state_dict()`` for a model loadable without it.

    Args:
        module: the model (its parameters already created: run a lazy model once first).
        device_ids: PyTorch's; only None (the CPU).
        output_device: PyTorch's; only None.
        broadcast_buffers: copy rank 0's buffers (BatchNorm's running statistics) to every rank before each
            forward that will be followed by a synchronised backward (grad enabled, outside ``no_sync``).
        bucket_cap_mb: the most megabytes (MiB) of gradients per bucket (PyTorch's 25 by default).
        find_unused_parameters: accepted for PyTorch's signature; unused parameters are always handled.

    Attributes:
        communication_seconds: seconds spent in MPI calls that start or wait for the gradient reductions
            (the part of communication that backward did not hide) and in the broadcasts of rank 0's
            parameters and buffers; :meth:`reset_communication_stats` sets it to 0.
        communication_bytes: bytes all-reduced (gradients and their counts) and broadcast.
        require_backward_grad_sync: False inside :meth:`no_sync`.

    Only one synchronised backward follows each forward; a backward of a graph not made by this wrapper's
    forward (``ddp.module(x)`` called directly) stays local. The collectives run inside forward (the
    buffers) and backward, so every rank must call them in step: evaluate under ``no_grad`` or on
    ``ddp.module``, on every rank or on none. With SyncBatchNorm, whose backward has a collective too, every
    rank must also use the same parameters in a step (MPI needs the same order of collectives everywhere).
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        broadcast_buffers: bool = True,
        bucket_cap_mb: float = 25.0,
        find_unused_parameters: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise UsageTypeError(f"DistributedDataParallel: module must be a Module, got {type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise UsageError("DistributedDataParallel: device_ids and output_device must be None (CPU only)")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, int | float) or not bucket_cap_mb > 0:
            raise UsageError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        params = [p for p in module.parameters() if p.requires_grad]
        if any(isinstance(t, _Uninitialized) for t in [*module.parameters(), *module.buffers()]):
            raise UsageError(
                "DistributedDataParallel: the module has uninitialized (lazy) parameters; run one forward first"
            )
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = bucket_cap_mb
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.world_size = dist.get_world_size()  # raises if the process group is not initialised
        self.communication_seconds = 0.0
        self.communication_bytes = 0
        self._sync_module_states()
        self._buckets = _assign_buckets(params[::-1], int(bucket_cap_mb * _MIB))
        self._bucket_of = {id(p): bucket for bucket in self._buckets for p in bucket.params}
        self._expect_sync = False  # set by forward: the next backward reduces the gradients
        self._state = _BackwardState()
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    # ----------------------------------------------------------------- forward
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """``module(*inputs, **kwargs)``, after preparing the backward that follows it."""
        self._wait_for_unfinished()
        self._expect_sync = self.require_backward_grad_sync and is_grad_enabled()
        if self._expect_sync and self.broadcast_buffers:
            self._broadcast_from_rank0(list(self.module.buffers()))
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Skip the gradient exchange for the forward and backward passes run inside the block.

        The gradients accumulate locally in ``grad``; the first synchronised backward after the block
        averages the accumulated gradients (gradient accumulation over several micro-batches).

        Example:
            >>> import kernelwise as kw
            >>> import kernelwise.distributed as dist
            >>> from kernelwise import nn
            >>> dist.init_process_group()
            >>> model = nn.parallel.DistributedDataParallel(nn.Linear(2, 1))
            >>> with model.no_sync():
            ...     model(kw.ones(1, 2)).sum().backward()  # local only
            >>> model(kw.ones(1, 2)).sum().backward()  # reduces both micro-batches' sum
            >>> model.module.bias.grad.tolist()
            [2.0]
            >>> dist.destroy_process_group()
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def reset_communication_stats(self) -> None:
        """Set ``communication_seconds`` and ``communication_bytes`` to zero."""
        self.communication_seconds = 0.0
        self.communication_bytes = 0

    # ----------------------------------------------------------------- the gradient exchange
    def _sync_module_states(self) -> None:
        """Copy rank 0's parameters and buffers to every rank, so that all copies start equal."""
        self._broadcast_from_rank0([*self.module.parameters(), *self.module.buffers()])

    def _broadcast_from_rank0(self, tensors: list[Tensor]) -> None:
        """Overwrite ``tensors`` with rank 0's values: one broadcast per dtype, of their values end to end."""
        if self.world_size == 1:
            return
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for group in by_dtype.values():
            flat = np.concatenate([t._array.ravel() for t in group])
            started = time.perf_counter()
            dist.broadcast(Tensor._make(flat), src=0)
            self.communication_seconds += time.perf_counter() - started
            self.communication_bytes += flat.nbytes
            start = 0
            for t in group:
                t._array[...] = flat[start : start + t.numel()].reshape(t.shape)
                start += t.numel()

    def _grad_ready(self, param: Tensor) -> None:
        """The post-accumulate-grad hook: ``param``'s gradient is final; send every bucket that is complete."""
        if not self._expect_sync:
            return
        if not self._state.callback_queued:
            queue_backward_callback(self._finish_backward)
            self._state.callback_queued = True
        self._bucket_of[id(param)].ready += 1
        while self._state.next_bucket < len(self._buckets):
            bucket = self._buckets[self._state.next_bucket]
            if bucket.ready < len(bucket.params):
                break  # later buckets wait for this one: every rank starts them in the same order
            self._start(bucket)
        for bucket in self._state.started:
            bucket.work.is_completed()  # MPI moves a non-blocking reduction on only inside MPI calls: a nudge

    def _start(self, bucket: _Bucket) -> None:
        bucket.flat = bucket.pack()
        started = time.perf_counter()
        bucket.work = dist.all_reduce(Tensor._make(bucket.flat), op=dist.ReduceOp.SUM, async_op=True)
        self.communication_seconds += time.perf_counter() - started
        self._state.started.append(bucket)
        self._state.next_bucket += 1
        self.communication_bytes += bucket.flat.nbytes

    def _finish_backward(self) -> None:
        """At the end of backward: send what is left (missing gradients as zeros), wait, average, copy back."""
        while self._state.next_bucket < len(self._buckets):
            self._start(self._buckets[self._state.next_bucket])
        started = time.perf_counter()
        for bucket in self._state.started:
            bucket.work.wait()
        self.communication_seconds += time.perf_counter() - started
        for bucket in self._state.started:
            bucket.unpack(self.world_size)
        self._clear()

    def _wait_for_unfinished(self) -> None:
        """After a backward that failed half-way: complete its reductions (other ranks take part) and forget them."""
        for bucket in self._state.started:
            bucket.work.wait()
        self._clear()

    def _clear(self) -> None:
        for bucket in self._buckets:
            bucket.ready, bucket.flat, bucket.work = 0, None, None
        self._state = _BackwardState()
        self._expect_sync = False
