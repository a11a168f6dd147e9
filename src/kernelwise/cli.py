"""The ``kernelwise`` command line: argument parsing only; the work lives in the library.

Every mistake a user can make (a :class:`~kernelwise.errors.KernelwiseError`, or a file the system
refuses) ends in one line on stderr and exit status 1 (``--debug`` shows the traceback instead). Any
other exception is a bug in kernelwise: its traceback is printed, with a line asking to report it, and
the exit status is 2.

``mpiexec -n N kernelwise train ...`` trains on N processes (:mod:`kernelwise.runs`): rank 0 alone
prints to stdout; an error on any rank is printed in one line (prefixed ``rank R:`` on the others)
and stops every rank at once (MPI Abort), so no rank is left waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

import numpy as np

from .errors import KernelwiseError, UsageError
from .memory import reuse_freed_memory
from .threads import add_threads_argument, thread_limit

# What a resumed run may change: the rest of the run's settings come from its directory.
_RESUME_OPTIONS = {"resume", "epochs", "no_progress", "threads", "out", "run", "command", "debug"}


def _train(args: argparse.Namespace) -> int:
    from .runs import RunConfig, resume_run, train_run

    if args.resume is not None:
        changed = sorted(
            f"--{name.replace('_', '-')}"
            for name, value in vars(args).items()
            if name not in _RESUME_OPTIONS and value != _train_defaults().get(name)
        )
        if changed:
            raise UsageError(
                f"{', '.join(changed)} cannot be combined with --resume: a resumed run keeps its own settings "
                "(only --epochs may be raised)"
            )
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise UsageError("--out cannot differ from --resume: a run is resumed in its own directory")
        resume_run(args.resume, epochs=args.epochs, progress=not args.no_progress, log=lambda m: print(m, flush=True))
        return 0
    dataset, data_dir = _data_source(args.dataset, args.data_dir)
    config = RunConfig(
        dataset=dataset,
        model=args.model,
        data_dir=data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        seed=args.seed,
        max_steps=args.max_steps,
        steady_threads=args.steady_threads,
    ).resolved()
    out = args.out or f"runs/{config.dataset}-{config.model}"
    train_run(config, out, progress=not args.no_progress, log=lambda m: print(m, flush=True), force=args.force)
    return 0


def _data_source(dataset: str | None, data_dir: str | None, run_dataset: str | None = None) -> tuple[str, str | None]:
    """The dataset to load and its folder (absolute), from ``--dataset`` and ``--data-dir``.

    ``--data-dir`` must exist. Without ``--dataset`` the dataset is the one whose files the folder
    holds (:func:`~kernelwise.data.advice.infer_dataset`); when they fit none, a run's own dataset
    (``run_dataset``, for ``evaluate``) or else an error. With neither: ``run_dataset`` or digits.
    """
    from .data.advice import infer_dataset

    if data_dir is None:
        return dataset or run_dataset or "digits", None
    folder = os.path.abspath(os.path.expanduser(data_dir))
    if not os.path.isdir(folder):
        raise UsageError(f"folder not found: {data_dir}")
    if dataset is None:
        dataset = infer_dataset(folder, prefer=run_dataset) or run_dataset
        if dataset is None:
            raise UsageError(
                f"cannot tell which dataset {data_dir} holds (no MNIST IDX files, CIFAR-10 batches, MNIST-1D "
                "cache or class folders of images in it): pass --dataset"
            )
        if run_dataset is None:
            print(f"dataset: {dataset} (from the files in {data_dir}; --dataset chooses another)", flush=True)
    return dataset, folder


def _run_folder(path: str) -> str:
    """The run directory of a command-line RUN_DIR argument, which may name its model.safetensors."""
    return os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else path


def _train_defaults() -> dict[str, object]:
    """The train command's defaults, option by option (to tell which options a user gave)."""
    return vars(build_parser().parse_args(["train"]))


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data import DataLoader, load_dataset
    from .names import class_names, shown
    from .runs import confusion_figure, load_run
    from .train import evaluate

    model, meta = load_run(args.run_dir)
    config = meta.get("config") or {}
    if args.dataset is None and args.data_dir is None and not meta.get("dataset"):
        raise UsageError(f"the checkpoint in {args.run_dir} names no dataset: pass --dataset (and --data-dir)")
    dataset, data_dir = _data_source(args.dataset, args.data_dir, run_dataset=meta.get("dataset"))
    if args.data_dir is None and dataset == meta.get("dataset") and config.get("data_dir"):
        data_dir = config["data_dir"]  # the folder the run was trained from (stored absolute)
        if not os.path.isdir(data_dir):
            raise UsageError(f"folder not found: {data_dir} (the run's data; give another with --data-dir)")
    _, test_set, info = load_dataset(dataset, data_dir=data_dir, seed=config.get("seed", 0))
    if list(info.input_shape) != list(meta["input_shape"]) or info.num_classes != meta["num_classes"]:
        raise UsageError(
            f"dataset {dataset} gives inputs {tuple(info.input_shape)} with {info.num_classes} classes; "
            f"the model in {args.run_dir} takes {tuple(meta['input_shape'])} with {meta['num_classes']} classes"
        )
    result = evaluate(model, DataLoader(test_set, batch_size=256), num_classes=meta["num_classes"])
    names = class_names(meta)
    print(
        f"{meta['model']} on {dataset} test set ({result['count']:,} images, {_threads_text()}): "
        f"accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f}"
    )
    print("per-class accuracy:")
    for name, acc, row in zip(names, result["per_class_accuracy"], result["confusion"], strict=True):
        print(f"  {shown(name):>12}  {acc:7.2%}  ({row.sum():,} images)")
    picture = Path(_run_folder(args.run_dir)) / "confusion.png"
    confusion_figure(result["confusion"], names, picture, f"{meta['model']} on {dataset}: {result['accuracy']:.2%}")
    print(f"confusion matrix: {picture}")
    return 0


