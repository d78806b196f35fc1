"""The submission record: what a student hands in for one lesson, as the database stores it and a report
file carries it. Plain JSON, validated field by field; nothing in it is ever executed.

    {"format": "margin-lab-submission", "format_version": 1, "app_version": "0.1.0",
     "course": {"id": "margin-lab", "version": 1, "hash": "<sha256 of the course file>"} or null,
     "student": {"id": "s1234", "name": "Ada", "identity": "typed" | "login" | "class-code"},
     "lesson": {"id": "arcface", "version": 1},
     "answers": {question_id: the answer given (choice: 0-based index; number: a number)},
     "checks": {check_id: {"status": "passed" | "not_yet" | "failed", "reason": "...", "run": RUN}},
     "started_at": "2026-12-01T09:00:00+00:00", "submitted_at": "2026-12-01T09:20:00+00:00"}

    RUN = {"unit": "live" | "compare",
           "initial": {share-link URL key: text},             # app.state.to_query of the values the model was
                                                              # built from (loss, m, s, lr, dim, seed, ...)
           "hyper_log": [[step, {URL key: text}], ...],       # hot changes, applied before step + 1
           "step": 240, "epoch": 30,                          # where the run was when the check was decided
           "metrics": {name: number}}                         # app.lessons.checks.run_metrics at that point

    A compare lesson's RUN (one MultiTrainer, several losses) records every member, in the trainer's order,
    and names the checked one; its metrics are that member's:
    RUN = {"unit": "compare", "member": "arcface",
           "members": {loss: {"initial": {...}, "hyper_log": [...]}, ...},
           "step": 240, "epoch": 30, "metrics": {name: number}}
    (A compare RUN with "initial" and "hyper_log" of one member only, as older versions wrote, is still read;
    the grader leaves it to the instructor.)

A report file (the local setting: the student downloads it) is this object plus "summary", a human-readable
text; `parse_report` enforces REPORT_SIZE_CAP before it parses anything.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.compat import tomllib

FORMAT = "margin-lab-submission"
FORMAT_VERSION = 1
REPORT_SIZE_CAP = 256 * 1024  # bytes; a real report is a few kB (hyper_log grows by ~40 bytes per slider move)
IDENTITIES = ("typed", "login", "class-code")  # how the student was identified (class-code and typed are weak)
CHECK_STATUSES = ("passed", "not_yet", "failed")
RUN_UNITS = ("live", "compare")  # compare: the members of a Compare unit, one of them checked
MAX_MEMBERS = 16  # members of one compare run
MAX_ID = 200  # characters of a student id or name
MAX_TEXT = 2000  # characters of a reason or a text answer
MAX_LOG = 20_000  # hot changes in one run's log
MAX_KEYS = 64  # URL keys in one set of values
MAX_METRICS = 256  # metric names in one run (run_metrics gives a few dozen)
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # lesson, question, check and course ids
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
TOP_FIELDS = ("format", "format_version", "app_version", "course", "student", "lesson", "answers", "checks",
              "started_at", "submitted_at")


def _app_version() -> str:
    try:
        with (Path(__file__).resolve().parents[2] / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


APP_VERSION = _app_version()


class ReportError(ValueError):
    """A record or report file that cannot be used; str() is one sentence naming the source, field and problem."""


class _Checker:
    """Field-by-field checks that raise ReportError("<source>: <field>: <problem>.")."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, field: str, problem: str) -> None:
        raise ReportError(f"{self.source}: {field}: {problem}.")

    def mapping(self, value: Any, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, Mapping):
            self.fail(field, f"must be an object, not {_kind(value)}")
        for name in required:
            if name not in value:
                self.fail(f"{field}.{name}" if field else name, "missing")
        extra = sorted(str(k) for k in value if k not in required and k not in optional)
        if extra:
            self.fail(f"{field}.{extra[0]}" if field else extra[0], "is not a field of a submission")
        return dict(value)

    def text(self, value: Any, field: str, *, limit: int = MAX_ID, empty: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(field, f"must be text, not {_kind(value)}")
        if not empty and not value.strip():
            self.fail(field, "is empty")
        if len(value) > limit:
            self.fail(field, f"is {len(value)} characters long (at most {limit})")
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in value) or "\x7f" in value:
            self.fail(field, "contains control characters")
        return value

    def ident(self, value: Any, field: str) -> str:
        text = self.text(value, field, limit=64)
        if not ID_PATTERN.fullmatch(text):
            self.fail(field, f"{text!r} is not an id (lower-case letters, digits and dashes)")
        return text

    def integer(self, value: Any, field: str, minimum: int = 0) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(field, f"must be a whole number, not {_kind(value)}")
        if value < minimum:
            self.fail(field, f"{value} is below {minimum}")
        return value

    def number(self, value: Any, field: str) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.fail(field, f"must be a number, not {_kind(value)}")
        if not math.isfinite(value):
            self.fail(field, "must be a finite number")
        return value

    def time(self, value: Any, field: str) -> str:
        text = self.text(value, field, limit=40)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(field, f"{text!r} is not an ISO 8601 date and time")
        if moment.tzinfo is None:
            self.fail(field, f"{text!r} has no time zone")
        return text


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _check_values(c: _Checker, values: Any, field: str) -> dict[str, str]:
    if not isinstance(values, Mapping):
        c.fail(field, f"must be an object of URL keys to text, not {_kind(values)}")
    if len(values) > MAX_KEYS:
        c.fail(field, f"has {len(values)} keys (at most {MAX_KEYS})")
    for key, text in values.items():
        c.text(key, f"{field} key", limit=32)
        c.text(text, f"{field}.{key}", limit=80)
    return dict(values)


