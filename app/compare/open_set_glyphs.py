"""What the open-set section says on the glyphs: K training identities, a fixed set of held-out identities.

On the glyphs the held-out identities are the data set's own (the same for every K, never trained on), so the
section has nothing to choose; the student changes K and verifies again, and each run is kept, so the sentences
compare K against K with the student's own numbers. Every K trains the same number of optimiser steps
(`VERIFY_STEPS`), not the same number of epochs: K = 8 has 36 times fewer samples per epoch than K = 289, and
equal epochs would give the small K almost no training and make K look a bigger lever than it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from app.plots import papers

# About 1,200 steps (then a third as many at a tenth of the lr, experiments.train_side_by_side). Measured with this
# section's own setup (the MLP, 16-D, batch 64, lr 0.01, NormFace and ArcFace at s = 16, ArcFace m = 0.5; seeds 0-2):
# held-out AUC at K = 8 softmax 0.742, NormFace 0.733, ArcFace 0.732; at K = 128 0.950, 0.951, 0.943. With batch
# 128 and K = 289: 0.961, 0.967, 0.964 (benchmarks/glyph_open_set.py --together --backbones mlp --dims 16).
VERIFY_STEPS = 1200
# The seed-to-seed spread (max - min over seeds 0-2) of those runs: 0.013-0.031 at K = 8, 0.001-0.010 from K = 128
# on. A difference between two losses no larger than this is not a finding of the run.
SPREAD_FEW, SPREAD_MANY, MANY_FROM = 0.03, 0.01, 32


def seed_spread(k: int) -> float:
    """The seed-to-seed spread of the held-out AUC measured for K training identities (about)."""
    return SPREAD_FEW if k < MANY_FROM else SPREAD_MANY


TAR_USELESS = 0.1  # TAR at FAR = 1e-2 below this: almost no true pair passes where 1 impostor pair in 100 does
MARGIN_LOSSES = ("sphereface", "cosface", "arcface", "combined")


def verify_epochs(train_samples: int, batch_size: int) -> int:
    """Epochs that make about VERIFY_STEPS optimiser steps on `train_samples` samples (at least one)."""
    per_epoch = max(1, math.ceil(train_samples / batch_size))
    return max(1, round(VERIFY_STEPS / per_epoch))


def tar_note(rows: Sequence[Mapping[str, Any]]) -> str:
    """A sentence when TAR at FAR = 1e-2 is near useless for every loss, else ""."""
    tars = [r["tar_at_far_1e-2"] for r in rows if math.isfinite(r.get("tar_at_far_1e-2", math.nan))]
    if not tars or max(tars) >= TAR_USELESS:
        return ""
    low, high = min(tars), max(tars)
    span = f"{high:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"
    return (f" TAR at FAR = 1e-2 is {span}: at the threshold that lets one different-class pair in a hundred through, "
            f"at most {high:.0%} of the same-class pairs pass. That is near useless for every loss, whatever the AUC "
            "says about the ordering.")


def _auc(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {r["loss"]: float(r["auc"]) for r in rows if math.isfinite(r["auc"])}


def _against(name: str, other: str, diff: float, spread: float) -> str:
    if abs(round(diff, 3)) <= spread:  # as the sentence shows it: -0.010 is inside a spread of 0.01
        return (f"{name} against {other}: {diff:+.3f}, inside the spread of about {spread:g} from one seed "
                "to the next, so on this run it makes no measurable difference")
    better = "better" if diff > 0 else "worse"
    return f"{name} against {other}: {diff:+.3f}, more than the seed spread of about {spread:g}: {better} here"


def glyph_finding(rows: Sequence[Mapping[str, Any]], by_k: Mapping[int, Mapping[str, float]], k: int) -> str:
    """One paragraph on this run: each loss's AUC once, each margin against its no-margin twin NormFace and
    against softmax, then what changing K did (from the other K values the student verified, `by_k`:
    {K: {loss: AUC}})."""
    auc = _auc(rows)
    name = papers.short_label
    ranking = ", ".join(f"{name(loss)} {value:.3f}" for loss, value in sorted(auc.items(), key=lambda i: -i[1]))
    text = f"With K = {k} training identities, AUC on the held-out identities from best to worst: {ranking}."
    margins = [loss for loss in MARGIN_LOSSES if loss in auc]
    pairs = [(loss, base) for loss in margins for base in ("normface", "softmax") if base in auc]
    if pairs:
        text += " " + "; ".join(_against(name(loss), name(base), auc[loss] - auc[base], seed_spread(k))
                                for loss, base in pairs) + "."
    others = sorted(other for other in by_k if other != k)
    if not others:
        return text + (" Change the training identities K in the sidebar and verify again: every K verifies on the "
                       "same held-out identities, and each run is kept in the table below.")
    for other in others:
        common = [loss for loss in auc if loss in by_k[other]]
        if common:
            moves = ", ".join(f"{name(loss)} {auc[loss] - by_k[other][loss]:+.3f}" for loss in common)
            text += f" From K = {other} to K = {k} the AUC moved by {moves}."
    return text


def k_table(by_k: Mapping[int, Mapping[str, float]]) -> list[dict[str, str]]:
    """The kept runs as a table: one row per K, one AUC column per loss ("–" where that loss was not verified)."""
    losses = [loss for loss in (*("softmax", "normface"), *MARGIN_LOSSES) if any(loss in v for v in by_k.values())]
    return [{"K": str(k), **{papers.short_label(loss): f"{by_k[k][loss]:.3f}" if loss in by_k[k] else "–"
                              for loss in losses}} for k in sorted(by_k)]
