"""The Playground in real Chromium: play, a hot slider move, a kept 3-D camera, a cold rebuild, a bad URL.

Journeys on one `streamlit run streamlit_app.py` server:

1. The default page (ArcFace, 3-D, digits). Play: the Epoch metric rises. A real mouse drag turns
   the live 3-D sphere while it trains; after several training ticks (new point coordinates) the
   camera is still the turned one. ArrowRight on the margin slider: the URL says margin=0.53, the model
   keeps training from where it was (hot setting: no reset), and the camera survives that full
   rerun too. Pause:
   the counter stops. Embedding dim -> 2-D: the model is rebuilt (epoch 0, a sentence says why)
   and the circle is drawn.
2. A bad link (?m=abc&dim=7): one plain sentence per bad value, defaults used, no traceback.
3. On a 1366×768 laptop screen, while it plays: the margin slider, the sphere and the target-logit
   curve are all on the first screen; a key press on the slider leads every view that shows the
   margin (the slider's own label, the sphere's caps, the target-logit curve, the decision margins)
   to show the new value, and the Epoch keeps rising. While it plays, no chart is ever blank and
   nothing fades to Streamlit's grey "stale" look. (How fast: benchmarks/ui_latency.py.) That
   screen is saved as docs/playground.png, the README's picture.

At no moment of either journey may an exception box appear: an init script watches the DOM for
`[data-testid="stException"]` from the first byte on. The console must be clean: nothing
may be fetched from the internet (the page icon is a local file for that reason).

This machine is slow for a browser (2 cores, plotly drawn in software): fragment ticks arrive
every 0.5-0.8 s, and Playwright's actionability wait on a button that re-renders every tick can
take seconds, so buttons are clicked with force=True and every wait is generous; the assertions
are still on real outcomes (counter values, URL, camera vectors, point coordinates).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .test_live_plotly import distance, drag, wait_turned

pytestmark = pytest.mark.e2e

APP = "streamlit_app.py"
ROOT = Path(__file__).resolve().parents[2]
README_SCREENSHOT = ROOT / "docs" / "playground.png"
VIEWPORT = {"width": 1400, "height": 1120}  # tall enough for the angle-statistics row
LAPTOP = {"width": 1366, "height": 768}
UNIT = "pg"  # the Playground's live unit: its widget and chart keys start with "pg-"
SPHERE = f".st-key-{UNIT}-sphere .ml-live-plotly"
CIRCLE = SPHERE  # the same chart draws the circle in 2-D
MARGIN_VIEWS = {  # every chart that shows the margin records the slider values it shows in data-shown
    "sphere caps": SPHERE,
    "target logit": f".st-key-{UNIT}-target-logit .ml-live-plotly",
    "decision margins": f".st-key-{UNIT}-decision .ml-live-plotly",
}
# app/plots/sphere.py hypersphere_figure: the 3-D view opens closer than plotly's default camera.
DEFAULT_EYE = {"x": 1.05, "y": 1.05, "z": 0.75}
LOAD_TIMEOUT_MS = 90_000
SCREENSHOT_DIR_ON_FAILURE = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TICK_TIMEOUT_MS = 45_000

# Runs in every document before the app's own scripts: records any exception box the moment it is
# added (even one that a later rerun removes again) and the Epoch metric whenever its value changes.
WATCH_PAGE = """
(() => {
  window.__exceptions = [];
  window.__epochs = [];  // [performance.now(), epoch] at every change of the Epoch metric
  const SELECTOR = '[data-testid="stException"]';
  const record = (el) => window.__exceptions.push((el.innerText || el.textContent || '').slice(0, 500));
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      for (const node of m.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.matches(SELECTOR)) record(node);
        node.querySelectorAll(SELECTOR).forEach(record);
      }
    }
  }).observe(document, { childList: true, subtree: true });
  setInterval(() => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
      const label = metric.querySelector('[data-testid="stMetricLabel"]');
      if (!label || label.innerText.trim() !== 'Epoch') continue;
      const value = parseInt(metric.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, ''), 10);
      const last = window.__epochs[window.__epochs.length - 1];
      if (Number.isFinite(value) && (!last || last[1] !== value)) window.__epochs.push([performance.now(), value]);
    }
  }, 50);
})();
"""

EPOCH = """() => {
  for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = metric.querySelector('[data-testid="stMetricLabel"]');
    if (label && label.innerText.trim() === 'Epoch')
      return parseInt(metric.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, ''), 10);
  }
  return null;
}"""

# The live sphere: rendered camera, the camera plotly saved for uirevision, and a signature of the
# feature points (first point of every class's marker trace) to prove that the data moved.
READ_SPHERE = """(selector) => {
  const gd = document.querySelector(selector);
  if (!gd || !gd._fullLayout || !gd._fullLayout.scene || !gd._fullLayout.scene._scene) return null;
  const saved = gd.layout.scene && gd.layout.scene.camera;
  const points = gd._fullData.filter((t) => t.type === 'scatter3d' && t.mode === 'markers' && t.x && t.x.length);
  return {
    eye: gd._fullLayout.scene._scene.getCamera().eye,
    savedEye: saved && saved.eye ? saved.eye : null,
    points: points.map((t) => [Number(t.x[0]), Number(t.y[0]), Number(t.z[0])]),
    subtitle: (gd.layout.title && gd.layout.title.subtitle && gd.layout.title.subtitle.text) || '',
  };
}"""


# Samples every animation frame for `ms`: frames where a live chart has nothing drawn (blank) or where
# an element of the main area is faded (Streamlit greys out stale elements), and how many ticks arrived.
WATCH_FRAMES = r"""(ms) => new Promise((resolve) => {
  const out = { frames: 0, blank: 0, faded: 0, ticks: 0, which: new Set() };
  const first = window.__epochs.length;
  const t0 = performance.now();
  const poll = () => {
    out.frames += 1;
    const charts = [...document.querySelectorAll('.ml-live-plotly')];
    if (charts.some((d) => !d.querySelector('.main-svg'))) out.blank += 1;
    const boxes = document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]');
    const faded = [...boxes].filter((e) => parseFloat(getComputedStyle(e).opacity) < 0.9);
    if (faded.length) out.faded += 1;
    // Name what faded (its key class or its first words), so a failure says where to look.
    for (const e of faded) out.which.add(e.className.match(/st-key-\S+/)?.[0] || e.innerText.slice(0, 30));
    if (performance.now() - t0 < ms) { requestAnimationFrame(poll); return; }
    out.ticks = window.__epochs.length - first;
    resolve({ ...out, which: [...out.which].slice(0, 12) });
  };
  requestAnimationFrame(poll);
})"""

# Ready for the README picture: plotly's hover-only modebars have faded out (their groups reach opacity 0 once the
# pointer has left the chart) and nothing is marked stale.
SETTLED = """() => [...document.querySelectorAll('.modebar--hover .modebar-group')]
    .every((e) => getComputedStyle(e).opacity === '0') && !document.querySelector('[data-stale="true"]')"""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def open_app(page, url: str, console: list[tuple[str, str]]) -> None:
    page.set_viewport_size(VIEWPORT)
    page.on(
        "console",
        lambda message: (
            console.append((message.text, (message.location or {}).get("url", ""))) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: console.append((f"uncaught: {error}", "")))
    page.add_init_script(WATCH_PAGE)
    page.goto(url)


def assert_no_exception(page) -> None:
    seen = page.evaluate("window.__exceptions")
    shown = page.locator('[data-testid="stException"]').count()
    assert not seen and shown == 0, f"exception box on the page: {seen}"


def real_console_errors(console: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Console errors (all of them: the app must not fetch anything from the internet)."""
    return list(console)


