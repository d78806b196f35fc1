"""The margin sweep in real Chromium: run a small sweep, then scrub it with no message to the server.

The page is the Compare page's sweep section alone (tests/app/_sweep_app.py). A small sweep (CosFace, digits,
3-D, 3 epochs) is started with the Start button and waited for; then the figure's own slider is dragged from
end to end and every step clicked (benchmarks/sweep_ui.py: the same journey prints scrub_requests). An init
script counts the page's WebSocket messages in both directions: scrubbing must send and receive none, and
the figure must still have changed at every step (slider position, title, the "current m" marker).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from sweep_ui import FIGURE, SHOWN, SWEEP_APP, run_small_sweep, scrub  # noqa: E402

pytestmark = pytest.mark.e2e


def test_scrubbing_a_finished_sweep_sends_nothing(streamlit_server, page, screenshot_path):
    page.set_viewport_size({"width": 1280, "height": 1000})
    first = run_small_sweep(page, streamlit_server(SWEEP_APP, query="losses=cosface&dim=3"))
    assert first["steps"] == first["frames"] == 8
    assert first["active"] == 0 and "m = 0.00" in first["title"]

    count, seen = scrub(page)

    assert count == 0, f"{count} WebSocket messages while scrubbing: the slider should need no server"
    dragged, clicked = seen[:8], seen[8:]
    assert [s["active"] for s in dragged] == list(range(8))
    assert [s["active"] for s in clicked] == list(range(7, -1, -1))
    assert len({s["title"] for s in dragged}) == 8  # every step shows its own margin's numbers
    marker = [s["marker_x"] for s in dragged]
    assert marker == sorted(marker) and len(set(marker)) == 8  # the marker walks along the m axis
    assert not page.locator('[data-testid="stException"]').count()

    # A middle margin, as a user looks at it (artifacts/screenshots/sweep.png).
    rail = page.locator(f"{FIGURE} rect.slider-rail-touch-rect").first.bounding_box()
    page.mouse.click(rail["x"] + 15 + (rail["width"] - 30) * 4 / 7, rail["y"] + rail["height"] / 2)
    with contextlib.suppress(PlaywrightTimeoutError):  # on a timeout the assertion says what is shown
        page.wait_for_function(f"() => ({SHOWN})()?.active === 4", timeout=10_000)
    assert page.evaluate(SHOWN)["active"] == 4
    page.locator('[data-testid="stPlotlyChart"]').screenshot(path=str(screenshot_path("sweep.png")))
