"""The benchmark suite runs (once, on tiny sizes): with PyTorch, without it, and from the command line.

These are not timed tests: the times of tiny cases mean nothing. What is checked is that every case
runs in both frameworks, that both compute the same numbers, and that the tables come out.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import types
from pathlib import Path

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.bench import CONV_CASES, POOL_CASES, add_bench_parser, run_conv_suite, run_train_suite
from kernelwise.bench.cli import main as bench_main
from kernelwise.bench.timing import geometric_mean, interleaved_best
from kernelwise.bench.train import _measure_memory, busy_processes


def test_conv_suite_tiny_without_torch_prints_kernelwise_only() -> None:
    out = io.StringIO()
    result = run_conv_suite(tiny=True, repeats=1, threads=1, torch=False, file=out)
    assert len(result.cases) == len(CONV_CASES) + len(POOL_CASES)
    assert all(c.kw_seconds > 0 and math.isnan(c.ratio) for c in result.cases)
    text = out.getvalue()
    assert "PyTorch not installed" in text and "PyTorch ms" not in text
    assert "geometric mean" not in text
    assert result.peak_gflops > 0


def test_conv_suite_tiny_with_torch_agrees_with_torch() -> None:
    pytest.importorskip("torch")
    out = io.StringIO()
    result = run_conv_suite(tiny=True, repeats=1, torch=True, threads=1, file=out)
    assert all(c.torch_seconds > 0 and math.isfinite(c.ratio) for c in result.cases)
    # output and every gradient within float32 rounding of PyTorch's, relative to each array's scale
    assert max(c.error for c in result.cases) < 1e-4
    text = out.getvalue()
    assert "| ratio" in text and "geometric mean of the ratios" in text
    assert "1 threads for NumPy's BLAS and for PyTorch" in text


def test_conv_suite_methods_name_the_dispatched_paths() -> None:
    result = run_conv_suite(tiny=True, repeats=1, threads=1, torch=False, file=None)
    # 3×3 layers: "shifted", from 128 channels F(2×2, 3×3) ("winograd", F(4×4), only when allowed)
    conv = ["im2col", "im2col", "shifted", "shifted", "im2col", "winograd2", "matmul", "im2col"]
    assert [c.method for c in result.cases] == [*conv, "taps", "taps"]


def test_conv_suite_times_winograd_when_allowed_and_restores_the_switch() -> None:
    out = io.StringIO()
    result = run_conv_suite(tiny=True, repeats=1, threads=1, torch=False, file=out, allow_winograd=True)
    assert [c.method for c in result.cases][2:6] == ["winograd", "winograd", "im2col", "winograd"]
    assert "allow_winograd = True" in out.getvalue()
    assert kw.backends.conv.allow_winograd is False


def test_conv_suite_selects_cases_by_name() -> None:
    result = run_conv_suite(tiny=True, repeats=1, threads=1, torch=False, cases="conv1d", file=None)
    assert [c.name.split()[0] for c in result.cases] == ["conv1d"]


def test_error_conv_suite_unknown_case() -> None:
    with pytest.raises(ValueError, match="matches no case"):
        run_conv_suite(tiny=True, torch=False, cases="conv7d", file=None)


def test_train_suite_tiny_with_and_without_torch() -> None:
    out = io.StringIO()
    result = run_train_suite(tiny=True, threads=1, torch=None, memory=False, file=out)
    assert [c.items for c in result.cases] == [128, 20, 2]
    assert all(c.kw_seconds > 0 for c in result.cases)
    # every case trains convolutions and Linear layers: some of its time went to GEMMs, never more than all of it
    assert all(0 < c.kw_gemm_seconds <= c.kw_seconds for c in result.cases)
    assert "LeNet-5" in out.getvalue() and "MNIST-1D" in out.getvalue() and "small_resnet" in out.getvalue()
    assert "of its time" in out.getvalue()
    alone = run_train_suite(tiny=True, threads=1, torch=False, memory=False, file=None)
    assert all(math.isnan(c.ratio) for c in alone.cases)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a reaped child no longer does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _spinning_children() -> list[int]:
    """The pids of this process's children that run the busy loop (Linux: from /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"os.getppid() == parent" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def test_train_suite_busy_says_so_and_stops_its_processes() -> None:
    out = io.StringIO()
    result = run_train_suite(tiny=True, threads=1, torch=False, memory=False, file=out, busy=2)
    assert result.busy == 2 and len(result.busy_pids) == 2
    assert "busy machine: 2 busy processes (pure-Python spin loops) ran beside the timed work" in out.getvalue()
    assert not any(_alive(pid) for pid in result.busy_pids)
    quiet = io.StringIO()
    assert run_train_suite(tiny=True, threads=1, torch=False, memory=False, file=quiet).busy_pids == []
    assert "busy machine" not in quiet.getvalue()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists child processes from /proc")
