"""The live_plotly component keeps a user's 3-D camera while a fragment redraws the data.

The demo app (tests/e2e/_live_plotly_demo_app.py) turns a 3-D scatter by 7° per tick in an
`st.fragment(run_every=...)` and writes the tick into the figure title. A real mouse drag
rotates the camera; after several ticks (new title, new point coordinates) the camera must
still be the rotated one, the graph must be the same DOM node, plotly.js must have been
fetched once, and no websocket frame may carry it. The control test shows why the component
exists: plain st.plotly_chart puts the camera back on the next tick (streamlit#8882).
"""

from __future__ import annotations

import contextlib
import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.e2e

DEMO_APP = "tests/e2e/_live_plotly_demo_app.py"
LIVE = ".ml-live-plotly"
CONTROL = "[data-testid='stPlotlyChart'] .js-plotly-plot"
DEFAULT_EYE = {"x": 1.25, "y": 1.25, "z": 1.25}

# Everything read from the graph div in one go. The rendered camera is the scene's own
# (`_scene.getCamera()`); `layout.scene.camera` is what plotly saved for uirevision.
READ_GRAPH = """(selector) => {
  const gd = document.querySelector(selector);
  if (!gd || !gd._fullLayout || !gd._fullLayout.scene || !gd._fullLayout.scene._scene) return null;
  const title = gd.layout.title && (gd.layout.title.text ?? gd.layout.title);
  const tick = parseInt(String(title).replace(/<[^>]*>/g, '').replace('tick ', ''), 10);
  const saved = gd.layout.scene && gd.layout.scene.camera;
  return {
    tick,
    x0: Number(gd._fullData[0].x[0]),
    eye: gd._fullLayout.scene._scene.getCamera().eye,
    savedEye: saved ? saved.eye : null,
    width: gd._fullLayout.width,
  };
}"""


def read_graph(page, selector: str) -> dict:
    page.wait_for_function(f"() => ({READ_GRAPH})({selector!r}) !== null", timeout=30_000)
    return page.evaluate(READ_GRAPH, selector)


def wait_for_tick(page, selector: str, tick: int, timeout_ms: int = 30_000) -> dict:
    page.wait_for_function(
        f"() => {{ const g = ({READ_GRAPH})({selector!r}); return g !== null && g.tick >= {tick}; }}",
        timeout=timeout_ms,
    )
    return read_graph(page, selector)


def drag(page, selector: str, dx: float = 160, dy: float = 70, steps: int = 12) -> None:
    """A real mouse drag across the middle of the graph (turntable rotation in a 3-D scene)."""
    locator = page.locator(selector)
    locator.wait_for(state="visible", timeout=30_000)
    box = locator.bounding_box()
    assert box is not None, f"{selector} has no layout box"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()


def distance(a: dict, b: dict) -> float:
    return max(abs(a[k] - b[k]) for k in "xyz")


def wait_turned(page, read_js: str, selector: str, away_from: dict, timeout_ms: int = 10_000) -> None:
    """Wait until the rendered camera of `selector` (read by `read_js`, which returns {eye, ...}) is turned more
    than 0.1 away from `away_from`. On a timeout it returns: the caller's assertion then says what was seen."""
    script = f"""() => {{ const g = ({read_js})({selector!r}); if (!g) return false;
        const want = {json.dumps(away_from)};
        return Math.max(...['x', 'y', 'z'].map((k) => Math.abs(g.eye[k] - want[k]))) > 0.1; }}"""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(script, timeout=timeout_ms)