def _threads_text() -> str:
    """How many threads NumPy's BLAS runs now, e.g. ``2 BLAS threads``."""
    from .threads import blas_info

    count = blas_info().threads
    return f"{count} BLAS thread{'s' if count != 1 else ''}"


def _predict(args: argparse.Namespace) -> int:
    import kernelwise as kw
    import kernelwise.nn.functional as F

    from .names import class_names, shown
    from .runs import load_run, prepare_image

    if _is_onnx(args.run_dir):
        return _predict_onnx(args)
    if args.labels is not None:
        raise UsageError("--labels goes with an ONNX model; a run's class names are its own")
    model, meta = load_run(args.run_dir)
    names = [shown(name) for name in class_names(meta)]
    for path in args.images:
        x, notes = prepare_image(path, meta)
        with kw.no_grad():
            probs = F.softmax(model(kw.tensor(x[None])), dim=1).numpy()[0]
        _print_top3(path, probs, names, notes)
    return 0


def _print_top3(path: str, probs: np.ndarray, names: list[str], notes: list[str]) -> None:
    """The predict lines of one image: its class (and what was converted), then the top-3 probabilities."""
    top = np.argsort(-probs)[:3]
    converted = f"  ({'; '.join(notes)})" if notes else ""
    print(f"{path}: {names[top[0]]}{converted}")
    print("   top-3: " + ", ".join(f"{names[i]} {probs[i]:.1%}" for i in top))


def _is_onnx(path: str | None) -> bool:
    """Whether a command-line model argument names an ONNX file (by its ``.onnx`` ending)."""
    return path is not None and path.lower().endswith(".onnx")


