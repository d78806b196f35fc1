"""How long each figure builder of app.plots takes, as a ratio to a bare plotly figure with as many points.

    python benchmarks/figure_speed.py            # 9 interleaved rounds, about 20 s
    python benchmarks/figure_speed.py --quick    # 3 rounds
    python benchmarks/figure_speed.py --reproduce   # Compare's "Reproduce the figures" on digits, 3 rounds

For every view the app draws (circle and sphere for every loss, target logit, decision margins,
angle histograms, training curves) it prints

    NAME: R      builder CPU time ÷ go.Figure(go.Scatter(x, y)) with the same number of points

The baseline is what a reader would write for the same data in one validated trace, so R says what the
builder's extra traces, text and checks cost beyond moving the points into a figure. The builders skip
plotly.py's per-property validation (`style._figure`), so R can be below 1. The two sides are interleaved
(A, B, A, B, ...) and the median of the per-round ratios of process CPU time is printed, so a neighbour
taking the core slows both sides alike. Nothing here is a test: no number can fail.

--reproduce times what Compare's "Reproduce the figures" button does on digits with the page's four default
losses, on one torch thread as the app trains: the runs (toy_models.experiments.paper_runs: the chosen losses,
the eight-identity toy, SphereFace m = 1..4, 30 + 10 epochs each) and then the page's figures from them. It prints
the CPU seconds of this process and the wall seconds of each round, their medians, and the ratio of the median
wall time to the 5 s goal; wall above CPU means other processes shared the cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app import plots  # noqa: E402
from toy_models import geometry  # noqa: E402
from toy_models.heads import LOSSES  # noqa: E402

MARGINS = {"softmax": None, "normface": None, "sphereface": 1.5, "cosface": 0.1, "arcface": 0.3,
           "combined": (1.0, 0.2, 0.05)}  # fmt: skip
TARGET_CPU_S = 0.02  # each timed side repeats its build until it takes about this long


def circle_data(num_classes: int = 10, per_class: int = 100, seed: int = 0):
    """Weights 36° apart ± 10° and features about 5° around their weight: what a trained 2-D model gives."""
    rng = np.random.default_rng(seed)
    angles = np.radians(360.0 / num_classes * np.arange(num_classes) + rng.uniform(-10, 10, num_classes))
    weights = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = np.repeat(np.arange(num_classes), per_class)
    f = angles[labels] + np.radians(rng.normal(0, 5, len(labels)))
    return np.stack([np.cos(f), np.sin(f)], axis=1), labels, weights


def sphere_data(num_classes: int = 10, per_class: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = geometry.tammes_points(num_classes, 3) + rng.normal(0, 0.05, (num_classes, 3))
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    labels = np.repeat(np.arange(num_classes), per_class)
    return weights[labels] + rng.normal(0, 0.1, (len(labels), 3)), labels, weights


def builders() -> dict[str, Callable[[], go.Figure]]:
    f2, l2, w2 = circle_data()
    f3, l3, w3 = sphere_data()
    out: dict[str, Callable[[], go.Figure]] = {}
    for loss in LOSSES:
        m = MARGINS[loss]
        out[f"circle_{loss}"] = lambda loss=loss, m=m: plots.hypersphere_figure(f2, l2, w2, loss=loss, margin=m)
        out[f"sphere_{loss}"] = lambda loss=loss, m=m: plots.hypersphere_figure(f3, l3, w3, loss=loss, margin=m)
        out[f"target_logit_{loss}"] = lambda loss=loss, m=m: plots.target_logit_figure(loss, m, scale=16.0)
        out[f"decision_margin_{loss}"] = lambda loss=loss, m=m: plots.decision_boundary_figure(loss, m)
    rng = np.random.default_rng(0)
    target, other = rng.uniform(0, 90, 1000), rng.uniform(20, 150, 1000)
    out["angle_histograms"] = lambda: plots.angle_histograms(target, other)
    epochs = list(range(200))
    history = {"epoch": epochs, "loss": [2.0 / (1 + e) for e in epochs], "train_accuracy": [0.5] * 200,
               "test_accuracy": [0.4] * 200}  # fmt: skip
    out["training_curves"] = lambda: plots.training_curves(history)
    return out


def point_count(fig: go.Figure) -> int:
    """Every coordinate the figure carries: what the baseline must move into a figure too."""
    total = 0
    for trace in fig.data:
        for axis in ("x", "y", "z"):
            values = getattr(trace, axis, None)
            if values is not None:
                total += np.asarray(values, dtype=object).size
    return total


def bare_figure(n: int) -> Callable[[], go.Figure]:
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    y = np.sin(x)
    return lambda: go.Figure(go.Scatter(x=x, y=y, mode="lines"))


def cpu_seconds(build: Callable[[], go.Figure], repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        build()
    return (time.process_time() - start) / repeats


def repeats_for(build: Callable[[], go.Figure]) -> int:
    one = max(cpu_seconds(build, 1), 1e-5)
    return max(1, round(TARGET_CPU_S / one))


REPRODUCE_GOAL_S = 5.0


def reproduce_the_figures(rounds: int) -> None:
    """Time Compare's "Reproduce the figures" on digits: training, then the figures the page draws."""
    import torch

    from app.compare.papers import _sphere_panels
    from toy_models import experiments
    from toy_models.data import load_dataset
    from toy_models.metrics import pair_angles
    from toy_models.train import DEFAULT_COMPARE_LOSSES, TrainConfig

    torch.set_num_threads(1)
    load_dataset("digits")  # the page has the data already (the live unit trains on it): not timed
    configs = [TrainConfig(loss=loss, seed=0, num_threads=1) for loss in DEFAULT_COMPARE_LOSSES]
    train_cpu, train_wall, figure_cpu = [], [], []
    for index in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        runs = experiments.paper_runs(configs)
        train_cpu.append(time.process_time() - cpu)
        train_wall.append(time.perf_counter() - wall)
        cpu = time.process_time()
        chosen = runs["chosen"]
        plots.papers.target_angle_histograms(
            [(r.config.loss, [s.target_angle for s in r.snapshots]) for r in chosen], stage_labels=("0", "1", "2"))
        plots.papers.pair_angle_histograms(
            [(r.config.loss, *pair_angles(r.final.embeddings, r.final.labels, seed=0)) for r in chosen])
        for name in ("toy", "sphereface"):
            _sphere_panels(runs[name])
        figure_cpu.append(time.process_time() - cpu)
        print(f"round {index + 1}: training CPU {train_cpu[-1]:.2f} s, wall {train_wall[-1]:.2f} s; "
              f"figures CPU {figure_cpu[-1]:.2f} s", flush=True)
    median = statistics.median
    total_wall = median(train_wall) + median(figure_cpu)
    print(f"reproduce_the_figures: CPU {median(train_cpu) + median(figure_cpu):.2f} s, wall {total_wall:.2f} s "
          f"(medians of {rounds}); wall ÷ the {REPRODUCE_GOAL_S:g} s goal: {total_wall / REPRODUCE_GOAL_S:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--only", help="run only the views whose name contains this text")
    parser.add_argument("--reproduce", action="store_true", help="time Compare's Reproduce the figures on digits")
    args = parser.parse_args()
    if args.reproduce:
        reproduce_the_figures(3)
        return 0
    rounds = 3 if args.quick else 9
    cases = {k: v for k, v in builders().items() if not args.only or args.only in k}
    print(f"{rounds} interleaved rounds; ratios are medians of per-round CPU-time ratios (builder ÷ bare figure)")
    for name, build in cases.items():
        fig = build()  # warm the caches (Tammes points, imports) before timing
        points = point_count(fig)
        bare = bare_figure(points)
        bare()
        reps_build, reps_bare = repeats_for(build), repeats_for(bare)
        ratios, build_s, bare_s = [], [], []
        for _ in range(rounds):
            b = cpu_seconds(build, reps_build)
            r = cpu_seconds(bare, reps_bare)
            ratios.append(b / r)
            build_s.append(b)
            bare_s.append(r)
        median = statistics.median
        print(f"  {len(fig.data)} traces, {points} coordinates: builder {1000 * median(build_s):.2f} ms, "
              f"bare figure {1000 * median(bare_s):.2f} ms")  # fmt: skip
        print(f"{name}: {median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
