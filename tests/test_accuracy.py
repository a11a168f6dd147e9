"""The accuracy the default recipes must reach (full training runs: the slowest tests here)."""

from __future__ import annotations

import json

from kernelwise.runs import RunConfig, train_run


def test_default_command_reaches_97_percent_on_digits(tmp_path):
    metrics = train_run(RunConfig(), tmp_path / "digits", progress=False, log=lambda _: None)
    assert metrics["test_accuracy"] >= 0.97
    assert json.loads((tmp_path / "digits" / "metrics.json").read_text())["test_accuracy"] == metrics["test_accuracy"]


def test_lenet5_reaches_96_5_percent_on_the_mnist_sample_in_10_epochs(tmp_path, mnist_sample):
    config = RunConfig(dataset="mnist", model="lenet5", data_dir=str(mnist_sample), epochs=10)
    metrics = train_run(config, tmp_path / "mnist", progress=False, log=lambda _: None)
    assert metrics["config"]["optimizer"] == "sgd" and metrics["config"]["batch_size"] == 64
    assert metrics["test_accuracy"] >= 0.965
