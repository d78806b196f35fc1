"""How long a Submit takes to be saved when 8 students press it at the same moment, SQLite and PostgreSQL.

    python benchmarks/submit_latency.py            # 25 rounds of 8 simultaneous submissions per database
    python benchmarks/submit_latency.py --quick    # 5 rounds

For each database: 8 threads (the Streamlit script threads of 8 sessions in one server process) wait at a
barrier, then each calls Store.submit with a realistic record (a lesson with two checks and their runs, about
3 kB of JSON); the latency is from the call until its Receipt (the row committed), which is what the student
waits for beyond the page's own rerun. Half the rounds have all 8 submitting for the same student and lesson
(the attempt-number race), half for 8 different students. Prints the median, 95th percentile and worst
latency in ms, and `writes_saved` = rows in the database / submissions made (must be 1.000: no write lost).
PostgreSQL is a throwaway server started from Debian's binaries (tests/unit/_course_postgres.py); skipped
with a line saying so when they are not installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

THREADS = 8


def record(student_id: str, answer: int) -> dict:
    run = {"unit": "live",
           "initial": {"loss": "arcface", "m": "0.2", "s": "16", "grad": "detached", "lr": "0.01", "dim": "3",
                       "dataset": "digits", "backbone": "mlp", "batch": "64", "seed": "2"},
           "hyper_log": [[9 * i, {"lr": "0.02" if i % 2 else "0.01", "m": f"0.{i % 5 + 1}"}] for i in range(1, 20)],
           "step": 400, "epoch": 17,
           "metrics": {"epoch": 17.0, "test_accuracy": 0.9416, "train_accuracy": 0.9512, "loss": 1.234,
                       "w_ec_deg": 12.3, "w_inter_deg": 61.2, "intra_deg": 8.4, "inter_deg": 55.3,
                       "min_center_angle_deg": 40.1, "stuck_classes": 0.0, "norm_ratio": 1.25}}
    return {
        "format": "margin-lab-submission", "format_version": 1, "app_version": "0.1.0",
        "course": {"id": "margin-lab", "version": 1, "hash": "ab" * 32},
        "student": {"id": student_id, "name": f"Student {student_id}", "identity": "typed"},
        "lesson": {"id": "arcface", "version": 1},
        "answers": {"wedge": answer, "largest-m": 36.0},
        "checks": {"spread-3d": {"status": "passed", "reason": "Inter is 55.3° at epoch 17.", "run": run},
                   "tight": {"status": "not_yet", "reason": "Intra is 8.4° at epoch 17.", "run": run}},
        "started_at": "2026-12-10T09:30:00+00:00", "submitted_at": "2026-12-10T10:00:00+00:00",
    }


def measure(url: str, rounds: int) -> tuple[list[float], int, int]:
    from app.course.store import Store

    store = Store(url)
    latencies: list[float] = []
    errors: list[str] = []
    made = 0
    for r in range(rounds):
        barrier = threading.Barrier(THREADS)
        same = r % 2 == 0

        def submit(i: int, r: int = r, same: bool = same, barrier: threading.Barrier = barrier) -> None:
            rec = record(f"r{r}" if same else f"r{r}-s{i}", i)
            barrier.wait()
            start = time.perf_counter()
            try:
                store.submit(rec)
            except Exception as err:  # counted as a lost write below
                errors.append(repr(err))
                return
            latencies.append(time.perf_counter() - start)

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        made += THREADS
    saved = store.count()
    store.close()
    if errors:
        print(f"  errors: {errors[:3]}")
    return latencies, saved, made


def report(name: str, latencies: list[float], saved: int, made: int) -> None:
    ms = sorted(1000 * x for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] if ms else float("nan")
    print(f"submit_latency_{name}_ms median {statistics.median(ms):.1f}  p95 {p95:.1f}  max {ms[-1]:.1f}   "
          f"({THREADS} at once, {made} submissions)")
    print(f"submit_writes_saved_{name} {saved / made:.3f}   ({saved} of {made}; goal 1.000: no write lost)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 25")
    args = parser.parse_args()
    rounds = 5 if args.quick else 25
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", *measure(f"sqlite:///{folder}/submissions.db", rounds))
    from _course_postgres import pg_ctl_path, running_postgres

    if pg_ctl_path() is None:
        print("submit_latency_postgresql: skipped (PostgreSQL binaries not installed: apt-get install postgresql)")
        return 0
    with running_postgres() as url:
        report("postgresql", *measure(url, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
