"""The pace control in the browser: does *watch* hold its epochs per second, and is *as fast as the machine*
no slower than Play was before the pace existed? Ratios measured in one run.

    python benchmarks/pace_speed.py                 # about 4 minutes on a 2-core machine
    python benchmarks/pace_speed.py --seconds 8     # shorter rounds (noisier)
    python benchmarks/pace_speed.py --baseline REV  # the commit whose Play is the baseline (default e47d777,
                                                    # the last one before the pace control)

It starts two Streamlit servers: this checkout's app, and the baseline commit's app (extracted with
`git archive` into a temporary folder), and drives both in headless Chromium (Debian's `chromium`), reading the
Epoch metric in the page (benchmarks/ui_latency.py's instrumentation). Rounds alternate between the apps.
Prints, per pace:

    pace_<name>_epochs_per_s: E  (target T)  ratio_to_target: R     watch, steady, fast: the pace's own goal
    pace_max_vs_baseline_play: R                                    goal >= 0.9 (not slower than before)

Nothing here is a test: a missed goal is reported, not failed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from browser_kit import REPO, Server, app_epochs_per_s, choose_pace, new_page

sys.path.insert(0, str(REPO))
from app.training.pace import PACES


def extract(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "streamlit_app.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="e47d777")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="pace_baseline_") as folder, sync_playwright() as playwright:
        servers = {"now": Server(REPO / "streamlit_app.py"), "baseline": Server(extract(args.baseline, Path(folder)))}
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        results: dict[str, list[float]] = {}
        try:
            pages = {}
            for name, server in servers.items():
                _context, page = new_page(browser)
                page.goto(server.url())
                page.locator(".st-key-pg-play").wait_for(timeout=120_000)
                pages[name] = page
            for _ in range(args.rounds):
                for pace in PACES:
                    choose_pace(pages["now"], pace)
                    rate = app_epochs_per_s(pages["now"], args.seconds)["epochs_per_s"]
                    results.setdefault(pace, []).append(rate)
                rate = app_epochs_per_s(pages["baseline"], args.seconds)["epochs_per_s"]
                results.setdefault("baseline", []).append(rate)
        finally:
            browser.close()
            for server in servers.values():
                server.stop()
    median = {name: statistics.median(values) for name, values in results.items()}
    for name, pace in PACES.items():
        if pace.epochs_per_s is not None:
            print(f"pace_{name}_epochs_per_s: {median[name]:.2f}  (target {pace.epochs_per_s:g})  "
                  f"ratio_to_target: {median[name] / pace.epochs_per_s:.2f}")
    print(f"pace_max_epochs_per_s: {median['max']:.1f}  baseline_play_epochs_per_s: {median['baseline']:.1f}")
    print(f"pace_max_vs_baseline_play: {median['max'] / median['baseline']:.2f}   (goal >= 0.9)")
    print(f"rounds: {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
