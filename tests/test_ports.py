"""PyTorch programs run on kernelwise with only their imports changed.

``tests/ports/`` holds programs of the kinds CNN courses use, written as they are written for torch:
the classic MNIST example, a textbook's LeNet chapter with its training helpers and its VGG, NiN and
ResNet blocks, and the CIFAR-10 classifier tutorial. Each is loaded twice: as written, on torch, and
with its import lines swapped for kernelwise's (the only lines that differ; checked). Their data
loading is the other change: the MNIST sample, as each framework's ``TensorDataset``.

Each program then trains in lockstep on both: the same initial weights (torch's, copied), the same
batches, dropout off, in float64, where the two runs stay within rounding (~1e-13) of each other over
a few dozen steps (in float32, training is chaotic: see tests/test_lockstep.py). And each runs end
to end on kernelwise as written, dropout, shuffling, ``torch.save``/``torch.load`` and all.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.data import load_dataset

torch = pytest.importorskip("torch")

PORTS = Path(__file__).parent / "ports"
# float64 (u = 1.1e-16): one step's sums (≤ 9,216·64 terms) differ in rounding by ~√K·u ≈ 1e-13 of
# their scale; 1e-9 leaves a factor 10,000 for that difference to grow over the steps compared.
F64_TOL = 1e-9


def _kernelwise_source(source: str) -> str:
    """The program with each torch import made a kernelwise import, and nothing else changed."""

    def swap(line: str) -> str:
        if m := re.fullmatch(r"import torch", line):
            return "import kernelwise as torch"
        if m := re.fullmatch(r"import torch\.([\w.]+) as (\w+)", line):
            return f"import kernelwise.{m[1]} as {m[2]}"
        if m := re.fullmatch(r"from torch(\.[\w.]+)? import (.+)", line):
            return f"from kernelwise{m[1] or ''} import {m[2]}"
        return line

    lines = source.splitlines()
    swapped = [swap(line) for line in lines]
    changed = [(a, b) for a, b in zip(lines, swapped, strict=True) if a != b]
    assert changed and all(a.split()[0] in ("import", "from") for a, _ in changed)  # imports only
    return "\n".join(swapped) + "\n"


def load_port(name: str, framework: str) -> types.ModuleType:
    source = (PORTS / f"{name}.py").read_text()
    if framework == "kernelwise":
        source = _kernelwise_source(source)
    module = types.ModuleType(f"{name}_{framework}")
    exec(compile(source, f"{PORTS / name}.py [{framework}]", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def mnist():
    """The MNIST sample beside the checkout (the tests skip only where it is absent), normalised."""
    sample = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-5k"
    if not (sample / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST sample not found at {sample}")
    train, test, _ = load_dataset("mnist", data_dir=sample, download=False)
    return tuple((part.tensors[0].numpy(), part.tensors[1].numpy()) for part in (train, test))


def datasets(framework, x: np.ndarray, y: np.ndarray):
    """The one part of each program that changes besides its imports: where the data come from."""
    lib = torch if framework == "torch" else kw
    return lib.utils.data.TensorDataset(lib.from_numpy(np.ascontiguousarray(x)), lib.from_numpy(y))


def copy_weights(torch_model, kw_model) -> None:
    """Start both runs from torch's initial weights (and buffers)."""
    kw_model.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()})


def no_dropout(*models) -> None:
    for model in models:
        for module in model.modules():
            if type(module).__name__ == "Dropout":
                module.p = 0.0


def assert_same_state(torch_model, kw_model) -> None:
    want = torch_model.state_dict()
    got = kw_model.state_dict()
    assert list(got) == list(want)
    for name, value in want.items():
        expected = value.detach().numpy()
        actual = got[name].numpy()
        if expected.dtype.kind != "f":
            np.testing.assert_array_equal(actual, expected, err_msg=name)
            continue
        np.testing.assert_allclose(
            actual, expected, rtol=F64_TOL, atol=F64_TOL * np.abs(expected).max(initial=0), err_msg=name
        )


