"""Where submissions live: any SQLAlchemy database, an SQLite file by default.

    store = Store()                                  # ~/.margin-lab/submissions.db (or MARGIN_LAB_DB)
    store = Store("postgresql://user@host/class")    # several server processes share one PostgreSQL
    receipt = store.submit(record)                   # Receipt(id, attempt, received_at), or StoreUnavailable
    store.submit(record, origin="import")            # a report file put in by `python -m app.course import`
    store.submissions(course_id="margin-lab", student_id="s1")   # one student's attempts, oldest first

Promises:
* Append-only. A submission is never changed or deleted; a resubmission is the next attempt (1, 2, ...) of
  (course, student, lesson). The attempt number comes from a unique constraint, so two processes submitting
  for one student at once get 1 and 2, never both 1: the loser of the race retries.
* Nothing is lost silently. `submit` returns a Receipt only after the row is committed; any failure raises
  StoreError (StoreUnavailable when the database cannot be reached), whose one sentence the page shows.
* Parameterised queries only (SQLAlchemy Core expressions): a student id such as "x'); DROP TABLE --" or
  "<script>" is stored and returned as the text it is.
* SQLite: every transaction is BEGIN IMMEDIATE, with a busy timeout and WAL, so concurrent writers queue up
  instead of failing. Keep the file on a local disk (never NFS: its locks are unreliable).

Schema version and upgrades: the table `schema_version` holds one row, the version of the tables' layout
(SCHEMA_VERSION). Opening a store creates missing tables; an older database is upgraded in place by the
functions in UPGRADES (UPGRADES[n] takes version n to n + 1, inside one transaction, then the row is set to
n + 1); a newer one is refused (StoreError: update Margin Lab). To change the layout: bump SCHEMA_VERSION,
change the table definitions below, and add UPGRADES[old] doing the same to an existing database with ALTER
TABLE / UPDATE statements that work on SQLite and PostgreSQL. Back up the SQLite file (or pg_dump) first.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from app.course.record import validate_record

SCHEMA_VERSION = 3  # 1: the first layout; 2: submissions.origin ("app" or "import"); 3: the progress table
ORIGINS = ("app", "import")  # how a row came in: the app's Submit (received_at is when it was handed in), or an
                             # instructor's import of a report file (received_at is only when it was imported)
HOME_ENV = "MARGIN_LAB_HOME"  # the folder of Margin Lab's own files (default ~/.margin-lab); tests point it away
ENV_URL = "MARGIN_LAB_DB"
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_S = 30.0  # how long an SQLite writer waits for another to finish
ATTEMPT_RETRIES = 50  # races lost in a row before submit gives up (each loss means another attempt was saved)

metadata = sa.MetaData()
schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1: one row
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("upgraded_at", sa.String(40), nullable=False),
)
submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("course_id", sa.String(64), nullable=False),  # "" when not in a course
    sa.Column("student_id", sa.String(200), nullable=False),
    sa.Column("lesson_id", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("student_name", sa.String(200), nullable=False),
    sa.Column("identity", sa.String(20), nullable=False),
    sa.Column("course_version", sa.Integer),
    sa.Column("course_hash", sa.String(64)),
    sa.Column("lesson_version", sa.Integer, nullable=False),
    sa.Column("submitted_at", sa.String(40), nullable=False),  # the student's clock (ISO 8601)
    sa.Column("received_at", sa.String(40), nullable=False),  # the server's clock (ISO 8601, UTC)
    sa.Column("record", sa.Text, nullable=False),  # the whole record, JSON
    sa.Column("origin", sa.String(10), nullable=False, server_default="app"),  # ORIGINS (schema version 2)
    sa.UniqueConstraint("course_id", "student_id", "lesson_id", "attempt", name="one_row_per_attempt"),
)
sa.Index("submissions_by_course_student", submissions.c.course_id, submissions.c.student_id)
# A student's work in progress (answers, checks passed with their runs), so that a reload or a new tab keeps it:
# one row per owner (a browser, or a student who said who they are) and lesson; rewritten as the work goes on.
progress = sa.Table(
    "progress", metadata,
    sa.Column("owner", sa.String(240), primary_key=True),
    sa.Column("lesson_id", sa.String(64), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),  # JSON
    sa.Column("updated_at", sa.String(40), nullable=False),
)
PROGRESS_CAP = 2 * 1024 * 1024  # bytes of one row's JSON: a lesson's answers and a few run records are far less

def _add_origin(conn: Connection) -> None:
    """1 -> 2: every row stored so far came through the app's Submit (import stored none apart before)."""
    conn.execute(sa.text("ALTER TABLE submissions ADD COLUMN origin VARCHAR(10) NOT NULL DEFAULT 'app'"))


