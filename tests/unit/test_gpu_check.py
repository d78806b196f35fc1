"""benchmarks/gpu_check.py's comparison, run on the CPU: two CPU runs of one seed agree, a fault is caught,
and without CUDA the script says so in one line and exits 0."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from toy_models.train import TrainConfig

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", PATH)
gpu_check = importlib.util.module_from_spec(spec)
sys.modules["gpu_check"] = gpu_check  # dataclasses look their module up there
spec.loader.exec_module(gpu_check)

QUICK = TrainConfig(hidden=16, num_threads=1)


@pytest.mark.parametrize("kind", gpu_check.KINDS)
def test_two_cpu_runs_of_one_seed_agree_exactly(kind, one_thread):
    first = gpu_check.train_set(kind, QUICK, ("softmax", "arcface"), epochs=2)
    second = gpu_check.train_set(kind, QUICK, ("softmax", "arcface"), epochs=2)
    assert first.metrics == second.metrics and first.early == second.early  # same device and threads: bit-identical
    assert first.early != first.metrics  # the early check is another moment of training
    assert gpu_check.disagreements(first.metrics, second.metrics) == []
    assert first.steps == (2 if kind == "one-model" else 1) * 2 * 23 and first.steps_per_s > 0  # 1437 / 64 -> 23


def test_run_check_prints_agreement_and_speedup(one_thread):
    lines: list[str] = []
    problems = gpu_check.run_check(QUICK, device="cpu", losses=("cosface",), epochs=1, out=lines.append)
    assert problems == []
    assert any(line.startswith("one-model_cpu_vs_cpu: agree; largest differences after 20 steps: accuracy 0.00 "
                               "points, angles 0.00° (tolerance 0.5 points, 0.5°); at the end: accuracy 0.00 points, "
                               "angles 0.00°") for line in lines), lines
    assert any(line.startswith("all-at-once_speedup_cpu_over_cpu: ") for line in lines)


def test_a_real_fault_is_caught(one_thread):
    """Another seed stands in for a broken device: its metrics must not pass as the same run's."""
    reference_set = gpu_check.train_set("all-at-once", QUICK, ("arcface", "sphereface"), epochs=1)
    other = gpu_check.train_set("all-at-once", replace(QUICK, seed=7), ("arcface", "sphereface"), epochs=1)
    assert gpu_check.disagreements(reference_set.early, other.early, accuracy_tolerance=0.005,
                                   angle_tolerance_deg=0.5, angle_metrics=gpu_check.ANGLE_METRICS)
    reference = reference_set.metrics
    broken = {loss: {**values, "test_accuracy": values["test_accuracy"] - 0.05} for loss, values in reference.items()}
    found = gpu_check.disagreements(reference, broken)
    assert len(found) == 2 and all("test_accuracy" in line and "tolerance 0.03" in line for line in found)
    nan = {"arcface": {**reference["arcface"], "intra_deg": math.nan}, "sphereface": reference["sphereface"]}
    assert gpu_check.disagreements(reference, nan) == [f"arcface intra_deg: {reference['arcface']['intra_deg']:.4g} "
                                                       "on the reference, nan here (differs by nan, tolerance 10)"]
    assert gpu_check.disagreements(reference, {"arcface": reference["arcface"]}) == ["sphereface: trained on one "
                                                                                      "device only"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would train on it")
def test_without_cuda_it_says_so_and_exits_0(capsys):
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "no CUDA GPU here" in out and "not checked" in out


def test_bad_arguments_are_one_line(capsys):
    assert gpu_check.main(["--device", "cpu", "--dataset", "mnist", "--data-dir", "/no/such/folder"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
