"""The Compare page in real Chromium: four losses play side by side, and their 3-D views share one camera.

1. Open Compare on a 1366×768 screen: one small view per loss (softmax, SphereFace, CosFace, ArcFace)
   and the statistics table. Play: the Epoch rises and every view's points move. No exception box, no
   chart ever blank, nothing faded to Streamlit's grey "stale" look while it plays.
2. A real mouse drag turns one view: every other view turns to the same camera, and after several
   training ticks (new points) all four still show that camera.
3. The Margin sweep tab: a small sweep (SphereFace, its first choice, 3 epochs) runs, then its slider is
   dragged and clicked through every margin with not one WebSocket message either way (the page is paused;
   every margin is a plotly frame already in the browser). benchmarks/sweep_ui.py runs the same journey on
   the section alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .test_live_plotly import distance, drag
from .test_playground import (
    DEFAULT_EYE,
    LOAD_TIMEOUT_MS,
    READ_SPHERE,
    TICK_TIMEOUT_MS,
    WATCH_FRAMES,
    assert_no_exception,
    epoch,
    open_app,
    sphere_moved,
    wait_epoch,
    wait_points_moved,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from sweep_ui import run_small_sweep, scrub

pytestmark = pytest.mark.e2e

APP = "streamlit_app.py"
LAPTOP = {"width": 1366, "height": 768}
LOSSES = ("softmax", "sphereface", "cosface", "arcface")
VIEWS = {loss: f".st-key-cmp-{loss}-sphere .ml-live-plotly" for loss in LOSSES}


def compare_url(streamlit_server) -> str:
    return streamlit_server(APP).split("?")[0].rstrip("/") + "/compare"


def real_errors(console: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Console errors, less Streamlit's own probes on a deep link: opened at /compare, its frontend first tries
    /compare/_stcore/... (in case the app is served under that base path), gets 404 and falls back to /."""
    return [(text, url) for text, url in console if "/compare/_stcore/" not in url]


def read_views(page) -> dict[str, dict]:
    for selector in VIEWS.values():
        page.wait_for_function(f"() => ({READ_SPHERE})({selector!r}) !== null", timeout=LOAD_TIMEOUT_MS)
    return {loss: page.evaluate(READ_SPHERE, selector) for loss, selector in VIEWS.items()}


def click_play(page) -> None:
    target = page.locator(".st-key-cmp-play").get_by_role("button")
    target.filter(has_text="Play").wait_for(timeout=LOAD_TIMEOUT_MS)
    target.click(force=True)
    page.locator(".st-key-cmp-play").get_by_role("button").filter(has_text="Pause").wait_for(timeout=TICK_TIMEOUT_MS)


def test_compare_plays_four_losses_side_by_side(streamlit_server, page, screenshot_path):
    console: list[tuple[str, str]] = []
    open_app(page, compare_url(streamlit_server), console)
    page.set_viewport_size(LAPTOP)
    before = read_views(page)
    assert epoch(page) == 0
    table = page.locator('[data-testid="stDataFrame"]')
    table.wait_for(timeout=LOAD_TIMEOUT_MS)
    box = table.bounding_box()
    assert box is not None and box["y"] < LAPTOP["height"], "the statistics table starts on the first screen"

    click_play(page)
    wait_epoch(page, 3)
    seen = page.evaluate(WATCH_FRAMES, 4000)
    assert seen["frames"] > 10 and seen["ticks"] >= 2, seen
    assert seen["blank"] == 0 and seen["faded"] == 0, (seen["which"], seen)
    wait_points_moved(page, {VIEWS[loss]: before[loss] for loss in LOSSES})
    after = read_views(page)
    for loss in LOSSES:
        assert sphere_moved(before[loss], after[loss]) > 1e-3, f"the {loss} view did not follow the training"
    page.screenshot(path=str(screenshot_path("compare_playing.png")))
    assert_no_exception(page)
    assert not real_errors(console), console


def test_turning_one_view_turns_all_and_survives_ticks(streamlit_server, page, screenshot_path):
    console: list[tuple[str, str]] = []
    open_app(page, compare_url(streamlit_server), console)
    page.set_viewport_size(LAPTOP)
    start = read_views(page)
    assert all(distance(v["eye"], DEFAULT_EYE) < 1e-6 for v in start.values()), start
    click_play(page)
    # Drag later than 500 ms after the scenes were created (see test_live_plotly).
    wait_epoch(page, 2)
    drag(page, VIEWS["arcface"])
    page.wait_for_function(
        f"""() => {{
          const eyes = {list(VIEWS.values())!r}.map((s) => ({READ_SPHERE})(s)).map((v) => v && v.eye);
          if (eyes.some((e) => !e)) return false;
          const far = (a, b) => Math.max(...['x', 'y', 'z'].map((k) => Math.abs(a[k] - b[k])));
          return far(eyes[3], {DEFAULT_EYE!r}) > 0.1 && eyes.every((e) => far(e, eyes[3]) < 1e-3);
        }}""",
        timeout=TICK_TIMEOUT_MS,
    )
    turned = read_views(page)
    eye = turned["arcface"]["eye"]
    ticks_at = epoch(page)
    wait_epoch(page, ticks_at + 3)
    wait_points_moved(page, {VIEWS[loss]: turned[loss] for loss in LOSSES})
    later = read_views(page)
    for loss in LOSSES:
        assert sphere_moved(turned[loss], later[loss]) > 1e-3, f"no new points in the {loss} view"
        assert distance(later[loss]["eye"], eye) < 1e-3, (loss, later[loss]["eye"], eye)
    page.screenshot(path=str(screenshot_path("compare_turned.png")))
    assert_no_exception(page)
    assert not real_errors(console), console


def test_sweep_tab_scrubs_with_no_message_to_the_server(streamlit_server, page, screenshot_path):
    page.set_viewport_size({"width": 1366, "height": 1000})

    def open_tab(page) -> None:
        page.get_by_role("tab", name="Margin sweep").click(timeout=LOAD_TIMEOUT_MS)  # a busy page settles late
        page.locator(".st-key-cmp-sweep-loss").wait_for(timeout=LOAD_TIMEOUT_MS)  # SphereFace, the first choice

    first = run_small_sweep(page, compare_url(streamlit_server), key="cmp-sweep", open_section=open_tab)
    assert first["steps"] == first["frames"] >= 8
    count, seen = scrub(page, key="cmp-sweep")
    assert count == 0, f"{count} WebSocket messages while scrubbing the sweep on the Compare page"
    steps = first["steps"]
    assert [s["active"] for s in seen[:steps]] == list(range(steps))
    assert len({s["title"] for s in seen[:steps]}) == steps
    page.screenshot(path=str(screenshot_path("compare_sweep.png")))
    assert_no_exception(page)