def shot(page, screenshot_path, name: str) -> Path:
    """Screenshot of the viewport after checking that no exception box ever appeared."""
    assert_no_exception(page)
    path = screenshot_path(f"playground_{name}.png")
    page.screenshot(path=str(path))
    return path


def epoch(page) -> int:
    # The metric's code loads on demand: on a busy machine it can appear after the sphere.
    page.wait_for_function(f"() => ({EPOCH})() !== null", timeout=LOAD_TIMEOUT_MS)
    value = page.evaluate(EPOCH)
    assert value is not None, "no Epoch metric on the page"
    return value


def wait_epoch(page, at_least: int, timeout_ms: int = TICK_TIMEOUT_MS) -> int:
    page.wait_for_function(f"() => ({EPOCH})() >= {at_least}", timeout=timeout_ms)
    return epoch(page)


def epochs_since(page, since_ms: float) -> list[int]:
    """Every Epoch value the page showed after performance.now() == since_ms."""
    return [value for t, value in page.evaluate("window.__epochs") if t >= since_ms]


def read_sphere(page) -> dict:
    page.wait_for_function(f"() => ({READ_SPHERE})({SPHERE!r}) !== null", timeout=LOAD_TIMEOUT_MS)
    return page.evaluate(READ_SPHERE, SPHERE)


