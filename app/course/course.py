"""Course files: which lessons count, when they are due, with which settings and points (docs/courses.md).

    course = load_course("lessons/course.toml")     # CourseError: one sentence naming file, field, problem
    course.ref()                                     # {"id", "version", "hash"}: what a submission carries
    course.lesson("arcface").points_possible

The file is TOML and data only. Its hash is the SHA-256 of its canonical bytes (UTF-8, no byte-order mark,
line ends as "\\n"), so the same course checked out on Windows or Linux has the same hash, and any other edit
changes it: a submission made under another revision of the file is told apart from one made under this.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from app import state
from app.compat import tomllib

REPO = Path(__file__).resolve().parents[2]
COURSES_DIR = REPO / "lessons"
DEFAULT_COURSE = COURSES_DIR / "course.toml"
COURSE_FILE_CAP = 256 * 1024  # bytes: a course file is a few kB
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_COURSE_KEYS = ("id", "title", "version")
_LESSON_KEYS = ("id", "due", "preset", "locked", "hidden", "questions", "checks")


class CourseError(ValueError):
    """A course file that cannot be used; str() is one sentence naming the file, the field and the problem."""


@dataclass(frozen=True)
class CourseLesson:
    """One assigned lesson: the Lesson itself and what the course changes or counts.

    preset: share-link keys laid over the lesson's preset. locked / hidden: control names added to the
    lesson's own. questions / checks: id -> points, only the ones that count (in the lesson's order).
    due: the last moment a submission is on time (a date means the end of that day, UTC), or None.
    """

    id: str
    lesson: Any  # app.lessons.format.Lesson
    due: datetime | None
    preset: dict
    locked: frozenset
    hidden: frozenset
    questions: dict
    checks: dict

    @property
    def title(self) -> str:
        return self.lesson.title

    @property
    def version(self) -> int:
        return self.lesson.version

    @property
    def points_possible(self) -> float:
        return float(sum(self.questions.values()) + sum(self.checks.values()))

    @property
    def preset_values(self) -> dict:
        """The lesson's preset with the course's overrides over it (URL keys)."""
        return {**self.lesson.preset, **self.preset}

    def is_late(self, submitted_at: str) -> bool:
        return self.due is not None and datetime.fromisoformat(submitted_at) > self.due


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    version: int
    lessons: tuple[CourseLesson, ...]
    hash: str
    path: Path | None = field(default=None, compare=False)

    def lesson(self, lesson_id: str) -> CourseLesson | None:
        return next((entry for entry in self.lessons if entry.id == lesson_id), None)

    def ref(self) -> dict[str, Any]:
        """What a submission records about its course."""
        return {"id": self.id, "version": self.version, "hash": self.hash}


def canonical_bytes(data: bytes) -> bytes:
    """The bytes a course hash covers: no UTF-8 byte-order mark, every line end "\\n"."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def course_hash(data: bytes) -> str:
    return hashlib.sha256(canonical_bytes(data)).hexdigest()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


class _Reader:
    def __init__(self, name: str):
        self.name = name

    def fail(self, where: str, problem: str) -> CourseError:
        return CourseError(f"{self.name}: {where}: {problem}." if where else f"{self.name}: {problem}.")

    def keys(self, table: Any, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> dict:
        if not isinstance(table, dict):
            raise self.fail(where, f"expected a table, got {_kind(table)}")
        for key in required:
            if key not in table:
                raise self.fail(f"{where}.{key}" if where else key, "missing")
        for key in table:
            if key not in allowed:
                raise self.fail(f"{where}.{key}" if where else key, f"unknown key (expected {', '.join(allowed)})")
        return table

    def names(self, value: Any, where: str) -> frozenset:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"expected a list of control names, got {_kind(value)}")
        try:
            return state.check_control_names(value, what="control")
        except ValueError as err:
            raise self.fail(where, str(err).rstrip(".")) from None

    def points(self, value: Any, where: str, known: tuple[str, ...], what: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table of {what} ids to points, got {_kind(value)}")
        out = {}
        for key, points in value.items():
            if key not in known:
                listed = ", ".join(known) if known else "none"
                raise self.fail(f"{where}.{key}", f"the lesson has no {what} {key!r} (it has: {listed})")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points):
                raise self.fail(f"{where}.{key}", f"points must be a number, got {_kind(points)}")
            if points < 0:
                raise self.fail(f"{where}.{key}", f"points must not be negative, got {points}")
            out[key] = float(points)
        return {key: out[key] for key in known if key in out}  # the lesson's order

    def due(self, value: Any, where: str) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, date):
            return datetime.combine(value, time(23, 59, 59), tzinfo=timezone.utc)
        if isinstance(value, str):
            try:
                return self.due(date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value),
                                where)
            except ValueError:
                pass
        shown = repr(value) if isinstance(value, str) else _kind(value)
        raise self.fail(where, f"{shown} is not a date (write 2026-12-15, or 2026-12-15T17:00:00+01:00)")


