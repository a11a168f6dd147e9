"""Imported architectures against ONNX Runtime: inference of the onnx wheel's light models.

Run it with ``python -m benchmarks.inference``. Each model (ResNet-50, VGG-19, SqueezeNet from
``onnx/backend/test/data/light``) is read by :func:`kernelwise.onnx.load` and run in eval mode under
``kw.no_grad()``, as loaded and after :func:`kernelwise.jit.optimize_for_inference` (frozen weights,
BatchNorm folded into the convolutions: what ONNX Runtime does to a graph when it opens a session; the ratio
is this one's), and the same graph runs in ONNX Runtime (CPU, ``intra_op_num_threads`` equal to NumPy's BLAS
thread count, its threads not spinning after a run), both in one process on the same float32 input,
interleaved, each turn a burst of 3 runs after a pause (the first run after it pays for waking threads:
SqueezeNet at batch 1 took kernelwise 17.9 against 15.2 ms, ONNX Runtime 7.0-8.1 against 5.0 ms), best of
``repeats`` turns (see :mod:`kernelwise.bench.timing`). Like the other suites, the command asks glibc to
keep freed memory (:func:`kernelwise.memory.reuse_freed_memory`): a forward allocates and frees the same
large activations every call, and without it each call faults their pages in again (ResNet-50 at batch 1:
175-198 ms without, 145-149 ms with).

The light models fill every weight with one constant (``ConstantOfShape``), which makes the output
uniform; each fill is replaced by a seeded random initializer (scaled by 1/√fan-in, positive variances)
so the comparison of the two outputs means something. The final Softmax is dropped: the logits are
compared (after a softmax of 1000 classes every value is ~1/1000). For batches above 1 the batch
dimension of the input becomes symbolic and the ``Reshape`` targets ``[1, n]`` become ``[-1, n]``.

Example:
    >>> records = run_inference_suite(tiny=True)  # doctest: +SKIP
    >>> records[0].model, records[0].batch  # doctest: +SKIP
    ('squeezenet', 1)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import MissingDependencyError, UsageError
from ..memory import reuse_freed_memory
from ..ops.gemm import gemm_clock
from .report import _cell, machine, table
from .timing import SETTLE_SECONDS, blas_info, geometric_mean, interleaved_best

MODELS: tuple[str, ...] = ("resnet50", "vgg19", "squeezenet")


@dataclass
class InferenceRecord:
    """One model at one batch size: the best forward time of each framework and their outputs' difference.

    ``kw_seconds`` is the module as loaded (eval mode); ``optimized_seconds`` the same after
    :func:`kernelwise.jit.optimize_for_inference` (frozen weights, BatchNorm folded into the convolutions),
    which is what an ONNX Runtime session does to its graph when it is created; ``ratio`` compares that one.
    ``error`` is max|kernelwise − ONNX Runtime| / max|ONNX Runtime| over the logits, the larger of the two modules'.
    """

    model: str
    batch: int
    kw_seconds: float
    ort_seconds: float
    error: float
    optimized_seconds: float = math.nan
    gemm_seconds: float = math.nan

    @property
    def ratio(self) -> float:
        """kernelwise time / ONNX Runtime time, the optimized module's (the module as loaded where it was not timed)."""
        kw_seconds = self.kw_seconds if math.isnan(self.optimized_seconds) else self.optimized_seconds
        return kw_seconds / self.ort_seconds if self.ort_seconds > 0 else math.nan

    @property
    def gemm_ratio(self) -> float:
        """The optimized module's GEMM time / ONNX Runtime's whole time: the ratio if all else cost nothing."""
        return self.gemm_seconds / self.ort_seconds if self.ort_seconds > 0 else math.nan


def _modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise MissingDependencyError("the inference suite needs onnx and onnxruntime: pip install onnxruntime") from e
    return onnx, onnxruntime


def light_model_path(name: str) -> Path:
    """The file of one of the onnx wheel's light models (``onnx/backend/test/data/light``)."""
    onnx, _ = _modules()
    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"
    if not path.exists():
        raise UsageError(f"no light model {name!r} in the onnx package ({path.parent})")
    return path