def button(page, key: str):
    # Streamlit renders a hidden twin of every button (for sizing); the role query skips it.
    return page.locator(f".st-key-{UNIT}-{key}").get_by_role("button")


def margin_slider(page):
    return page.get_by_role("slider", name="Margin m (rad)")


def shown_margin(page, selector: str) -> float | None:
    """The margin a chart shows now (its data-shown record), or None."""
    return page.evaluate(
        """(selector) => { const el = document.querySelector(selector);
             const shown = el && el.dataset.shown ? JSON.parse(el.dataset.shown) : {};
             return shown['pg-margin'] === undefined ? null : shown['pg-margin']; }""",
        selector,
    )


def press(page, key: str, label_now: str, label_after: str) -> None:
    """Click a button that re-renders every tick (force: skip the actionability wait), then see it flip."""
    target = button(page, key)
    target.filter(has_text=label_now).wait_for(timeout=LOAD_TIMEOUT_MS)
    target.click(force=True)
    button(page, key).filter(has_text=label_after).wait_for(timeout=TICK_TIMEOUT_MS)


def wait_caption(page, pattern: str, timeout_ms: int = TICK_TIMEOUT_MS) -> str:
    """The first caption matching `pattern` (a JS regex); on a timeout the error lists the captions shown."""
    script = """(pattern) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .map((e) => e.innerText.trim()).find((t) => new RegExp(pattern).test(t)) || null"""
    try:
        page.wait_for_function(f"(pattern) => ({script})(pattern) !== null", arg=pattern, timeout=timeout_ms)
    except Exception as error:
        captions = page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
        page.screenshot(path=str(SCREENSHOT_DIR_ON_FAILURE / "playground_FAILED_wait_caption.png"))
        raise AssertionError(f"no caption matching {pattern!r} within {timeout_ms} ms; captions: {captions}") from error
    return page.evaluate(script, pattern)


def wait_points_moved(page, before: dict[str, dict], timeout_ms: int = TICK_TIMEOUT_MS) -> None:
    """Wait until every chart (selector -> its earlier READ_SPHERE) shows other points: a training tick has been
    drawn there, not only counted by the Epoch metric (a busy browser draws the newest figure later). On a
    timeout it returns: the caller's assertion then names the chart that did not follow."""
    firsts = {selector: read["points"] for selector, read in before.items()}
    script = f"""(firsts) => Object.entries(firsts).every(([selector, points]) => {{
        const now = ({READ_SPHERE})(selector);
        return now !== null && now.points.length === points.length
            && now.points.some((p, i) => p.some((v, j) => Math.abs(v - points[i][j]) > 1e-3)); }})"""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(script, arg=firsts, timeout=timeout_ms)


def sphere_moved(before: dict, after: dict) -> float:
    return max(
        (abs(a - b) for p, q in zip(before["points"], after["points"], strict=True) for a, b in zip(p, q, strict=True)),
        default=0.0,
    )


