"""How fast the Compare page trains while it plays, against its MultiTrainer run bare in a loop.

    python benchmarks/compare_speed.py            # 2 rounds of 20 s playing / 10 s bare, about 2 minutes
    python benchmarks/compare_speed.py --quick    # 1 round of 10 s / 5 s

Prints `compare_epochs_per_s_vs_bare`: epochs per second of the default Compare page (softmax, SphereFace,
CosFace, ArcFace on digits in 3-D) playing in headless Chromium, read from its Epoch metric, divided by the
epochs per second of a MultiTrainer with the same four member configs advancing epoch after epoch in this
process (one thread, as the app). The two sides alternate, A B A B, and the median of the per-round ratios is
printed. Goal: >= 0.5 (issue 8). The page also draws four 3-D views and the table every tick; the browser
shares the two cores with the training.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_kit import APP, Server, app_epochs_per_s, choose_pace, median, new_page

UNIT = "cmp"


def bare_multi():
    """The MultiTrainer the Compare page builds by default (same dataset, member configs, one thread)."""
    import torch

    from app.compare.values import default_member_values, default_shared
    from app.live.unit import config_for
    from toy_models.data import load_dataset
    from toy_models.train import DEFAULT_COMPARE_LOSSES, MultiTrainer, TrainConfig

    torch.set_num_threads(1)
    cfg = TrainConfig()
    dataset = load_dataset("digits", None, seed=cfg.data_seed, holdout_classes=cfg.holdout_classes,
                           max_train=cfg.max_train, max_test=cfg.max_test,
                           num_identities=cfg.num_identities)  # fmt: skip
    shared = default_shared()  # as the page opens
    configs = [config_for(default_member_values(loss, shared, dataset.num_classes), dataset, None)
               for loss in DEFAULT_COMPARE_LOSSES]  # fmt: skip
    return MultiTrainer(configs, dataset=dataset)


def multi_epochs_per_s(multi, seconds: float) -> float:
    start_epoch, start = multi.epoch, time.perf_counter()
    while time.perf_counter() - start < seconds:
        multi.advance(epochs=1)
        multi.snapshots()  # the page takes one picture of every member per tick; count one per epoch here
    return (multi.epoch - start_epoch) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one shorter round (noisier)")
    args = parser.parse_args()
    rounds, play_s, bare_s = (1, 10.0, 5.0) if args.quick else (2, 20.0, 10.0)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: no chromium on the PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    multi = bare_multi()
    server = Server(APP)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            context, page = new_page(browser, f".st-key-{UNIT}-arcface-sphere .ml-live-plotly")
            page.set_viewport_size({"width": 1366, "height": 768})
            page.goto(server.url().rstrip("/") + "/compare")
            page.wait_for_function("window.__firstPlot !== null", timeout=120_000)
            multi_epochs_per_s(multi, 2.0)  # warm-up
            choose_pace(page, "max", unit=UNIT)  # as fast as the machine (the page opens at a steady pace)
            app_rates, bare_rates, rows = [], [], []
            for _ in range(rounds):
                row = app_epochs_per_s(page, play_s, unit=UNIT)
                rows.append(row)
                app_rates.append(row["epochs_per_s"])
                bare_rates.append(multi_epochs_per_s(multi, bare_s))
            context.close()
            browser.close()
    finally:
        server.stop()
    ratios = [a / b for a, b in zip(app_rates, bare_rates, strict=True)]
    print(f"compare_epochs_per_s: page {median(app_rates):.1f}, bare MultiTrainer {median(bare_rates):.1f} "
          f"({rounds} round(s): page {play_s:.0f} s playing, MultiTrainer {bare_s:.0f} s; 4 members)")
    per_tick = {k: median([r[k] for r in rows]) for k in ("ticks_per_s", "epochs_per_tick", "kb_per_tick")}
    print("  page: " + ", ".join(f"{k} {v:.2f}" for k, v in per_tick.items()))
    value = median(ratios)
    print(f"compare_epochs_per_s_vs_bare: {value:.2f}   (goal >= 0.5: {'met' if value >= 0.5 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