def random_weights(model: Any, seed: int = 0) -> Any:
    """``model`` with each ConstantOfShape fill replaced by a seeded random initializer (the light models fill
    every weight with one value, so their output is uniform and says little), its final Softmax dropped (the
    logits are compared, not ~1/1000 each)."""
    _modules()
    from onnx import numpy_helper

    shapes = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    rng = np.random.default_rng(seed)
    kept = []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in shapes:
            shape = tuple(int(s) for s in shapes[node.input[0]])
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            scale = 1.0 / np.sqrt(fan_in) if len(shape) > 1 else 0.1
            value = (rng.standard_normal(shape) * scale).astype(np.float32)
            if "var" in node.output[0] or "_riv" in node.output[0]:
                value = np.abs(value) + 1.0
            model.graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        else:
            kept.append(node)
    out = model.graph.output[0]
    if kept[-1].op_type == "Softmax" and kept[-1].output[0] == out.name:
        out.name = kept.pop().input[0]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


def prepare_model(model: Any, seed: int = 0) -> Any:
    """``model`` with seeded random weights, its final Softmax dropped and any batch size accepted."""
    from onnx import numpy_helper

    model = random_weights(model, seed)
    kept = list(model.graph.node)
    out = model.graph.output[0]
    # any batch: a symbolic first input dim, Reshape targets [1, n] -> [-1, n], no stored shapes of batch 1
    reshape_targets = {n.input[1] for n in kept if n.op_type == "Reshape" and len(n.input) > 1}
    for i, init in enumerate(model.graph.initializer):
        if init.name in reshape_targets:
            target = numpy_helper.to_array(init).copy()
            if target.size and target[0] == 1:
                target[0] = -1
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(target, init.name))
    inits = {i.name for i in model.graph.initializer}
    for x in model.graph.input:
        if x.name not in inits and x.type.tensor_type.shape.dim:
            x.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]
    out.type.tensor_type.ClearField("shape")
    return model


def _max_relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours.astype(np.float64) - theirs).max() / max(float(np.abs(theirs).max()), 1e-30))


def _run_model(name: str, batches: Sequence[int], repeats: int, threads: int, tiny: bool) -> list[InferenceRecord]:
    onnx, ort = _modules()
    import kernelwise as kw

    model = prepare_model(onnx.load(light_model_path(name)))
    data = model.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # its pool's threads otherwise spin after each run and take the cores from the next turn (kernelwise's):
    # ResNet-50 at batch 1 then measured 136 ms in kernelwise against 98-103 ms; ONNX Runtime's own time
    # does not change (54.0 against 53.7 ms)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    module = kw.onnx.load(data)
    module.eval()
    optimized = kw.jit.optimize_for_inference(module)
    inits = {i.name for i in model.graph.initializer}
    x_info = next(x for x in model.graph.input if x.name not in inits)
    dims = [d.dim_value for d in x_info.type.tensor_type.shape.dim][1:]
    rng = np.random.default_rng(1)
    records = []
    for batch in batches:
        x = rng.standard_normal((batch, *dims), dtype=np.float32)
        feeds = {x_info.name: x}
        state: dict[str, np.ndarray] = {}

        def kw_run(x: np.ndarray = x, state: dict[str, np.ndarray] = state) -> None:
            with kw.no_grad():
                state["kw"] = module(kw.tensor(x)).numpy()

        def optimized_run(x: np.ndarray = x, state: dict[str, np.ndarray] = state) -> None:
            with kw.no_grad():
                state["optimized"] = optimized(kw.tensor(x)).numpy()

        def ort_run(feeds: dict[str, np.ndarray] = feeds, state: dict[str, np.ndarray] = state) -> None:
            state["ort"] = session.run(None, feeds)[0]

        runs = {"kernelwise": kw_run, "optimized": optimized_run, "onnxruntime": ort_run}
        best = interleaved_best(runs, repeats=repeats, pause=0.0 if tiny else SETTLE_SECONDS, burst=1 if tiny else 3)
        error = max(_max_relative_difference(state[k], state["ort"]) for k in ("kw", "optimized"))
        gemm = _gemm_seconds(optimized_run, 1 if tiny else 3 * repeats)
        records.append(
            InferenceRecord(name, batch, best["kernelwise"], best["onnxruntime"], error, best["optimized"], gemm)
        )
    return records


def _gemm_seconds(run: Any, runs: int) -> float:
    """The least time the GEMMs of ``run`` took (:func:`kernelwise.ops.gemm.gemm_clock`) over ``runs`` calls."""
    best = math.inf
    for _ in range(runs):
        with gemm_clock() as clock:
            run()
        best = min(best, clock.seconds)
    return best


