"""Shared pieces of the course tests: fixture lessons, a course file, and submissions made the way the lesson
page makes them (a live Trainer with hot changes, run_metrics, evaluate, run_record)."""

from __future__ import annotations

import copy
from pathlib import Path

from app import state
from app.course import record as record_module
from app.course.course import load_course
from app.lessons.checks import check_metric_names, evaluate, run_metrics
from app.lessons.format import load_lessons
from app.lessons.run_record import run_record
from app.lessons.window import trainer_window
from toy_models.train import TrainConfig, Trainer

FIXTURES = Path(__file__).parent / "course_fixtures"

COURSE_TEXT = """\
[course]
id = "test-course"
title = "Course tests"
version = 3

[[lessons]]
id = "alpha"
due = 2026-12-15
locked = ["margin"]
preset = { seed = 2 }
questions = { wedge = 1, spacing = 2 }
checks = { learns = 3, spread = 1 }

[[lessons]]
id = "beta"

[[lessons]]
id = "gamma"
preset = { seed = 4 }
checks = { arcface-margin = 2 }
"""


def fixture_lessons():
    return load_lessons(FIXTURES)


def write_course(folder: Path, text: str = COURSE_TEXT, name: str = "course.toml") -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


def course_at(folder: Path, text: str = COURSE_TEXT):
    return load_course(write_course(folder, text), lessons=fixture_lessons())


def live_record(course, lesson_id: str = "alpha", *, student_id: str = "s1", name: str = "Ada Lovelace",
                epochs: int = 2, answers: dict | None = None, submitted_at: str = "2026-12-10T10:00:00+00:00",
                dataset=None) -> dict:
    """A submission as the lesson page makes it: the preset's model, trained with a hot change mid-run, every
    check of the lesson evaluated on the run as it is at the end, and the answers."""
    entry = course.lesson(lesson_id)
    values = state.validate(entry.preset_values).values
    trainer = Trainer(TrainConfig(**state.config_fields(values), num_threads=1), dataset=dataset)
    trainer.advance(steps=9)
    changed = {**values, "lr": 0.02}
    trainer.request_hyper(**state.hot_values(changed))
    trainer.advance(epochs=epochs)
    checks = {}
    for check in entry.lesson.checks:
        metrics = run_metrics(trainer, needs=check_metric_names(check))
        run = run_record(trainer, metrics)
        verdict = evaluate(check, changed, metrics, trainer_window(check, trainer, run))  # as the page judges it
        checks[check.id] = {"status": verdict.status, "reason": verdict.reason, "run": run}
    return record_module.new_record(
        course=course.ref(), student_id=student_id, student_name=name, identity="typed", lesson_id=entry.id,
        lesson_version=entry.version, answers={"wedge": 1, "spacing": 36.0} if answers is None else answers,
        checks=checks, started_at="2026-12-10T09:30:00+00:00", submitted_at=submitted_at)


def copy_of(record: dict) -> dict:
    return copy.deepcopy(record)


# A minimal valid record around one check's run (None: a check without a run), and a compare run for it.
def record_with(run: dict | None, **extra) -> dict:
    return {"format": "margin-lab-submission", "format_version": 1, "app_version": "t", "course": None,
            "student": {"id": "s1", "name": "A", "identity": "typed"}, "lesson": {"id": "gamma", "version": 1},
            "answers": {}, "checks": {"c": {"status": "passed", "reason": "", "run": run}},
            "started_at": "2026-12-10T09:30:00+00:00", "submitted_at": "2026-12-10T10:00:00+00:00", **extra}


COMPARE_RUN = {"unit": "compare", "member": "arcface",
               "members": {"softmax": {"initial": {"loss": "softmax"}, "hyper_log": []},
                           "arcface": {"initial": {"loss": "arcface"}, "hyper_log": [[3, {"m": "0.2"}]]}},
               "step": 10, "epoch": 0, "metrics": {"test_accuracy": 0.5}}
