"""Fixtures for browser tests: a Streamlit server per app, Debian's Chromium through Playwright.

    def test_something(streamlit_server, page):
        url = streamlit_server("tests/e2e/_live_plotly_demo_app.py", query="mode=live")
        page.goto(url)
        ...

- `chromium_path`: Debian's chromium binary. Missing: the test is skipped locally, but FAILS
  when the environment variable CI is set (a skipped browser test must not pass silently there).
- `streamlit_server(app_path, query="", *, args=())`: starts `streamlit run` on a free port bound
  to 127.0.0.1 (headless, no file watcher, no usage stats), waits on /_stcore/health and
  returns the app URL. One server per (app, args) per test module; the process group is
  killed at teardown. A server that dies or never gets healthy fails the test with its stderr.
- `screenshot_path(name)`: where to save a screenshot (artifacts/screenshots/, git-ignored).
- `browser` (session) and `page` (per test, fresh context). `page.console_errors` collects
  console errors and uncaught page errors, for tests that assert a clean console.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
HEALTH_TIMEOUT_S = 60.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def screenshot_path() -> Callable[[str], Path]:
    """screenshot_path("name.png") -> artifacts/screenshots/name.png (folder created; git-ignored)."""

    def path(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name

    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "Debian's chromium is not on PATH (apt-get install -y chromium); browser tests need it"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}. CI is set, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitServer:
    """One `streamlit run` process in its own process group."""

    def __init__(self, app_path: Path, args: tuple[str, ...] = ()):
        self.app_path = app_path
        self.port = _free_port()
        self._log_dir = tempfile.TemporaryDirectory(prefix="streamlit-e2e-")
        self._log_paths = {name: Path(self._log_dir.name) / f"{name}.log" for name in ("stdout", "stderr")}
        # Append mode: the child writes through these; the parent only reads the files by path.
        self._stdout = open(self._log_paths["stdout"], "ab")
        self._stderr = open(self._log_paths["stderr"], "ab")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
        command = [
            sys.executable, "-m", "streamlit", "run", str(app_path),
            "--server.headless", "true",
            "--server.fileWatcherType", "none",
            "--server.address", "127.0.0.1",
            "--server.port", str(self.port),
            "--browser.gatherUsageStats", "false",
            *args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._stdout, stderr=self._stderr, start_new_session=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, query: str = "") -> str:
        query = query.lstrip("?")
        return f"{self.base_url}/" + (f"?{query}" if query else "")

    def logs(self) -> str:
        parts = []
        for name, path in self._log_paths.items():
            try:
                text = path.read_bytes().decode("utf-8", "replace").strip()
            except OSError:
                text = "(log gone)"
            parts.append(f"--- streamlit {name} ---\n{text[-6000:] or '(empty)'}")
        return "\n".join(parts)

    def wait_healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {self.process.returncode} before it was healthy\n{self.logs()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/_stcore/health", timeout=2) as response:
                    if response.status == 200 and response.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                last_error = str(error)
            time.sleep(0.2)
        raise RuntimeError(f"streamlit was not healthy after {timeout_s:.0f} s ({last_error})\n{self.logs()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._stdout.close()
        self._stderr.close()
        self._log_dir.cleanup()


@pytest.fixture(scope="module")
def streamlit_server() -> Iterator[Callable[..., str]]:
    """Factory: streamlit_server(app_path, query="", *, args=()) -> URL of the running app."""
    servers: dict[tuple[str, tuple[str, ...]], StreamlitServer] = {}

    def start(app_path: str | Path, query: str = "", *, args: tuple[str, ...] = ()) -> str:
        path = Path(app_path)
        if not path.is_absolute():
            path = ROOT / path
        if not path.is_file():
            raise FileNotFoundError(f"no Streamlit app at {path}")
        key = (str(path), tuple(args))
        server = servers.get(key)
        if server is None or server.process.poll() is not None:
            for attempt in range(3):  # a free port can be taken between probe and bind
                server = StreamlitServer(path, tuple(args))
                try:
                    server.wait_healthy()
                    break
                except RuntimeError:
                    logs = server.logs()
                    server.stop()
                    if "already in use" not in logs or attempt == 2:
                        raise
            servers[key] = server
        return server.url(query)

    start.servers = servers  # type: ignore[attr-defined]  # for tests that want logs
    yield start
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    new_page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    new_page.console_errors = errors
    yield new_page
    context.close()
