"""insightface's combined margin: target s·(cos(m1·θ_y + m2) − m3), all three terms honoured, no fallback."""

from __future__ import annotations

import math

import torch

from .head import MarginHead
from .spec import LossSpec, MarginNotes, MarginPart, angle_of

COMPONENTS = ("m2", "m3")  # the parts `max_margin` can bound: m1 does not decide whether the arc is empty


class CombinedSpec(LossSpec):
    name = "combined"
    label = "Combined margin (m1, m2, m3)"
    default_margin = (1.0, 0.3, 0.2)
    margin_range = ((0.5, 4.0), (0.0, math.pi / 2), (0.0, 1.0))
    margin_parts = (
        MarginPart("m1", "x", "Multiplier m1 (×)", "Multiplies the target angle: cos(m1·θ + m2) − m3. "
                   "1 = no multiplicative margin (SphereFace).", step=0.05),
        MarginPart("m2", "rad", "Angular margin m2 (rad)", "Added to the target angle: cos(m1·θ + m2) − m3. "
                   "0 = no additive angular margin (ArcFace).", step=0.01),
        MarginPart("m3", "cos", "Cosine margin m3 (cosine)", "Subtracted from the target cosine: cos(m1·θ + m2) − m3. "
                   "0 = no cosine margin (CosFace).", step=0.01),
    )
    margin_label = "Combined margin (m1, m2, m3)"
    margin_help = "The target is cos(m1·θ + m2) − m3: all three margins at once."
    formula = "cos(m1·θ + m2) − m3"
    summary = "the combined margin does all three"
    color = "#D55E00"
    target_is_monotone = False  # beyond m1·θ + m2 = π the target rises again: there is no fallback
    notes = MarginNotes(
        no_room="m2 = {m2:.2f} rad alone leaves no room: with {spread} ({best} is {sep_deg:.1f}°) even m3 = 0 is "
                "too much; lower m2.",
        too_large="m3 = {m3:.2f} leaves no room: with m2 = {m2:.2f} and {spread} m3 must stay below {limit:.2f}.",
        caption="Workable for {spread}: m3 < {limit:.2f} at m2 = {m2:.2f} ({best} is {sep_deg:.1f}°); a sample must "
                "stay within ±{arc_deg:.1f}° of its centre.",
        bounded="m3",
    )

    def target(self, cos, margin, **options):
        m1, m2, m3 = margin
        return torch.cos(m1 * angle_of(cos) + m2) - m3

    def max_margin(self, separation_rad, *, margin=None, component="m3"):
        """cos(m2) − m3 ≥ cos sep, whatever m1. component="m3" (always has an answer): cos(m2) − cos(sep), the
        largest m3 with m1, m2 fixed, negative when even m3 = 0 is too much; "m2": arccos(cos(sep) + m3), the largest
        m2 with m1, m3 fixed, or −inf when m3 alone already exceeds 1 − cos(sep)."""
        if component not in COMPONENTS:
            raise ValueError(
                f"component must be 'm2' or 'm3' (m1 does not decide whether the arc is empty), got {component!r}"
            )
        if margin is None:
            raise ValueError("the combined bound needs the current margin (m1, m2, m3) to fix the other components")
        m1, m2, m3 = self.check_margin(margin)
        if component == "m3":
            # g(0) with m3 = 0 is cos(m2); the margin holds at the centre while cos(m2) − m3 ≥ cos(sep).
            g0 = float(self.target(torch.tensor([1.0], dtype=torch.float64), (m1, m2, 0.0))[0])
            return g0 - math.cos(separation_rad)
        need = math.cos(separation_rad) + m3  # cos(m2) must be at least this
        if need > 1.0:
            return -math.inf
        return math.acos(max(need, -1.0))

    def fitting_margin(self, margin, separation_rad, share, snap_down):
        """m2 capped at `share` of the separation, then m3 at `share` of the room m2 leaves; m1 kept."""
        m1, m2, m3 = margin
        m2 = snap_down(1, min(m2, share * separation_rad))
        room = self.max_margin(separation_rad, margin=(m1, m2, 0.0), component="m3")
        return (float(m1), m2, snap_down(2, max(0.0, min(m3, share * room))))

    def target_turns(self, margin):
        """Where m1·θ + m2 passes kπ: beyond the first such angle the target rises again (there is no fallback)."""
        m1, m2, _ = margin
        turns, k = [], 1
        while (k * math.pi - m2) / m1 < math.pi:
            theta = (k * math.pi - m2) / m1
            if theta > 0:
                rises = k % 2 == 1
                multiple = "" if k == 1 else str(k)
                after = "rises again (no fallback)" if rises else "falls again"
                where = f"m1·θ + m2 = {multiple}π at θ = {math.degrees(theta):.1f}°"
                turns.append((theta, rises, f"{where}: beyond it the combined target {after}"))
            k += 1
        return turns

    def combined_equivalent(self, margin):
        return tuple(float(v) for v in margin)


class CombinedMarginHead(MarginHead):
    spec = CombinedSpec()