def assert_same_losses(kw_losses, torch_losses) -> None:
    assert len(kw_losses) == len(torch_losses) > 0
    np.testing.assert_allclose(kw_losses, torch_losses, rtol=F64_TOL)


# ------------------------------------------------------------------------------ the classic MNIST example
def test_mnist_example_trains_in_lockstep(mnist):
    (x, y), (xt, yt) = mnist
    x, y, xt, yt = x[:512].astype(np.float64), y[:512], xt[:256].astype(np.float64), yt[:256]
    runs = {}
    for framework in ("torch", "kernelwise"):
        port = load_port("mnist_classic", framework)
        lib = torch if framework == "torch" else kw
        lib.manual_seed(1)
        model = port.Net().double()
        runs[framework] = (port, lib, model)
    tmodel, kmodel = runs["torch"][2], runs["kernelwise"][2]
    copy_weights(tmodel, kmodel)
    no_dropout(tmodel, kmodel)
    args = types.SimpleNamespace(log_interval=100, dry_run=False)
    losses, accuracies = {}, {}
    for framework, (port, lib, model) in runs.items():
        train_loader = lib.utils.data.DataLoader(datasets(framework, x, y), batch_size=64)
        test_loader = lib.utils.data.DataLoader(datasets(framework, xt, yt), batch_size=1000)
        optimizer = port.optim.Adadelta(model.parameters(), lr=1.0)
        scheduler = port.StepLR(optimizer, step_size=1, gamma=0.7)
        losses[framework] = []
        for epoch in (1, 2):
            port.train(args, model, lib.device("cpu"), train_loader, optimizer, epoch, losses[framework])
            accuracies[framework] = port.test(model, lib.device("cpu"), test_loader)
            scheduler.step()
    assert_same_losses(losses["kernelwise"], losses["torch"])  # 16 steps
    assert_same_state(tmodel, kmodel)
    assert accuracies["kernelwise"] == accuracies["torch"]


def test_mnist_example_runs_as_written(mnist, tmp_path, monkeypatch, capsys):
    (x, y), (xt, yt) = mnist
    port = load_port("mnist_classic", "kernelwise")
    monkeypatch.chdir(tmp_path)
    model, accuracy = port.main(
        ["--epochs", "1", "--save-model", "--log-interval", "4"],
        datasets("kernelwise", x[:1024], y[:1024]),
        datasets("kernelwise", xt[:500], yt[:500]),
    )
    out = capsys.readouterr().out
    assert "Train Epoch: 1 [0/1024 (0%)]" in out and "Test set: Average loss:" in out
    assert accuracy > 0.5  # 16 Adadelta steps: torch reaches 0.81 on this sample (chance: 0.1)
    saved = kw.load("mnist_cnn.pt")
    assert set(saved) == set(model.state_dict())
    port.Net().load_state_dict(saved)
    capsys.readouterr()
    port.main(["--dry-run"], datasets("kernelwise", x[:256], y[:256]), datasets("kernelwise", xt[:100], yt[:100]))
    assert capsys.readouterr().out.count("Train Epoch") == 14  # one batch per epoch, 14 epochs


