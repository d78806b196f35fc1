"""A student's progress through the lessons, kept in the session: answers, check results, passing runs.

    progress = progress_of("arcface")        # LessonProgress, created on first use
    progress.answer("wedge", 1); progress.passed("spread-3d", result, record)
    progress.status(lesson)                  # "not started" | "in progress" | "checks passed"

A check that passed stays passed, with the record of the run that passed it (its starting values,
its hot changes, its step, epoch and metrics: enough to replay it), whatever the student does next.

Kept across reloads and tabs: the session holds it, and the class database (app.course.store's progress
table) keeps a copy per owner, the browser (its cookie) and, once the student said who they are or logged
in, the student too. `restore(store)` fills a new session from there (and remembers who the student said
they are, so a browser is asked once); `save(store, lesson_id)` writes a lesson's progress when it changed.
Without a database the progress lives in the tab only (the page says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app import hosted
from app.course.serving import STUDENT_KEY
from app.course.store import StoreError
from app.live import slots

NOT_STARTED, IN_PROGRESS, CHECKS_PASSED = "not started", "in progress", "checks passed"
MARKS = {NOT_STARTED: ":material/radio_button_unchecked:", IN_PROGRESS: ":material/timelapse:",
         CHECKS_PASSED: ":material/check_circle:"}  # fmt: skip
SESSION_KEY = "lesson-progress"
RESTORED_KEY = "lesson-progress-restored"  # the owners whose saved progress this session has read
SAVED_KEY = "lesson-progress-saved"  # lesson id -> digest of what was last saved
WHO = "__who__"  # the progress row that remembers who a browser's student said they are


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LessonProgress:
        """Progress read back from the database (anything malformed is dropped, never trusted as passed)."""
        answers = data.get("answers") if isinstance(data.get("answers"), dict) else {}
        found = data.get("checks") if isinstance(data.get("checks"), dict) else {}
        checks = {k: v for k, v in found.items()
                  if isinstance(v, dict) and v.get("status") == "passed" and isinstance(v.get("run"), dict)}
        return cls(str(data.get("lesson_id", "")), str(data.get("opened_at") or ""), dict(answers), checks)


def all_progress() -> dict[str, LessonProgress]:
    return st.session_state.setdefault(SESSION_KEY, {})


def progress_of(lesson_id: str) -> LessonProgress:
    store = all_progress()
    if lesson_id not in store:
        store[lesson_id] = LessonProgress(lesson_id)
    return store[lesson_id]


def _owners() -> list[str]:
    """Who the progress belongs to: this browser, and the student once they said who they are."""
    try:
        cookies = dict(st.context.cookies)
    except Exception:  # no browser behind the session (AppTest)
        cookies = {}
    owners = [hosted.browser_identity(cookies, fallback=slots.session_id())]
    who = st.session_state.get(STUDENT_KEY)
    if who:
        owners.append(f"student-{who['identity']}-{who['id']}")
    return owners


def _merge(kept: LessonProgress, found: LessonProgress) -> None:
    """Saved progress into the session's: the first answer still counts, and a passed check stays passed."""
    kept.opened_at = min(filter(None, (kept.opened_at, found.opened_at)), default="")
    for question, given in found.answers.items():
        kept.answers.setdefault(question, given)
    for check, result in found.checks.items():
        kept.checks.setdefault(check, result)


def restore(store: Any) -> None:
    """Read the saved progress of every owner not read yet in this session into it (and who the student is)."""
    if store is None:
        return
    done = st.session_state.setdefault(RESTORED_KEY, set())
    for owner in _owners():
        if owner in done:
            continue
        try:
            saved = store.load_progress(owner)
        except StoreError:
            return  # read again on the next page: the database may be back
        done.add(owner)
        who = saved.pop(WHO, None)
        if who and STUDENT_KEY not in st.session_state and {"id", "name", "identity"} <= set(who):
            if who["identity"] != "login":  # a login is the login's to say
                st.session_state[STUDENT_KEY] = {k: str(who[k]) for k in ("id", "name", "identity")}
        for lesson_id, data in saved.items():
            _merge(progress_of(lesson_id), LessonProgress.from_dict(data))
    if len(done) < len(_owners()):
        restore(store)  # the student became known from the browser's row: read theirs too


def save(store: Any, lesson_id: str) -> str:
    """Keep a lesson's progress for every owner when it changed since the last save; "" or one sentence why it
    could not be kept."""
    if store is None:
        return "Your progress is kept in this tab only: the class database cannot be reached."
    restore(store)  # an owner who just became known (the student said who they are) is read before it is written
    data = progress_of(lesson_id).to_dict()
    who = st.session_state.get(STUDENT_KEY)
    digest = hashlib.sha256(json.dumps([data, who, _owners()], sort_keys=True, default=str).encode()).hexdigest()
    saved = st.session_state.setdefault(SAVED_KEY, {})
    if saved.get(lesson_id) == digest:
        return ""
    try:
        for owner in _owners():
            store.save_progress(owner, lesson_id, data)
        if who:
            store.save_progress(_owners()[0], WHO, dict(who))
    except StoreError as error:
        return f"Your progress is kept in this tab only: {error.public}"
    saved[lesson_id] = digest
    return ""