def test_train_suite_busy_stops_its_processes_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def failing_lenet(*args: object) -> None:
        seen.extend(_spinning_children())
        raise RuntimeError("a failing case")

    monkeypatch.setattr("kernelwise.bench.train._lenet", failing_lenet)
    with pytest.raises(RuntimeError, match="a failing case"):
        run_train_suite(tiny=True, threads=1, torch=False, memory=False, file=None, busy=2)
    assert len(seen) == 2  # they were running during the case
    assert not any(_alive(pid) for pid in seen) and _spinning_children() == []


def test_busy_processes_stop_on_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt), busy_processes(1) as procs:
        assert procs[0].poll() is None
        raise KeyboardInterrupt
    assert procs[0].returncode is not None and not _alive(procs[0].pid)


@pytest.mark.parametrize("busy", [-1, 1.5, True, "2"])
def test_error_train_suite_busy_not_a_non_negative_integer(busy: object) -> None:
    with pytest.raises(ValueError, match="busy: must be a non-negative integer"):
        run_train_suite(tiny=True, torch=False, memory=False, file=None, busy=busy)  # type: ignore[arg-type]


@pytest.mark.parametrize("busy", ["-1", "x", "1.5"])
def test_error_bench_command_line_busy_not_a_non_negative_integer(
    busy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["train", "--tiny", "--no-torch", "--no-memory", "--busy", busy])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--busy: must be a non-negative integer" in err


def test_bench_command_line_busy_one_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench_main(["train", "--tiny", "--no-torch", "--no-memory", "--threads", "1", "--busy", "1"])
    assert code == 0
    assert "busy machine: 1 busy process (pure-Python spin loops)" in capsys.readouterr().out
    assert _spinning_children() == []


@pytest.mark.parametrize("suite", ["conv", "train"])
def test_bench_command_line_steady_threads_says_so_and_restores_the_switch(
    suite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--cases", "1→6"] if suite == "conv" else ["--no-memory"]
    assert bench_main([suite, "--tiny", "--no-torch", "--threads", "2", "--steady-threads", *extra]) == 0
    assert "kernelwise.backends.cpu.steady_threads = True" in capsys.readouterr().out
    assert kw.backends.cpu.steady_threads is False


def test_memory_run_of_kernelwise_reports_its_peak() -> None:
    memory = _measure_memory("kernelwise", "mnist1d", None, True, 1)
    assert 10 < memory["imports_mb"] <= memory["peak_mb"] < 2000


def test_bench_command_line_runs_a_tiny_conv_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench_main(["conv", "--tiny", "--no-torch", "--threads", "1", "--repeats", "1", "--cases", "max_pool2d 2, 6"])
        == 0
    )
    assert "max_pool2d 2, 6, 8×8, 2×2/2 p0" in capsys.readouterr().out


def test_add_bench_parser_hooks_into_a_command_line() -> None:
    parser = argparse.ArgumentParser(prog="kernelwise")
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "train", "--tiny", "--steps", "5", "--no-memory"])
    assert (args.suite, args.tiny, args.steps, args.no_memory, args.busy) == ("train", True, 5, True, "0")
    assert callable(args.run)


def test_error_bench_command_line_repeats_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["conv", "--repeats", "0", "--no-torch"])
    assert exit_info.value.code == 1
    assert "--repeats: must be a positive integer" in capsys.readouterr().err