def _add_progress(conn: Connection) -> None:
    """2 -> 3: the progress table (create_all has made it already; nothing stored before needs changing)."""


# UPGRADES[n](connection) takes a database from schema version n to n + 1.
UPGRADES: dict[int, Callable[[Connection], None]] = {1: _add_origin, 2: _add_progress}


UNUSABLE = "The class database cannot be used by this server (the instructor's Course page says why)."


class StoreError(RuntimeError):
    """The store could not do what was asked. str() is one sentence with the details (the database's address and
    the driver's reason: for the instructor, the logs and the command line); `public` is one sentence without
    them, for a student's page (a student is never shown the database's host, user or name)."""

    def __init__(self, message: str, public: str | None = None):
        super().__init__(message)
        self.public = public or message


class StoreUnavailable(StoreError):
    """The database cannot be reached (or opened); lessons work on, submissions are not saved."""


@dataclass(frozen=True)
class Receipt:
    id: int
    attempt: int
    received_at: str


@dataclass(frozen=True)
class Submission:
    id: int
    course_id: str
    student_id: str
    lesson_id: str
    attempt: int
    student_name: str
    identity: str
    course_version: int | None
    course_hash: str | None
    lesson_version: int
    submitted_at: str
    received_at: str
    record: dict
    origin: str = "app"  # ORIGINS


def default_url() -> str:
    """MARGIN_LAB_DB if set, else the SQLite file submissions.db in $MARGIN_LAB_HOME (default ~/.margin-lab)."""
    return os.environ.get(ENV_URL) or f"sqlite:///{default_path()}"


