"""What the instructor page makes, without Streamlit: course files from choices, lesson links, gradebook CSV.

    text, course = build_course("week-3", "Margins", 1, [LessonChoice("arcface", due=date(2026, 12, 15),
                                questions={"q1": 2}, checks={"reach-99": 3})], lessons)   # CourseError
    lesson_link("arcface", course_id="week-3", lock=["lr"], hide=["embedding_dim"])
        -> "/lessons?lesson=arcface&course=week-3&lock=lr&hide=dim"
    link_controls(st.query_params.to_dict(), locked=lesson.locked, hidden=lesson.hidden)
        -> LinkControls(locked, hidden, notices)     # the lesson page's reading of ?lock= and ?hide=
    lesson, notices = lesson_for_link(lesson, st.query_params.to_dict(), course_lesson)   # the same, applied
    link_query(st.query_params.to_dict(), lesson.id) -> {"lesson", "course", "lock", "hide"} to keep in the bar
    gradebook_csv(rows, lessons) -> str              # Store.gradebook rows as CSV (formula-safe cells)

A lesson link can only add locked and hidden controls to what the lesson (and its course) already locks and
hides, never take one away: a student who edits the address can make a lesson harder to change, not easier.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from app import state
from app.course.course import Course, course_toml, parse_course
from app.course.exports import safe_cell

LOCK_KEY = "lock"  # ?lock=lr,seed: controls the link locks, besides the lesson's own
HIDE_KEY = "hide"  # ?hide=dim: controls the link hides, besides the lesson's own
LESSONS_PATH = "/lessons"
MAX_NAMES = 32  # names in one ?lock= or ?hide= (there are fewer controls than this)


@dataclass(frozen=True)
class LessonChoice:
    """One assigned lesson as the instructor chose it. questions / checks: id -> points of the ones that count
    (a lesson's task left out counts nothing: it is written with 0 points, since an absent table means "all")."""

    id: str
    due: date | None = None
    questions: Mapping[str, float] = field(default_factory=dict)
    checks: Mapping[str, float] = field(default_factory=dict)
    locked: Collection[str] = ()
    hidden: Collection[str] = ()


def _points(chosen: Mapping[str, float], every: Sequence[str]) -> dict[str, float | int]:
    def tidy(value: float) -> float | int:
        return int(value) if float(value).is_integer() else float(value)

    return {task: tidy(chosen.get(task, 0)) for task in every}


def course_entries(choices: Iterable[LessonChoice], lessons: Iterable[Any]) -> list[dict[str, Any]]:
    """The [[lessons]] tables for course_toml, in the chosen order (unknown lesson ids are passed through:
    parse_course names them)."""
    by_id = {lesson.id: lesson for lesson in lessons}
    entries = []
    for choice in choices:
        entry: dict[str, Any] = {"id": choice.id}
        if choice.due is not None:
            entry["due"] = choice.due
        lesson = by_id.get(choice.id)
        if lesson is not None:
            entry["questions"] = _points(choice.questions, [q.id for q in lesson.questions])
            entry["checks"] = _points(choice.checks, [c.id for c in lesson.checks])
        extra_locked = sorted(set(choice.locked) - set(getattr(lesson, "locked", ())))
        extra_hidden = sorted(set(choice.hidden) - set(getattr(lesson, "hidden", ())))
        if extra_locked:
            entry["locked"] = extra_locked
        if extra_hidden:
            entry["hidden"] = extra_hidden
        entries.append(entry)
    return entries


def build_course(course_id: str, title: str, version: int, choices: Iterable[LessonChoice],
                 lessons: Sequence[Any]) -> tuple[str, Course]:
    """The course file's text and the Course it parses to; CourseError (one sentence) when it would not load."""
    text = course_toml(course_id, title, version, course_entries(choices, lessons))
    return text, parse_course(text.encode("utf-8"), lessons, name="the course file")


def lesson_link(lesson_id: str, *, course_id: str | None = None, lock: Iterable[str] = (),
                hide: Iterable[str] = (), base: str = LESSONS_PATH) -> str:
    """The address of a lesson with a course and extra locked / hidden controls (names sorted, comma-joined)."""
    query = {"lesson": lesson_id}
    if course_id:
        query["course"] = course_id
    for key, names in ((LOCK_KEY, lock), (HIDE_KEY, hide)):
        names = sorted(set(names))
        if names:
            query[key] = ",".join(names)
    return f"{base.rstrip('/') if base != '/' else ''}?{urlencode(query, safe=',')}"


@dataclass(frozen=True)
class LinkControls:
    locked: frozenset
    hidden: frozenset
    notices: tuple[str, ...]


def _names(raw: Any) -> list[str]:
    values = raw if isinstance(raw, (list, tuple)) else [raw]
    return [name.strip() for value in values for name in str(value).split(",") if name.strip()]


def link_controls(query: Mapping[str, Any], *, locked: Collection[str] = (),
                  hidden: Collection[str] = ()) -> LinkControls:
    """The controls to lock and hide: `locked` / `hidden` (the lesson's and its course's) plus the link's
    ?lock= and ?hide= names. A name that is not a control is ignored with one sentence; nothing is unlocked."""
    known = state.control_names()
    found: dict[str, set[str]] = {LOCK_KEY: set(locked), HIDE_KEY: set(hidden)}
    notices = []
    for key, verb in ((LOCK_KEY, "lock"), (HIDE_KEY, "hide")):
        if key not in query:
            continue
        names = _names(query[key])
        if len(names) > MAX_NAMES:
            notices.append(f"The link's {key}= lists {len(names)} names, more than the {MAX_NAMES} allowed; "
                           "it is ignored.")
            continue
        unknown = [name for name in names if state.control_name(name) is None]
        if unknown:
            shown = ", ".join(repr(name[:40]) for name in unknown[:3])
            notices.append(f"The link asks to {verb} {shown}, which {'is' if len(unknown) == 1 else 'are'} not "
                           f"a control; the controls are {', '.join(sorted(known))}.")
        found[key] |= {state.control_name(name) for name in names if state.control_name(name) is not None}
    return LinkControls(frozenset(found[LOCK_KEY]), frozenset(found[HIDE_KEY]), tuple(notices))


def lesson_for_link(lesson: Any, query: Mapping[str, Any], course_lesson: Any = None) -> tuple[Any, tuple[str, ...]]:
    """The lesson with the controls its course (a CourseLesson, or None) and the link's ?lock= / ?hide= add
    to its own locked and hidden ones, and one sentence per name in the link that is not a control."""
    locked, hidden = set(lesson.locked), set(lesson.hidden)
    if course_lesson is not None:
        locked |= set(course_lesson.locked)
        hidden |= set(course_lesson.hidden)
    controls = link_controls(query, locked=locked, hidden=hidden)
    return replace(lesson, locked=controls.locked, hidden=controls.hidden), controls.notices


def link_query(query: Mapping[str, Any], lesson_id: str) -> dict[str, str]:
    """The lesson link's keys to keep in the address bar (lesson, course, lock, hide), as text."""
    kept = {"lesson": lesson_id}
    for key in ("course", LOCK_KEY, HIDE_KEY):
        value = query.get(key)
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if value:
            kept[key] = str(value)[:400]
    return kept


def gradebook_csv(rows: Iterable[Mapping[str, Any]], lessons: Sequence[tuple[str, str]]) -> str:
    """Store.gradebook rows as CSV: Student ID, Name, one column per lesson ((id, title) pairs) with its mark.
    Cells a spreadsheet would run as a formula get a leading apostrophe (app.course.exports.safe_cell)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Student ID", "Name", *(f"{title} ({lesson_id})" for lesson_id, title in lessons)])
    for row in rows:
        writer.writerow([safe_cell(str(row.get("student_id", ""))), safe_cell(str(row.get("student_name", ""))),
                         *(row.get(lesson_id, "") for lesson_id, _ in lessons)])
    return out.getvalue()
