"""UI latency of the Playground against a bare Streamlit app, as ratios measured within one run.

    python benchmarks/ui_latency.py              # about 3 minutes on a 2-core machine
    python benchmarks/ui_latency.py --quick      # fewer repeats (a smoke run, noisier)
    python benchmarks/ui_latency.py --server-flag runner.postScriptGC=false    # a server option, both apps
    python benchmarks/ui_latency.py --app /tmp/copy/streamlit_app.py           # a copy with a proposed change

Needs Chromium on the PATH (Debian's `chromium`, driven by Playwright) and the dev requirements. It starts
two servers from the repository root (so both read .streamlit/config.toml): the real app
(`streamlit run streamlit_app.py`) and the bare reference app (benchmarks/bare_reference_app.py: one slider,
one plotly chart with as many points as the Playground view it is compared with), drives both in headless
Chromium, and prints:

    slider_to_plot_vs_bare: R                 key press on the margin slider (ArrowRight: 0.50, 0.51, ...)
                                              -> the chart redrawn with the new data: the Playground's
                                              target-logit chart (training PAUSED, the page as first
                                              opened) vs the bare app's line. Goal R <= 1.3.
    slider_to_views_playing_vs_bare: R        the same key press while the Playground PLAYS -> every view
                                              that shows the margin shows the new value: the slider's own
                                              label (radians and degrees), the sphere's margin caps, the
                                              target-logit curve and the decision margins (each chart
                                              records the slider values it shows in data-shown), vs the
                                              bare app's slider -> redrawn chart. Goal R <= 2.5. The
                                              sidebar's workable-range sentence comes from the server and
                                              is reported beside it (notes_ms), not in R.
    first_plot_vs_bare: R                     navigation start -> first drawn hypersphere (the live 3-D
                                              sphere) vs the bare app's first drawn 3-D scatter with as
                                              many points as the Playground's sample; a fresh browser
                                              context (new session, empty HTTP cache) each time. Goal <= 1.5.
    playing_epochs_per_s_vs_bare_trainer: R   epochs per second while the Playground plays in the browser
                                              (its Epoch metric, about 20 s per round, after a Reset) vs
                                              toy_models.train.Trainer.advance(epochs=1) in a loop in this
                                              process, same data and config as the app's default, one torch
                                              thread like the app. Goal >= 0.9.

Both ends of every latency are read inside the page with performance.now() (a capture-phase keydown
listener; a requestAnimationFrame loop that compares the graph's data with what it was before the key
press), so Python/Playwright round trips do not count. The page's WebSocket is wrapped so that each
latency is broken down into: key -> rerun request sent (the widget), request -> last message before the
redraw, last message -> redraw, and the bytes received. Message times are taken when the page's main thread
handles them, so a busy browser shows up in "request -> last message" too: profile before blaming the server.

The machine is shared and noisy, so the two apps are measured alternately (A, B, A, B, ...) and each R is
the median of the per-round ratios; the medians of the raw values are printed too. Nothing here is a test:
a missed goal is reported, not failed; the exit status is non-zero only on errors.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from browser_kit import (
    APP,
    BARE,
    UNIT,
    Server,
    app_epochs_per_s,
    button,
    choose_pace,
    click,
    median,
    new_page,  # fmt: skip
    wait_quiet,
)

GOALS = {"slider_to_plot_vs_bare": ("<=", 1.3), "slider_to_views_playing_vs_bare": ("<=", 2.5),
         "first_plot_vs_bare": ("<=", 1.5), "playing_epochs_per_s_vs_bare_trainer": (">=", 0.9)}  # fmt: skip

MARGIN_WIDGET = f"{UNIT}-margin"
APP_SPHERE = f".st-key-{UNIT}-sphere .ml-live-plotly"
APP_TARGET_LOGIT = f".st-key-{UNIT}-target-logit .js-plotly-plot"
# Every view that shows the margin: the charts record the slider values they show in data-shown.
MARGIN_VIEWS = {"sphere caps": APP_SPHERE, "target logit": f".st-key-{UNIT}-target-logit .ml-live-plotly",
                "decision margins": f".st-key-{UNIT}-decision .ml-live-plotly"}  # fmt: skip
BARE_CHART = "[data-testid='stPlotlyChart'] .js-plotly-plot"


# Arms one latency measurement: t0 at the next keydown, t1 at the first animation frame in which the
# graph's data signature differs from the one before the key press.
ARM_MOVE = """(selector) => {
  window.__move = null;
  const before = window.__signature(selector);
  let t0 = null;
  document.addEventListener('keydown', () => { if (t0 === null) t0 = performance.now(); },
                            { capture: true, once: true });
  const poll = () => {
    if (t0 !== null) {
      const now = window.__signature(selector);
      if (now !== null && now !== before) { window.__move = { t0, t1: performance.now() }; return; }
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
  return before;
}"""


# Arms one "every view shows the new margin" measurement: t0 at the next keydown; then, per view, the first
# animation frame in which it shows `want` (the slider's own label: its aria-valuetext; a chart: its
# data-shown record; the notes: the sidebar's "At m = ..." sentence).
ARM_VIEWS = """([want, widget, views]) => {
  window.__views = null;
  const seen = {};
  let t0 = null;
  document.addEventListener('keydown', () => { if (t0 === null) t0 = performance.now(); },
                            { capture: true, once: true });
  const shows = (selector) => {
    const el = document.querySelector(selector);
    if (!el || !el.dataset.shown) return false;
    const value = JSON.parse(el.dataset.shown)[widget];
    return value !== undefined && Math.abs(value - want) < 1e-6;
  };
  const label = () => {
    const input = document.querySelector(`.st-key-${widget} input[type="range"]`);
    return !!input && (input.getAttribute('aria-valuetext') || '').startsWith(want.toFixed(2));
  };
  const notes = () => [...document.querySelectorAll('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]')]
    .some((el) => el.innerText.includes(`At m = ${want.toFixed(2)},`));
  const poll = () => {
    if (t0 !== null) {
      const now = performance.now() - t0;
      if (seen.label === undefined && label()) seen.label = now;
      for (const [name, selector] of Object.entries(views)) {
        if (seen[name] === undefined && shows(selector)) seen[name] = now;
      }
      if (seen.notes === undefined && notes()) seen.notes = now;
      if (Object.keys(seen).length === Object.keys(views).length + 2) { window.__views = seen; return; }
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}"""


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def first_plot_ms(browser, url: str, selector: str) -> dict:
    """Navigation start -> the first drawn 3-D scatter, in a fresh context (new session, empty cache)."""
    context, page = new_page(browser, selector)
    try:
        page.goto(url)
        page.wait_for_function("window.__firstPlot !== null", timeout=120_000)
        first = page.evaluate("window.__firstPlot")
        received = page.evaluate("window.__wsIn")
        plotly_js = page.evaluate(
            "() => performance.getEntriesByType('resource').filter(e => e.name.endsWith('plotly.min.js'))"
            ".map(e => e.responseEnd)"
        )
        before = [t for t, _ in received if t <= first]
        return {
            "ms": first,
            "ws_first_ms": received[0][0] if received else float("nan"),
            "ws_last_before_ms": before[-1] if before else float("nan"),
            "ws_bytes_before": sum(n for t, n in received if t <= first),
            "plotly_js_ms": plotly_js[0] if plotly_js else float("nan"),
        }
    finally:
        context.close()


def slider_move(page, slider_label: str, selector: str, key: str) -> dict:
    """Key press on the slider -> its chart redrawn with new data, with the WebSocket breakdown."""
    wait_quiet(page)
    slider = page.get_by_role("slider", name=slider_label)
    slider.focus()
    page.evaluate(ARM_MOVE, selector)
    page.keyboard.press(key)
    page.wait_for_function("window.__move !== null", timeout=60_000)
    move = page.evaluate("window.__move")
    t0, t1 = move["t0"], move["t1"]
    sent = [t for t, _ in page.evaluate("window.__wsOut") if t >= t0]
    received = [(t, n) for t, n in page.evaluate("window.__wsIn") if t0 <= t <= t1]
    sent_at = sent[0] if sent and sent[0] <= t1 else float("nan")
    last_in = received[-1][0] if received else float("nan")
    return {
        "ms": t1 - t0,
        "key_to_send_ms": sent_at - t0,
        "send_to_last_msg_ms": last_in - sent_at,
        "last_msg_to_draw_ms": t1 - last_in,
        "bytes": sum(n for _, n in received),
        "messages": len(received),
    }


def views_move(page, want: float) -> dict:
    """Key press on the margin slider while playing -> every view showing `want`, and the notes' time."""
    slider = page.get_by_role("slider", name="Margin m (rad)")
    slider.focus()
    epoch_before = page.evaluate("window.__epochs.length ? window.__epochs[window.__epochs.length - 1][1] : 0")
    page.evaluate(ARM_VIEWS, [want, MARGIN_WIDGET, MARGIN_VIEWS])
    page.keyboard.press("ArrowRight")
    page.wait_for_function("window.__views !== null", timeout=60_000)
    seen = page.evaluate("window.__views")
    time.sleep(0.6)  # let the features follow, and the Epoch move on
    epoch_after = page.evaluate("window.__epochs[window.__epochs.length - 1][1]")
    views = {name: seen[name] for name in ("label", *MARGIN_VIEWS)}
    return {"ms": max(views.values()), **{f"{k.replace(' ', '_')}_ms": v for k, v in views.items()},
            "notes_ms": seen["notes"], "epochs_rose": float(epoch_after > epoch_before)}


def drag_ms(page, selector: str, moves: int = 10) -> float:
    """A 10-move mouse drag across the sphere: ms from the first to the last pointermove the page handled.

    Playwright sends each move only once the page has handled the one before, so a main thread busy with
    redraws stretches the drag: this is how long a user's turn of the sphere takes to register.
    """
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(
        """() => { window.__moves = [];
                   window.addEventListener('pointermove', () => window.__moves.push(performance.now()), true); }"""
    )
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y + 60, steps=moves)
    page.mouse.up()
    times = page.evaluate("window.__moves")
    return times[-1] - times[1] if len(times) > 2 else float("nan")


def bare_trainer():
    """A Trainer built exactly as the Playground builds its default one (same dataset, config, one thread)."""
    import torch

    from app import state
    from app.live.unit import config_for
    from toy_models.data import load_dataset
    from toy_models.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig()
    dataset = load_dataset(
        "digits",
        None,
        seed=cfg.data_seed,
        holdout_classes=cfg.holdout_classes,
        max_train=cfg.max_train,
        max_test=cfg.max_test,
        num_identities=cfg.num_identities,
    )  # = app.datasets.cached_dataset("digits", None), without Streamlit's cache
    config = config_for(state.defaults(), dataset, None)
    return Trainer(config, dataset=dataset)


def trainer_epochs_per_s(trainer, seconds: float) -> float:
    start_epoch, start = trainer.epoch, time.perf_counter()
    while time.perf_counter() - start < seconds:
        trainer.advance(epochs=1)
    return (trainer.epoch - start_epoch) / (time.perf_counter() - start)


def ratio(a: list[float], b: list[float]) -> float:
    return median([x / y for x, y in zip(a, b, strict=True)])


def breakdown(name: str, rows: list[dict]) -> str:
    keys = [k for k in rows[0] if k != "ms"]
    return f"  {name}: " + ", ".join(f"{k} {median([r[k] for r in rows]):.0f}" for k in keys)


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    parser.add_argument(
        "--app", type=Path, default=APP,
        help="entry point of the app to measure (default: streamlit_app.py); a copy with a proposed change can be "
        "measured the same way; its server runs in the entry point's folder, so it reads that folder's .streamlit/",
    )  # fmt: skip
    parser.add_argument(
        "--server-flag", action="append", default=[], metavar="FLAG=VALUE",
        help="extra `streamlit run` option for BOTH servers, e.g. --server-flag runner.postScriptGC=false",
    )  # fmt: skip
    args = parser.parse_args()
    flags = []
    for flag in args.server_flag:
        name, _, value = flag.partition("=")
        flags += [f"--{name.lstrip('-')}", value]
    moves = 6 if args.quick else 12
    opens = 3 if args.quick else 5
    play_rounds, play_s, bare_s = (1, 10.0, 5.0) if args.quick else (2, 20.0, 10.0)

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: no chromium on the PATH (apt-get install chromium)", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    from app import plots, state

    values = state.defaults()
    logit = plots.target_logit_figure(values["loss"], values["margin"], scale=values["scale"])
    n_line = sum(len(trace.x) for trace in logit.data)
    trainer = bare_trainer()
    n_sphere = len(trainer.snapshot().embeddings)
    print(f"points: target-logit view {n_line}, hypersphere sample {n_sphere}")

    servers: list[Server] = []
    draw_ms: dict[str, list[float]] = {}
    drags_playing: list[float] = []
    drags_paused: list[float] = []
    try:
        app, bare = Server(args.app.resolve(), flags), Server(BARE, flags)
        servers += [app, bare]
        app_url, bare_line_url = app.url(), bare.url(f"view=line&n={n_line}")
        bare_sphere_url = bare.url(f"view=sphere&n={n_sphere}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            # Warm-up: the first session of each server pays its imports (torch, plotly), not measured.
            first_plot_ms(browser, app_url, APP_SPHERE)
            first_plot_ms(browser, bare_sphere_url, BARE_CHART)

            # 1. First plot, fresh context each time: A, B, A, B, ...
            app_open, bare_open = [], []
            for _ in range(opens):
                app_open.append(first_plot_ms(browser, app_url, APP_SPHERE))
                bare_open.append(first_plot_ms(browser, bare_sphere_url, BARE_CHART))

            # 2. Slider -> redrawn chart, both pages open side by side, the Playground paused.
            app_ctx, app_page = new_page(browser, APP_SPHERE)
            bare_ctx, bare_page = new_page(browser)
            app_page.goto(app_url)
            app_page.wait_for_function("window.__firstPlot !== null")
            app_page.wait_for_function(f"window.__signature({APP_TARGET_LOGIT!r}) !== null")
            assert button(app_page, "play").filter(has_text="Play").count() == 1, "the Playground should be paused"
            bare_page.goto(bare_line_url)
            bare_page.wait_for_function(f"window.__signature({BARE_CHART!r}) !== null")
            app_moves, bare_moves = [], []
            for _ in range(moves):
                # Always up (0.50 -> 0.51 -> ...): every figure is new. Going back and forth would let
                # Streamlit's ForwardMsgCache answer with a reference to a figure the browser already has.
                app_moves.append(slider_move(app_page, "Margin m (rad)", APP_TARGET_LOGIT, "ArrowRight"))
                bare_moves.append(slider_move(bare_page, "Margin m (rad)", BARE_CHART, "ArrowRight"))

            # 3. The same key press while the Playground plays: every view that shows the margin.
            click(app_page, "play", "Pause")
            app_page.wait_for_function(
                "() => { const e = window.__epochs; return e.length && e[e.length - 1][1] > 2; }", timeout=60_000
            )
            playing_moves, bare_moves_2 = [], []
            want = app_page.evaluate(
                f"Number(document.querySelector('.st-key-{MARGIN_WIDGET} input[type=range]')"
                ".getAttribute('aria-valuetext').split(' ')[0])"
            )
            for _ in range(moves):
                want = round(want + 0.01, 2)
                playing_moves.append(views_move(app_page, want))
                bare_moves_2.append(slider_move(bare_page, "Margin m (rad)", BARE_CHART, "ArrowRight"))
            # Turning the sphere while it trains, against the same drag paused (information).
            drags_playing = [drag_ms(app_page, APP_SPHERE) for _ in range(3)]
            click(app_page, "play", "Play")
            wait_quiet(app_page)
            drags_paused = [drag_ms(app_page, APP_SPHERE) for _ in range(3)]
            bare_ctx.close()

            # 4. Epochs per second: the Playground playing in the browser vs the bare Trainer, alternately.
            app_play, bare_rate = [], []
            trainer_epochs_per_s(trainer, 2.0)  # warm-up
            choose_pace(app_page, "max")  # as fast as the machine: the default pace (watch) holds 3 epochs/s
            for _ in range(play_rounds):
                app_play.append(app_epochs_per_s(app_page, play_s))
                bare_rate.append(trainer_epochs_per_s(trainer, bare_s))
            draw_ms = app_page.evaluate("window.__marginLabDrawMs")
            app_ctx.close()
            browser.close()
    finally:
        for server in servers:
            server.stop()

    slider = ratio([r["ms"] for r in app_moves], [r["ms"] for r in bare_moves])
    views = ratio([r["ms"] for r in playing_moves], [r["ms"] for r in bare_moves_2])
    opened = ratio([r["ms"] for r in app_open], [r["ms"] for r in bare_open])
    app_rate = [r["epochs_per_s"] for r in app_play]
    playing = ratio(app_rate, bare_rate)
    print(
        f"slider_to_plot_ms: app {median([r['ms'] for r in app_moves]):.0f}, "
        f"bare {median([r['ms'] for r in bare_moves]):.0f} (median of {moves} moves each; app paused)"
    )
    print(breakdown("app", app_moves))
    print(breakdown("bare", bare_moves))
    print(
        f"slider_to_views_playing_ms: app {median([r['ms'] for r in playing_moves]):.0f}, "
        f"bare {median([r['ms'] for r in bare_moves_2]):.0f} (median of {moves} moves each; app playing)"
    )
    print(breakdown("app", playing_moves))
    print(
        f"first_plot_ms: app {median([r['ms'] for r in app_open]):.0f}, "
        f"bare {median([r['ms'] for r in bare_open]):.0f} (median of {opens} fresh opens each)"
    )
    print(breakdown("app", app_open))
    print(breakdown("bare", bare_open))
    print(
        f"playing_epochs_per_s: app {median(app_rate):.1f}, bare trainer {median(bare_rate):.1f} "
        f"({play_rounds} round(s): app {play_s:.0f} s playing, trainer {bare_s:.0f} s)"
    )
    print(
        "  app: "
        + ", ".join(
            f"{k} {median([r[k] for r in app_play]):.2f}" for k in ("ticks_per_s", "epochs_per_tick", "kb_per_tick")
        )
    )
    print(
        f"drag_sphere_ms: playing {median(drags_playing):.0f}, paused {median(drags_paused):.0f} "
        f"(10 pointer moves, first to last handled; ratio {median(drags_playing) / median(drags_paused):.2f})"
    )
    draws = {key: median(ms) for key, ms in (draw_ms or {}).items()}
    print("  browser redraw per chart while playing, median ms: " + ", ".join(f"{k} {v:.0f}" for k, v in draws.items()))
    for name, value in (("slider_to_plot_vs_bare", slider), ("slider_to_views_playing_vs_bare", views),
                        ("first_plot_vs_bare", opened),
                        ("playing_epochs_per_s_vs_bare_trainer", playing)):  # fmt: skip
        op, goal = GOALS[name]
        met = value <= goal if op == "<=" else value >= goal
        print(f"{name}: {value:.2f}   (goal {op} {goal}: {'met' if met else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
