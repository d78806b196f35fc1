"""The GPU machine's check, in one command that fits in 5 minutes (issue 18, item 4; see benchmarks/README.md).

    python benchmarks/device_check.py               # on a GPU machine: everything below, about 4 minutes
    python benchmarks/device_check.py --cpu-only    # anywhere: the same steps made small, the GPU's skipped

It runs, one after another, each in its own process with a time limit, and passes their output through:

1. the GPU check (gpu_check.py): both trainers on CUDA against the host's CPU, MNIST (20k training images,
   3 epochs) when the files are found, else the digits; then the one-model Trainer again with CUDA graphs;
2. one student's app speed: the Playground at the fastest pace, one server process training in-process, with
   MARGIN_LAB_DEVICE=cuda and then =cpu (classroom_load.py, N = 1);
3. the class load at N = 1, 4, 16 on one server process: training in the page's process (workers 0), then on
   the worker pool (one worker per core), the device left to auto.

and ends with a summary of the ratios the issue's goals are stated in. With --cpu-only: the GPU check compares
the CPU with itself on the digits for one epoch, the app runs on the CPU only, and the class is N = 1, 2 with short
windows: a smoke run of the same machinery on a small machine.

Streamlit, plotly, SQLAlchemy or websockets missing: the app steps are skipped with one sentence saying how to
carry them as wheels (benchmarks/README.md). Exit status: 1 when the GPU check found a disagreement or a step
failed, else 0. Nothing here is a test: no speed can fail.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
MNIST_PLACES = (REPO / "shared" / "data" / "mnist", REPO.parent / "shared" / "data" / "mnist")
APP_PACKAGES = ("streamlit", "plotly", "sqlalchemy", "websockets")
# Streamlit imported from outside site-packages (a --target folder on PYTHONPATH) believes it is a development
# install and refuses --server.port unless told otherwise; harmless for an ordinary install.
SERVER_FLAGS = ("--server-flag", "global.developmentMode=false")
SPEEDUP_RE = re.compile(r"^(\S+_speedup_\S+): ([\d.]+)")
ROW_RE = re.compile(r"N=\s*(\d+)\s+epochs/s each: median\s+([\d.]+)")


def mnist_dir() -> Path | None:
    """The first folder of MNIST_PLACES holding the training images (gz or not)."""
    for place in MNIST_PLACES:
        if any(place.glob("train-images-idx3-ubyte*")):
            return place
    return None


def missing_packages() -> list[str]:
    return [name for name in APP_PACKAGES if importlib.util.find_spec(name) is None]


def run_step(title: str, args: Sequence[str], *, env: dict[str, str] | None = None, timeout_s: float) -> list[str]:
    """Run one step (a Python script of benchmarks/) in its own process, print its output as it comes, and return
    its lines; a last line "STEP FAILED: ..." says why when it failed or ran past timeout_s (then it is killed)."""
    print(f"\n== {title}", flush=True)
    lines: list[str] = []
    start = time.perf_counter()
    with subprocess.Popen([sys.executable, *args], cwd=REPO, env={**os.environ, **(env or {})},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        timer = threading.Timer(timeout_s, proc.kill)  # the step's own limit, even when it prints nothing
        timer.start()
        try:
            for line in proc.stdout:
                print("   " + line.rstrip(), flush=True)
                lines.append(line.rstrip())
            proc.wait()
        finally:
            timer.cancel()
    took = time.perf_counter() - start
    if proc.returncode != 0:
        why = f"ran past {timeout_s:.0f} s and was stopped" if took >= timeout_s else f"exited with {proc.returncode}"
        lines.append(f"STEP FAILED: {title} {why}")
        print("   " + lines[-1], flush=True)
    print(f"   ({took:.0f} s)", flush=True)
    return lines


def per_student(lines: Sequence[str]) -> dict[int, float]:
    """{N: median epochs/s of a playing student} from classroom_load.py's rows."""
    found = {}
    for line in lines:
        match = ROW_RE.search(line)
        if match:
            found[int(match.group(1))] = float(match.group(2))
    return found


