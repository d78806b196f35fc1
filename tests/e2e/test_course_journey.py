"""A class in real Chromium, end to end: a student opens a course lesson link, passes its checks on their own run,
submits and downloads the report; the instructor logs in and sees that submission in the gradebook; the grader
replays the downloaded report and gives its checks their points."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest

from app.course.access import hash_password
from app.course.store import Store
from tests.e2e.test_playground import APP, LOAD_TIMEOUT_MS, ROOT, assert_no_exception, open_app

pytestmark = pytest.mark.e2e
PASSWORD = "journey password"
STUDENT = "ada-42"
PLAY_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def class_server(streamlit_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    db_url = f"sqlite:///{folder / 'class.db'}"
    secrets = folder / "secrets.toml"
    secrets.write_text(f'instructor_password_hash = "{hash_password(PASSWORD)}"\ndb_url = "{db_url}"\n')
    base = streamlit_server(APP, args=("--secrets.files", str(secrets))).rstrip("/")
    return base, db_url, folder


def test_student_submits_instructor_sees_grader_grades(class_server, page, screenshot_path):
    base, db_url, folder = class_server
    console: list = []
    open_app(page, f"{base}/lessons?lesson=softmax&course=margin-lab", console)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_text("in Margin Lab", exact=False).first.wait_for(timeout=LOAD_TIMEOUT_MS)

    # The student: the lesson's task (the circle), Play until both checks pass on their run.
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stRadio"]').filter(has_text="Embedding dim").get_by_text("2-D circle").click()
    page.get_by_text("Embedding dim changed: model rebuilt from seed 0.").first.wait_for(timeout=LOAD_TIMEOUT_MS)
    page.locator(".st-key-lesson-softmax-play").get_by_role("button").filter(has_text="Play").click(force=True)
    page.get_by_text(re.compile(r"^Passed on your run at epoch \d+")).nth(1).wait_for(timeout=PLAY_TIMEOUT_MS)
    page.locator(".st-key-lesson-softmax-play").get_by_role("button").filter(has_text="Pause").click(force=True)

    # Hand in: who, Submit, Download.
    who = page.get_by_label("Your student ID or name")
    who.scroll_into_view_if_needed()
    who.fill(STUDENT)
    page.get_by_role("button", name="This is me").click()
    page.get_by_text(f"Handing in as {STUDENT}", exact=False).wait_for(timeout=LOAD_TIMEOUT_MS)
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Saved: attempt 1", exact=False).wait_for(timeout=LOAD_TIMEOUT_MS)
    with page.expect_download(timeout=LOAD_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Download the report").click()
    report = folder / "report.json"
    download.value.save_as(report)
    record = json.loads(report.read_text())
    assert record["student"]["id"] == STUDENT and record["course"]["id"] == "margin-lab"
    assert {c["status"] for c in record["checks"].values()} == {"passed"}
    page.screenshot(path=str(screenshot_path("course_student_submitted.png")))
    assert_no_exception(page)
    [stored] = Store(db_url).submissions(student_id=STUDENT)
    assert stored.record["checks"] == record["checks"]

    # The instructor: the password, then the gradebook shows the submission.
    open_app(page, f"{base}/course", console)
    page.get_by_label("Instructor password").fill(PASSWORD)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("tab", name="Gradebook").click(timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
                           arg=['[data-testid="stDataFrame"]', STUDENT], timeout=LOAD_TIMEOUT_MS)
    page.screenshot(path=str(screenshot_path("course_instructor_gradebook.png")))

    # The grader: replays the downloaded report against the course.
    out = folder / "grades"
    done = subprocess.run([sys.executable, "-m", "app.course", "grade", "--course", "lessons/course.toml",
                           "--jobs", "1", str(report), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [r for r in csv.DictReader((out / "grades_long.csv").open()) if r["task"] == "check"]
    assert rows and all(r["status"] == "passed" and r["flagged"] == "no" and float(r["points"]) > 0 for r in rows)