def _check_preset(r: _Reader, lesson: Any, overrides: Any, where: str) -> dict:
    """The overrides, checked: scalars, and with the lesson's preset they pass app.state.validate unchanged."""
    if not isinstance(overrides, dict):
        raise r.fail(where, f"expected a table of share-link keys, got {_kind(overrides)}")
    for key, value in overrides.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise r.fail(f"{where}.{key}", f"expected one value (text or number), got {_kind(value)}")
        if lesson.unit == "compare" and key not in state.shared_url_keys():
            raise r.fail(f"{where}.{key}", f"a compare lesson takes only {', '.join(state.SHARED_NAMES)} here")
    base = {k: v for k, v in lesson.preset.items() if k not in ("losses", "members")}
    validator = state.validate
    if lesson.unit == "compare":
        base = {k: v for k, v in base.items() if k in state.shared_url_keys()}
        validator = state.validate_shared
    _, notices = validator({**base, **overrides}, source="Course file")
    for notice in notices:
        key = next((k for k in overrides if f" {k}=" in notice or f" {k} " in notice), None)
        if key is not None:
            sentence = notice.split("; using")[0].split("; ignored")[0].rstrip(".")
            raise r.fail(f"{where}.{key}", sentence)
    return dict(overrides)


def parse_course(data: bytes, lessons: Iterable[Any], *, name: str = "course.toml",
                 path: Path | None = None) -> Course:
    """A Course from a course file's bytes, checked against `lessons` (app.lessons.format.Lesson objects)."""
    r = _Reader(name)
    if len(data) > COURSE_FILE_CAP:
        raise r.fail("", f"the file is {len(data) // 1024} kB, over the {COURSE_FILE_CAP // 1024} kB limit")
    try:
        text = canonical_bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise r.fail("", "the file is not UTF-8 text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise r.fail("", f"TOML syntax error: {str(err).rstrip('.')}") from None
    r.keys(raw, ("course", "lessons"), ("course", "lessons"), "")
    head = r.keys(raw["course"], _COURSE_KEYS, _COURSE_KEYS, "course")
    if not isinstance(head["id"], str) or not _ID.fullmatch(head["id"]):
        raise r.fail("course.id", f"{head['id']!r} is not an id (lower-case letters, digits and dashes)")
    if not isinstance(head["title"], str) or not head["title"].strip():
        raise r.fail("course.title", f"expected text, got {_kind(head['title'])}")
    if isinstance(head["version"], bool) or not isinstance(head["version"], int):
        raise r.fail("course.version", f"expected a whole number, got {_kind(head['version'])}")
    if head["version"] < 1:
        raise r.fail("course.version", f"{head['version']} is below 1")
    by_id = {lesson.id: lesson for lesson in lessons}
    entries = raw["lessons"]
    if not isinstance(entries, list) or not entries:
        raise r.fail("lessons", "expected one [[lessons]] table or more")
    seen: dict[str, int] = {}
    assigned = []
    for i, entry in enumerate(entries):
        where = f"lessons[{i}]"
        entry = r.keys(entry, _LESSON_KEYS, ("id",), where)
        lesson_id = entry["id"]
        if not isinstance(lesson_id, str):
            raise r.fail(f"{where}.id", f"expected text, got {_kind(lesson_id)}")
        if lesson_id not in by_id:
            known = f"there are: {', '.join(sorted(by_id))}" if by_id else "there are none"
            raise r.fail(f"{where}.id", f"{lesson_id!r} is not a lesson ({known})")
        if lesson_id in seen:
            raise r.fail(f"{where}.id", f"{lesson_id!r} is assigned twice (also lessons[{seen[lesson_id]}])")
        seen[lesson_id] = i
        lesson = by_id[lesson_id]
        question_ids = tuple(q.id for q in lesson.questions)
        check_ids = tuple(c.id for c in lesson.checks)
        assigned.append(CourseLesson(
            id=lesson_id,
            lesson=lesson,
            due=r.due(entry["due"], f"{where}.due") if "due" in entry else None,
            preset=_check_preset(r, lesson, entry.get("preset", {}), f"{where}.preset"),
            locked=r.names(entry.get("locked", []), f"{where}.locked"),
            hidden=r.names(entry.get("hidden", []), f"{where}.hidden"),
            questions=(r.points(entry["questions"], f"{where}.questions", question_ids, "question")
                       if "questions" in entry else dict.fromkeys(question_ids, 1.0)),
            checks=(r.points(entry["checks"], f"{where}.checks", check_ids, "check")
                    if "checks" in entry else dict.fromkeys(check_ids, 1.0)),
        ))
    return Course(head["id"], head["title"].strip(), head["version"], tuple(assigned), course_hash(data), path)


def _builtin_lessons() -> list[Any]:
    from app.lessons.format import load_lessons

    return load_lessons()


def load_course(path: str | Path = DEFAULT_COURSE, *, lessons: Iterable[Any] | None = None) -> Course:
    """The course file at `path`, checked against `lessons` (default: the built-in lessons/*.md)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(COURSE_FILE_CAP + 1)
    except OSError as err:
        raise CourseError(f"{path.name}: the file cannot be read ({err.strerror or err}).") from None
    if lessons is None:
        try:
            lessons = _builtin_lessons()
        except ValueError as err:  # LessonError: one sentence naming the lesson file
            raise CourseError(f"{path}: lessons: the built-in lessons cannot be loaded ({str(err).rstrip('.')}).") \
                from None
    return parse_course(data, lessons, name=str(path), path=path)


def builtin_courses(folder: Path = COURSES_DIR) -> dict[str, Path]:
    """Course id -> file, for ?course=<id>: every lessons/*.toml with a [course] id (unreadable ones skipped)."""
    found = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            head = tomllib.loads(path.read_text(encoding="utf-8")).get("course", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if isinstance(head, dict) and isinstance(head.get("id"), str):
            found.setdefault(head["id"], path)
    return found


def builtin_course(course_id: str, *, lessons: Iterable[Any] | None = None) -> Course:
    """The built-in course `course_id` (for ?course=<id>); CourseError with one sentence if there is none."""
    found = builtin_courses()
    if course_id not in found:
        shown = str(course_id)[:40]
        listed = ", ".join(sorted(found)) or "none"
        raise CourseError(f"There is no course {shown!r} (the built-in courses: {listed}).")
    return load_course(found[course_id], lessons=lessons)


# --------------------------------------------------------------------------------------------
# Writing a course file (the instructor page builds one from checkboxes)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(ch if ord(ch) >= 32 else f"\\u{ord(ch):04x}" for ch in escaped)
        return f'"{escaped}"'
    if isinstance(value, (list, tuple, frozenset, set)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return "[" + ", ".join(_toml_value(v) for v in items) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def course_toml(course_id: str, title: str, version: int, lessons: Iterable[Mapping[str, Any]]) -> str:
    """The text of a course file. `lessons`: dicts with "id" and any of due, preset, locked, hidden, questions,
    checks (as in the file). Check it with parse_course before offering it for download."""
    lines = ["[course]", f"id = {_toml_value(course_id)}", f"title = {_toml_value(title)}", f"version = {version}"]
    for entry in lessons:
        lines += ["", "[[lessons]]"]
        for key in _LESSON_KEYS:
            if key in entry and entry[key] not in (None, "", [], {}, frozenset()):
                lines.append(f"{key} = {_toml_value(entry[key])}")
    return "\n".join(lines) + "\n"
