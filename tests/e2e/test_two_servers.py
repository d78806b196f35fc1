"""Two Streamlit server processes sharing one real PostgreSQL (Debian's binaries): a student hands in a lesson
through one process, and the instructor page served by the other shows that submission in its gradebook.
This is what several processes behind the proxy (deploy/) rely on: nothing shared lives in process memory."""

from __future__ import annotations

import pytest

from app.course.access import hash_password
from app.course.store import Store
from tests.e2e.test_playground import APP, LOAD_TIMEOUT_MS, assert_no_exception, open_app
from tests.unit._course_postgres import require_postgres, running_postgres

pytestmark = pytest.mark.e2e
PASSWORD = "two servers"
STUDENT = "grace-7"


@pytest.fixture(scope="module")
def postgres_url():
    require_postgres()
    with running_postgres() as url:
        yield url


def test_a_submission_through_one_process_shows_on_the_other(streamlit_server, postgres_url, tmp_path, page):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'instructor_password_hash = "{hash_password(PASSWORD)}"\ndb_url = "{postgres_url}"\n')
    # Two processes: the same app, the same secrets (one database), told apart by an extra harmless flag.
    one = streamlit_server(APP, args=("--secrets.files", str(secrets))).rstrip("/")
    two = streamlit_server(APP, args=("--secrets.files", str(secrets), "--server.maxUploadSize", "7")).rstrip("/")
    assert one != two

    console: list = []
    open_app(page, f"{one}/lessons?lesson=arcface&course=margin-lab", console)
    who = page.get_by_label("Your student ID or name")
    who.wait_for(timeout=LOAD_TIMEOUT_MS)
    who.fill(STUDENT)
    page.get_by_role("button", name="This is me").click()
    page.get_by_role("button", name="Submit", exact=True).click()
    page.get_by_text("this hand-in is empty", exact=False).wait_for(timeout=LOAD_TIMEOUT_MS)  # asked once
    page.get_by_role("button", name="Submit anyway").click()
    page.get_by_text("Saved: attempt 1", exact=False).wait_for(timeout=LOAD_TIMEOUT_MS)
    assert [s.student_id for s in Store(postgres_url).submissions(student_id=STUDENT)] == [STUDENT]

    open_app(page, f"{two}/course", console)
    page.get_by_label("Instructor password").fill(PASSWORD)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("tab", name="Gradebook").click(timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
                           arg=['[data-testid="stDataFrame"]', STUDENT], timeout=LOAD_TIMEOUT_MS)
    assert_no_exception(page)