# --------------------------------------------------------------------------------------------
# Journeys
# --------------------------------------------------------------------------------------------


def test_play_hot_margin_camera_and_cold_rebuild(streamlit_server, page, screenshot_path):
    console: list[tuple[str, str]] = []
    open_app(page, streamlit_server(APP), console)

    # 1. The Playground and its sphere are drawn.
    page.get_by_role("heading", name=re.compile("Playground")).wait_for(timeout=LOAD_TIMEOUT_MS)
    first = read_sphere(page)
    assert distance(first["eye"], DEFAULT_EYE) < 1e-6, first["eye"]
    assert len(first["points"]) == 10, "one marker trace per digit class"
    assert epoch(page) == 0
    shot(page, screenshot_path, "1_loaded")

    # 2. Play: the counter rises.
    press(page, "play", "Play", "Pause")
    started = wait_epoch(page, 3)
    later = wait_epoch(page, started + 3)
    assert later > started
    shot(page, screenshot_path, "2_playing")

    # 3. A real drag turns the camera; it stays turned while several ticks redraw the points.
    drag(page, SPHERE)
    wait_turned(page, READ_SPHERE, SPHERE, DEFAULT_EYE)
    rotated = read_sphere(page)
    assert distance(rotated["eye"], DEFAULT_EYE) > 0.1, f"the drag did not turn the camera: {rotated['eye']}"
    turned_at = epoch(page)
    wait_epoch(page, turned_at + 8)
    wait_points_moved(page, {SPHERE: rotated})
    after_ticks = read_sphere(page)
    assert sphere_moved(rotated, after_ticks) > 1e-3, "the points did not move while training"
    assert distance(after_ticks["eye"], rotated["eye"]) < 1e-4, (
        f"camera lost during training: {rotated['eye']} -> {after_ticks['eye']}"
    )
    assert after_ticks["savedEye"] is not None and distance(after_ticks["savedEye"], rotated["eye"]) < 1e-4
    shot(page, screenshot_path, "3_rotated_while_training")

    # 4. Hot setting: three ArrowRight presses on the margin slider while it plays.
    slider = margin_slider(page)
    before_move = epoch(page)
    moved_at = page.evaluate("performance.now()")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"[?&]margin=0\.53(&|$)"), timeout=TICK_TIMEOUT_MS)
    wait_caption(page, r"Applied to the running model, no reset: .*margin 0\.5\d* → 0\.53")
    assert margin_slider(page).get_attribute("aria-valuetext") == "0.53 rad · 30.4°"  # degrees on the thumb
    continued = wait_epoch(page, before_move + 8)
    shown = epochs_since(page, moved_at)
    assert shown and min(shown) >= before_move, f"the epoch went back after a hot change: {before_move} -> {shown}"
    assert shown == sorted(shown), f"the epoch counter was not monotone after the move: {shown}"
    assert continued > before_move
    hot = read_sphere(page)
    assert "m = 0.53 rad" in hot["subtitle"], hot["subtitle"]
    # (The camera across this full rerun: test_camera_survives_the_first_hot_change.)
    # For the README picture: no hover (plotly's modebar and the sidebar's collapse arrow fade out), no focus ring.
    page.mouse.move(VIEWPORT["width"] - 10, VIEWPORT["height"] // 2)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.wait_for_function(SETTLED, timeout=TICK_TIMEOUT_MS)
    shot(page, screenshot_path, "4_margin_moved_playing")

    # 5. Pause: the counter stops.
    # The two waits are the behaviour under test: a tick already under way may land in the first 1.5 s, and then
    # the counter must stand still for 2.5 s (three to five tick intervals), which no condition can show sooner.
    press(page, "play", "Pause", "Play")
    page.wait_for_timeout(1500)
    paused = epoch(page)
    page.wait_for_timeout(2500)
    assert epoch(page) == paused, "the epoch still rose after Pause"

    # 6. Cold setting: Embedding dim -> 2-D rebuilds the model from the seed and draws the circle.
    page.locator('[data-testid="stRadio"]').filter(has_text="Embedding dim").get_by_text("2-D circle").click(force=True)
    page.wait_for_url(re.compile(r"[?&]embedding_dim=2(&|$)"), timeout=TICK_TIMEOUT_MS)
    page.get_by_text("Embedding dim changed: model rebuilt from seed 0.").first.wait_for(timeout=TICK_TIMEOUT_MS)
    page.wait_for_function(
        f"() => {{ const g = document.querySelector({CIRCLE!r}); return g && g._fullLayout && !g._fullLayout.scene; }}",
        timeout=LOAD_TIMEOUT_MS,
    )
    page.wait_for_function(f"() => ({EPOCH})() === 0", timeout=TICK_TIMEOUT_MS)
    assert re.search(r"[?&]margin=0\.53(&|$)", page.url), f"the hot margin was lost by the rebuild: {page.url}"
    shot(page, screenshot_path, "5_dim2_rebuilt")

    assert not real_console_errors(console), real_console_errors(console)


def test_bad_url_gives_one_line_notices(streamlit_server, page, screenshot_path):
    console: list[tuple[str, str]] = []
    open_app(page, streamlit_server(APP, "m=abc&dim=7"), console)
    page.get_by_role("heading", name=re.compile("Playground")).wait_for(timeout=LOAD_TIMEOUT_MS)
    read_sphere(page)  # the defaults were used: dim 3, the sphere is drawn

    alerts = page.locator('[data-testid="stAlert"]')
    alerts.filter(has_text="dim=7").wait_for(timeout=TICK_TIMEOUT_MS)
    # The text of each notice without its icon (a Material Symbols ligature, e.g. "link_off").
    texts = [text.strip() for text in alerts.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()]
    # One notice per bad value, naming the key, the raw value, the cause and the value used instead.
    expected = [
        r"^URL value m=abc is not a number; using the default 0\.5\.$",
        r"^URL value dim=7 is not one of 2, 3, 16; using the default 3\.$",
    ]
    for pattern in expected:
        matching = [text for text in texts if re.search(pattern, text)]
        assert len(matching) == 1, f"expected one notice matching {pattern!r}, got {texts}"
    assert all("\n" not in text for text in texts), f"a notice spans several lines: {texts}"
    # The app writes the clean values back: the link now reproduces what is shown.
    page.wait_for_url(re.compile(r"[?&]margin=0\.5(&|$)"), timeout=TICK_TIMEOUT_MS)
    assert re.search(r"[?&]embedding_dim=3(&|$)", page.url), page.url
    assert epoch(page) == 0
    shot(page, screenshot_path, "6_bad_url_notices")
    assert not real_console_errors(console), real_console_errors(console)


def test_camera_survives_the_first_hot_change(streamlit_server, page, screenshot_path):
    """A turned sphere stays turned when the margin slider moves (a full rerun of the page), paused or playing."""
    console: list[tuple[str, str]] = []
    open_app(page, streamlit_server(APP), console)
    read_sphere(page)
    # Clear of plotly's camera keyframe, 500 ms after a new scene (a timer of plotly's own that nothing on the
    # page shows; a drag inside it is undone). Paused, no redraw follows to re-arm it.
    page.wait_for_timeout(1000)
    drag(page, SPHERE)
    wait_turned(page, READ_SPHERE, SPHERE, DEFAULT_EYE)
    rotated = read_sphere(page)
    assert distance(rotated["eye"], DEFAULT_EYE) > 0.1, f"the drag did not turn the camera: {rotated['eye']}"

    slider = margin_slider(page)
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"[?&]margin=0\.51(&|$)"), timeout=TICK_TIMEOUT_MS)
    page.wait_for_function(
        f"() => {{ const g = ({READ_SPHERE})({SPHERE!r}); return g !== null && g.subtitle.includes('m = 0.51'); }}",
        timeout=TICK_TIMEOUT_MS,
    )
    moved = read_sphere(page)
    shot(page, screenshot_path, "7_camera_after_first_hot_change")
    assert not real_console_errors(console), real_console_errors(console)
    created = page.evaluate("window.__marginLabLivePlotlyCreatedByKey")
    assert created[f"{UNIT}-sphere"] == 1, f"the live graph was rebuilt by the slider move: {created}"
    assert distance(moved["eye"], rotated["eye"]) < 1e-4, (
        f"camera lost across the slider move: {rotated['eye']} -> {moved['eye']}"
    )


