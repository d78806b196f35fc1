"""A student's progress through the lessons, kept in the session: answers, check results, passing runs.

    progress = progress_of("arcface")        # LessonProgress, created on first use
    progress.answer("wedge", 1); progress.passed("spread-3d", result, record)
    progress.status(lesson)                  # "not started" | "in progress" | "checks passed"

A check that passed stays passed, with the record of the run that passed it (its starting values,
its hot changes, its step, epoch and metrics: enough to replay it), whatever the student does next.
The courses issue stores this and turns it into a report; here it lives in st.session_state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app.lessons.run_record import run_record as record_of

NOT_STARTED, IN_PROGRESS, CHECKS_PASSED = "not started", "in progress", "checks passed"
MARKS = {NOT_STARTED: ":material/radio_button_unchecked:", IN_PROGRESS: ":material/timelapse:",
         CHECKS_PASSED: ":material/check_circle:"}  # fmt: skip
SESSION_KEY = "lesson-progress"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class LessonProgress:
    """What one student did in one lesson (this session)."""

    lesson_id: str
    opened_at: str = ""
    answers: dict[str, Any] = field(default_factory=dict)  # question id -> the answer given
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # check id -> {status, reason, run, at}

    def open(self) -> None:
        self.opened_at = self.opened_at or now()

    def answer(self, question_id: str, given: Any) -> None:
        """The first answer counts (predict, then reveal: changing it after the reveal would be no prediction)."""
        self.answers.setdefault(question_id, given)

    def passed(self, check_id: str, reason: str, record: dict[str, Any]) -> None:
        if not self.has_passed(check_id):
            self.checks[check_id] = {"status": "passed", "reason": reason, "run": record, "at": now()}

    def has_passed(self, check_id: str) -> bool:
        return self.checks.get(check_id, {}).get("status") == "passed"

    def status(self, lesson: Any) -> str:
        if lesson.checks and all(self.has_passed(c.id) for c in lesson.checks):
            return CHECKS_PASSED
        return IN_PROGRESS if (self.opened_at or self.answers or self.checks) else NOT_STARTED

    def to_dict(self) -> dict[str, Any]:
        return {"lesson_id": self.lesson_id, "opened_at": self.opened_at, "answers": dict(self.answers),
                "checks": {k: dict(v) for k, v in self.checks.items()}}  # fmt: skip


def all_progress() -> dict[str, LessonProgress]:
    return st.session_state.setdefault(SESSION_KEY, {})


def progress_of(lesson_id: str) -> LessonProgress:
    store = all_progress()
    if lesson_id not in store:
        store[lesson_id] = LessonProgress(lesson_id)
    return store[lesson_id]


def run_record(run: Any, metrics: dict[str, float], *, unit: str = "live") -> dict[str, Any]:
    """A run as a replayable record (the submission format's RUN, `app.lessons.run_record`): the values it was
    built from, the hot changes applied since (step, setting), where it stands, and the metrics the check saw.
    `run` is a live unit's LiveRun or a compare member's MemberRun; call it with the run's lock held."""
    return record_of(run.trainer, metrics, unit=unit)