def _check_log(c: _Checker, log: Any, field: str) -> int:
    """Checks a hyper_log; returns its last step (0 if empty)."""
    if not isinstance(log, list):
        c.fail(field, f"must be a list, not {_kind(log)}")
    if len(log) > MAX_LOG:
        c.fail(field, f"has {len(log)} entries (at most {MAX_LOG})")
    last = 0
    for i, entry in enumerate(log):
        where = f"{field}[{i}]"
        if not isinstance(entry, list) or len(entry) != 2:
            c.fail(where, "must be a pair [step, {URL key: text}]")
        step = c.integer(entry[0], f"{where}[0]")
        if step < last:
            c.fail(f"{where}[0]", f"step {step} comes after step {last}")
        last = step
        _check_values(c, entry[1], f"{where}[1]")
    return last


def _check_members(c: _Checker, run: dict, field: str) -> int:
    """Checks a compare RUN's members and member; returns the last step any member's log names."""
    members = run["members"]
    if not isinstance(members, Mapping):
        c.fail(f"{field}.members", f"must be an object of losses to runs, not {_kind(members)}")
    if not 1 <= len(members) <= MAX_MEMBERS:
        c.fail(f"{field}.members", f"has {len(members)} members (1 to {MAX_MEMBERS})")
    last, entries = 0, 0
    for loss, part in members.items():
        c.ident(loss, f"{field}.members key")
        part = c.mapping(part, f"{field}.members.{loss}", ("initial", "hyper_log"))
        _check_values(c, part["initial"], f"{field}.members.{loss}.initial")
        last = max(last, _check_log(c, part["hyper_log"], f"{field}.members.{loss}.hyper_log"))
        entries += len(part["hyper_log"])
    if entries > MAX_LOG:
        c.fail(f"{field}.members", f"have {entries} hot changes in all (at most {MAX_LOG})")
    member = c.text(run["member"], f"{field}.member", limit=64)
    if member not in members:
        c.fail(f"{field}.member", f"{member[:40]!r} is not one of the run's members")
    return last


