"""Scrubbing a finished margin sweep in Chromium: how many WebSocket messages it costs (goal: none).

    python benchmarks/sweep_ui.py               # prints scrub_requests: N
    python benchmarks/sweep_speed.py --ui       # the same line after sweep_vs_separate

Starts `streamlit run tests/app/_sweep_app.py` (the Compare page's sweep section alone), runs a small sweep
(CosFace, digits, 3-D, 3 epochs) in headless Chromium, then drags the figure's slider from end to end and clicks
every step. An init script wraps the page's WebSocket (as benchmarks/ui_latency.py does) and counts every
message in both directions; scrub_requests is the count between the first and the last scrubbing move (plus a
quiet second after it). tests/e2e/test_sweep.py runs the same journey and asserts it is 0.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
SWEEP_APP = REPO / "tests" / "app" / "_sweep_app.py"


def figure_selector(key: str) -> str:
    """The sweep figure of the section rendered with `key` ("sw" on the harness, "cmp-sweep" on Compare)."""
    return f".st-key-{key}-figure .js-plotly-plot"


FIGURE = figure_selector("sw")

# Before the app's own scripts: every WebSocket message, in and out, counted.
COUNT_MESSAGES = """
(() => {
  window.__wsIn = 0;
  window.__wsOut = 0;
  window.__wsLastIn = 0;
  const Native = window.WebSocket;
  window.WebSocket = class CountedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => { window.__wsIn += 1; window.__wsLastIn = performance.now(); });
    }
    send(data) {
      window.__wsOut += 1;
      return super.send(data);
    }
  };
})();
"""

# What the figure shows now: the slider's active step, the title, the "current m" marker's x.
def shown_js(figure: str) -> str:
    return f"""() => {{
  const gd = document.querySelector({figure!r});
  if (!gd || !gd._fullLayout || !gd._fullLayout.sliders || !gd._fullLayout.sliders.length) return null;
  const marker = gd.data.find((t) => t.meta && t.meta.role === 'current');
  return {{
    active: gd._fullLayout.sliders[0].active,
    steps: gd._fullLayout.sliders[0].steps.length,
    frames: (gd._transitionData && gd._transitionData._frames || []).length,
    title: gd._fullLayout.title.text,
    marker_x: marker ? marker.x[0] : null,
  }};
}}"""


SHOWN = shown_js(FIGURE)


def start_server(app: Path) -> SimpleNamespace:
    """`streamlit run <app>` from the repository root (so `app` and `toy_models` import), in its own process
    group; returns (process, url(query)) once healthy."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
         "--server.fileWatcherType", "none", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return SimpleNamespace(process=process, url=lambda query="": f"{base}/?{query}")
        except OSError:
            time.sleep(0.2)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError(f"{app.name} did not start")


def wait_quiet(page, quiet_ms: int = 1000, timeout_ms: int = 60_000) -> None:
    """Until the server has sent nothing for quiet_ms and nothing on the page is marked stale."""
    page.wait_for_function(
        f"() => performance.now() - window.__wsLastIn > {quiet_ms} && !document.querySelector('[data-stale=\"true\"]')",
        timeout=timeout_ms,
    )


def run_small_sweep(page, url: str, epochs: int = 3, *, key: str = "sw", open_section=None) -> dict:
    """Open the section (`open_section(page)` first, e.g. a tab's click), set the epochs, press Start and wait
    for the finished figure; returns what the figure shows."""
    page.add_init_script(COUNT_MESSAGES)
    page.goto(url)
    if open_section is not None:
        open_section(page)
    epochs_box = page.locator(f".st-key-{key}-epochs input")
    epochs_box.wait_for(timeout=90_000)
    epochs_box.fill(str(epochs))
    epochs_box.press("Enter")
    wait_quiet(page)
    page.locator(f".st-key-{key}-start button").click()
    shown = shown_js(figure_selector(key))
    page.wait_for_function(f"({shown})() !== null", timeout=120_000)
    wait_quiet(page)
    return page.evaluate(shown)


def scrub(page, *, key: str = "sw") -> tuple[int, list[dict]]:
    """Drag the slider's grip from the first step to the last, then click every step from last to first.

    Returns (WebSocket messages in both directions during the scrubbing, what the figure showed after each move).
    """
    shown = shown_js(figure_selector(key))
    figure = page.locator(figure_selector(key))
    figure.scroll_into_view_if_needed()
    rail = figure.locator("rect.slider-rail-touch-rect").first.bounding_box()
    grip = figure.locator("rect.slider-grip-rect").first.bounding_box()
    steps = page.evaluate(shown)["steps"]
    x0 = rail["x"] + 15  # plotly's slider rail: the first step sits about 15 px in from each end
    width = rail["width"] - 30
    y = grip["y"] + grip["height"] / 2
    before = page.evaluate("window.__wsIn + window.__wsOut")
    seen = []
    page.mouse.move(grip["x"] + grip["width"] / 2, y)
    page.mouse.down()
    for i in range(steps):
        page.mouse.move(x0 + width * i / (steps - 1), y, steps=4)
        page.wait_for_timeout(150)
        seen.append(page.evaluate(shown))
    page.mouse.up()
    for i in reversed(range(steps)):
        page.mouse.click(x0 + width * i / (steps - 1), y)
        page.wait_for_timeout(150)
        seen.append(page.evaluate(shown))
    page.wait_for_timeout(1000)  # anything the scrubbing set off would have been sent by now
    return page.evaluate("window.__wsIn + window.__wsOut") - before, seen


def scrub_requests() -> tuple[int, str]:
    """(messages while scrubbing, a line of detail), measured on a server and browser of its own."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("scrub_requests needs Debian's chromium on the PATH (apt-get install chromium)")
    server = start_server(SWEEP_APP)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            first = run_small_sweep(page, server.url("losses=cosface&dim=3"))
            count, seen = scrub(page)
            browser.close()
    finally:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=20)
    shown = sorted({s["active"] for s in seen if s})
    return count, (f"{first['frames']} frames; the slider showed steps {shown} while scrubbing, "
                   f"{len(seen)} moves")


if __name__ == "__main__":
    count, detail = scrub_requests()
    print(f"  {detail}")
    print(f"scrub_requests: {count}")