def speedups(lines: Sequence[str]) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in map(SPEEDUP_RE.match, lines) if m}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-only", action="store_true", help="skip the GPU's parts and make everything small")
    parser.add_argument("--window", type=float, help="seconds measured per class size (default 10; --cpu-only 5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="the worker pool's size (default: one per core, %(default)s here)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import torch  # after the argument check: --help need not wait for it

    gpu = torch.cuda.is_available() and not args.cpu_only
    name = torch.cuda.get_device_name() if gpu else "no GPU used"
    print(f"device_check: torch {torch.__version__}, {name}, {os.cpu_count()} cores"
          f"{' (--cpu-only)' if args.cpu_only else ''}", flush=True)
    if not gpu and not args.cpu_only:
        print("device_check: torch sees no CUDA GPU here: run with --cpu-only, or on the GPU machine.")
        return 2
    window = args.window or (5.0 if args.cpu_only else 10.0)
    timing = ["--window", str(window), "--warmup", "3" if args.cpu_only else "4"]
    failed: list[str] = []
    results: dict[str, object] = {}

    # 1. The GPU check.
    data = mnist_dir()
    if args.cpu_only:
        check = ["--device", "cpu", "--dataset", "digits", "--epochs", "1"]
    elif data is not None:
        check = ["--dataset", "mnist", "--data-dir", str(data), "--max-train", "20000", "--epochs", "3"]
    else:
        print(f"device_check: no MNIST in {' or '.join(map(str, MNIST_PLACES))}: the GPU check uses the digits")
        check = ["--dataset", "digits", "--epochs", "10"]
    lines = run_step("GPU check: both trainers, against the CPU", [str(BENCH / "gpu_check.py"), *check],
                     timeout_s=150)
    results["gpu_check"] = speedups(lines)
    failed += [line for line in lines if line.startswith("STEP FAILED") or "disagree beyond" in line]
    if gpu:
        lines = run_step("GPU check: the one-model Trainer with CUDA graphs",
                         [str(BENCH / "gpu_check.py"), *check, "--graphs"], timeout_s=120)
        results["gpu_check_graphs"] = speedups(lines)
        failed += [line for line in lines if line.startswith("STEP FAILED")]

    # 2 and 3. The app.
    missing = missing_packages()
    if missing:
        print(f"\ndevice_check: {', '.join(missing)} cannot be imported, so the app's steps are skipped: carry them "
              "as wheels and install them as benchmarks/README.md says (\"Carrying the app to a bare machine\").")
    else:
        load = [str(BENCH / "classroom_load.py"), "--topologies", "1", *SERVER_FLAGS, *timing]
        solo: dict[str, float] = {}
        for device in (("cuda", "cpu") if gpu else ("cpu",)):
            lines = run_step(f"one student, the app training on {device}", [*load, "--ns", "1", "--workers", "0"],
                             env={"MARGIN_LAB_DEVICE": device}, timeout_s=90)
            solo[device] = per_student(lines).get(1, float("nan"))
            failed += [line for line in lines if line.startswith("STEP FAILED")]
        results["solo"] = solo
        ns = "1,2" if args.cpu_only else "1,4,16"
        pool = 2 if args.cpu_only else args.workers
        classes: dict[str, dict[int, float]] = {}
        for label, workers in (("one process", 0), (f"worker pool of {pool}", pool)):
            lines = run_step(f"the class on {label}, device auto", [*load, "--ns", ns, "--workers", str(workers)],
                             timeout_s=150)
            classes[label] = per_student(lines)
            failed += [line for line in lines if line.startswith("STEP FAILED")]
        results["classes"] = classes

    summary(results, gpu)
    took = time.perf_counter() - started
    print(f"device_check_total_s: {took:.0f}{' (over the 5-minute budget)' if took > 300 else ''}")
    for line in failed:
        print(f"device_check: {line}", file=sys.stderr)
    return 1 if failed else 0


def summary(results: dict[str, object], gpu: bool) -> None:
    """The lines the issue's goals are stated in."""
    print("\n== summary")
    for key in ("gpu_check", "gpu_check_graphs"):
        for name, value in results.get(key, {}).items():
            print(f"{name}{'_graphs' if key.endswith('graphs') else ''}: {value:.2f}")
    solo = results.get("solo", {})
    for device, value in solo.items():
        print(f"app_one_student_epochs_per_s_{device}: {value:.1f}")
    if gpu and solo.get("cpu"):
        print(f"app_one_student_gpu_over_cpu: {solo['cuda'] / solo['cpu']:.2f} (goal >= 2)")
    for label, rows in results.get("classes", {}).items():
        alone = rows.get(1)
        for n, value in sorted(rows.items()):
            share = f", {value / alone:.2f}x of one alone" if alone else ""
            print(f"class_{label.replace(' ', '_')}_N{n}_epochs_per_s_each: {value:.1f}{share}")


if __name__ == "__main__":
    sys.exit(main())
