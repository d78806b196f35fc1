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
* `style`: the palette, colours, the figure factory and `margin_text`, shared by all of them.

Conventions: angles in radians in the code and in degrees on screen; one colour per class from
`PALETTE` in every view; no background colours (Streamlit's light or dark theme applies); a fixed
`layout.uirevision` on the live figures so a user's zoom or camera survives a redraw.
`from app import plots; plots.<name>` reaches every public name.
"""

from toy_models.heads import LOSS_SPECS

from .angles import HISTOGRAM_BIN_DEG, angle_histograms, histogram_edges_deg
from .loss_views import PAPER_RANGE_DEG, decision_boundary_figure, target_logit_figure
from .sphere import balanced_sample, hypersphere_figure, margin_caps_3d, margin_wedges_2d
from .style import (
    BAND_FILL,
    MARKER_OUTLINE,
    NEUTRAL,
    OTHER_COLOR,
    PALETTE,
    TARGET_COLOR,
    class_color,
    margin_text,
)
from .training import training_curves

__all__ = [
    "BAND_FILL",
    "HISTOGRAM_BIN_DEG",
    "LOSS_SPECS",
    "MARKER_OUTLINE",
    "NEUTRAL",
    "OTHER_COLOR",
    "PALETTE",
    "PAPER_RANGE_DEG",
    "TARGET_COLOR",
    "angle_histograms",
    "balanced_sample",
    "class_color",
    "decision_boundary_figure",
    "histogram_edges_deg",
    "hypersphere_figure",
    "margin_caps_3d",
    "margin_text",
    "margin_wedges_2d",
    "target_logit_figure",
    "training_curves",
]
