"""ArcFace: target s·cos(θ_y + m), m in radians, with the monotone fallback cos θ − m·sin m beyond θ = π − m."""

from __future__ import annotations

import math

import numpy as np
import torch

from .head import MarginHead
from .spec import LossSpec, MarginNotes, angle_of


class ArcFaceSpec(LossSpec):
    name = "arcface"
    label = "ArcFace"
    margin_unit = "rad"
    default_margin = 0.5
    margin_range = (0.0, math.pi / 2)
    margin_label = "Margin m (rad)"
    margin_help = ("ArcFace adds m to the angle between a feature and its own class weight: the target logit is "
                   "s·cos(θ + m). Radians (0.5 rad = 28.6°).")
    target_options = frozenset({"easy_margin"})
    formula = "cos(θ + m), and cos θ − m·sin m beyond π − m"
    summary = "ArcFace adds an angular margin (cos(θ + m))"
    color = "#0072B2"
    # Only ArcFace's view mirrors that figure: its SphereFace curve is cos(1.35θ), not ψ, and on the other losses'
    # views the band would read as a claim about a figure they do not reproduce.
    curve_figure = ("ArcFace Fig. 4b", 20.0, 100.0)
    notes = MarginNotes(
        too_large="m = {margin:.2f} rad leaves no room: with {spread} {name}'s margin must stay below "
                  "{limit:.2f} rad ({limit_deg:.1f}°).",
        caption="Workable for {spread}: m < {limit:.2f} rad ({limit_deg:.1f}°), {best}. At m = {margin:.2f}, a "
                "sample must stay within ±{arc_deg:.1f}° of its centre.",
    )

    def target(self, cos, margin, *, easy_margin=False, **options):
        """easy_margin applies the margin only where cos θ > 0, as legacy insightface did."""
        m = float(margin)
        theta = angle_of(cos)
        with_margin = torch.cos(theta + m)
        if easy_margin:
            return torch.where(cos > 0, with_margin, cos)
        # Beyond θ = π − m, cos(θ + m) would rise again and reward a badly placed sample; the
        # legacy insightface / pytorch-metric-learning rule keeps the target decreasing instead.
        fallback = cos - m * math.sin(m)
        return torch.where(theta <= math.pi - m, with_margin, fallback)

    def legend_formula(self, *, easy_margin=False, **options):
        return "cos(θ + m) where cos θ > 0, else cos θ" if easy_margin else self.formula

    def options_text(self, *, easy_margin=False, **options):
        return ", easy_margin" if easy_margin else ""

    def max_margin(self, separation_rad, **ignored):
        return separation_rad  # cos m ≥ cos sep

    def half_arcs(self, margin, seps, *, easy_margin=False, **options):
        if easy_margin:
            return None
        return np.maximum(0.0, (seps - margin) / 2.0)  # cos(φ + m) = cos(sep − φ)

    def target_jumps(self, margin, *, easy_margin=False):
        if margin <= 0:
            return []
        if easy_margin:
            return [(math.pi / 2, "easy_margin switches the margin off for cos θ ≤ 0")]
        if margin < math.pi:
            return [(math.pi - margin, "beyond θ = π − m ArcFace falls back to cos θ − m·sin m")]
        return []

    def combined_equivalent(self, margin):
        return (1.0, float(margin), 0.0)  # only for θ ≤ π − m: the combined margin has no fallback


class ArcFaceHead(MarginHead):
    spec = ArcFaceSpec()

    def __init__(self, embedding_dim: int, num_classes: int, *, easy_margin: bool = False, **kwargs):
        super().__init__(embedding_dim, num_classes, **kwargs)
        self.easy_margin = bool(easy_margin)

    def hyper(self) -> dict:
        return {**super().hyper(), "easy_margin": self.easy_margin}

    def target_options(self) -> dict:
        return {"easy_margin": self.easy_margin}
