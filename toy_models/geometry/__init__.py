"""Closed-form geometry of the margin losses: target-logit curves, decision margins, bounds, Tammes.

Nothing here trains a model. Every function answers a "what does the formula imply?" question
fast enough (a few milliseconds for a 400-point grid) to redraw on every slider move:

* `curves`: `target_logit_curve` / `target_logit_features`, the unscaled target logit g(θ) that a
  loss puts in place of cos θ for the true class (ArcFace Fig. 4b) and where that curve jumps or
  turns round; `decision_boundary`, `decision_boundary_cos`, `decision_margin_band`,
  `decision_regions`, the binary decision boundaries in the (θ1, θ2) plane (ArcFace Fig. 5) and the
  (cos θ1, cos θ2) plane (CosFace Fig. 2), with the grey "decision margin" between them.
* `bounds`: `feasible_half_arc`, `max_margin`, `cosface_min_scale`, `min_scale`: how much room the
  margin leaves around each class centre when the centres share the circle (or sphere), and how
  large the margin or how small the scale may be (docs/losses.md §7); `min_scale`
  takes the embedding dimension into account.
* `tammes`: `tammes_angle` / `tammes_points`, the best possible minimum angle between C unit vectors
  in R^d (the Tammes problem): the separation the class centres can reach at best.
* `layout`: `margin_layout` (each class's centre and the neighbour gaps its margin region depends
  on) and `cap_half_arcs` (how far that region reaches, for a loss and margin), kept apart so the
  regions can be redrawn from the gaps when only the margin moves; `balanced_sample`, which points
  a figure shows.

Angles are radians unless a name ends in `_deg`. The margin target g is never re-derived here:
every value of g comes from `toy_models.heads.target_cos`, evaluated in float64, so the figures
and the training code share one formula. `from toy_models import geometry; geometry.<name>` reaches
every public name; the submodules are there so a reader can hold one topic at a time.
"""

from .bounds import (
    COMBINED_COMPONENTS,
    ScaleBound,
    cosface_min_scale,
    feasible_half_arc,
    max_margin,
    min_scale,
    multiclass_separation,
)
from .curves import (
    PLANES,
    decision_boundary,
    decision_boundary_cos,
    decision_margin_band,
    decision_regions,
    target_logit_curve,
    target_logit_features,
)
from .layout import MarginLayout, balanced_sample, cap_half_arcs, margin_layout
from .tammes import tammes_angle, tammes_points

__all__ = [
    "COMBINED_COMPONENTS",
    "PLANES",
    "MarginLayout",
    "ScaleBound",
    "balanced_sample",
    "cap_half_arcs",
    "cosface_min_scale",
    "decision_boundary",
    "decision_boundary_cos",
    "decision_margin_band",
    "decision_regions",
    "feasible_half_arc",
    "margin_layout",
    "max_margin",
    "min_scale",
    "multiclass_separation",
    "tammes_angle",
    "tammes_points",
    "target_logit_curve",
    "target_logit_features",
]
