"""Margin sweep speed: one MultiTrainer for 8 margins against 8 separate Trainers (see benchmarks/README.md).

    python benchmarks/sweep_speed.py            # digits, CosFace in 3-D, 9 interleaved rounds
    python benchmarks/sweep_speed.py --quick    # 3 rounds
    python benchmarks/sweep_speed.py --ui       # also scrub a finished sweep in Chromium: scrub_requests

Prints:
    sweep_vs_separate: R    8 Trainers (one per margin of the grid) one after another ÷ one MarginSweep of the
                            same 8 margins, the same number of steps each: CPU-time ratio, median over
                            interleaved rounds. Goal >= 2.5.
    scrub_requests: N       (--ui) WebSocket messages the page sends or receives while a user drags and clicks
                            through every margin of a finished sweep's slider. Goal 0: scrubbing runs in
                            plotly.js alone (benchmarks/sweep_ui.py).

One torch thread (the app's setting); interleaved rounds so that a busy moment of the shared machine hits both
sides. Nothing here is a test: no number can fail.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from train_speed import interleaved_ratio, report  # noqa: E402

from toy_models.data import load_dataset  # noqa: E402
from toy_models.sweep import MarginSweep, margin_grid  # noqa: E402
from toy_models.train import TrainConfig, Trainer  # noqa: E402


def sweep_vs_separate(config: TrainConfig, steps: int, rounds: int):
    """8 Trainers one after another ÷ one MarginSweep of the same 8 margins, for the same steps each."""
    dataset = load_dataset(config.dataset, config.data_dir)
    grid = margin_grid(config.loss, dataset.num_classes, config.embedding_dim, count=8)
    sweep = MarginSweep(config, grid, epochs=10_000, dataset=dataset)  # never done within the benchmark
    separate = [Trainer(c, dataset=dataset) for c in sweep.configs]

    def one_by_one(n: int) -> None:
        for trainer in separate:
            trainer.advance(steps=n)

    return interleaved_ratio(lambda n: sweep.advance(n), one_by_one, steps, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough number in a few seconds)")
    parser.add_argument("--ui", action="store_true", help="also measure scrub_requests in Chromium")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, {rounds} interleaved rounds; "
          "ratios are medians of per-round CPU-time ratios")
    config = TrainConfig(loss="cosface", embedding_dim=3)  # digits, MLP, batch 64, Adam: the app's defaults
    report("sweep_vs_separate", sweep_vs_separate(config, steps=115, rounds=rounds), "sweep (8 margins)",
           "8 separate trainers")
    if args.ui:
        from sweep_ui import scrub_requests

        count, detail = scrub_requests()
        print(f"  {detail}")
        print(f"scrub_requests: {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
