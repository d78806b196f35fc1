"""What the grader writes: a long CSV, gradebook CSVs shaped for Canvas and Moodle, feedback texts, rejects.

    grades_long.csv   one row per student, lesson and task (question or check): points, status, flag, reason,
                      and whose clock the hand-in time is (time_source: server, receipt, or unverified)
    canvas.csv        Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, one column per
                      lesson, a "Points Possible" row first; students are matched by SIS User ID (the student id
                      they gave). A lesson's column is the course file's `canvas` for it ("ArcFace lab (48213)",
                      as Canvas's export names the assignment: the import updates that assignment), else
                      "<title> (<lesson id>)" (Canvas creates a new assignment)
    moodle.csv        Moodle grade import: First name, Last name, ID number, Email address, one column per
                      lesson; map "ID number" (or "Email address" for login identities) to the user field
    feedback/<student>.txt   per student: every task's points and the reason, flags first
    rejects.csv       each submission not graded and why

Every text cell that a spreadsheet could run as a formula gets a leading apostrophe, by OWASP's rule for CSV
injection: a cell starting with =, +, -, @, a tab, a carriage return or a line feed (and their full-width forms,
which some spreadsheets read the same way). No exception for "-" followed by a digit: "-2+3+cmd|' /C calc'!A0"
starts that way. Numbers (points, attempts) are written as numbers and never escaped: the escape is for text,
and every text cell a student controls (ids, names, reasons) is text.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from app.course.course import Course
from app.course.grade import TOLERANCE_TEXT, GradeResult

LONG_COLUMNS = ("student_id", "student_name", "identity", "lesson_id", "lesson_title", "task", "task_id", "points",
                "points_possible", "status", "flagged", "late", "attempt", "submitted_at", "time_source", "source",
                "reason")
TIME_SOURCES = {"server": "by the server's clock", "receipt": "by the server's signed receipt",
                "unverified": "UNVERIFIED: the time the file itself claims"}
CANVAS_FIXED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_FIXED = ("First name", "Last name", "ID number", "Email address")


FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")  # (OWASP's list, and full-width = + - @)


def safe_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with a formula character gets a leading
    apostrophe; numbers (and None) are returned as they are."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
    return path


def _points(value: float) -> int | float:
    """Points as a number for a CSV cell (3, not 3.0)."""
    return int(value) if float(value).is_integer() else float(value)


def feedback_name(student_id: str) -> str:
    """A file name for any student id: its letters and digits, plus a short hash so ids never collide
    (and "../x" or "CON" stay plain names inside feedback/)."""
    slug = re.sub(r"[^A-Za-z0-9_.@-]+", "_", student_id).strip("._")[:40] or "student"
    return f"{slug}-{hashlib.sha256(student_id.encode('utf-8')).hexdigest()[:8]}.txt"


def _split_name(name: str) -> tuple[str, str]:
    parts = name.strip().rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (name.strip(), "")


def feedback_text(result: GradeResult, course: Course, student_id: str) -> str:
    rows = [row for row in result.rows if row.student_id == student_id]
    name = rows[0].student_name if rows else ""
    totals = result.lesson_points()
    lines = [f"Margin Lab — {course.title} (course {course.id}, version {course.version})",
             f"Feedback for {name or student_id} [{student_id}]", ""]
    for entry in course.lessons:
        mine = [row for row in rows if row.lesson_id == entry.id]
        if not mine:
            lines += [f"{entry.title}: nothing handed in (0 of {entry.points_possible:g} points).", ""]
            continue
        late = " — submitted after the due date" if mine[0].late else ""
        lines.append(f"{entry.title}: {totals[(student_id, entry.id)]:g} of "
                     f"{entry.points_possible:g} points (attempt {mine[0].attempt or '-'}, "
                     f"submitted {mine[0].submitted_at}, {TIME_SOURCES[mine[0].time_source]}{late})")
        for row in sorted(mine, key=lambda r: not r.flagged):
            mark = "FLAGGED " if row.flagged else ""
            lines.append(f"  - {mark}{row.task} {row.task_id}: {row.points:g}/{row.points_possible:g}"
                         f", {row.status.replace('_', ' ')}. {row.reason}")
        lines.append("")
    lines.append(f"Every run was replayed from its settings; reported numbers are compared within {TOLERANCE_TEXT}.")
    return "\n".join(lines) + "\n"


def write_outputs(result: GradeResult, course: Course, out_dir: str | Path) -> list[Path]:
    """Write every output file into `out_dir` (created if needed); returns the paths written."""
    out = Path(out_dir)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    written = [_write(out / "grades_long.csv", LONG_COLUMNS, (
        [row.student_id, row.student_name, row.identity, row.lesson_id, row.lesson_title, row.task, row.task_id,
         _points(row.points), _points(row.points_possible), row.status, "yes" if row.flagged else "no",
         "yes" if row.late else "no", row.attempt or "", row.submitted_at, row.time_source, row.source, row.reason]
        for row in result.rows))]

    totals = result.lesson_points()
    students = result.students()
    lesson_columns = [entry.canvas or f"{entry.title} ({entry.id})" for entry in course.lessons]
    possible = [_points(entry.points_possible) for entry in course.lessons]

    def scores(student_id: str) -> list[int | float | str]:
        return [_points(totals[(student_id, e.id)]) if (student_id, e.id) in totals else "" for e in course.lessons]

    canvas_rows = [["    Points Possible", "", "", "", "", *possible]]
    canvas_rows += [[name or student_id, "", student_id, student_id, "", *scores(student_id)]
                    for student_id, (name, _) in students.items()]
    written.append(_write(out / "canvas.csv", [*CANVAS_FIXED, *lesson_columns], canvas_rows))

    moodle_rows = []
    for student_id, (name, _identity) in students.items():
        first, last = _split_name(name)
        email = student_id if "@" in student_id else ""
        moodle_rows.append([first, last, student_id, email, *scores(student_id)])
    written.append(_write(out / "moodle.csv", [*MOODLE_FIXED, *[e.title for e in course.lessons]], moodle_rows))

    for student_id in students:
        path = out / "feedback" / feedback_name(student_id)
        path.write_text(feedback_text(result, course, student_id), encoding="utf-8")
        written.append(path)
    written.append(_write(out / "rejects.csv", ("source", "student_id", "lesson_id", "reason"),
                          ([r.label, r.student_id, r.lesson_id, r.reason] for r in result.rejects)))
    return written
