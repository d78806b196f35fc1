"""Figure builders: arrays in, plotly Figures out. No Streamlit calls, no torch tensors.

Every view of Margin Lab is drawn here, so that the pages stay thin and the figures can be
tested (and looked at) without a browser session. One module per view:

* `sphere`: `hypersphere_figure`, features on the unit circle (2-D) or sphere (3-D) with the
  class-weight directions and, for the margin losses, the region around each weight inside which
  a sample satisfies its margin (ArcFace Fig. 3, CosFace Fig. 4, SphereFace Fig. 5).
* `angles`: `angle_histograms`; `training`: `training_curves`: what training does to the angles,
  the loss and the accuracy.
* `loss_views`: `target_logit_figure`, `decision_boundary_figure`, the instant views of the loss
  itself, which need no model (ArcFace Fig. 4b and Fig. 5, CosFace Fig. 2).
* `papers`: the papers' figures on our data (ArcFace Figs. 3-7, CosFace Figs. 2 and 4, SphereFace Fig. 5):
  `target_angle_histograms`, `target_logit_curves`, `decision_margin_panels`, `cosine_margin_panels`,
  `pair_angle_histograms`, `sphere_panels`; their captions are data, in `paper_captions.toml`
  (`paper_captions`).
* `verification`: `roc_figure` and `verification_rows`, open-set verification on held-out classes.
* `style`: the palette, colours, the figure factory and `margin_text`, shared by all of them.

Conventions: angles in radians in the code and in degrees on screen; one colour per class from
`PALETTE` in every view; no background colours (Streamlit's light or dark theme applies); a fixed
`layout.uirevision` on the live figures so a user's zoom or camera survives a redraw.
`from app import plots; plots.<name>` reaches every public name.

What the figures draw comes from `toy_models.geometry`; these modules only draw it. Every trace that
depends on the margin carries a small `meta` dict naming what it is, so a browser can find and
redraw it when only the margin moves (angles in radians):

  role            figure                 keys besides "role"
  "wedge"         hypersphere, 2-D       "class": k, "centre_rad": the weight's angle, "gap_rad": [cw, ccw]
                                         neighbour gaps, "half_arc_rad": [cw, ccw] as drawn, "radius": of the
                                         wedge's rim. Region: angles centre − cw … centre + ccw.
  "cap"           hypersphere, 3-D       "class": k, "centre": [x, y, z] unit weight, "gap_rad": nearest other
                                         weight, "half_arc_rad": as drawn. The trace is the cap's edge ring.
  "weight"        hypersphere            "class": k. The ray is dotted when the class's region is empty.
  "target_curve"  target logit           "scale": the factor the curve is drawn with (1: cosine units).
  "jump"          target logit           "theta_rad": where the target jumps (the two markers either side).
  "boundary"      decision margins       "class": 1 or 2.
  "band"          decision margins       (none): the grey decision margin, a polygon or a heatmap.

geometry.margin_layout gives the centres and gaps, geometry.cap_half_arcs the half-arcs. A margin
loss gets a wedge or cap trace for every class, with no points where the region is empty, so the
hypersphere's trace list does not change with the margin. In the loss views it can: ArcFace at
m = 0 has no jump, and the band is a heatmap instead of a polygon where the target is not monotone
(easy_margin, a combined margin that rises again).
"""

from toy_models.heads import LOSS_SPECS

from .angles import HISTOGRAM_BIN_DEG, angle_histograms, histogram_edges_deg
from .loss_views import decision_boundary_figure, target_logit_figure
from .papers import (
    cosine_margin_panels,
    decision_margin_panels,
    pair_angle_histograms,
    paper_captions,
    sphere_panels,
    target_angle_histograms,
    target_logit_curves,
)
from .sphere import hypersphere_figure
from .style import (
    BAND_FILL,
    MARKER_OUTLINE,
    NEUTRAL,
    OTHER_COLOR,
    PALETTE,
    TARGET_COLOR,
    class_color,
    lambda_text,
    margin_text,
)
from .training import training_curves
from .verification import roc_figure, verification_rows

__all__ = [
    "BAND_FILL",
    "HISTOGRAM_BIN_DEG",
    "LOSS_SPECS",
    "MARKER_OUTLINE",
    "NEUTRAL",
    "OTHER_COLOR",
    "PALETTE",
    "TARGET_COLOR",
    "angle_histograms",
    "class_color",
    "cosine_margin_panels",
    "decision_boundary_figure",
    "decision_margin_panels",
    "histogram_edges_deg",
    "hypersphere_figure",
    "lambda_text",
    "margin_text",
    "pair_angle_histograms",
    "paper_captions",
    "roc_figure",
    "sphere_panels",
    "target_angle_histograms",
    "target_logit_curves",
    "target_logit_figure",
    "training_curves",
    "verification_rows",
]
