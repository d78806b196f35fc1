"""A server process killed mid-class, in real Chromium behind the HAProxy stack (deploy/stack.py, hosted mode):
the proxy sends the student to the other process, and at the student's next click the page says in one sentence
what happened (the live model started again; submissions are in the database)."""

from __future__ import annotations

import shutil

import pytest

from app import hosted
from deploy.stack import Stack
from tests.e2e.test_playground import LOAD_TIMEOUT_MS, assert_no_exception, open_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_a_student_on_a_killed_process_is_moved_and_told(page, screenshot_path):
    with Stack(processes=2, env={hosted.HOSTED_ENV: "1", hosted.PLAY_CAP_ENV: "2"}) as stack:
        console: list = []
        response = page.goto(stack.url + "/")
        home = response.headers.get("x-margin-lab-server", "")
        assert home in {"app1", "app2"}
        open_app(page, stack.url + "/", console)
        page.wait_for_function(f"() => location.search.includes('{hosted.SERVER_PARAM}=')", timeout=LOAD_TIMEOUT_MS)
        page.locator(".st-key-pg-play").get_by_role("button").wait_for(timeout=LOAD_TIMEOUT_MS)
        assert page.get_by_text(hosted.MOVED_SENTENCE[:60]).count() == 0

        stack.kill_app(int(home[-1]) - 1)
        page.wait_for_timeout(3000)  # the process is gone; the student's next click reaches the other one
        page.locator(".st-key-pg-step").get_by_role("button").click(force=True)
        page.get_by_text(hosted.MOVED_SENTENCE[:60]).wait_for(timeout=LOAD_TIMEOUT_MS)
        assert page.get_by_text("URL key srv").count() == 0  # the server mark is not a setting
        page.locator(".st-key-pg-play").get_by_role("button").wait_for(timeout=LOAD_TIMEOUT_MS)  # the app goes on
        page.screenshot(path=str(screenshot_path("failover_moved.png")))
        assert_no_exception(page)