def test_laptop_screen_playing_margin_reaches_every_view(streamlit_server, page, screenshot_path):
    """1366×768: slider, sphere and curve on one screen; a key press while playing reaches every margin view."""
    console: list[tuple[str, str]] = []
    open_app(page, streamlit_server(APP), console)
    page.set_viewport_size(LAPTOP)
    read_sphere(page)
    for selector in MARGIN_VIEWS.values():
        page.wait_for_function(
            "(s) => { const el = document.querySelector(s); return !!(el && el.dataset.shown); }",
            arg=selector, timeout=LOAD_TIMEOUT_MS,
        )  # fmt: skip

    # See what you move: the margin slider, the live sphere and the curve it bends, with no scrolling.
    for name, locator in (("margin slider", margin_slider(page)), ("sphere", page.locator(SPHERE)),
                          ("target-logit curve", page.locator(MARGIN_VIEWS["target logit"]))):  # fmt: skip
        box = locator.bounding_box()
        assert box is not None, f"the {name} is not drawn"
        inside = box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"] + 1
        assert inside and box["y"] + box["height"] <= LAPTOP["height"] + 1, f"the {name} is off screen: {box}"

    press(page, "play", "Play", "Pause")
    wait_epoch(page, 2)
    # While it plays, no live chart goes blank and nothing in the page fades to Streamlit's grey
    # "stale" look: watched on every animation frame for 5 s (about 5 training ticks).
    seen = page.evaluate(WATCH_FRAMES, 5000)
    assert seen["frames"] > 20 and seen["ticks"] >= 3, seen
    assert seen["blank"] == 0 and seen["faded"] == 0, seen
    shot(page, screenshot_path, "8_laptop_playing")
    slider = margin_slider(page)
    slider.focus()
    for want in (0.51, 0.52, 0.53):
        before = epoch(page)
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            """([want, views]) => {
                 const input = document.querySelector('.st-key-pg-margin input[type="range"]');
                 if (!input || !(input.getAttribute('aria-valuetext') || '').startsWith(want.toFixed(2))) return false;
                 return Object.values(views).every((s) => {
                   const el = document.querySelector(s);
                   const shown = el && el.dataset.shown ? JSON.parse(el.dataset.shown) : {};
                   return shown['pg-margin'] !== undefined && Math.abs(shown['pg-margin'] - want) < 1e-6;
                 });
               }""",
            arg=[want, MARGIN_VIEWS], timeout=TICK_TIMEOUT_MS,
        )  # fmt: skip
        wait_epoch(page, before + 1)  # and the training goes on
    # The server's figures follow the previews: the sphere's subtitle and the URL come to say 0.53 too.
    page.wait_for_url(re.compile(r"[?&]margin=0\.53(&|$)"), timeout=TICK_TIMEOUT_MS)
    page.wait_for_function(
        f"() => {{ const g = ({READ_SPHERE})({SPHERE!r}); return g !== null && g.subtitle.includes('m = 0.53'); }}",
        timeout=TICK_TIMEOUT_MS,
    )
    for name, selector in MARGIN_VIEWS.items():
        assert shown_margin(page, selector) == pytest.approx(0.53), name
    path = shot(page, screenshot_path, "9_laptop_margin_moved")
    README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, README_SCREENSHOT)
    assert not real_console_errors(console), real_console_errors(console)
