"""AM-Softmax: the additive cosine margin as Wang et al. 2018 wrote it, with its paper's scale.

F. Wang, J. Cheng, W. Liu, H. Liu, "Additive Margin Softmax for Face Verification", IEEE Signal Processing
Letters 25(7), 2018 (arXiv:1801.05599). Features and class weights are unit vectors and the target logit is
s·(cos θ_y − m), m in cosine units: the same target as CosFace's large margin cosine loss, published at the same
time. The paper fixes s = 30 rather than learning it and settles on m = 0.35. Both fit the toy's default 3-D
sphere of 10 classes: the workable margin there is 1 − cos 66.1° ≈ 0.60, and s = 30 lets every class reach
p = 0.99 even on a circle (which needs s ≥ 27.7). On a circle m = 0.35 is too much (the bound is 0.19); the
notes say so and Compare starts it lower there.

Written as its own spec and head, as docs/adding-a-loss.md walks through: a new loss touches this module, the
registry's list of heads and its tests, nothing else.
"""

from __future__ import annotations

import math

import numpy as np

from .head import MarginHead
from .spec import LossSpec, MarginNotes


class AMSoftmaxSpec(LossSpec):
    name = "amsoftmax"
    label = "AM-Softmax (additive margin)"
    margin_unit = "cos"
    default_scale = 30.0  # the paper's fixed s
    default_margin = 0.35  # the paper's choice from m = 0.25 … 0.45
    margin_range = (0.0, 1.0)
    margin_label = "Additive margin m (cosine)"
    margin_help = ("AM-Softmax (Wang et al. 2018) subtracts m from the target cosine: s·(cos θ − m), with the "
                   "paper's s = 30. Cosine units, not an angle.")
    formula = "cos θ − m"
    summary = "AM-Softmax subtracts the same cosine margin at its paper's s = 30"
    color = "#56B4E9"  # Okabe–Ito sky blue: the one the other losses leave (yellow is too faint on white)
    notes = MarginNotes(
        too_large="m = {margin:.2f} leaves no room: with {spread} {name}'s margin must stay below {limit:.2f} "
                  "(1 − cos {sep_deg:.1f}°).",
        caption="Workable for {spread}: m < {limit:.2f} = 1 − cos {sep_deg:.1f}°, {best}. At m = {margin:.2f}, a "
                "sample must stay within ±{arc_deg:.1f}° of its centre.",
    )

    def target(self, cos, margin, **options):
        return cos - float(margin)

    def max_margin(self, separation_rad, **ignored):
        return 1.0 - math.cos(separation_rad)  # g(0) = 1 − m must reach cos sep

    def half_arcs(self, margin, seps, **options):
        # cos φ − m = cos(sep − φ)  ⇔  2·sin(sep/2)·sin(sep/2 − φ) = m; no arc where even the centre fails
        half = np.sin(seps / 2.0)
        ratio = np.where(half > 0, margin / (2.0 * half), np.inf)
        return np.where(ratio <= 1.0, np.maximum(0.0, seps / 2.0 - np.arcsin(np.minimum(ratio, 1.0))), 0.0)

    def combined_equivalent(self, margin):
        return (1.0, 0.0, float(margin))


class AMSoftmaxHead(MarginHead):
    spec = AMSoftmaxSpec()
