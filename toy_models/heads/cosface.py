"""CosFace (LMCL): target s·(cos θ_y − m), m in cosine units.

AM-Softmax (amsoftmax.py) is the same target with its paper's fixed s = 30.
"""

from __future__ import annotations

import math

import numpy as np

from .head import MarginHead
from .spec import LossSpec, MarginNotes


class CosFaceSpec(LossSpec):
    name = "cosface"
    label = "CosFace (LMCL)"
    margin_unit = "cos"
    default_margin = 0.35
    margin_range = (0.0, 1.0)
    margin_label = "Margin m (cosine)"
    margin_help = "CosFace subtracts m from the target cosine: s·(cos θ − m). Cosine units, not an angle."
    formula = "cos θ − m"
    summary = "CosFace subtracts a cosine margin (cos θ − m)"
    color = "#E69F00"
    notes = MarginNotes(
        too_large="m = {margin:.2f} leaves no room: with {spread} {name}'s margin must stay below {limit:.2f} "
                  "(1 − cos {sep_deg:.1f}°).",
        caption="Workable for {spread}: m < {limit:.2f} = 1 − cos {sep_deg:.1f}°, {best}. At m = {margin:.2f}, a "
                "sample must stay within ±{arc_deg:.1f}° of its centre.",
    )

    def target(self, cos, margin, **options):
        return cos - margin

    def max_margin(self, separation_rad, **ignored):
        return 1.0 - math.cos(separation_rad)  # 1 − m ≥ cos sep

    def half_arcs(self, margin, seps, **options):
        # 2·sin(sep/2)·sin(sep/2 − φ) = m; no arc where even the centre fails
        half = np.sin(seps / 2.0)
        ratio = np.where(half > 0, margin / (2.0 * half), np.inf)
        return np.where(ratio <= 1.0, np.maximum(0.0, seps / 2.0 - np.arcsin(np.minimum(ratio, 1.0))), 0.0)

    def combined_equivalent(self, margin):
        return (1.0, 0.0, float(margin))


class CosFaceHead(MarginHead):
    spec = CosFaceSpec()