# ------------------------------------------------------------------------------ the textbook's chapters
@pytest.mark.parametrize("chapter", ["lenet", "vgg", "nin", "resnet18"])
def test_textbook_chapter_trains_in_lockstep(mnist, chapter, capsys):
    (x, y), (xt, yt) = mnist
    x, y, xt, yt = x[:256].astype(np.float64), y[:256], xt[:128].astype(np.float64), yt[:128]
    ports = {framework: load_port("textbook_cnns", framework) for framework in ("torch", "kernelwise")}
    build = {
        "lenet": lambda port: port.net,
        "vgg": lambda port: port.vgg(((1, 8), (1, 16))),
        "nin": lambda port: port.nin(),
        "resnet18": lambda port: port.resnet18(),
    }[chapter]
    models = {framework: build(port).double() for framework, port in ports.items()}
    copy_weights(models["torch"], models["kernelwise"])
    no_dropout(*models.values())
    if chapter == "lenet":
        assert ports["kernelwise"].layer_shapes(models["kernelwise"].float()) == ports["torch"].layer_shapes(
            models["torch"].float()
        )
        models = {framework: model.double() for framework, model in models.items()}
    results, losses = {}, {}
    lr = 0.9 if chapter == "lenet" else 0.05
    for framework, port in ports.items():
        lib = torch if framework == "torch" else kw
        train_iter = lib.utils.data.DataLoader(datasets(framework, x, y), batch_size=32)
        test_iter = lib.utils.data.DataLoader(datasets(framework, xt, yt), batch_size=64)
        losses[framework] = []
        results[framework] = port.train_ch6(
            models[framework], train_iter, test_iter, 2, lr, port.try_gpu(), init=False, log=losses[framework]
        )
    assert_same_losses(losses["kernelwise"], losses["torch"])  # 16 SGD steps
    assert_same_state(models["torch"], models["kernelwise"])
    np.testing.assert_allclose(results["kernelwise"], results["torch"], rtol=F64_TOL)
    assert "training on cpu" in capsys.readouterr().out


def test_textbook_lenet_runs_as_written(mnist):
    (x, y), (xt, yt) = mnist
    port = load_port("textbook_cnns", "kernelwise")
    kw.manual_seed(0)
    train_iter = kw.utils.data.DataLoader(datasets("kernelwise", x[:2048], y[:2048]), batch_size=256, shuffle=True)
    test_iter = kw.utils.data.DataLoader(datasets("kernelwise", xt[:500], yt[:500]), batch_size=256)
    train_l, train_acc, test_acc = port.train_ch6(port.net, train_iter, test_iter, 3, 0.9, port.try_gpu())
    assert np.isfinite(train_l) and 0 <= train_acc <= 1 and 0 <= test_acc <= 1


# ------------------------------------------------------------------------------ the CIFAR-10 tutorial
def _as_cifar(x: np.ndarray) -> np.ndarray:
    """28×28 grey digits as 32×32 colour pictures: padded by 2 and repeated over 3 channels."""
    return np.repeat(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)


def test_cifar_tutorial_trains_in_lockstep(mnist):
    (x, y), _ = mnist
    x, y = _as_cifar(x[:96]).astype(np.float64), y[:96]
    ports = {framework: load_port("cifar_tutorial", framework) for framework in ("torch", "kernelwise")}
    models = {framework: port.Net().double() for framework, port in ports.items()}
    copy_weights(models["torch"], models["kernelwise"])
    losses = {}
    for framework, port in ports.items():
        lib = torch if framework == "torch" else kw
        loader = lib.utils.data.DataLoader(datasets(framework, x, y), batch_size=4)
        losses[framework] = []
        port.train(models[framework], loader, epochs=1, losses=losses[framework])
    assert_same_losses(losses["kernelwise"], losses["torch"])  # 24 SGD steps with momentum
    assert_same_state(models["torch"], models["kernelwise"])


def test_cifar_tutorial_runs_as_written(mnist, tmp_path, capsys):
    (x, y), (xt, yt) = mnist
    port = load_port("cifar_tutorial", "kernelwise")
    kw.manual_seed(0)
    accuracy = port.main(
        datasets("kernelwise", _as_cifar(x[:2000]), y[:2000]),
        datasets("kernelwise", _as_cifar(xt[:200]), yt[:200]),
        tmp_path / "cifar_net.pth",
        epochs=1,
    )
    out = capsys.readouterr().out
    assert "Finished Training" in out and "GroundTruth:" in out and "Accuracy for class: plane" in out
    assert accuracy > 0.3  # 500 SGD steps on digits: well above chance (0.1)
