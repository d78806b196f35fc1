"""The instructor in real Chromium: a server started with its own secrets.toml (--secrets.files) holding the
instructor password's hash and the database; a submission stored beforehand shows in the gradebook once the
instructor has typed the password, and a wrong password is refused first."""

from __future__ import annotations

import pytest

from app.course import builtin_course, new_record
from app.course.access import hash_password
from app.course.store import Store
from tests.e2e.test_playground import APP, LOAD_TIMEOUT_MS, assert_no_exception, open_app

pytestmark = pytest.mark.e2e
PASSWORD = "e2e instructor password"
STUDENT = "s-2026-<b>042</b>"


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory):
    """A secrets.toml with the password hash and a fresh SQLite database holding one submission."""
    folder = tmp_path_factory.mktemp("instructor")
    db_url = f"sqlite:///{folder / 'class.db'}"
    course = builtin_course("margin-lab")
    lesson = course.lesson("arcface").lesson
    checks = {c.id: {"status": "passed", "reason": "", "run": None} for c in lesson.checks}
    store = Store(db_url)
    store.submit(new_record(course=course.ref(), student_id=STUDENT, student_name="Grace Hopper",
                            identity="typed", lesson_id="arcface", lesson_version=lesson.version, answers={},
                            checks=checks, started_at="2026-12-01T09:00:00+00:00"))
    store.close()
    path = folder / "secrets.toml"
    path.write_text(f'instructor_password_hash = "{hash_password(PASSWORD)}"\ndb_url = "{db_url}"\n',
                    encoding="utf-8")
    return path


def test_the_instructor_logs_in_and_sees_the_submission(streamlit_server, secrets_file, page, screenshot_path):
    console: list = []
    url = streamlit_server(APP, args=("--secrets.files", str(secrets_file))).rstrip("/") + "/course"
    open_app(page, url, console)
    password = page.get_by_label("Instructor password")
    password.wait_for(timeout=LOAD_TIMEOUT_MS)
    assert page.get_by_text(STUDENT).count() == 0

    password.fill("not it")
    page.get_by_role("button", name="Open").click()
    page.get_by_text("That is not the instructor password").wait_for(timeout=LOAD_TIMEOUT_MS)
    page.wait_for_timeout(1100)  # the 1 s the page asked for (not a timing assertion)

    password.fill(PASSWORD)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("tab", name="Gradebook").click(timeout=LOAD_TIMEOUT_MS)
    grid = page.locator('[data-testid="stDataFrame"]')
    grid.wait_for(timeout=LOAD_TIMEOUT_MS)
    # The grid draws on a canvas; its off-screen accessible table carries the cell texts.
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
                           arg=['[data-testid="stDataFrame"]', STUDENT], timeout=LOAD_TIMEOUT_MS)
    assert "passed" in grid.text_content()
    assert page.locator("b", has_text="042").count() == 0  # the id's markup is text, never HTML
    page.screenshot(path=str(screenshot_path("instructor_gradebook.png")))
    assert_no_exception(page)
