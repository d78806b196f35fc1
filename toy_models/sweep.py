"""Margin sweep: one loss trained at a grid of margins, all at once, on identical batches.

CosFace Fig. 5 plots accuracy against the margin m; the ArcFace paper's Table 3 statistics (Intra, Inter)
say why it moves. A sweep answers both on our data:

    grid = margin_grid("cosface", num_classes=10, dim=3)         # 8 margins across the workable range
    sweep = MarginSweep(TrainConfig(loss="cosface"), grid, epochs=10)
    while not sweep.done:
        sweep.advance(seconds=0.5)                               # stop and resume at will: state is kept
    for result in sweep.results():                               # one MarginResult per margin
        print(result.margin, result.test_accuracy, result.intra_deg, result.inter_deg)

Every margin is one member of a `MultiTrainer`: the same initial backbone (built from the seed), the same
mini-batches, one batched step for all. So the results differ only by the margin, and the sweep costs far
less than separate runs (benchmarks/sweep_speed.py).

The workable range is geometric (`geometry.max_margin`): with C class centres spread as far apart as the
embedding dimension allows (2π/C on a circle, the Tammes angle on a sphere), a margin at or past the bound
leaves no sample able to satisfy it. SphereFace has no such bound; its range is the formula's own
(LOSS_SPECS), and its default grid covers the paper's m = 1 … 4.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import geometry, metrics
from .data import Dataset
from .heads import LOSS_SPECS, check_loss
from .train import MultiTrainer, TrainConfig
from .train.model_run import load_checked_dataset

SWEEPABLE_LOSSES = ("sphereface", "cosface", "arcface")  # one scalar margin each
MIN_COUNT = 8
SPHEREFACE_DEFAULT_TOP = 4.0  # SphereFace's paper sweeps m = 1 … 4


@dataclass(frozen=True)
class WorkableRange:
    """The margins a sweep of `loss` may ask for: low ≤ m ≤ high, or m < high when `high_open`."""

    loss: str
    low: float
    high: float
    high_open: bool
    num_classes: int
    dim: int

    def contains(self, margin: float) -> bool:
        m = float(margin)
        return math.isfinite(m) and self.low <= m and (m < self.high if self.high_open else m <= self.high)

    def describe(self) -> str:
        """'[0, 1.15) rad (below 66.1°)': the range as a sentence fragment, in the loss's units."""
        unit = LOSS_SPECS[self.loss].margin_unit
        close = ")" if self.high_open else "]"
        text = f"[{self.low:.2f}, {self.high:.2f}{close}"
        if unit == "rad":
            return f"{text} rad ({math.degrees(self.low):.1f}° to {math.degrees(self.high):.1f}°)"
        if unit == "cos":
            return f"{text} (cosine units)"
        return f"{text} (multiplier)"

    def where(self) -> str:
        return f"{self.num_classes} classes {'on a circle' if self.dim == 2 else f'in {self.dim} dimensions'}"


def workable_range(loss: str, num_classes: int, dim: int) -> WorkableRange:
    """The margins that leave room for every class of `num_classes` in `dim` dimensions.

    ArcFace and CosFace: from 0 up to (not including) `geometry.max_margin` for the best spread the dimension
    allows (`geometry.tammes_angle`), and within the formula's range (LOSS_SPECS). SphereFace: the formula's
    range, as it has no geometric bound. Softmax, NormFace and the combined margin cannot be swept (ValueError).
    """
    spec = check_loss(loss)
    if loss not in SWEEPABLE_LOSSES:
        raise ValueError(f"a margin sweep needs SphereFace, CosFace or ArcFace; {spec.label} has "
                         f"{'no margin' if spec.margin_range is None else 'three margins'} to sweep.")
    low, spec_high = (float(v) for v in spec.margin_range)
    if loss == "sphereface":
        return WorkableRange(loss, low, spec_high, False, int(num_classes), int(dim))
    bound = geometry.max_margin(loss, separation_rad=geometry.tammes_angle(num_classes, dim))
    if bound <= spec_high:
        return WorkableRange(loss, low, bound, True, int(num_classes), int(dim))
    return WorkableRange(loss, low, spec_high, False, int(num_classes), int(dim))


def check_sweep_margins(loss: str, margins: Sequence[float], num_classes: int, dim: int) -> tuple[float, ...]:
    """The margins as floats, or ValueError with one sentence naming the workable range."""
    limits = workable_range(loss, num_classes, dim)
    values = tuple(float(m) for m in margins)
    outside = [m for m in values if not limits.contains(m)]
    if outside:
        shown = ", ".join(f"{m:.3g}" for m in outside)
        raise ValueError(f"{LOSS_SPECS[loss].label}'s margin must lie in {limits.describe()} for "
                         f"{limits.where()}, so {shown} is beyond the workable range.")
    return values


