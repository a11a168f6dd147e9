"""The ``kernelwise`` command line: argument parsing only; the work lives in the library.

Every mistake a user can make ends in one line on stderr and a non-zero exit
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np


class UsageError(Exception):
    """A mistake on the command line or in its inputs: reported in one line."""


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
    config = RunConfig(
        dataset=args.dataset,
        model=args.model,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        seed=args.seed,
        max_steps=args.max_steps,
    ).resolved()
    out = args.out or f"runs/{config.dataset}-{config.model}"
    train_run(config, out, progress=not args.no_progress, log=lambda m: print(m, flush=True), force=args.force)
    return 0


def _train_defaults() -> dict[str, object]:
    """The train command's defaults, option by option (to tell which options a user gave)."""
    return vars(build_parser().parse_args(["train"]))


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data import DataLoader, load_dataset
    from .runs import confusion_figure, load_run
    from .train import evaluate

    model, meta = load_run(args.run_dir)
    dataset = args.dataset or meta["dataset"]
    _, test_set, info = load_dataset(dataset, data_dir=args.data_dir, seed=meta.get("config", {}).get("seed", 0))
    if list(info.input_shape) != list(meta["input_shape"]) or info.num_classes != meta["num_classes"]:
        raise UsageError(
            f"dataset {dataset} gives inputs {tuple(info.input_shape)} with {info.num_classes} classes; "
            f"the model in {args.run_dir} takes {tuple(meta['input_shape'])} with {meta['num_classes']} classes"
        )
    result = evaluate(model, DataLoader(test_set, batch_size=256), num_classes=meta["num_classes"])
    names = [str(c) for c in meta.get("class_names") or range(meta["num_classes"])]
    print(
        f"{meta['model']} on {dataset} test set ({result['count']:,} images): accuracy {result['accuracy']:.2%}, "
        f"loss {result['loss']:.4f}"
    )
    print("per-class accuracy:")
    for name, acc, row in zip(names, result["per_class_accuracy"], result["confusion"], strict=True):
        print(f"  {name:>12}  {acc:7.2%}  ({row.sum():,} images)")
    picture = Path(args.run_dir) / "confusion.png"
    confusion_figure(result["confusion"], names, picture, f"{meta['model']} on {dataset}: {result['accuracy']:.2%}")
    print(f"confusion matrix: {picture}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import kernelwise as kw
    import kernelwise.nn.functional as F

    from .runs import load_run, prepare_image

    model, meta = load_run(args.run_dir)
    names = [str(c) for c in meta.get("class_names") or range(meta["num_classes"])]
    for path in args.images:
        x, notes = prepare_image(path, meta)
        with kw.no_grad():
            probs = F.softmax(model(kw.tensor(x[None])), dim=1).numpy()[0]
        top = np.argsort(-probs)[:3]
        converted = f"  ({'; '.join(notes)})" if notes else ""
        print(f"{path}: {names[top[0]]}{converted}")
        print("   top-3: " + ", ".join(f"{names[i]} {probs[i]:.1%}" for i in top))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from .models import MODELS, build_model
    from .summary import format_summary, summarize

    if args.model not in MODELS:
        raise UsageError(f"unknown model {args.model!r}; choose one of {', '.join(MODELS)}")
    shape = tuple(args.input_shape) if args.input_shape else tuple(n or 32 for n in MODELS[args.model].input_shape)
    model = build_model(args.model, input_shape=shape, num_classes=args.num_classes, generator=0)
    print(format_summary(args.model, summarize(model, shape), shape))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog.split()[0]} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kernelwise", description="A CNN framework on NumPy that shows its work.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    from .models import MODELS
    from .runs import OPTIMIZERS, RECIPES, SCHEDULES

    train = sub.add_parser("train", help="train a CNN and write a run directory")
    train.add_argument("--model", choices=list(MODELS), help="default: the dataset's usual model")
    train.add_argument("--dataset", default="digits", choices=list(RECIPES), help="default: digits")
    train.add_argument("--data-dir", help="folder with the dataset's files (else the download cache)")
    train.add_argument("--epochs", type=int, help="default: the dataset's recipe")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--lr", type=float)
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument(
        "--schedule", choices=SCHEDULES, default="cosine", help="learning-rate schedule (default: cosine)"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    train.add_argument("--out", help="run directory (default: runs/DATASET-MODEL)")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last complete epoch (bit-identical to never stopping); "
        "--epochs may be raised to train longer",
    )
    train.add_argument("--force", action="store_true", help="replace an existing run in --out (deleted whole)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    evaluate = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a run")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--dataset", choices=list(RECIPES), help="default: the dataset it was trained on")
    evaluate.add_argument("--data-dir")
    evaluate.set_defaults(run=_evaluate)

    predict = sub.add_parser("predict", help="class and top-3 probabilities for image files")
    predict.add_argument("run_dir")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.set_defaults(run=_predict)

    summary = sub.add_parser("summary", help="per-layer output shapes, parameters and FLOPs of a model")
    summary.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    summary.add_argument("--input-shape", type=int, nargs="+", metavar="N", help="C H W (default: the model's)")
    summary.add_argument("--num-classes", type=int, default=10)
    summary.set_defaults(run=_summary)

    from .explain.cli import add_explain_parser

    add_explain_parser(sub)

    from .bench import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kernelwise`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt as e:
        print(str(e) or "kernelwise: interrupted", file=sys.stderr)  # a run says how to resume
        return 130
    except (UsageError, ValueError, TypeError, FileNotFoundError, OSError, RuntimeError) as e:
        if args.debug:
            raise
        print(f"kernelwise: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    """The error's message on one line: its first line, and its last when that says what to do."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}. {lines[-1]}"
