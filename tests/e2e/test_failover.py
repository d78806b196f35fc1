"""A server process killed mid-class, in real Chromium behind the HAProxy stack (deploy/stack.py, hosted mode):
the proxy sends the student to the other process, and at the student's next click the page says in one sentence
what happened (the live model started again; submissions are in the database)."""

from __future__ import annotations

import shutil
import time

import pytest
from playwright.sync_api import expect

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

        # Killed: the page's websocket closes and Streamlit opens a new one through the proxy, which sends it to
        # the other process (it says nothing until asked). Waited on: that new websocket, then the Step button
        # enabled again (Streamlit disables its widgets until the new connection is up).
        reopened: list = []
        page.on("websocket", lambda ws: reopened.append(ws))
        stack.kill_app(int(home[-1]) - 1)
        deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
        while not reopened:
            assert time.monotonic() < deadline, "the page never opened a new connection after its process died"
            page.wait_for_timeout(100)  # a poll: Playwright delivers the websocket event while the page waits
        step = page.locator(".st-key-pg-step").get_by_role("button")
        expect(step).to_be_enabled(timeout=LOAD_TIMEOUT_MS)
        step.click(force=True)
        page.get_by_text(hosted.MOVED_SENTENCE[:60]).wait_for(timeout=LOAD_TIMEOUT_MS)
        assert page.get_by_text("URL key srv").count() == 0  # the server mark is not a setting
        page.locator(".st-key-pg-play").get_by_role("button").wait_for(timeout=LOAD_TIMEOUT_MS)  # the app goes on
        page.screenshot(path=str(screenshot_path("failover_moved.png")))
        assert_no_exception(page)
