"""benchmarks/device_check.py's parts that run anywhere: reading the steps' lines, and a step that fails or hangs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "device_check.py"
spec = importlib.util.spec_from_file_location("device_check", PATH)
device_check = importlib.util.module_from_spec(spec)
sys.modules["device_check"] = device_check
spec.loader.exec_module(device_check)


def test_the_class_rows_and_speedups_are_read_from_the_steps_output():
    lines = [
        "classroom_load: 16 cores, window 10 s after 4 s warm-up, N = [1, 4], workers 0, pace max",
        "1 process              N= 1  epochs/s each: median  26.9 (range  26.9- 26.9)  total   26.9  slider->ack",
        "1 process              N= 4  epochs/s each: median   7.25 (range   5.0-  9.1)  total   29.0  slider->ack",
        "one-model_speedup_cuda_over_cpu: 0.45 (379 vs 838 steps/s)",
        "all-at-once_speedup_cuda_over_cpu: 0.81 (549 vs 682 steps/s)",
    ]
    assert device_check.per_student(lines) == {1: 26.9, 4: 7.25}
    assert device_check.speedups(lines) == {"one-model_speedup_cuda_over_cpu": 0.45,
                                            "all-at-once_speedup_cuda_over_cpu": 0.81}


def test_a_step_that_fails_or_hangs_says_so_in_its_last_line(tmp_path, capsys):
    failing = tmp_path / "fails.py"
    failing.write_text("print('half done')\nraise SystemExit(3)\n")
    lines = device_check.run_step("a failing step", [str(failing)], timeout_s=30)
    assert lines == ["half done", "STEP FAILED: a failing step exited with 3"]
    hanging = tmp_path / "hangs.py"
    hanging.write_text("import time\ntime.sleep(60)\n")
    lines = device_check.run_step("a hanging step", [str(hanging)], timeout_s=1)
    assert lines == ["STEP FAILED: a hanging step ran past 1 s and was stopped"]


def test_the_summary_names_the_goals_ratios(capsys):
    device_check.summary({"gpu_check": {"one-model_speedup_cuda_over_cpu": 3.5},
                          "gpu_check_graphs": {"one-model_speedup_cuda_over_cpu": 6.0},
                          "solo": {"cuda": 60.0, "cpu": 25.0},
                          "classes": {"one process": {1: 20.0, 16: 5.0}}}, gpu=True)
    out = capsys.readouterr().out
    assert "one-model_speedup_cuda_over_cpu: 3.50\n" in out
    assert "one-model_speedup_cuda_over_cpu_graphs: 6.00\n" in out
    assert "app_one_student_gpu_over_cpu: 2.40 (goal >= 2)" in out
    assert "class_one_process_N16_epochs_per_s_each: 5.0, 0.25x of one alone" in out