def _check_run(c: _Checker, run: Any, field: str) -> dict:
    compare = isinstance(run, Mapping) and run.get("unit") == "compare" and "members" in run
    if compare:
        run = c.mapping(run, field, ("unit", "member", "members", "step", "epoch", "metrics"))
        last = _check_members(c, run, field)
    else:
        run = c.mapping(run, field, ("unit", "initial", "hyper_log", "step", "epoch", "metrics"))
        if run["unit"] not in RUN_UNITS:
            c.fail(f"{field}.unit", f"{str(run['unit'])[:40]!r} is not one of {', '.join(RUN_UNITS)}")
        _check_values(c, run["initial"], f"{field}.initial")
        last = _check_log(c, run["hyper_log"], f"{field}.hyper_log")
    c.integer(run["step"], f"{field}.step")
    c.integer(run["epoch"], f"{field}.epoch")
    if last > run["step"]:
        c.fail(f"{field}.hyper_log", f"a change at step {last} is beyond the run's step {run['step']}")
    metrics = run["metrics"]
    if not isinstance(metrics, Mapping):
        c.fail(f"{field}.metrics", f"must be an object of names to numbers, not {_kind(metrics)}")
    if len(metrics) > MAX_METRICS:
        c.fail(f"{field}.metrics", f"has {len(metrics)} names (at most {MAX_METRICS})")
    for name, value in metrics.items():
        c.text(name, f"{field}.metrics key", limit=64)
        c.number(value, f"{field}.metrics.{name}")
    return run


def validate_record(record: Any, *, source: str = "the submission") -> dict:
    """The record, checked against the format above (a "summary" key, as report files have, is allowed).

    Raises ReportError with one sentence such as "report.json: student.id: missing." Returns a shallow copy
    without the summary. Any text is accepted as a student id or name (SQL or HTML in it is just text); control
    characters are not.
    """
    c = _Checker(source)
    record = c.mapping(record, "", TOP_FIELDS, ("summary",))
    record.pop("summary", None)
    if record["format"] != FORMAT:
        c.fail("format", f"{str(record['format'])[:40]!r} is not {FORMAT!r}")
    if record["format_version"] != FORMAT_VERSION or isinstance(record["format_version"], bool):
        c.fail("format_version", f"{record['format_version']!r} is not a version this app reads ({FORMAT_VERSION})")
    c.text(record["app_version"], "app_version", limit=40)
    if record["course"] is not None:
        course = c.mapping(record["course"], "course", ("id", "version", "hash"))
        c.ident(course["id"], "course.id")
        c.integer(course["version"], "course.version", 1)
        if not isinstance(course["hash"], str) or not HASH_PATTERN.fullmatch(course["hash"]):
            c.fail("course.hash", "must be 64 hexadecimal digits (a SHA-256)")
    student = c.mapping(record["student"], "student", ("id", "name", "identity"))
    c.text(student["id"], "student.id")
    c.text(student["name"], "student.name", empty=True)
    if student["identity"] not in IDENTITIES:
        c.fail("student.identity", f"{str(student['identity'])[:40]!r} is not one of {', '.join(IDENTITIES)}")
    lesson = c.mapping(record["lesson"], "lesson", ("id", "version"))
    c.ident(lesson["id"], "lesson.id")
    c.integer(lesson["version"], "lesson.version", 1)
    answers = record["answers"]
    if not isinstance(answers, Mapping):
        c.fail("answers", f"must be an object, not {_kind(answers)}")
    for qid, given in answers.items():
        c.ident(qid, "answers key")
        if isinstance(given, str):
            c.text(given, f"answers.{qid}", limit=MAX_TEXT, empty=True)
        elif given is not None:
            c.number(given, f"answers.{qid}")
    checks = record["checks"]
    if not isinstance(checks, Mapping):
        c.fail("checks", f"must be an object, not {_kind(checks)}")
    for cid, result in checks.items():
        c.ident(cid, "checks key")
        result = c.mapping(result, f"checks.{cid}", ("status", "reason", "run"))
        if result["status"] not in CHECK_STATUSES:
            c.fail(f"checks.{cid}.status", f"{str(result['status'])[:40]!r} is not one of {', '.join(CHECK_STATUSES)}")
        c.text(result["reason"], f"checks.{cid}.reason", limit=MAX_TEXT, empty=True)
        if result["run"] is not None:
            _check_run(c, result["run"], f"checks.{cid}.run")
    c.time(record["started_at"], "started_at")
    c.time(record["submitted_at"], "submitted_at")
    return record