def setting_line(threads: int) -> str:
    """The lines that say where and how the table was measured."""
    _, ort = _modules()
    return (
        f"machine: {machine()}\n"
        f"BLAS: {blas_info()}; ONNX Runtime {ort.__version__} (CPU) with intra_op_num_threads={threads} "
        f"(NumPy's BLAS thread count)"
    )


def run_inference_suite(
    models: Sequence[str] = MODELS,
    batches: Sequence[int] = (1, 8),
    repeats: int = 3,
    tiny: bool = False,
    file: TextIO | None = None,
) -> list[InferenceRecord]:
    """Time each model's forward at each batch size in kernelwise and ONNX Runtime.

    Args:
        models: light model names (``resnet50``, ``vgg19``, ``squeezenet``, ...).
        batches: batch sizes.
        repeats: interleaved turns per framework; the best counts.
        tiny: SqueezeNet at batch 1, one turn (proves the suite runs; the time means little).
        file: where progress lines go (None: nowhere).

    Returns:
        one :class:`InferenceRecord` per model and batch size.
    """
    if tiny:
        models, batches, repeats = ("squeezenet",), (1,), 1
    if repeats < 1 or any(b < 1 for b in batches):
        raise UsageError(f"repeats and batches must be positive, got {repeats} and {tuple(batches)}")
    threads = blas_info().threads
    records: list[InferenceRecord] = []
    for name in models:
        for record in _run_model(name, batches, repeats, threads, tiny):
            records.append(record)
            if file is not None:
                print(
                    f"  {record.model} batch {record.batch}: kernelwise {record.kw_seconds * 1e3:.1f} ms, "
                    f"optimized {record.optimized_seconds * 1e3:.1f} ms "
                    f"(its GEMMs {record.gemm_seconds * 1e3:.1f} ms), "
                    f"ONNX Runtime {record.ort_seconds * 1e3:.1f} ms",
                    file=file,
                    flush=True,
                )
    return records


def inference_report(records: Sequence[InferenceRecord], threads: int | None = None) -> str:
    """The setting lines, a Markdown table (model, batch, the times, ratio, the GEMMs' floor, max rel. diff) and
    the geometric means of the ratios and of the floors.

    "GEMMs ms" is the time the optimized module spends in its GEMMs alone (NumPy's ``matmul``, best of the
    runs); "GEMM floor" is that over ONNX Runtime's whole time: the ratio kernelwise would reach if its
    copies, element-wise passes and Python cost nothing.
    """
    threads = blas_info().threads if threads is None else threads
    header = [
        "model", "batch", "kernelwise ms", "optimized ms", "GEMMs ms", "ONNX Runtime ms", "ratio", "GEMM floor",
        "max rel. diff",
    ]  # fmt: skip
    rows = [
        [
            r.model,
            str(r.batch),
            _cell(r.kw_seconds * 1e3, ".1f"),
            _cell(r.optimized_seconds * 1e3, ".1f"),
            _cell(r.gemm_seconds * 1e3, ".1f"),
            _cell(r.ort_seconds * 1e3, ".1f"),
            _cell(r.ratio, ".2f"),
            _cell(r.gemm_ratio, ".2f"),
            _cell(r.error, ".1e"),
        ]
        for r in records
    ]
    means = (
        f"Geometric mean of the ratios: {geometric_mean([r.ratio for r in records]):.2f}; "
        f"of the GEMM floors: {geometric_mean([r.gemm_ratio for r in records]):.2f}"
    )
    return setting_line(threads) + "\n\n" + table(rows, header) + "\n\n" + means


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.inference [--repeats N] [--tiny] [--models a,b]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved turns per framework (default 3)")
    parser.add_argument("--tiny", action="store_true", help="SqueezeNet at batch 1, one turn: proves the suite runs")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated (default {','.join(MODELS)})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.repeats < 1:
        parser.exit(1, f"{parser.prog}: error: --repeats: must be a positive integer, got {args.repeats}\n")
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    reuse_freed_memory()  # as the other suites and training do (kernelwise.memory); ONNX Runtime gets it too
    try:
        records = run_inference_suite(models=models, repeats=args.repeats, tiny=args.tiny, file=sys.stdout)
    except (UsageError, MissingDependencyError) as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")
    print(inference_report(records))
    return 0
