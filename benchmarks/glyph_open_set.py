"""Open-set verification on the glyphs: AUC on the 72 held-out identities against K, loss, dimension, backbone.

    python benchmarks/glyph_open_set.py --k 8,32,128,289 --dims 3,16 --seeds 0,1,2 --steps 300
    python benchmarks/glyph_open_set.py --backbones mlp --hidden 256 --steps 2000 --k 8,289 --dims 16

Each run is one Trainer (the product's, one torch thread as the app trains) for a fixed number of steps,
then `evaluate_all`: verification AUC and TAR on pairs of the held-out identities' samples, and the test accuracy
on the K trained ones. Prints one line per run (CPU seconds of this process, time.process_time, and CPU seconds
per epoch) and, at the end, the mean and spread (max - min) over seeds per (backbone, dim, K, loss). A report,
not a test: tests/unit/test_glyphs.py holds the direction on a small grid. --json PATH saves every run.

Margins: ArcFace m = 0.5 rad, CosFace 0.35, SphereFace 1.5 (normalised form), each at s = 16 unless --scale;
--warmup N raises the margin linearly from 0 over the first N steps (a hot change through set_hyper, as the
app's slider does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MARGINS = {"arcface": 0.5, "cosface": 0.35, "sphereface": 1.5}


def run_one(*, loss: str, k: int, dim: int, seed: int, steps: int, backbone: str, batch: int, lr: float,
            scale: float | None, warmup: int, margin: float | None, hidden: int = 64) -> dict:
    import torch

    from toy_models.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    final = margin if margin is not None else MARGINS.get(loss)
    config = TrainConfig(dataset="glyphs", train_identities=k, embedding_dim=dim, loss=loss, backbone=backbone,
                         hidden=hidden, batch_size=batch, lr=lr, seed=seed, num_threads=1,
                         scale=scale if loss != "softmax" else None,
                         margin=(0.0 if warmup and loss != "sphereface" else 1.0 if warmup else final)
                         if final is not None else None)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    trainer = Trainer(config)
    if warmup and final is not None:
        low = 1.0 if loss == "sphereface" else 0.0
        chunk = max(1, warmup // 20)
        done = 0
        while done < warmup:
            trainer.set_hyper(margin=low + (final - low) * done / warmup)
            done += trainer.advance(steps=min(chunk, warmup - done))
        trainer.set_hyper(margin=final)
        trainer.advance(steps=steps - warmup)
    else:
        trainer.advance(steps=steps)
    train_cpu = time.process_time() - start_cpu
    metrics = trainer.evaluate_all()
    return {
        "loss": loss, "k": k, "dim": dim, "seed": seed, "steps": steps, "backbone": backbone, "hidden": hidden,
        "batch": batch,
        "lr": lr, "warmup": warmup, "margin": final,
        "auc": metrics.get("verification_auc"), "tar_1e-2": metrics.get("tar_at_far_1e-2"),
        "test_accuracy": metrics["test_accuracy"], "epochs": trainer.epoch + trainer.epoch_fraction,
        "cpu_s": train_cpu, "wall_s": time.perf_counter() - start_wall,
        "cpu_s_per_epoch": train_cpu / max(trainer.epoch + trainer.epoch_fraction, 1e-9),
        "events": [e.message for e in trainer.events],
    }


def run_together(*, losses: list[str], k: int, dim: int, seed: int, steps: int, backbone: str, batch: int, lr: float,
                 scale: float | None, margin: float | None, hidden: int = 64) -> list[dict]:
    """Every loss as one member of a MultiTrainer: identical initial backbones and batches (the MLP's batched
    pass trains them together for about the cost of two). CPU seconds are the run's, shared by its members."""
    import torch

    from toy_models.train import MultiTrainer, TrainConfig

    torch.set_num_threads(1)
    base = TrainConfig(dataset="glyphs", train_identities=k, embedding_dim=dim, loss="softmax", backbone=backbone,
                       hidden=hidden, batch_size=batch, lr=lr, seed=seed, num_threads=1)
    specs = [{"loss": loss, "scale": None if loss == "softmax" else scale,
              "margin": margin if margin is not None and loss in MARGINS else MARGINS.get(loss)} for loss in losses]
    start_cpu = time.process_time()
    multi = MultiTrainer(base, losses=specs)
    multi.advance(steps=steps)
    train_cpu = time.process_time() - start_cpu
    rows = []
    for loss, member in zip(losses, multi.members, strict=True):
        metrics = member.evaluate_all()
        rows.append({
            "loss": loss, "k": k, "dim": dim, "seed": seed, "steps": steps, "backbone": backbone, "hidden": hidden,
            "batch": batch, "lr": lr, "warmup": 0, "margin": member.config.effective_margin,
            "auc": metrics.get("verification_auc"), "tar_1e-2": metrics.get("tar_at_far_1e-2"),
            "test_accuracy": metrics["test_accuracy"], "epochs": multi.epoch + multi.epoch_fraction,
            "cpu_s": train_cpu, "wall_s": float("nan"),
            "cpu_s_per_epoch": train_cpu / max(multi.epoch + multi.epoch_fraction, 1e-9),
            "events": [e.message for e in member.events], "together": len(losses),
        })
    return rows