def margin_grid(
    loss: str, num_classes: int, dim: int, count: int = MIN_COUNT, *, low: float | None = None,
    high: float | None = None,
) -> tuple[float, ...]:
    """`count` (≥ 8) evenly spaced margins across the workable range of `loss` (see `workable_range`).

    By default ArcFace and CosFace run from 0 to one step short of the bound (count steps of bound/count:
    the bound itself leaves no room), SphereFace from 1 to 4. `low` and `high` ask for another span, and
    get a ValueError naming the workable range when it reaches beyond it.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < MIN_COUNT:
        raise ValueError(f"a margin sweep needs at least {MIN_COUNT} margins, got {count!r}")
    limits = workable_range(loss, num_classes, dim)
    if low is None:
        low = limits.low
    if high is None:
        if loss == "sphereface":
            high = min(SPHEREFACE_DEFAULT_TOP, limits.high)
        elif limits.high_open:
            high = low + (limits.high - low) * (count - 1) / count
        else:
            high = limits.high
    check_sweep_margins(loss, (low, high), num_classes, dim)
    if not high > low:
        raise ValueError(f"the sweep's highest margin ({high:.3g}) must be above its lowest ({low:.3g}).")
    return tuple(float(m) for m in np.linspace(float(low), float(high), int(count)))


@dataclass(frozen=True, eq=False)
class MarginResult:
    """One margin of a finished (or stopped) sweep.

    features / labels: unit TEST features of a class-balanced sample (the snapshot the live views draw);
    class_weights: (C, d) unit class weights; centres: (C, d) unit feature centres of the whole test set
    (a class with no test sample: NaN row); test_accuracy over the whole test set; intra_deg, inter_deg,
    w_ec_deg, w_inter_deg, min_center_angle_deg: metrics.angle_statistics over the whole test set.
    """

    loss: str
    margin: float
    epoch: int
    step: int
    features: np.ndarray
    labels: np.ndarray
    class_weights: np.ndarray
    centres: np.ndarray
    test_accuracy: float
    intra_deg: float
    inter_deg: float
    w_ec_deg: float
    w_inter_deg: float
    min_center_angle_deg: float
    class_names: tuple[str, ...]


def _feature_centres(embeddings: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    centres = np.full((num_classes, embeddings.shape[1]), np.nan, dtype=np.float32)
    for k in range(num_classes):
        mask = labels == k
        if mask.any():
            mean = embeddings[mask].mean(axis=0)
            norm = float(np.linalg.norm(mean))
            if norm > 0:
                centres[k] = mean / norm
    return centres


class MarginSweep:
    """One loss at several margins, trained together by a MultiTrainer for `epochs` epochs.

    base_config: everything but the margin (its loss is the swept one; each member gets one margin).
    margins: the grid (default `margin_grid(loss, C, dim)`); every margin must be workable (ValueError naming
    the range otherwise). advance(seconds=..., epochs=..., steps=...) trains until the first limit or the end;
    call it again to resume where it stopped. The run is deterministic: any slicing of the same steps gives
    the same weights as one uninterrupted run.
    """

    def __init__(self, base_config: TrainConfig, margins: Sequence[float] | None = None, *, epochs: int = 10,
                 dataset: Dataset | None = None, fast: bool = True):
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"a sweep needs at least one epoch, got {epochs!r}")
        self.loss = base_config.loss
        self.dataset = load_checked_dataset(base_config, dataset)
        num_classes, dim = self.dataset.num_classes, base_config.embedding_dim
        if margins is None:
            margins = margin_grid(self.loss, num_classes, dim)
        self.margins = check_sweep_margins(self.loss, margins, num_classes, dim)
        if len(self.margins) < 1:
            raise ValueError("a sweep needs at least one margin")
        configs = [dataclasses.replace(base_config, margin=m) for m in self.margins]
        self.trainer = MultiTrainer(configs, dataset=self.dataset, fast=fast)
        self.epochs = epochs
        self.total_steps = epochs * self.trainer.steps_per_epoch
        self._results: tuple[int, list[MarginResult]] | None = None

    @property
    def configs(self) -> list[TrainConfig]:
        return self.trainer.configs

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def done(self) -> bool:
        return self.trainer.step >= self.total_steps

    @property
    def progress(self) -> float:
        """0 before the first step, 1 when done."""
        return min(1.0, self.trainer.step / self.total_steps)

    def advance(self, steps: int | None = None, *, seconds: float | None = None, epochs: int | None = None) -> int:
        """Train all margins on until the first of the limits or the end of the sweep; returns the steps taken."""
        if steps is None and seconds is None and epochs is None:
            raise ValueError("advance needs steps, seconds or epochs")
        remaining = self.total_steps - self.trainer.step
        if epochs is not None:
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
                raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
            remaining = min(remaining, epochs * self.trainer.steps_per_epoch)
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
                raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
            remaining = min(remaining, steps)
        if remaining <= 0:
            return 0
        return self.trainer.advance(remaining, seconds=seconds)

    def results(self) -> list[MarginResult]:
        """One MarginResult per margin, in grid order, for the model as it is now (cached until it trains on)."""
        if self._results is not None and self._results[0] == self.trainer.step:
            return self._results[1]
        out = []
        for margin, member in zip(self.margins, self.trainer.members, strict=True):
            snap = member.snapshot(refresh_test=True)
            test = member.evaluate_test()
            stats = metrics.angle_statistics(test.embeddings, test.labels, test.class_weights)
            out.append(MarginResult(
                loss=self.loss, margin=margin, epoch=self.trainer.epoch, step=self.trainer.step,
                features=snap.embeddings, labels=snap.labels, class_weights=snap.class_weights,
                centres=_feature_centres(test.embeddings, test.labels, self.dataset.num_classes),
                test_accuracy=float(test.accuracy), intra_deg=stats["intra_deg"], inter_deg=stats["inter_deg"],
                w_ec_deg=stats["w_ec_deg"], w_inter_deg=stats["w_inter_deg"],
                min_center_angle_deg=stats["min_center_angle_deg"], class_names=tuple(self.dataset.class_names),
            ))
        self._results = (self.trainer.step, out)
        return out
