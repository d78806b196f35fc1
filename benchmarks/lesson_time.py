"""CPU seconds each shipped lesson's worked solution needs to pass all its checks, on the default data.

    python benchmarks/lesson_time.py                  # every lesson in lessons/
    python benchmarks/lesson_time.py --lesson arcface # one lesson (its id)
    python benchmarks/lesson_time.py --folder DIR     # another folder of lessons

Runs `app.lessons.headless.run_lesson` (the solution's steps, every check evaluated at each epoch end,
stopping once all passed) with one torch thread, as the app trains, and prints one row per lesson: the CPU
seconds of this process (time.process_time) the run took, the epochs it trained, whether every check passed,
and whether the goal is met: at most 60 s (issue 9), so that a student on a 2-core laptop finishes a lesson
in minutes. Before the table, one warm-up (the digits data loaded, one epoch trained) pays the process's
one-off costs (imports, first torch calls), so the first row is not charged for them; the verification cache
is emptied before each lesson, so each pays for its own open-set runs. Exit status 0 (a report, not a test:
tests/unit/test_lessons_shipped.py asserts the passes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_S = 60.0


def warm_up() -> None:
    """Load the digits data and train one epoch, outside the timed runs."""
    from app.lessons.headless import _dataset
    from toy_models.train import TrainConfig, Trainer

    Trainer(TrainConfig(num_threads=1), dataset=_dataset("digits")).advance(epochs=1)


def main(argv: list[str] | None = None) -> int:
    import torch

    from app.lessons import checks as checks_module
    from app.lessons.format import LESSONS_DIR, load_lessons
    from app.lessons.headless import run_lesson

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", help="run only the lesson with this id")
    parser.add_argument("--folder", default=str(LESSONS_DIR), help="the folder of lesson files")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    warm_up()
    lessons = load_lessons(args.folder)
    if args.lesson:
        lessons = [lesson for lesson in lessons if lesson.id == args.lesson]
        if not lessons:
            print(f"No lesson has the id {args.lesson!r} in {args.folder}.")
            return 0
    if not lessons:
        print(f"No lessons in {args.folder}.")
        return 0
    print(f"{'#':>2}  {'lesson':<24} {'unit':<8} {'epochs':>6} {'CPU s':>7} {'goal':>6}  {'checks':<12} met")
    for lesson in lessons:
        checks_module._verification_cache.clear()
        run = run_lesson(lesson)
        passed = sum(r.status == "passed" for r in run.results.values())
        checks = f"{passed}/{len(lesson.checks)} passed"
        met = "yes" if run.cpu_seconds <= GOAL_S and run.all_passed else "NO"
        print(f"{lesson.number:>2}  {lesson.id:<24} {lesson.unit:<8} {run.epochs:>6} {run.cpu_seconds:>7.1f} "
              f"{'≤ 60':>6}  {checks:<12} {met}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
