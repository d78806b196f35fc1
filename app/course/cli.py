"""`python -m app.course`: check a course file, import report files, grade submissions by replay.

    python -m app.course validate lessons/course.toml
    python -m app.course ids arcface            # a lesson's question and check ids, as a course file names them
    python -m app.course import --db sqlite:///class.db reports/*.json
    python -m app.course grade --course lessons/course.toml [--db URL] [REPORT.json ...] --out grades/
        [--jobs N] [--dask-scheduler tcp://host:8786] [--data-dir DIR] [--secrets .streamlit/secrets.toml]
    python -m app.course hash-password          # the secrets.toml line for the instructor password
    python -m app.course receipt-key            # the secrets.toml line that signs report times

Exit status: 0 done (rejects are listed, and written to rejects.csv, but do not fail the run); 2 a bad course
file, database or argument (one sentence on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.course.course import CourseError, load_course
from app.course.record import MIN_RECEIPT_KEY, ReportError, read_report


class UsageError(Exception):
    """Bad input to the command: one sentence, exit status 2."""


def _lessons(folder: Path | None):
    if folder is None:
        return None
    from app.lessons.format import LessonError, load_lessons

    try:
        return load_lessons(folder)
    except LessonError as err:
        raise UsageError(str(err)) from None


def _course(args: argparse.Namespace):
    try:
        return load_course(args.course, lessons=_lessons(args.lessons))
    except CourseError as err:
        raise UsageError(str(err)) from None


def _store(url: str):
    from app.course.store import Store, StoreError

    try:
        return Store(url)
    except StoreError as err:
        raise UsageError(str(err)) from None


def cmd_validate(args: argparse.Namespace) -> int:
    course = _course(args)
    points = sum(entry.points_possible for entry in course.lessons)
    print(f"{args.course}: course {course.id} version {course.version}, {len(course.lessons)} lessons, "
          f"{points:g} points; hash {course.hash}")
    for entry in course.lessons:
        due = f", due {entry.due.isoformat()}" if entry.due else ""
        print(f"  {entry.id}: {len(entry.questions)} questions, {len(entry.checks)} checks, "
              f"{entry.points_possible:g} points{due}")
    return 0


def cmd_ids(args: argparse.Namespace) -> int:
    """A lesson's question and check ids, what each is, and the two course-file lines that count them all."""
    from app.course.course import _toml_value

    lessons = _lessons(args.lessons)
    if lessons is None:
        from app.course.course import _builtin_lessons

        lessons = _builtin_lessons()
    lesson = next((lesson for lesson in lessons if lesson.id == args.lesson), None)
    if lesson is None:
        raise UsageError(f"There is no lesson {args.lesson[:40]!r}; the lessons are "
                         f"{', '.join(lesson.id for lesson in lessons)}.")
    print(f"lesson {lesson.id} (version {lesson.version}): {lesson.number}. {lesson.title}")
    width = max((len(task.id) for task in (*lesson.questions, *lesson.checks)), default=0)
    for question in lesson.questions:
        print(f"  question {question.id:<{width}}  {_short(_filled(question.prompt, lesson))}")
    for check in lesson.checks:
        print(f"  check    {check.id:<{width}}  {_short(_filled(check.title, lesson))}")
    print(f"locked by the lesson: {', '.join(sorted(lesson.locked)) or 'nothing'}; hidden: "
          f"{', '.join(sorted(lesson.hidden)) or 'nothing'}")
    print("# in the course file's [[lessons]] table (every one counts 1 point; remove or change as you like):")
    for name, tasks in (("questions", lesson.questions), ("checks", lesson.checks)):
        print(f"{name} = {_toml_value({task.id: 1 for task in tasks}) if tasks else '{}'}")
    return 0


def _filled(text: str, lesson) -> str:
    """A prompt with its numbers as a student of the lesson's preset sees them (ten classes)."""
    from app import state
    from app.lessons import numbers

    try:
        values = state.validate({k: v for k, v in lesson.preset.items() if k not in ("losses", "members")}).values
        return numbers.fill(text, classes=10, dim=int(values["embedding_dim"]))
    except Exception:  # a placeholder this preset cannot fill: the text as written
        return text


def _short(text: str, limit: int = 90) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def cmd_import(args: argparse.Namespace) -> int:
    from app.course.store import StoreError

    store = _store(args.db)
    failed = 0
    for path in args.reports:
        try:
            receipt = store.submit(read_report(path), origin="import")
        except (ReportError, StoreError) as err:
            failed += 1
            print(f"not imported: {err}", file=sys.stderr)
            continue
        except Exception as err:  # one file must not stop the others: it is named, and the rest go on
            from app.course.grade import surprise

            failed += 1
            print(f"not imported: {Path(path).name}: {surprise('the file could not be read', err)}", file=sys.stderr)
            continue
        print(f"{Path(path).name}: saved as attempt {receipt.attempt} (row {receipt.id})")
    print(f"imported {len(args.reports) - failed} of {len(args.reports)} report(s) into {store.shown_url}")
    return 0 if not failed else 1


DEFAULT_SECRETS = Path(".streamlit/secrets.toml")