def _read_labels(path: str) -> list[str]:
    """The class names of a ``--labels`` file: one a line, blank lines at the end ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--labels {path}: not a UTF-8 text file (one class name a line)") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def _predict_onnx(args: argparse.Namespace) -> int:
    from .onnx.files import ImageModel

    model = ImageModel.open(args.run_dir)
    labels = _read_labels(args.labels) if args.labels is not None else model.class_names
    for path in args.images:
        x, notes = model.prepare(path)
        probs = model.probabilities(x)
        if labels is not None and len(labels) != probs.size:
            given = f"--labels {args.labels}" if args.labels is not None else f"{args.run_dir}'s metadata"
            raise UsageError(f"{given} names {len(labels)} classes; the model gives {probs.size} outputs")
        _print_top3(path, probs, labels or [str(i) for i in range(probs.size)], notes)
    return 0


def _export(args: argparse.Namespace) -> int:
    from .onnx.files import export_run, opset_of

    out = args.output or os.path.join(_run_folder(args.run_dir), "model.onnx")
    if os.path.exists(out) and not args.force:
        raise UsageError(f"{out} exists: replace it with --force, or choose another file with -o")
    proto, meta = export_run(args.run_dir, out, args.opset)
    print(f"wrote {out} (ONNX opset {opset_of(proto)}, input {tuple(meta['input_shape'])} per example)")
    return 0


def _summary_onnx(args: argparse.Namespace) -> int:
    from .onnx.files import describe

    if args.model is not None or args.input_shape or args.num_classes is not None:
        raise UsageError("--model, --input-shape and --num-classes do not go with an ONNX file: its graph says")
    print("\n".join(describe(args.run_dir)))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from .data.datasets import INPUT_SHAPES
    from .models import MODELS, build_model
    from .runs import load_run
    from .summary import format_summary, summarize

    if _is_onnx(args.run_dir):
        return _summary_onnx(args)
    if args.run_dir is None and args.model is None:
        raise UsageError("summary of what? give a run directory (kernelwise summary RUN_DIR) or --model NAME")
    if args.run_dir is not None and args.model is not None:
        raise UsageError("give a run directory or --model, not both: a run's model is its own")
    if args.run_dir is not None:
        if args.input_shape or args.num_classes is not None:
            raise UsageError("--input-shape and --num-classes go with --model; a run's model is its own")
        model, meta = load_run(args.run_dir)
        shape = tuple(meta["input_shape"])
        print(format_summary(f"{meta['model']} from {args.run_dir}", summarize(model, shape), shape))
        return 0
    if args.model not in MODELS:
        raise UsageError(f"unknown model {args.model!r}; choose one of {', '.join(MODELS)}")
    dataset = MODELS[args.model].default_dataset
    shape = tuple(args.input_shape) if args.input_shape else INPUT_SHAPES[dataset]
    num_classes = 10 if args.num_classes is None else args.num_classes
    model = build_model(args.model, input_shape=shape, num_classes=num_classes, generator=0)
    name = args.model if args.input_shape else f"{args.model} (on {dataset})"
    print(format_summary(name, summarize(model, shape), shape))
    return 0


def _recipe_table(recipes: dict[str, dict[str, object]]) -> str:
    """The recipes as a table for ``train --help``: what each option left out defaults to, per dataset."""
    from .data.datasets import INPUT_SHAPES

    head = ("dataset", "model", "epochs", "batch", "optimizer", "lr", "schedule", "input")
    rows = [
        (
            name,
            str(r["model"]),
            str(r["epochs"]),
            str(r["batch_size"]),
            str(r["optimizer"]),
            f"{r['lr']:g}",
            str(r["schedule"]),
            str(INPUT_SHAPES.get(name, "the pictures' size")),
        )
        for name, r in recipes.items()
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    return "recipes (what --model, --epochs, --batch-size, --optimizer, --lr and --schedule default to):\n  " + (
        "\n  ".join(lines)
    )


_MPI_HELP = """\
on several processes (pip install kernelwise[mpi]): mpiexec -n N kernelwise train ...
  trains data-parallel and equals the one-process run: --batch-size stays the global batch (each
  process takes a contiguous share of every batch), BatchNorm becomes SyncBatchNorm (statistics of
  the whole batch), gradients are averaged; process 0 alone prints and writes the run directory,
  and --resume works on any number of processes."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog.split()[0]} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS
    from .models import MODELS

    parser = _Parser(
        prog="kernelwise",
        description="A CNN framework on NumPy that shows its work.",
        epilog=f"models: {', '.join(MODELS)}; datasets: {', '.join(DATASETS)}. "
        "Each command has its own --help (the training recipes: kernelwise train --help).",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    from .runs import OPTIMIZERS, RECIPES, SCHEDULES

    recipe = "default: the dataset's recipe (below)"
    train = sub.add_parser(
        "train",
        help="train a CNN and write a run directory",
        description="Train a CNN and write a run directory (model.safetensors, metrics.json, curves.png, samples/).",
        epilog=_recipe_table(RECIPES) + "\n\n" + _MPI_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--model", choices=list(MODELS), help=recipe)
    train.add_argument(
        "--dataset",
        choices=list(RECIPES),
        help="default: the one whose files --data-dir holds (MNIST IDX files, CIFAR-10 batches, class folders "
        "of images), else digits",
    )
    train.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder with the dataset's files (default: the download cache, $KERNELWISE_DATA or ~/.cache/kernelwise)",
    )
    train.add_argument("--epochs", type=int, help=recipe)
    train.add_argument("--batch-size", type=int, help=recipe)
    train.add_argument("--optimizer", choices=OPTIMIZERS, help=f"{recipe}; sgd has momentum 0.9")
    train.add_argument("--lr", type=float, help=f"learning rate ({recipe})")
    train.add_argument("--weight-decay", type=float, default=0.0, help="default: 0 (adamw: 0.01)")
    train.add_argument("--schedule", choices=SCHEDULES, help=f"learning-rate schedule ({recipe})")
    train.add_argument("--seed", type=int, default=0, help="weights, shuffling, the digits/images split (default: 0)")
    train.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (default: no limit)")
    train.add_argument("--out", help="run directory (default: runs/DATASET-MODEL)")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last complete epoch (bit-identical to never stopping); "
        "--epochs may be raised to train longer",
    )
    train.add_argument("--force", action="store_true", help="replace an existing run in --out (deleted whole)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--steady-threads",
        action="store_true",
        help="GEMMs in fixed chunks on kernelwise's own workers: steady beside other busy processes and the same "
        "results at any --threads, slower on a quiet machine for small models (kernelwise.backends.cpu)",
    )
    add_threads_argument(train)
    train.set_defaults(run=_train)

    run_help = "a run directory (or its model.safetensors)"
    evaluate = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a run")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help=run_help)
    evaluate.add_argument(
        "--dataset",
        choices=list(RECIPES),
        help="default: the dataset it was trained on (or the one whose files --data-dir holds)",
    )
    evaluate.add_argument("--data-dir", metavar="DIR", help="default: the folder the run was trained from")
    add_threads_argument(evaluate)
    evaluate.set_defaults(run=_evaluate)

    onnx_model = "or an ONNX file (MODEL.onnx)"
    predict = sub.add_parser(
        "predict",
        help="class and top-3 probabilities for image files",
        description="Class and top-3 probabilities for image files, from a run or an ONNX file. An ONNX model "
        "gets each image converted to its input's channels (1: grayscale, 3: RGB) and size, as pixels in [0, 1] "
        "(no normalisation: the file does not say which it was trained with); its outputs go through softmax "
        "unless they are probabilities already.",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help=f"{run_help}, {onnx_model}")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument(
        "--labels", metavar="FILE", help="with an ONNX file: a text file of class names, one a line (default: 0, 1, …)"
    )
    add_threads_argument(predict)
    predict.set_defaults(run=_predict)

    summary = sub.add_parser("summary", help="per-layer output shapes, parameters and FLOPs of a model")
    summary.add_argument(
        "run_dir",
        nargs="?",
        metavar="RUN_DIR",
        help=f"{run_help}: its model and input shape; {onnx_model}: its inputs, outputs, nodes and opset",
    )
    summary.add_argument("--model", help=f"instead of a run: one of {', '.join(MODELS)}")
    summary.add_argument(
        "--input-shape", type=int, nargs="+", metavar="N", help="C H W or C L (default: that of the model's dataset)"
    )
    summary.add_argument("--num-classes", type=int, help="with --model (default: 10)")
    summary.set_defaults(run=_summary)

    export = sub.add_parser(
        "export",
        help="write a run's model as an ONNX file",
        description="Write a run's model as an ONNX file (for ONNX Runtime and other tools), with a dynamic "
        "batch dimension; it takes the run's input shape, normalised as the run's data was.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help=run_help)
    export.add_argument("-o", "--output", metavar="FILE", help="the ONNX file (default: RUN_DIR/model.onnx)")
    export.add_argument("--opset", type=int, help="the ONNX opset, 17 or newer (default: 17)")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    export.set_defaults(run=_export)

    from .explain.cli import add_explain_parser

    add_explain_parser(sub)

    from .bench import add_bench_parser

    add_bench_parser(sub)
    return parser


# Commands whose --threads limits NumPy's BLAS around the whole command (bench sets it per suite itself).
_LIMITS_BLAS_THREADS = ("train", "evaluate", "predict")
# Commands that run many steps over large arrays ask malloc to keep freed memory (never done on import).
_TUNES_MEMORY = ("train", "evaluate", "predict", "bench")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kernelwise`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    threads = getattr(args, "threads", None) if args.command in _LIMITS_BLAS_THREADS else None
    if args.command in _TUNES_MEMORY:
        reuse_freed_memory()  # glibc keeps freed temporaries for the next step (kernelwise.memory)
    try:
        rank = _join_ranks() if args.command == "train" else 0
        with contextlib.ExitStack() as stack:
            if threads is not None:
                stack.enter_context(thread_limit(threads))
            if rank != 0:  # rank 0 alone prints
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
            return int(args.run(args) or 0)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        if _distributed():  # and the other ranks with this one
            from . import distributed

            distributed.abort(0)
        return 0
    except KeyboardInterrupt as e:
        return _fail(str(e) or "kernelwise: interrupted", 130)  # a run says how to resume
    except (KernelwiseError, OSError) as e:  # a mistake in what was asked, or a file the system refused
        if args.debug and not _distributed():
            raise
        if args.debug:
            traceback.print_exc()
        return _fail(f"kernelwise: error: {_one_line(e)}", 1)
    except Exception:  # anything else is a bug in kernelwise: keep its traceback
        traceback.print_exc()
        return _fail("kernelwise: internal error (a bug in kernelwise, not in your input): please report it", 2)


def _join_ranks() -> int:
    """This process's rank: started by ``mpiexec -n N``, the MPI process group is joined (else 0)."""
    from .distributed import launched_by_mpi

    if not launched_by_mpi():
        return 0
    from .runs import join_ranks

    return join_ranks()[0]


def _distributed() -> bool:
    """Whether this process is one of several ranks of a joined MPI process group."""
    from . import distributed

    return distributed.is_initialized() and distributed.get_world_size() > 1


def _fail(message: str, code: int) -> int:
    """Print ``message`` on stderr and return ``code``; under MPI, stop every rank (no rank left waiting)."""
    if not _distributed():
        print(message, file=sys.stderr)
        return code
    from . import distributed

    rank = distributed.get_rank()
    print(message if rank == 0 else f"rank {rank}: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    distributed.abort(code)
    return code


def _one_line(error: BaseException) -> str:
    """The error's message on one line: its first line, and its last when that says what to do."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}. {lines[-1]}"
