"""The submissions store, the same tests against SQLite and a real PostgreSQL (Debian's binaries, started by
pytest-postgresql's executor): append-only attempts, 8 concurrent submitters, SQL/HTML ids as text, the schema
version and its upgrade path, and an unreachable database as one sentence with nothing saved silently."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from _course_postgres import require_postgres, running_postgres

from app.course import store as store_module
from app.course.record import FORMAT, FORMAT_VERSION, ReportError
from app.course.store import Store, StoreError, StoreUnavailable

COURSE = {"id": "test-course", "version": 3, "hash": "ab" * 32}


def make_record(student_id: str = "s1", lesson_id: str = "alpha", **extra) -> dict:
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "app_version": "0.1.0", "course": dict(COURSE),
        "student": {"id": student_id, "name": "Ada", "identity": "typed"},
        "lesson": {"id": lesson_id, "version": 2},
        "answers": {"wedge": 1},
        "checks": {"learns": {"status": "passed", "reason": "Test accuracy is 52 %.", "run": None}},
        "started_at": "2026-12-10T09:30:00+00:00", "submitted_at": "2026-12-10T10:00:00+00:00", **extra,
    }


@pytest.fixture(scope="module")
def postgres_server():
    require_postgres()
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'submissions.db'}"
    else:
        url = request.getfixturevalue("postgres_server")
        engine = sa.create_engine(url)
        store_module.metadata.drop_all(engine)  # a fresh database per test
        engine.dispose()
    opened = Store(url)
    yield opened
    opened.close()


def test_a_submission_is_stored_and_read_back_whole(store):
    receipt = store.submit(make_record())
    assert receipt.attempt == 1 and receipt.id >= 1
    (sub,) = store.submissions(course_id="test-course")
    assert (sub.student_id, sub.lesson_id, sub.attempt, sub.course_hash) == ("s1", "alpha", 1, "ab" * 32)
    assert sub.record == make_record()
    assert sub.received_at == receipt.received_at


def test_a_resubmission_is_a_new_attempt_and_the_first_is_kept(store):
    store.submit(make_record())
    second = make_record(answers={"wedge": 2})
    assert store.submit(second).attempt == 2
    store.submit(make_record(lesson_id="beta"))
    store.submit(make_record(student_id="s2"))
    rows = store.submissions(course_id="test-course", student_id="s1", lesson_id="alpha")
    assert [s.attempt for s in rows] == [1, 2]
    assert rows[0].record["answers"] == {"wedge": 1}  # never overwritten
    assert rows[1].record["answers"] == {"wedge": 2}
    latest = store.submissions(course_id="test-course", latest_only=True)
    assert sorted((s.student_id, s.lesson_id, s.attempt) for s in latest) == [
        ("s1", "alpha", 2), ("s1", "beta", 1), ("s2", "alpha", 1)]
    # A student's own view: another student's submissions never come back.
    assert {s.student_id for s in store.submissions(student_id="s2")} == {"s2"}


@pytest.mark.parametrize("same_student", [True, False], ids=["one student", "eight students"])
def test_eight_submitters_at_once_lose_nothing(store, same_student):
    barrier = threading.Barrier(8)
    receipts, errors = [], []

    def submit(i: int) -> None:
        record = make_record(student_id="s1" if same_student else f"s{i}", answers={"wedge": i})
        barrier.wait()
        try:
            receipts.append(store.submit(record))
        except Exception as err:  # collected: the assertion below says which
            errors.append(repr(err))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(receipts) == 8 and store.count() == 8
    rows = store.submissions(course_id="test-course")
    assert sorted(r.record["answers"]["wedge"] for r in rows) == list(range(8))  # every write is there
    if same_student:
        assert sorted(r.attempt for r in rows) == list(range(1, 9))  # attempts 1..8, none taken twice
    else:
        assert {r.attempt for r in rows} == {1}


@pytest.mark.parametrize("student_id", ["x'); DROP TABLE submissions; --", "<script>alert('x')</script>",
                                        "' OR '1'='1", "Robert'); DELETE FROM schema_version; --"])
def test_sql_or_html_in_a_student_id_is_stored_as_text(store, student_id):
    store.submit(make_record(student_id=student_id))
    store.submit(make_record(student_id="other"))
    (mine,) = store.submissions(student_id=student_id)
    assert mine.student_id == student_id and mine.record["student"]["id"] == student_id
    assert store.count() == 2 and store.schema_version() == store_module.SCHEMA_VERSION  # both tables intact
    rows = store.gradebook("test-course", ["alpha"])
    assert [r["student_id"] for r in rows] == sorted(["other", student_id])


def test_an_invalid_record_is_refused_before_the_database(store):
    bad = make_record()
    del bad["student"]["id"]
    with pytest.raises(ReportError, match=r"student\.id: missing"):
        store.submit(bad)
    assert store.count() == 0


def test_the_gradebook_has_a_progress_mark_per_lesson(store):
    store.submit(make_record())
    failing = make_record(lesson_id="beta")
    failing["checks"]["learns"]["status"] = "not_yet"
    store.submit(failing)
    (row,) = store.gradebook("test-course", ["alpha", "beta", "gamma"])
    assert row == {"student_id": "s1", "student_name": "Ada", "alpha": "passed", "beta": "submitted", "gamma": ""}


def test_the_schema_version_is_recorded_and_upgrades_run_in_order(store, monkeypatch):
    now = store_module.SCHEMA_VERSION
    assert store.schema_version() == now == 3
    store.submit(make_record())
    store.close()
    ran = []

    def next_version(conn):
        ran.append(now)
        conn.execute(sa.text("ALTER TABLE submissions ADD COLUMN grader_note VARCHAR(200)"))

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", now + 1)
    monkeypatch.setitem(store_module.UPGRADES, now, next_version)
    upgraded = Store(store.url)
    assert ran == [now] and upgraded.schema_version() == now + 1
    with upgraded.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT grader_note FROM submissions")).all() == [(None,)]
    Store(store.url).close()
    assert ran == [now]  # opened again: nothing left to upgrade
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", now)
    with pytest.raises(StoreError, match=f"has schema version {now + 1}, newer than this Margin Lab's {now}: update"):
        Store(store.url)
    upgraded.close()


def test_a_version_1_database_is_upgraded_and_its_rows_were_submits(store):
    """Schema 1 had no origin column: its rows came through the app's Submit. Upgraded in place, they say so, and
    an import after the upgrade is told apart."""
    url = store.url
    store.close()
    engine = sa.create_engine(url)
    key = "SERIAL PRIMARY KEY" if engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with engine.begin() as conn:  # the layout as version 1 wrote it, with one row
        store_module.metadata.drop_all(conn)
        conn.execute(sa.text(
            "CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, upgraded_at VARCHAR(40) "
            "NOT NULL)"))
        conn.execute(sa.text("INSERT INTO schema_version VALUES (1, 1, '2026-09-01T00:00:00+00:00')"))
        conn.execute(sa.text(
            f"CREATE TABLE submissions (id {key}, course_id VARCHAR(64) NOT NULL, student_id VARCHAR(200) "
            "NOT NULL, lesson_id VARCHAR(64) NOT NULL, attempt INTEGER NOT NULL, student_name VARCHAR(200) NOT NULL, "
            "identity VARCHAR(20) NOT NULL, course_version INTEGER, course_hash VARCHAR(64), lesson_version INTEGER "
            "NOT NULL, submitted_at VARCHAR(40) NOT NULL, received_at VARCHAR(40) NOT NULL, record TEXT NOT NULL)"))
        conn.execute(sa.text(
            "INSERT INTO submissions (course_id, student_id, lesson_id, attempt, student_name, identity, "
            "course_version, course_hash, lesson_version, submitted_at, received_at, record) VALUES ('test-course', "
            "'s1', 'alpha', 1, 'Ada', 'typed', 3, :hash, 2, '2026-12-10T10:00:00+00:00', '2026-12-10T10:00:01+00:00', "
            ":record)"),
            {"hash": "ab" * 32, "record": json.dumps(make_record())})
    engine.dispose()
    upgraded = Store(url)
    assert upgraded.schema_version() == store_module.SCHEMA_VERSION == 3
    upgraded.submit(make_record("s2"), origin="import")
    assert [(s.student_id, s.origin) for s in upgraded.submissions()] == [("s1", "app"), ("s2", "import")]
    upgraded.close()


def test_a_database_that_went_away_says_the_submission_was_not_saved(store):
    store.submit(make_record())
    working = store.engine
    store.engine = sa.create_engine("postgresql+psycopg://nobody:secret@127.0.0.1:9/gone",
                                    connect_args={"connect_timeout": 2})
    with pytest.raises(StoreUnavailable) as caught:
        store.submit(make_record(student_id="s9"))
    message = str(caught.value)
    assert "cannot be reached" in message and "NOT saved" in message and "\n" not in message
    store.engine = working
    assert [s.student_id for s in store.submissions()] == ["s1"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://teacher:hunter2@127.0.0.1:9/class", "cannot be reached"),
        ("sqlite:////proc/margin-lab-nowhere/x.db", "cannot be opened"),
    ],
)
def test_an_unreachable_database_at_start_up_is_one_sentence(url, words):
    with pytest.raises(StoreUnavailable) as caught:
        Store(url, connect_timeout=2)
    message = str(caught.value)
    assert words in message and message.endswith(".") and "\n" not in message
    assert "hunter2" not in message  # the password is never shown


def test_a_url_that_is_not_a_database_is_one_sentence():
    with pytest.raises(StoreError, match="not a database URL"):
        Store("not a url at all")
    with pytest.raises(StoreError, match="needs a driver that is not installed"):
        Store("mysql+nosuchdriver://u@h/db")


def test_the_default_is_an_sqlite_file_or_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(store_module.ENV_URL, raising=False)
    monkeypatch.delenv(store_module.HOME_ENV, raising=False)
    assert store_module.default_url().endswith(".margin-lab/submissions.db")
    monkeypatch.setenv(store_module.HOME_ENV, str(tmp_path / "home"))
    assert store_module.default_url() == f"sqlite:///{tmp_path / 'home' / 'submissions.db'}"
    monkeypatch.setenv(store_module.ENV_URL, f"sqlite:///{tmp_path / 'env.db'}")
    opened = Store()
    opened.submit(make_record())
    assert (tmp_path / "env.db").exists() and opened.count() == 1
    opened.close()


def test_records_are_stored_as_json_text(store):
    store.submit(make_record())
    with store.engine.begin() as conn:
        text = conn.execute(sa.select(store_module.submissions.c.record)).scalar_one()
    assert json.loads(text)["student"]["id"] == "s1"


@pytest.mark.slow
def test_a_database_restarting_mid_class_refuses_then_accepts_and_loses_nothing():
    """Submissions made while PostgreSQL is down are refused with one sentence (never silently lost); the same
    Store (the app keeps one per process) saves again once the server is back, and the earlier rows are kept."""
    require_postgres()
    from _course_postgres import controlled_postgres

    with controlled_postgres() as (url, server):
        store = Store(url, connect_timeout=2)
        assert store.submit(make_record("before")).attempt == 1
        server.stop()
        with pytest.raises(StoreError) as refused:
            store.submit(make_record("during"))
        message = str(refused.value)
        assert "not saved" in message.lower() and message.count(". ") <= 1
        server.start()  # returns once the server answers: readiness, not time
        assert store.submit(make_record("after")).attempt == 1
        assert sorted(s.student_id for s in store.submissions(course_id="test-course")) == ["after", "before"]
        store.close()


def test_progress_of_exactly_the_cap_is_kept_and_one_byte_more_is_one_sentence(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'cap.db'}")
    cap = store_module.PROGRESS_CAP
    room = cap - len(json.dumps({"x": ""}).encode())  # the characters of "x" that fill the cap exactly
    store.save_progress("ada", "softmax", {"x": "a" * room})
    with pytest.raises(StoreError) as caught:
        store.save_progress("ada", "softmax", {"x": "a" * (room + 1)})
    assert str(caught.value) == f"The progress of lesson softmax is too large to keep ({cap + 1:,} bytes)."
    with pytest.raises(StoreError):  # the cap counts bytes: half as many two-byte characters, plus one
        store.save_progress("ada", "softmax", {"x": "é" * (room // 2 + 1)})
    assert store.load_progress("ada")["softmax"]["x"] == "a" * room  # what was kept is not lost