def _receipt_key(path: Path | None) -> str | None:
    """`receipt_key` from the server's secrets file: the named one, else .streamlit/secrets.toml if it exists."""
    from app.compat import tomllib

    if path is None:
        if not DEFAULT_SECRETS.is_file():
            return None
        path = DEFAULT_SECRETS
    try:
        key = tomllib.loads(path.read_text(encoding="utf-8")).get("receipt_key")
    except OSError as err:
        raise UsageError(f"The secrets file {path} cannot be read ({err.strerror or err}).") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"The secrets file {path} is not valid TOML ({str(err).rstrip('.')}).") from None
    if key is not None and (not isinstance(key, str) or len(key) < MIN_RECEIPT_KEY):
        raise UsageError(f"receipt_key in {path} must be text of at least {MIN_RECEIPT_KEY} characters "
                         "(make one with `python -m app.course receipt-key`).")
    return key


def cmd_receipt_key(args: argparse.Namespace) -> int:
    import secrets

    print(f'receipt_key = "{secrets.token_hex(32)}"')
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from app.course.exports import write_outputs
    from app.course.grade import TOLERANCE_TEXT, grade, load_sources

    course = _course(args)
    if not args.reports and not args.db:
        raise UsageError("Nothing to grade: name report files, or a database with --db.")
    store = _store(args.db) if args.db else None
    key = _receipt_key(args.secrets)
    sources = load_sources(args.reports, store=store, course_id=course.id, receipt_key=key)
    result = grade(course, sources, n_jobs=args.jobs, dask_scheduler=args.dask_scheduler, data_dir=args.data_dir)
    written = write_outputs(result, course, args.out)
    graded = {(row.student_id, row.lesson_id) for row in result.rows}
    print(f"graded {len(graded)} submission(s) of {len(result.students())} student(s) in course {course.id}; "
          f"{result.replays} run(s) replayed, {len(result.flagged)} task(s) flagged, {len(result.rejects)} "
          f"rejected, {result.superseded} older attempt(s) superseded")
    for row in result.flagged:
        print(f"flagged: {row.student_id} {row.lesson_id} {row.task} {row.task_id}: {row.reason}")
    for reject in result.rejects:
        print(f"rejected: {reject.reason}")
    times = result.time_sources
    print(f"hand-in times: {times.get('server', 0)} by the server's clock (Submit), {times.get('receipt', 0)} by a "
          f"signed receipt, {times.get('unverified', 0)} unverified (the file's own claim: marked in "
          "grades_long.csv and the feedback)")
    reasons = {"no key": "it carries a receipt, but no receipt_key was given to check it (--secrets)",
               "other key": "its receipt was signed with another key", "does not match": "it was changed after "
               "the server signed it"}  # fmt: skip
    for label, status in result.receipt_problems:
        print(f"unverified time: {label}: {reasons.get(status, status)}")
    print(f"metrics compared within {TOLERANCE_TEXT}")
    print(f"wrote {len(written)} file(s) into {args.out}")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from app.course.access import hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Instructor password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("The two passwords differ; nothing was written.")
    try:
        line = hash_password(password)
    except ValueError as err:
        raise UsageError(str(err)) from None
    print(f'instructor_password_hash = "{line}"')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.course", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a course file against the lessons")
    validate.add_argument("course", type=Path)
    validate.add_argument("--lessons", type=Path, help="lessons folder (default: the built-in lessons/)")
    ids = commands.add_parser("ids", help="list a lesson's question and check ids for a course file")
    ids.add_argument("lesson", help="the lesson's id (e.g. arcface)")
    ids.add_argument("--lessons", type=Path, help="lessons folder (default: the built-in lessons/)")
    imp = commands.add_parser("import", help="store report files as submissions (each a new attempt)")
    imp.add_argument("--db", required=True, help="SQLAlchemy URL of the submissions database")
    imp.add_argument("reports", nargs="+", type=Path)
    grade = commands.add_parser("grade", help="grade submissions by replaying their runs")
    grade.add_argument("--course", required=True, type=Path)
    grade.add_argument("--db", help="SQLAlchemy URL: grade every submission stored for the course")
    grade.add_argument("reports", nargs="*", type=Path, help="report files (JSON) to grade")
    grade.add_argument("--out", required=True, type=Path, help="folder for the CSVs and feedback")
    grade.add_argument("--jobs", type=int, default=-1, help="local replay processes (default: all cores)")
    grade.add_argument("--dask-scheduler", help="address of an existing Dask scheduler to replay on instead")
    grade.add_argument("--data-dir", help="folder with the MNIST / Fashion-MNIST files, for runs that used them")
    grade.add_argument("--lessons", type=Path, help="lessons folder (default: the built-in lessons/)")
    grade.add_argument("--secrets", type=Path, help="the server's secrets.toml, whose receipt_key verifies report "
                       "times (default: .streamlit/secrets.toml when it exists)")
    commands.add_parser("receipt-key", help="print a new secrets.toml line that signs report times")
    secret = commands.add_parser("hash-password", help="print the secrets.toml line for an instructor password")
    secret.add_argument("--stdin", action="store_true", help="read the password from one line of stdin")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"validate": cmd_validate, "ids": cmd_ids, "import": cmd_import, "grade": cmd_grade,
                "receipt-key": cmd_receipt_key, "hash-password": cmd_hash_password}
    try:
        return handlers[args.command](args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