def test_interleaved_best_keeps_the_fastest_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a scripted clock (the real one would make the test depend on the machine's load)."""
    clock = types.SimpleNamespace(now=0.0)
    durations = iter([0.5, 0.02, 0.001, 0.003])  # the warm-up call (not timed), then three timed runs
    calls = []

    def slow_then_fast() -> None:
        calls.append(1)
        clock.now += next(durations)

    def sleep(seconds: float) -> None:
        clock.now += seconds

    monkeypatch.setattr(
        "kernelwise.bench.timing.time", types.SimpleNamespace(perf_counter=lambda: clock.now, sleep=sleep)
    )
    best = interleaved_best({"f": slow_then_fast}, repeats=3, warmup=1, pause=0.1)
    assert len(calls) == 4
    assert best["f"] == pytest.approx(0.001, abs=1e-12)  # neither the warm-up nor the pauses count


def test_geometric_mean_of_ratios() -> None:
    assert geometric_mean([2.0, 0.5, 1.0]) == pytest.approx(1.0)
    assert geometric_mean([1.0, 4.0]) == pytest.approx(2.0)
    assert math.isnan(geometric_mean([float("nan")]))
    assert np.isfinite(geometric_mean([1e-3, 1e3]))


def test_inference_suite_tiny_agrees_with_onnxruntime() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from kernelwise.bench.inference import inference_report, run_inference_suite

    records = run_inference_suite(tiny=True)
    assert [(r.model, r.batch) for r in records] == [("squeezenet", 1)]
    (record,) = records
    assert math.isfinite(record.ratio) and record.ratio > 0
    assert record.error < 1e-4
    report = inference_report(records)
    assert "intra_op_num_threads=" in report
    row = next(line for line in report.splitlines() if line.startswith("| squeezenet "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1" and math.isfinite(float(cells[6])) and float(cells[8]) < 1e-4
    assert record.ratio == pytest.approx(record.optimized_seconds / record.ort_seconds)
    # the optimized forward's GEMMs were timed (separate runs: not compared with its best time)
    assert record.gemm_seconds > 0 and record.gemm_ratio == pytest.approx(record.gemm_seconds / record.ort_seconds)
    assert "Geometric mean of the ratios: " in report and "of the GEMM floors: " in report


def test_distributed_cost_model_tiny_reports_its_fields() -> None:
    from kernelwise.bench.distributed import allreduce_seconds, cost_report, crossover_ranks, measure_step_costs

    (cost,) = measure_step_costs(tiny=True)
    assert (cost.model, cost.dataset, cost.batch) == ("digits_cnn", "digits", 32)
    assert cost.gradient_bytes == 4 * cost.parameters > 0 and cost.compute_seconds > 0
    # the ring formula: 2(N-1)/N of the gradient over the link, plus 2(N-1) latencies
    assert allreduce_seconds(1e6, 4, 8.0, alpha=1e-5) == pytest.approx(6e-5 + 1.5e-3)
    assert allreduce_seconds(1e6, 1, 8.0) == 0.0
    n = crossover_ranks(cost, 1.0)
    assert n is None or 2 <= n <= cost.batch
    report = cost_report([cost])
    assert "| digits_cnn" in report and "100 Gbit/s" in report and "α = 20 µs" in report


def test_distributed_bench_tiny_runs_one_process_and_two_ranks(capsys: pytest.CaptureFixture[str]) -> None:
    from kernelwise.bench.distributed import main, mpi_missing

    assert main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "T1 ms (1 thread)" in out
    if mpi_missing() is not None:
        assert "2 ranks against 1 process: skipped" in out
        return
    row = next(line for line in out.splitlines() if line.startswith("| digits_cnn 2x1"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "3 × 32" and float(cells[3].replace(",", "")) > 0 and float(cells[5]) >= 0
    assert len(cells[6].split(" / ")) == 2  # a peak memory per rank
    assert "digits_cnn: img/s of 2 × 1 ÷ 1 × 2: " in out and "digits_cnn: img/s of 2 × 1 ÷ 1 × 1: " in out