def test_live_plotly_keeps_camera_while_data_change(streamlit_server, page, screenshot_path):
    plotly_requests: list[str] = []
    frame_sizes: list[int] = []
    page.on("request", lambda r: plotly_requests.append(r.url) if r.url.endswith("plotly.min.js") else None)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frame_sizes.append(len(payload))))

    page.goto(streamlit_server(DEMO_APP, "mode=live&interval=0.3"))
    first = read_graph(page, LIVE)
    # Drag later than 500 ms after the scene was created (plotly's first draw of a scene
    # schedules a camera keyframe 500 ms ahead; later draws are patched, see live_plotly.js).
    start = wait_for_tick(page, LIVE, first["tick"] + 3)
    assert distance(start["eye"], DEFAULT_EYE) < 1e-6, start

    drag(page, LIVE)
    wait_turned(page, READ_GRAPH, LIVE, DEFAULT_EYE)
    rotated = read_graph(page, LIVE)
    assert distance(rotated["eye"], DEFAULT_EYE) > 0.1, f"the drag did not rotate the camera: {rotated}"

    later = wait_for_tick(page, LIVE, rotated["tick"] + 6)
    assert later["x0"] != pytest.approx(rotated["x0"]), "the points did not move between ticks"
    assert distance(later["eye"], rotated["eye"]) < 1e-6, (
        f"camera changed across {later['tick'] - rotated['tick']} ticks: {rotated['eye']} -> {later['eye']}"
    )
    assert later["savedEye"] is not None and distance(later["savedEye"], rotated["eye"]) < 1e-6

    # A narrower window: the graph follows the container width and still keeps the camera.
    page.set_viewport_size({"width": 900, "height": 900})
    narrow = wait_for_tick(page, LIVE, later["tick"] + 3)
    assert narrow["width"] < later["width"], (later["width"], narrow["width"])
    assert distance(narrow["eye"], rotated["eye"]) < 1e-6, narrow

    # Updated in place: one graph node, plotly.js fetched once, small websocket frames.
    assert page.evaluate("window.__marginLabLivePlotlyCreated") == 1
    assert page.locator(LIVE).count() == 1
    assert len(plotly_requests) == 1, plotly_requests
    assert frame_sizes and max(frame_sizes) < 500_000, f"largest websocket frame {max(frame_sizes or [0])} bytes"
    assert not page.console_errors, page.console_errors
    page.screenshot(path=str(screenshot_path("live_plotly_camera_kept.png")))


@pytest.mark.canary
def test_plain_plotly_chart_loses_camera(streamlit_server, page, screenshot_path):
    """Control (streamlit#8882): the same figure through st.plotly_chart forgets the rotation.

    A canary, run with `--run-canary` (e.g. after a Streamlit upgrade): if it starts failing, Streamlit has
    fixed the bug and st.plotly_chart may replace live_plotly. st.plotly_chart builds a new graph (a new DOM
    node, a new WebGL scene) on every tick, so ticks are 4 s apart here: at 0.3 s the chart is barely ever on
    screen, and a drag (slow under software WebGL) must fit between two ticks.
    """
    page.goto(streamlit_server(DEMO_APP, "mode=plotly_chart&interval=4"))
    tick = read_graph(page, CONTROL)["tick"]
    for _attempt in range(4):
        # Drag 0.6 s after a tick (clear of plotly's 500 ms keyframe on a new scene) so that
        # it ends well before the next one; retry if a slow tick still lands in the middle.
        fresh = wait_for_tick(page, CONTROL, tick + 1)
        page.wait_for_timeout(600)  # plotly's own 500 ms timer: nothing on the page says when it has fired
        page.evaluate(f"document.querySelector({CONTROL!r}).dataset.dragged = '1'")
        drag(page, CONTROL, steps=6)
        rotated = read_graph(page, CONTROL)
        tick = rotated["tick"]
        if rotated["tick"] == fresh["tick"] and distance(rotated["eye"], DEFAULT_EYE) > 0.1:
            break
    else:
        pytest.fail(f"no drag rotated the st.plotly_chart camera between two ticks (last: {rotated})")

    later = wait_for_tick(page, CONTROL, rotated["tick"] + 1, timeout_ms=30_000)
    rebuilt = page.evaluate(f"document.querySelector({CONTROL!r}).dataset.dragged === undefined")
    assert distance(later["eye"], DEFAULT_EYE) < 1e-6, (
        f"st.plotly_chart kept the camera ({later['eye']}): streamlit#8882 may be fixed"
    )
    assert rebuilt, "st.plotly_chart reused its graph node; the reset has another cause now"
    page.screenshot(path=str(screenshot_path("plotly_chart_control_camera_reset.png")))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_figure_renders_in_chromium(streamlit_server, page, screenshot_path, theme):
    """The gallery page draws every builder of app/plots; each must render, without console errors."""
    page.goto(streamlit_server(DEMO_APP, "mode=gallery", args=("--theme.base", theme)))
    page.wait_for_selector(".st-key-fig-boundary-softmax .js-plotly-plot", timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.ml-live-plotly')].every(d => d._fullLayout && d._fullLayout.scene)",
        timeout=60_000,
    )
    names = page.evaluate(
        "() => [...document.querySelectorAll('[class*=st-key-fig-]')]"
        ".map(e => [...e.classList].find(c => c.startsWith('st-key-fig-')).slice(11))"
    )
    assert len(names) == 17, names
    for name in names:
        box = page.locator(f".st-key-fig-{name}")
        assert box.locator(".js-plotly-plot").count() == 1, f"{name} did not render"
        box.scroll_into_view_if_needed()
        box.screenshot(path=str(screenshot_path(f"gallery_{name}_{theme}.png")))
    assert not page.console_errors, page.console_errors
