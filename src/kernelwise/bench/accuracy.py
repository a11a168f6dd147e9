"""Accuracy of the default recipes, with PyTorch trained in lockstep as the reference.

For each case kernelwise and PyTorch start from the same weights (copied), see the same
batches in the same order and use the same optimizer and schedule, so the two curves differ
only by floating-point rounding. Without PyTorch only kernelwise's figures are printed.

    python -m benchmarks.accuracy [--data-dir ../shared/data/mnist-5k] [--cases digits mnist mnist1d]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import nn
from ..data import DataLoader, load_dataset
from ..models import build_model
from ..runs import RECIPES, SCHEDULES, make_optimizer, make_scheduler
from ..tensor import no_grad
from ..tensor import tensor as kw_tensor
from .mirror import to_torch

# name: (dataset, optimizer steps or None for the recipe's epochs)
CASES: dict[str, tuple[str, int | None]] = {
    "digits": ("digits", None),
    "mnist": ("mnist", None),  # LeNet-5, SGD momentum 0.9 lr 0.05, batch 64, 10 epochs
    "mnist1d": ("mnist1d", 6000),  # the MNIST-1D CNN, Adam lr 1e-2, batch 100, 6,000 steps
}


def _torch_optimizer(torch: Any, name: str, params: Any, lr: float, momentum: float = 0.9) -> Any:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)


def _accuracy(predict: Any, loader: DataLoader) -> float:
    correct = total = 0
    for x, y in loader:
        correct += int((predict(x.numpy()).argmax(axis=1) == y.numpy()).sum())
        total += len(y)
    return correct / total


def run_case(
    name: str, data_dir: str | None = None, torch: Any = None, seed: int = 0, schedule: str | None = None
) -> dict[str, Any]:
    """Train case ``name`` with kernelwise (and PyTorch in lockstep when given); return the figures."""
    dataset, steps = CASES[name]
    recipe = RECIPES[dataset]
    train, test, info = load_dataset(dataset, data_dir=data_dir, seed=seed)
    loader = DataLoader(train, batch_size=recipe["batch_size"], shuffle=True, generator=seed)
    epochs = recipe["epochs"] if steps is None else -(-steps // len(loader))
    model = build_model(recipe["model"], input_shape=tuple(info.input_shape), num_classes=info.num_classes,
                        generator=seed)  # fmt: skip
    opt = make_optimizer(recipe["optimizer"], model.parameters(), recipe["lr"])
    lr_schedule = make_scheduler(schedule or recipe["schedule"], opt, epochs)
    loss_fn = nn.CrossEntropyLoss()
    twin = t_opt = t_schedule = None
    if torch is not None:
        twin = to_torch(model, torch)
        t_opt = _torch_optimizer(torch, recipe["optimizer"], twin.parameters(), recipe["lr"])
        if lr_schedule is not None:
            t_schedule = type(lr_schedule).__name__
            t_schedule = {
                "CosineAnnealingLR": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=epochs),
                "StepLR": lambda: torch.optim.lr_scheduler.StepLR(t_opt, lr_schedule.step_size, lr_schedule.gamma),
            }[t_schedule]()
    seconds = {"kernelwise": 0.0, "pytorch": 0.0}
    done = 0
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            start = time.perf_counter()
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seconds["kernelwise"] += time.perf_counter() - start
            if twin is not None:
                tx, ty = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())
                start = time.perf_counter()
                t_loss = torch.nn.functional.cross_entropy(twin(tx), ty)
                t_opt.zero_grad()
                t_loss.backward()
                t_opt.step()
                seconds["pytorch"] += time.perf_counter() - start
            done += 1
            if steps is not None and done >= steps:
                break
        if lr_schedule is not None:
            lr_schedule.step()
        if t_schedule is not None:
            t_schedule.step()
    test_loader = DataLoader(test, batch_size=500)
    model.eval()
    with no_grad():
        result = {"case": name, "model": recipe["model"], "steps": done,
                  "kernelwise": _accuracy(lambda a: model(kw_tensor(a)).numpy(), test_loader),
                  "kernelwise_seconds": seconds["kernelwise"]}  # fmt: skip
    if twin is not None:
        twin.eval()
        with torch.no_grad():
            result["pytorch"] = _accuracy(lambda a: twin(torch.from_numpy(a)).numpy(), test_loader)
        result["pytorch_seconds"] = seconds["pytorch"]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_dir = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist-5k"
    parser.add_argument("--data-dir", default=str(default_dir) if default_dir.is_dir() else None,
                        help="MNIST IDX files (default: ../shared/data/mnist-5k beside the checkout)")  # fmt: skip
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", choices=SCHEDULES, help="default: each recipe's")
    parser.add_argument("--no-torch", action="store_true", help="kernelwise only")
    args = parser.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.manual_seed(args.seed)
        except ImportError:
            print("PyTorch is not installed: kernelwise figures only")
    print(f"{'case':<8} {'model':<12} {'steps':>6} {'kernelwise':>11} {'PyTorch':>9} {'kw s':>7} {'torch s':>8}")
    for name in args.cases:
        r = run_case(
            name,
            data_dir=args.data_dir if CASES[name][0] == "mnist" else None,
            torch=torch,
            seed=args.seed,
            schedule=args.schedule,
        )
        torch_acc = f"{r['pytorch']:.2%}" if "pytorch" in r else "-"
        torch_s = f"{r['pytorch_seconds']:.1f}" if "pytorch" in r else "-"
        print(f"{r['case']:<8} {r['model']:<12} {r['steps']:>6} {r['kernelwise']:>11.2%} {torch_acc:>9} "
              f"{r['kernelwise_seconds']:>7.1f} {torch_s:>8}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
