"""Is the GPU path right, and how much faster is it? Trains each loss on CUDA and on the CPU from the same seed
and compares the metrics within a stated tolerance; prints the speed-up (see benchmarks/README.md).

    python benchmarks/gpu_check.py                        # MNIST from ../shared/data/mnist, 3 epochs
    python benchmarks/gpu_check.py --data-dir DIR --epochs 5
    python benchmarks/gpu_check.py --device cpu --dataset digits   # the comparison itself, CPU against CPU

Both trainers are checked: the one-model `Trainer` (softmax, SphereFace, CosFace, ArcFace one after another)
and the all-at-once `MultiTrainer` (the four together). Each runs for the same number of epochs from the same
seed on `--device` and on the CPU (`--reference-device`), and the final metrics of `evaluate_all` are compared:

    accuracies (train, test)          within ACCURACY_TOLERANCE (absolute, 0.01 = one percentage point)
    angle statistics (W-EC, W-Inter,  within ANGLE_TOLERANCE_DEG degrees
    Intra, Inter, closest centres)

Why a tolerance and not equality: a GPU adds up its floats in another order than the CPU (parallel reductions,
other matmul kernels, TF32 where enabled), so the first step already differs in the last bits, and training
carries such differences on; the runs are not bit-identical, only equally good. The tolerance was chosen from
CPU against CPU with 1 and 2 threads (also a different summation order; measured numbers in the README): it must
pass two honest runs and still catch a real fault (a wrong device transfer, a head that ignores its margin, a
broken guard), which moves accuracy by several points and the angles by tens of degrees.

Without CUDA (and --device cuda, the default) it says so in one line and exits 0. Exit status 1 when a metric
disagrees beyond the tolerance, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toy_models.data import DatasetError  # noqa: E402
from toy_models.train import DEFAULT_COMPARE_LOSSES, MultiTrainer, TrainConfig, Trainer  # noqa: E402

MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"
ACCURACY_METRICS = ("train_accuracy", "test_accuracy")
ANGLE_METRICS = ("w_ec_deg", "w_inter_deg", "intra_deg", "inter_deg", "min_center_angle_deg")
# Early: after EARLY_STEPS steps the two runs have barely drifted apart, so the check is tight (the metrics of
# the same model on two devices). Final: training carries last-bit differences on and on (measured below in
# the README: up to 2 points of accuracy and 9° of Inter after 2-20 epochs from a 1e-6 nudge), so the final
# check asks only for an equally good model. The smallest centre angle is a minimum over pairs, the most
# chaotic of all (15° apart after such a nudge): it is checked early only.
EARLY_STEPS = 20
EARLY_ACCURACY_TOLERANCE = 0.005  # half a percentage point
EARLY_ANGLE_TOLERANCE_DEG = 0.5
ACCURACY_TOLERANCE = 0.03  # final: three percentage points
ANGLE_TOLERANCE_DEG = 10.0  # final
FINAL_ANGLE_METRICS = ("w_ec_deg", "w_inter_deg", "intra_deg", "inter_deg")
KINDS = ("one-model", "all-at-once")


@dataclass
class TrainedSet:
    """What one trainer kind on one device produced: metrics per loss and the training speed."""

    kind: str
    device: str
    metrics: dict[str, dict[str, float]]  # at the end
    early: dict[str, dict[str, float]]  # after EARLY_STEPS steps
    steps: int  # optimiser steps, summed over the models trained (an all-at-once step counts once)
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else math.inf


def perturb_weights(runs: Sequence[Any], relative: float, seed: int = 1) -> None:
    """Multiply every weight by (1 + relative·N(0, 1)): last-bit noise of the size a GPU's other summation order
    leaves after one step (float32's epsilon is 1.2e-7), to measure on a CPU how far training carries it."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for run in runs:
            for param in [*run.backbone.parameters(), *run.head.parameters()]:
                noise = torch.randn(param.shape, generator=generator).to(param.device)
                param.mul_(1 + relative * noise)


def train_set(kind: str, base: TrainConfig, losses: Sequence[str], epochs: int, *, perturb: float = 0.0,
              graphs: bool = False) -> TrainedSet:
    """Train `losses` with one trainer kind ("one-model": a Trainer per loss; "all-at-once": one MultiTrainer)
    for `epochs` epochs; time the training only (the metrics are computed afterwards). `perturb`: relative
    noise put on the initial weights (perturb_weights), to measure a tolerance on the CPU. `graphs`: the one-model
    Trainers capture their step as a CUDA graph (CUDA only)."""
    metrics: dict[str, dict[str, float]] = {}
    early: dict[str, dict[str, float]] = {}
    steps, seconds = 0, 0.0
    if kind == "one-model":
        jobs = []
        for loss in losses:
            trainer = Trainer(replace(base, loss=loss, scale=None, margin=None), graphs=graphs)
            jobs.append((trainer, [trainer]))
    elif kind == "all-at-once":
        multi = MultiTrainer(base, losses=list(losses))
        jobs = [(multi, multi.members)]
    else:
        raise ValueError(f"unknown trainer kind {kind!r}: choose one of {', '.join(KINDS)}")
    for trainer, runs in jobs:
        if perturb:
            perturb_weights(runs, perturb)
        total = epochs * trainer.steps_per_epoch
        for until, scores in ((min(EARLY_STEPS, total), early), (total, metrics)):
            start = time.perf_counter()
            steps += trainer.advance(steps=until - trainer.step)
            seconds += time.perf_counter() - start
            scores.update({run.config.loss: _scores(run) for run in runs})  # evaluation: outside the clock
    return TrainedSet(kind, base.device, metrics, early, steps, seconds)


def _scores(run: Any) -> dict[str, float]:
    values = run.evaluate_all()
    return {name: float(values[name]) for name in (*ACCURACY_METRICS, *ANGLE_METRICS)}


def disagreements(
    reference: Mapping[str, Mapping[str, float]], candidate: Mapping[str, Mapping[str, float]], *,
    accuracy_tolerance: float = ACCURACY_TOLERANCE, angle_tolerance_deg: float = ANGLE_TOLERANCE_DEG,
    angle_metrics: Sequence[str] = FINAL_ANGLE_METRICS, when: str = "",
) -> list[str]:
    """One line per metric of `candidate` that differs from `reference` beyond its tolerance (empty: they
    agree). A loss or metric missing on one side, or NaN on one side only, is a disagreement too."""
    problems = []
    for loss in sorted(set(reference) | set(candidate)):
        if loss not in reference or loss not in candidate:
            problems.append(f"{loss}: trained on one device only")
            continue
        for name in (*ACCURACY_METRICS, *angle_metrics):
            tolerance = accuracy_tolerance if name in ACCURACY_METRICS else angle_tolerance_deg
            old, new = reference[loss].get(name, math.nan), candidate[loss].get(name, math.nan)
            if math.isnan(old) and math.isnan(new):
                continue
            difference = abs(new - old)
            if not difference <= tolerance:  # NaN on one side compares False
                problems.append(f"{when}{loss} {name}: {old:.4g} on the reference, {new:.4g} here "
                                f"(differs by {difference:.3g}, tolerance {tolerance:g})")
    return problems


def largest_differences(reference: Mapping[str, Mapping[str, float]],
                        candidate: Mapping[str, Mapping[str, float]],
                        angle_metrics: Sequence[str] = FINAL_ANGLE_METRICS) -> tuple[float, float]:
    """(largest accuracy difference, largest difference of `angle_metrics` in degrees) over the losses both
    sides have."""
    acc = ang = 0.0
    for loss in set(reference) & set(candidate):
        for name in ACCURACY_METRICS:
            acc = max(acc, abs(candidate[loss][name] - reference[loss][name]))
        for name in angle_metrics:
            ang = max(ang, abs(candidate[loss][name] - reference[loss][name]))
    return acc, ang


def run_check(
    base: TrainConfig, *, device: str, reference_device: str = "cpu", reference_threads: int | None = None,
    losses: Sequence[str] = DEFAULT_COMPARE_LOSSES, epochs: int = 3, kinds: Sequence[str] = KINDS,
    accuracy_tolerance: float = ACCURACY_TOLERANCE, angle_tolerance_deg: float = ANGLE_TOLERANCE_DEG,
    perturb: float = 0.0, graphs: bool = False, out=print,
) -> list[str]:
    """Train every kind on `device` and on `reference_device` from the same seed; print the comparison and
    the speed-up; return the disagreements (empty: the device agrees with the reference)."""
    problems = []
    for kind in kinds:
        candidate = train_set(kind, replace(base, device=device), losses, epochs, perturb=perturb, graphs=graphs)
        threads = base.num_threads if reference_threads is None else reference_threads
        reference = train_set(kind, replace(base, device=reference_device, num_threads=threads), losses, epochs)
        found = disagreements(reference.early, candidate.early, accuracy_tolerance=EARLY_ACCURACY_TOLERANCE,
                              angle_tolerance_deg=EARLY_ANGLE_TOLERANCE_DEG, angle_metrics=ANGLE_METRICS,
                              when=f"after {EARLY_STEPS} steps: ")
        found += disagreements(reference.metrics, candidate.metrics, accuracy_tolerance=accuracy_tolerance,
                               angle_tolerance_deg=angle_tolerance_deg, when="at the end: ")
        early_acc, early_ang = largest_differences(reference.early, candidate.early, ANGLE_METRICS)
        acc, ang = largest_differences(reference.metrics, candidate.metrics)
        for loss, values in candidate.metrics.items():
            ref = reference.metrics[loss]
            out(f"  {kind:<11} {loss:<10} test acc {values['test_accuracy']:.4f} vs {ref['test_accuracy']:.4f}   "
                f"Intra {values['intra_deg']:6.2f}° vs {ref['intra_deg']:6.2f}°   "
                f"Inter {values['inter_deg']:6.2f}° vs {ref['inter_deg']:6.2f}°")
        verdict = "agree" if not found else f"DISAGREE ({len(found)})"
        out(f"{kind}_{device}_vs_{reference_device}: {verdict}; largest differences after {EARLY_STEPS} steps: "
            f"accuracy {early_acc * 100:.2f} points, angles {early_ang:.2f}° (tolerance "
            f"{EARLY_ACCURACY_TOLERANCE * 100:g} points, {EARLY_ANGLE_TOLERANCE_DEG:g}°); at the end: accuracy "
            f"{acc * 100:.2f} points, angles {ang:.2f}° (tolerance {accuracy_tolerance * 100:g} points, "
            f"{angle_tolerance_deg:g}°; W-EC, W-Inter, Intra, Inter)")
        for line in found:
            out(f"    {line}")
        out(f"{kind}_speedup_{device}_over_{reference_device}: {candidate.steps_per_s / reference.steps_per_s:.2f} "
            f"({candidate.steps_per_s:,.0f} vs {reference.steps_per_s:,.0f} steps/s)")
        problems += [f"{kind}: {line}" for line in found]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device to check (default: cuda)")
    parser.add_argument("--reference-device", default="cpu", help="the device it must agree with (default: cpu)")
    parser.add_argument("--dataset", default="mnist", help="mnist (default), fashion-mnist or digits")
    parser.add_argument("--data-dir", type=Path, default=MNIST_DIR, help="folder with the IDX files")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default: %(default)s)")
    parser.add_argument("--max-train", type=int, help="subsample the training set (faster)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="CPU threads of the candidate runs (default: torch's)")
    parser.add_argument("--reference-threads", type=int, help="CPU threads of the reference runs (default: "
                        "--threads)")
    parser.add_argument("--perturb", type=float, default=0.0, help="relative noise on the candidate's initial "
                        "weights (e.g. 1e-6 with --device cpu: how far last-bit differences grow; the tolerance's "
                        "basis)")
    parser.add_argument("--graphs", action="store_true", help="the one-model Trainers on --device capture their "
                        "step as a CUDA graph (CUDA only)")
    parser.add_argument("--accuracy-tolerance", type=float, default=ACCURACY_TOLERANCE)
    parser.add_argument("--angle-tolerance", type=float, default=ANGLE_TOLERANCE_DEG, help="degrees")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False), so the GPU path was not checked.")
        return 0
    threads = args.threads or torch.get_num_threads()  # fixed now: a reference run may set another count
    try:
        base = TrainConfig(dataset=args.dataset, data_dir=None if args.dataset == "digits" else str(args.data_dir),
                           max_train=args.max_train, seed=args.seed, num_threads=threads)
        name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
        print(f"gpu_check: {args.dataset}, {args.epochs} epochs, seed {args.seed}, {', '.join(DEFAULT_COMPARE_LOSSES)};"
              f" {name} against {args.reference_device} (torch {torch.__version__}, "
              f"{threads} threads, {args.reference_threads or threads} reference threads)")
        problems = run_check(base, device=args.device, reference_device=args.reference_device,
                             reference_threads=args.reference_threads, epochs=args.epochs,
                             accuracy_tolerance=args.accuracy_tolerance, angle_tolerance_deg=args.angle_tolerance,
                             perturb=args.perturb, graphs=args.graphs)
    except (ValueError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("gpu_check: all metrics agree within the tolerance." if not problems
          else f"gpu_check: {len(problems)} metric(s) disagree beyond the tolerance.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
