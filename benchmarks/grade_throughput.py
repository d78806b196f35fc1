"""How many submitted runs the grader replays per second with joblib on all cores, against one process.

    python benchmarks/grade_throughput.py            # 9 rounds of 6 replays each way, about 2 minutes
    python benchmarks/grade_throughput.py --quick    # 3 rounds

Prints `grade_replays_per_s_parallel_vs_one_process`: replays per second of app.course.grade.run_replays
with joblib's process pool on every core (n_jobs=-1, the CLI's default), divided by replays per second of the
same jobs run one after another in this process (n_jobs=1). Each replay is what grading a lesson check costs:
the live run rebuilt from its share-link settings and one hot change (ArcFace on digits in 3-D, 5 epochs,
each job its own seed so none is shared), then app.lessons.checks.run_metrics. The pool is started (and this
process warmed up) before timing (the CLI pays that once per grading run: a few seconds to import torch in
each worker). The two sides alternate, A B B A, and the median of the per-round ratios is printed. Wall
time (the work happens in other processes), so a busy neighbour on a shared machine lowers it: the load
average is printed with it.
Goal (issue 10): >= 1.6 on 2 cores. A second line compares the CPU seconds each replay costs in the pool
(workers included, read with psutil) with one process: it tells the pool's overhead apart from neighbours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EPOCHS = 5
STEPS_PER_EPOCH = 23  # digits: 1,437 training images in batches of 64


def jobs(count: int, offset: int) -> dict:
    """`count` distinct runs (seeds offset.. offset+count-1), keyed as run_replays expects."""
    from app import state

    out = {}
    for seed in range(offset, offset + count):
        values = state.validate({"loss": "arcface", "m": "0.2", "dim": "3", "seed": str(seed)}).values
        run = {"unit": "live", "initial": state.to_query(values), "hyper_log": [[30, {"m": "0.4"}]],
               "step": EPOCHS * STEPS_PER_EPOCH, "epoch": EPOCHS, "metrics": {}}
        out[f"seed-{seed}"] = (run, {"epoch", "inter_deg", "test_accuracy"})
    return out


def _cpu_s() -> float:
    """CPU seconds of this process and every child it has now (the joblib workers)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:  # a worker that just ended
            pass
    return total


def replays_per_s(count: int, offset: int, n_jobs: int) -> tuple[float, float]:
    """(replays per wall second, CPU seconds per replay, all processes together)."""
    from app.course.grade import run_replays

    batch = jobs(count, offset)
    cpu, start = _cpu_s(), time.perf_counter()
    results = run_replays(batch, n_jobs=n_jobs)
    elapsed, cpu = time.perf_counter() - start, _cpu_s() - cpu
    assert all("metrics" in r for r in results.values()), results
    return len(batch) / elapsed, cpu / len(batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    args = parser.parse_args()
    rounds, count = (3, 6) if args.quick else (9, 6)
    cores = os.cpu_count()
    print(f"cores: {cores}; {count} replays per side per round, {rounds} round(s); ArcFace, digits, "
          f"{EPOCHS} epochs each", flush=True)
    replays_per_s(cores or 2, 10_000, -1)  # start the worker pool (imports torch in each worker) before timing
    replays_per_s(1, 20_000, 1)  # and this process's imports and first-use costs
    ratios, cpu_ratios = [], []
    for r in range(rounds):
        if r % 2 == 0:
            one, one_cpu = replays_per_s(count, 100 * r, 1)
            many, many_cpu = replays_per_s(count, 100 * r + 50, -1)
        else:
            many, many_cpu = replays_per_s(count, 100 * r + 50, -1)
            one, one_cpu = replays_per_s(count, 100 * r, 1)
        ratios.append(many / one)
        cpu_ratios.append(many_cpu / one_cpu)
        print(f"round {r + 1}: one process {one:.2f} replays/s ({one_cpu:.3f} CPU s each), joblib on {cores} cores "
              f"{many:.2f} replays/s ({many_cpu:.3f} CPU s each), ratio {many / one:.2f}", flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"grade_replays_per_s_parallel_vs_one_process {statistics.median(ratios):.2f}   (goal >= 1.6 on 2 cores; "
          f"load average {load})")
    print(f"grade_cpu_per_replay_pool_vs_one_process {statistics.median(cpu_ratios):.2f}   (information: the pool's "
          f"own cost per replay; near 1 means on {cores} idle cores the speed-up would approach {cores})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