def _print_row(row: dict) -> None:
    shared = f" shared by {row['together']}" if row.get("together") else ""
    print(f"{row['backbone']:9s} dim {row['dim']:2d} K {row['k']:3d} {row['loss']:10s} seed {row['seed']}: "
          f"AUC {row['auc']:.3f} TAR@1e-2 {row['tar_1e-2']:.3f} test acc {row['test_accuracy']:.3f} "
          f"epochs {row['epochs']:.1f} CPU {row['cpu_s']:.1f} s{shared} ({row['cpu_s_per_epoch']:.2f} s/epoch)"
          f"{' EVENTS ' + '; '.join(row['events']) if row['events'] else ''}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default="softmax,normface,sphereface,cosface,arcface")
    parser.add_argument("--k", default="8,32,128,289")
    parser.add_argument("--dims", default="16")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--backbones", default="cnn")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--scale", type=float, default=16.0)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--margin", type=float, help="one margin for every margin loss (default: per loss)")
    parser.add_argument("--together", action="store_true",
                        help="train the losses as one MultiTrainer (identical batches; fast for the MLP)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from toy_models.glyphs import all_samples

    all_samples(0)  # generated (or read from the cache) before any timed run
    rows = []
    for backbone in args.backbones.split(","):
        for dim in (int(d) for d in args.dims.split(",")):
            for k in (int(v) for v in args.k.split(",")):
                for seed in (int(s) for s in args.seeds.split(",")):
                    settings = dict(k=k, dim=dim, seed=seed, steps=args.steps, backbone=backbone, batch=args.batch,
                                    lr=args.lr, scale=args.scale, margin=args.margin, hidden=args.hidden)
                    if args.together:
                        new = run_together(losses=args.losses.split(","), **settings)
                    else:
                        new = [run_one(loss=loss, warmup=args.warmup, **settings) for loss in args.losses.split(",")]
                    for row in new:
                        _print_row(row)
                    rows += new
                    if args.json:
                        args.json.write_text(json.dumps(rows, indent=1))
    print("\nmean AUC (spread over seeds: max - min), CPU s per run")
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["backbone"], row["dim"], row["k"], row["loss"]), []).append(row)
    for (backbone, dim, k, loss), group in groups.items():
        aucs = [r["auc"] for r in group]
        print(f"{backbone:9s} dim {dim:2d} K {k:3d} {loss:10s} AUC {statistics.mean(aucs):.3f} "
              f"(spread {max(aucs) - min(aucs):.3f}) test acc {statistics.mean(r['test_accuracy'] for r in group):.3f} "
              f"CPU {statistics.mean(r['cpu_s'] for r in group):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
