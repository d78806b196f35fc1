"""A class in real Chromium, end to end, served the documented way with a course file outside lessons/
(`streamlit run streamlit_app.py -- --course FILE`): a student opens the course's lesson link, passes its checks on
their own run, submits and downloads the report; the page keeps the course across its reruns (its own ?course= in
the address bar names the file's course) and its Next lesson is the course's; the instructor logs in and the
gradebook opens on that course with the submission; the grader replays the downloaded report and the stored one
against the same file and gives their checks their points."""

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


COURSE_ID = "ml-audit-2027"
COURSE = f"""[course]
id = "{COURSE_ID}"
title = "ML audit 2027"
version = 1

[[lessons]]
id = "softmax"

[[lessons]]
id = "arcface"
"""


STUDENT_ZONE = "Asia/Tokyo"  # UTC+9 all year (Chromium names Kolkata by its old name): the student's time


@pytest.fixture
def page(browser):
    """A browser whose clock is in the student's time zone (the conftest's page, with timezone_id)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=STUDENT_ZONE)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def class_server(streamlit_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    db_url = f"sqlite:///{folder / 'class.db'}"
    secrets = folder / "secrets.toml"
    secrets.write_text(f'instructor_password_hash = "{hash_password(PASSWORD)}"\ndb_url = "{db_url}"\n')
    course = folder / "audit.toml"  # outside lessons/: no built-in course has this id
    course.write_text(COURSE)
    base = streamlit_server(APP, args=("--secrets.files", str(secrets), "--", "--course", str(course))).rstrip("/")
    return base, db_url, folder, course


def test_student_submits_instructor_sees_grader_grades(class_server, page, screenshot_path):
    base, db_url, folder, course_file = class_server
    console: list = []
    open_app(page, f"{base}/lessons?lesson=softmax&course={COURSE_ID}", console)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_text("in ML audit 2027", exact=False).first.wait_for(timeout=LOAD_TIMEOUT_MS)

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
    page.get_by_text(re.compile(r"In this hand-in: \d of \d questions? answered, 2 of 2 checks passed\.")).wait_for(
        timeout=LOAD_TIMEOUT_MS)  # said before Submit
    page.get_by_role("button", name="Submit", exact=True).click()
    saved = page.get_by_text("Saved: attempt 1", exact=False)
    saved.wait_for(timeout=LOAD_TIMEOUT_MS)
    shown_time = re.search(r"received at (\d\d:\d\d:\d\d) on (\S+) \(([^)]+)\)", saved.text_content())
    assert shown_time and shown_time.group(3) == STUDENT_ZONE, saved.text_content()
    with page.expect_download(timeout=LOAD_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Download the report").click()
    report = folder / "report.json"
    download.value.save_as(report)
    record = json.loads(report.read_text())
    assert record["student"]["id"] == STUDENT and record["course"]["id"] == COURSE_ID
    assert {c["status"] for c in record["checks"].values()} == {"passed"}
    # Many reruns later (training, hand-in), the page still serves the file's course: no sentence about a course
    # that does not exist, the address bar names it, and Next lesson stays in it (ArcFace, not NormFace).
    assert page.get_by_text("There is no course").count() == 0
    assert f"course={COURSE_ID}" in page.url
    assert page.get_by_role("link", name=re.compile(r"Next lesson: .*ArcFace")).count() == 1
    page.screenshot(path=str(screenshot_path("course_student_submitted.png")))
    assert_no_exception(page)
    [stored] = Store(db_url).submissions(student_id=STUDENT)
    assert stored.record["checks"] == record["checks"]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(stored.received_at).astimezone(ZoneInfo(STUDENT_ZONE))
    assert (shown_time.group(1), shown_time.group(2)) == (f"{local:%H:%M:%S}", f"{local:%Y-%m-%d}")

    # The instructor: the password, then the gradebook shows the submission.
    open_app(page, f"{base}/course", console)
    page.get_by_label("Instructor password").fill(PASSWORD)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("tab", name="Gradebook").click(timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
                           arg=['[data-testid="stDataFrame"]', STUDENT], timeout=LOAD_TIMEOUT_MS)
    assert page.get_by_text(f"1 student in {COURSE_ID}", exact=False).count() == 1  # opened on the served course
    page.screenshot(path=str(screenshot_path("course_instructor_gradebook.png")))

    # The grader: replays the downloaded report, and the stored submission, against the same course file.
    for source in ([str(report)], ["--db", db_url]):
        out = folder / f"grades-{len(source)}"
        done = subprocess.run([sys.executable, "-m", "app.course", "grade", "--course", str(course_file),
                               "--jobs", "1", *source, "--out", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "0 rejected" in done.stdout, done.stdout
        rows = [r for r in csv.DictReader((out / "grades_long.csv").open()) if r["task"] == "check"]
        assert rows and all(r["status"] == "passed" and r["flagged"] == "no" and float(r["points"]) > 0
                            for r in rows)
