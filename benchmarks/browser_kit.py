"""What the browser benchmarks share: a Streamlit server of the app started on loopback, a page instrumented
with WebSocket and Epoch timing, and the live unit's run bar driven as a user would (Play, Reset, the pace).

Used by ui_latency.py, pace_speed.py and compare_speed.py. Needs Chromium (Debian's `chromium`) and Playwright.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

APP = REPO / "streamlit_app.py"
BARE = REPO / "benchmarks" / "bare_reference_app.py"

UNIT = "pg"  # the Playground's live unit: its widgets and charts are keyed "pg-..."


# Injected into every page before its own scripts: WebSocket timing, the Epoch metric over time, and the
# moment the page's first 3-D scatter (with its points) is drawn. __FIRST_PLOT_SELECTOR__ is filled in.
INSTRUMENT = """
(() => {
  const size = (d) => (d && (d.byteLength ?? d.size ?? d.length)) || 0;
  window.__wsIn = [];   // [performance.now(), bytes] for every message from the server
  window.__wsOut = [];  // [performance.now(), bytes] for every message to the server
  const Native = window.WebSocket;
  window.WebSocket = class InstrumentedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => window.__wsIn.push([performance.now(), size(e.data)]));
    }
    send(data) {
      window.__wsOut.push([performance.now(), size(data)]);
      return super.send(data);
    }
  };

  window.__epochs = [];  // [performance.now(), epoch] whenever the Epoch metric changes
  setInterval(() => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
      const label = metric.querySelector('[data-testid="stMetricLabel"]');
      if (!label || label.innerText.trim() !== 'Epoch') continue;
      const value = parseInt(metric.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, ''), 10);
      const last = window.__epochs[window.__epochs.length - 1];
      if (Number.isFinite(value) && (!last || last[1] !== value)) window.__epochs.push([performance.now(), value]);
    }
  }, 50);

  // A data signature of a plotly graph: trace lengths and a weighted sum of sampled y values.
  window.__signature = (selector) => {
    const gd = document.querySelector(selector);
    if (!gd || !gd._fullData) return null;
    const parts = [];
    for (const trace of gd._fullData) {
      const y = trace.y;
      if (!y || !y.length) continue;
      const step = Math.max(1, Math.floor(y.length / 32));
      let acc = y.length;
      for (let i = 0; i < y.length; i += step) acc += Number(y[i]) * (i + 1);
      parts.push(acc.toFixed(6));
    }
    return parts.join('|');
  };

  const FIRST = __FIRST_PLOT_SELECTOR__;
  window.__firstPlot = null;
  if (FIRST) {
    const drawn = () => {
      const gd = document.querySelector(FIRST);
      return !!(gd && gd._fullLayout && gd._fullLayout.scene && gd._fullLayout.scene._scene && gd._fullData &&
        gd._fullData.some((t) => t.type === 'scatter3d' && t.mode === 'markers' && t.x && t.x.length));
    };
    const poll = () => {
      if (drawn()) window.__firstPlot = performance.now();
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  }
})();
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`streamlit run <app>` from the repository root, in its own process group, logs in a temp file."""

    def __init__(self, app: Path, flags: list[str] = ()):
        self.app = app
        self.port = _free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"ui_latency_{app.stem}_", suffix=".log", delete=False)
        root = REPO if app.parent == REPO / "benchmarks" else app.parent  # where its .streamlit/ and packages are
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
             "--server.fileWatcherType", "none", "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", *flags],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{app.name} exited early:\n{Path(self.log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{app.name} was not healthy after 90 s")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, query: str = "") -> str:
        return f"{self.base}/" + (f"?{query}" if query else "")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def new_page(browser, first_plot_selector: str | None = None):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(INSTRUMENT.replace("__FIRST_PLOT_SELECTOR__", repr(first_plot_selector or "")))
    page.set_default_timeout(120_000)
    return context, page


def wait_quiet(page, quiet_ms: int = 400) -> None:
    """Until the server has sent nothing for quiet_ms and no element is marked stale (the rerun is over)."""
    page.wait_for_function(
        f"""() => {{
          const last = window.__wsIn.length ? window.__wsIn[window.__wsIn.length - 1][0] : 0;
          return performance.now() - last > {quiet_ms} && !document.querySelector('[data-stale="true"]');
        }}""",
        timeout=60_000,
    )


def button(page, key: str, unit: str = UNIT):
    return page.locator(f".st-key-{unit}-{key}").get_by_role("button")  # (the role query skips Streamlit's hidden twin)


def click(page, key: str, until_label: str, unit: str = UNIT) -> None:
    button(page, key, unit).click(force=True)  # it re-renders every tick: skip Playwright's actionability wait
    button(page, key, unit).filter(has_text=until_label).wait_for(timeout=60_000)


def choose_pace(page, name: str, unit: str = UNIT) -> None:
    """Pick a pace in a unit's run bar (app.training.pace: watch, steady, fast, max)."""
    from app.training.pace import PACES

    box = page.locator(f".st-key-{unit}-pace")
    box.click()
    page.get_by_role("option", name=PACES[name].label).click()
    # Streamlit's selectbox shows its value in a combobox input, which has_text does not read.
    page.wait_for_function("([selector, label]) => document.querySelector(selector)?.value === label",
                           arg=[f".st-key-{unit}-pace input", PACES[name].label], timeout=60_000)


def app_epochs_per_s(page, seconds: float, unit: str = UNIT) -> dict:
    """Reset, Play, let it run `seconds`, Pause: epochs per second from the Epoch metric's change times,
    with the training ticks (fragment rerun requests) and the bytes the server sent per tick."""
    if button(page, "play", unit).filter(has_text="Pause").count():
        click(page, "play", "Play", unit)
    button(page, "reset", unit).click(force=True)
    page.wait_for_function(
        "() => { const e = window.__epochs; return e.length && e[e.length - 1][1] === 0; }", timeout=60_000
    )
    wait_quiet(page)
    click(page, "play", "Pause", unit)
    page.wait_for_function(
        "() => { const e = window.__epochs; return e.length && e[e.length - 1][1] > 0; }", timeout=60_000
    )
    start = page.evaluate("performance.now()")
    time.sleep(seconds)
    end = page.evaluate("performance.now()")
    click(page, "play", "Play", unit)
    window = [(t, e) for t, e in page.evaluate("window.__epochs") if start <= t <= end]
    (t_a, e_a), (t_b, e_b) = window[0], window[-1]
    if t_b <= t_a:
        raise RuntimeError(f"the Epoch metric did not move in {seconds} s of playing: {window}")
    span_s = (end - start) / 1000.0
    ticks = sum(1 for t, _ in page.evaluate("window.__wsOut") if start <= t <= end)
    received = sum(n for t, n in page.evaluate("window.__wsIn") if start <= t <= end)
    return {
        "epochs_per_s": (e_b - e_a) / ((t_b - t_a) / 1000.0),
        "ticks_per_s": ticks / span_s,
        "epochs_per_tick": (e_b - e_a) / max(ticks, 1),
        "kb_per_tick": received / 1000.0 / max(ticks, 1),
    }


def median(values) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")