def now_iso() -> str:
    """The current time as the record writes it (UTC, ISO 8601, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_record(*, course: Mapping[str, Any] | None, student_id: str, student_name: str, identity: str,
               lesson_id: str, lesson_version: int, answers: Mapping[str, Any], checks: Mapping[str, Any],
               started_at: str, submitted_at: str | None = None) -> dict:
    """A validated record for the Submit button (ReportError if a part is bad).

    course: Course.ref() or None. checks: {check_id: {"status", "reason", "run"}}, where run is
    app.lessons.run_record.run_record(trainer, metrics) of the run as it was when the check was last decided (for a
    passed check: the moment it passed), or None if the check never ran."""
    record = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "app_version": APP_VERSION,
        "course": None if course is None else dict(course),
        "student": {"id": student_id, "name": student_name, "identity": identity},
        "lesson": {"id": lesson_id, "version": lesson_version},
        "answers": dict(answers), "checks": {k: dict(v) for k, v in checks.items()},
        "started_at": started_at, "submitted_at": submitted_at or now_iso(),
    }
    return validate_record(record)


def parse_report(data: bytes | str, *, source: str = "the report") -> dict:
    """A report file's bytes -> the validated record. The size cap is checked before anything is parsed."""
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > REPORT_SIZE_CAP:
        raise ReportError(f"{source}: the file is {size / 1024:.0f} kB, over the {REPORT_SIZE_CAP // 1024} kB "
                          "limit for a report.")
    try:
        text = data if isinstance(data, str) else data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReportError(f"{source}: the file is not UTF-8 text, so not a report.") from None
    try:
        record = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise ReportError(f"{source}: the file is not JSON{where}, so not a report.") from None
    except RecursionError:
        raise ReportError(f"{source}: the file nests too deeply to be a report.") from None
    return validate_record(record, source=source)


def read_report(path: str | Path) -> dict:
    """parse_report of a file, reading at most one byte past the cap (a huge file is never read whole)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(REPORT_SIZE_CAP + 1)
    except OSError as err:
        raise ReportError(f"{path.name}: the file cannot be read ({err.strerror or err}).") from None
    if len(data) > REPORT_SIZE_CAP:
        size = path.stat().st_size
        raise ReportError(f"{path.name}: the file is {size / 1024:.0f} kB, over the {REPORT_SIZE_CAP // 1024} kB "
                          "limit for a report.")
    return parse_report(data, source=path.name)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def summary_text(record: Mapping[str, Any]) -> str:
    """A few lines a person can read: who, which lesson and course, each check and answer."""
    student, lesson, course = record["student"], record["lesson"], record["course"]
    lines = [
        f"Margin Lab submission: lesson {lesson['id']} (version {lesson['version']})",
        f"Student: {student['name'] or '(no name)'} [{student['id']}], identity: {student['identity']}",
        "Course: " + (f"{course['id']} version {course['version']}" if course else "none"),
        f"Started {record['started_at']}, submitted {record['submitted_at']} (app {record['app_version']})",
    ]
    for cid, result in record["checks"].items():
        run = result.get("run") or {}
        where = f" (epoch {run['epoch']}, step {run['step']})" if run else ""
        lines.append(f"Check {cid}: {result['status'].replace('_', ' ')}{where}. {result['reason']}".rstrip())
    for qid, given in record["answers"].items():
        lines.append(f"Question {qid}: answered {given!r}")
    lines.append("The instructor's grader replays every run from its settings; edited numbers are flagged.")
    return "\n".join(lines)


def report_json(record: Mapping[str, Any]) -> str:
    """The report file's text: the validated record plus its human-readable "summary" (what Download saves)."""
    clean = validate_record(dict(record))
    text = json.dumps({**clean, "summary": summary_text(clean)}, indent=2, ensure_ascii=False, allow_nan=False)
    if len(text.encode("utf-8")) > REPORT_SIZE_CAP:
        raise ReportError(f"the report would be {len(text) // 1024} kB, over the {REPORT_SIZE_CAP // 1024} kB limit.")
    return text + "\n"