def default_path() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".margin-lab").expanduser() / "submissions.db"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _reason(err: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's boilerplate."""
    original = getattr(err, "orig", None) or err
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return text.rstrip(".")[:200]


class Store:
    """Submissions in the database at `url` (default_url() when None). StoreUnavailable if it cannot be reached."""

    def __init__(self, url: str | URL | None = None, *, connect_timeout: float = CONNECT_TIMEOUT_S):
        try:
            parsed = make_url(url or default_url())
        except ArgumentError:
            raise StoreError("The submissions database address is not a database URL (e.g. sqlite:///file.db "
                             "or postgresql://user@host/db).") from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, the driver requirements.txt names
        self.url = parsed
        self.shown_url = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            self.engine = self._engine(parsed, connect_timeout)
        except (NoSuchModuleError, ImportError) as err:
            raise StoreError(f"The submissions database {self.shown_url} needs a driver that is not installed "
                             f"({_reason(err)}).", public=UNUSABLE) from None
        self._prepare()

    def _engine(self, url: URL, timeout: float) -> Engine:
        if not self.is_sqlite:
            args = {"connect_timeout": int(max(1, timeout))} if url.get_backend_name() == "postgresql" else {}
            return sa.create_engine(url, pool_pre_ping=True, connect_args=args)
        if url.database and url.database != ":memory:":
            folder = Path(url.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreUnavailable(f"The submissions database {self.shown_url} cannot be opened: its folder "
                                       f"cannot be created ({err.strerror or err}).",
                                       public="The class database cannot be opened.") from None
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # pysqlite's own BEGIN off: ours below is IMMEDIATE
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_S * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlock

        return engine

    def _unavailable(self, err: BaseException, doing: str) -> StoreUnavailable:
        return StoreUnavailable(f"The submissions database {self.shown_url} cannot be reached ({_reason(err)}); "
                                f"{doing}.", public=f"The class database cannot be reached; {doing}.")

    # -- the schema ----------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Create missing tables, then check or upgrade the schema version (see the module docstring)."""
        for tries_left in (2, 1, 0):
            try:
                metadata.create_all(self.engine)  # only what is missing
                with self.engine.begin() as conn:
                    self._check_version(conn)
                return
            except DBAPIError as err:  # (IntegrityError included)
                # Two processes opening a new database at once: one of them loses the race to create a table or
                # the version row, and simply reads again.
                racing = isinstance(err, IntegrityError) or "already exists" in str(err)
                if racing and tries_left:
                    continue
                raise self._unavailable(err, "lessons work, but submissions cannot be saved") from None

    def _check_version(self, conn: Connection) -> None:
        row = conn.execute(sa.select(schema_version.c.version).where(schema_version.c.id == 1)).first()
        if row is None:
            conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION, upgraded_at=_now()))
            return
        version = row.version
        if version > SCHEMA_VERSION:
            raise StoreError(f"The submissions database {self.shown_url} has schema version {version}, newer than "
                             f"this Margin Lab's {SCHEMA_VERSION}: update Margin Lab.", public=UNUSABLE)
        while version < SCHEMA_VERSION:
            if version not in UPGRADES:
                raise StoreError(f"The submissions database {self.shown_url} has schema version {version}, which "
                                 "this Margin Lab cannot upgrade.", public=UNUSABLE)
            UPGRADES[version](conn)
            version += 1
            conn.execute(schema_version.update().where(schema_version.c.id == 1)
                         .values(version=version, upgraded_at=_now()))

    def schema_version(self) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(sa.select(schema_version.c.version)).scalar_one())

    # -- writing ---------------------------------------------------------------------------------------------
    def submit(self, record: Mapping[str, Any], *, origin: str = "app") -> Receipt:
        """Append `record` (validated: ReportError if bad) as the next attempt; the Receipt means it is committed.
        origin: "app" (a student's Submit: received_at is when it was handed in) or "import" (a report file an
        instructor imported: received_at is only when; the grader takes the time from the file's receipt).

        StoreUnavailable / StoreError with one sentence if it was not saved (the caller tells the student so,
        and keeps the record: a report download still has it)."""
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, not {origin!r}")
        record = validate_record(dict(record))
        course = record["course"] or {}
        key = {
            "course_id": course.get("id", ""),
            "student_id": record["student"]["id"],
            "lesson_id": record["lesson"]["id"],
        }
        row = {
            **key,
            "student_name": record["student"]["name"],
            "identity": record["student"]["identity"],
            "course_version": course.get("version"),
            "course_hash": course.get("hash"),
            "lesson_version": record["lesson"]["version"],
            "submitted_at": record["submitted_at"],
            "record": json.dumps(record, ensure_ascii=False, allow_nan=False, sort_keys=True),
            "origin": origin,
        }
        where = sa.and_(*(submissions.c[name] == value for name, value in key.items()))
        last_error: BaseException | None = None
        for lost in range(ATTEMPT_RETRIES):
            try:
                with self.engine.begin() as conn:
                    latest = conn.execute(sa.select(sa.func.max(submissions.c.attempt)).where(where)).scalar()
                    attempt = (latest or 0) + 1
                    received = _now()
                    new_id = conn.execute(
                        submissions.insert().values(**row, attempt=attempt, received_at=received)
                        .returning(submissions.c.id)
                    ).scalar_one()
                return Receipt(int(new_id), attempt, received)
            except IntegrityError as err:  # another process took this attempt number first: take the next
                last_error = err
                time.sleep(0.001 * (lost + 1))
            except DBAPIError as err:
                raise self._unavailable(err, "your submission was NOT saved: try again, or download the report "
                                             "and hand it in") from None
        raise StoreError(f"Your submission was NOT saved: {ATTEMPT_RETRIES} other submissions for the same lesson "
                         f"arrived at the same moment ({_reason(last_error)}); try again.",
                         public=f"Your submission was NOT saved: {ATTEMPT_RETRIES} other submissions for the same "
                                "lesson arrived at the same moment; try again.")

    # -- reading ---------------------------------------------------------------------------------------------
    def submissions(self, *, course_id: str | None = None, student_id: str | None = None,
                    lesson_id: str | None = None, latest_only: bool = False) -> list[Submission]:
        """Stored attempts, oldest first, filtered by any of course, student and lesson ("" = not in a course).

        latest_only: only the newest attempt of each (course, student, lesson). A student's page must always
        pass its own student_id: that is what keeps students out of each other's submissions."""
        query = sa.select(submissions)
        for name, value in (("course_id", course_id), ("student_id", student_id), ("lesson_id", lesson_id)):
            if value is not None:
                query = query.where(submissions.c[name] == value)
        try:
            with self.engine.begin() as conn:
                rows = conn.execute(query.order_by(submissions.c.id)).mappings().all()
        except DBAPIError as err:
            raise self._unavailable(err, "submissions cannot be read now") from None
        found = [Submission(**{**row, "record": json.loads(row["record"])}) for row in rows]
        if latest_only:
            newest: dict[tuple, Submission] = {}
            for sub in found:
                newest[(sub.course_id, sub.student_id, sub.lesson_id)] = sub
            found = sorted(newest.values(), key=lambda s: s.id)
        return found

    def count(self) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(submissions)).scalar_one())

    def gradebook(self, course_id: str, lesson_ids: list[str]) -> list[dict[str, Any]]:
        """One row per student: {"student_id", "student_name", lesson id: progress mark}, from each lesson's
        latest attempt as the student's app reported it (unverified: `python -m app.course grade` verifies).

        Marks: "passed" (every check passed), "partial" (some), "submitted" (none), "" (nothing handed in)."""
        rows: dict[str, dict[str, Any]] = {}
        for sub in self.submissions(course_id=course_id, latest_only=True):
            row = rows.setdefault(sub.student_id, {"student_id": sub.student_id, "student_name": sub.student_name,
                                                   **dict.fromkeys(lesson_ids, "")})
            row["student_name"] = sub.student_name or row["student_name"]
            statuses = [c["status"] for c in sub.record["checks"].values()]
            passed = sum(s == "passed" for s in statuses)
            mark = "passed" if statuses and passed == len(statuses) else "partial" if passed else "submitted"
            if sub.lesson_id in row or sub.lesson_id in lesson_ids:
                row[sub.lesson_id] = mark
        return sorted(rows.values(), key=lambda r: r["student_id"])

    # -- work in progress ---------------------------------------------------------------------------------------
    def save_progress(self, owner: str, lesson_id: str, data: Mapping[str, Any]) -> None:
        """Keep `data` (JSON-safe) as `owner`'s progress in a lesson, replacing what was there."""
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, sort_keys=True)
        if len(text.encode()) > PROGRESS_CAP:
            raise StoreError(f"The progress of lesson {lesson_id} is too large to keep ({len(text.encode()):,} bytes).")
        key = (progress.c.owner == owner) & (progress.c.lesson_id == lesson_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(progress.delete().where(key))
                conn.execute(progress.insert().values(owner=owner, lesson_id=lesson_id, data=text,
                                                      updated_at=_now()))
        except DBAPIError as err:
            raise self._unavailable(err, "your progress is kept in this tab only") from None

    def load_progress(self, owner: str) -> dict[str, dict[str, Any]]:
        """`owner`'s progress by lesson id (rows that are not a JSON object are left out)."""
        try:
            with self.engine.begin() as conn:
                rows = conn.execute(sa.select(progress.c.lesson_id, progress.c.data)
                                    .where(progress.c.owner == owner)).all()
        except DBAPIError as err:
            raise self._unavailable(err, "your saved progress cannot be read now") from None
        out = {}
        for lesson_id, text in rows:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict):
                out[lesson_id] = data
        return out

    def close(self) -> None:
        self.engine.dispose()
