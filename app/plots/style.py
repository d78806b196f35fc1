"""The look shared by every figure: the class palette, colours, the plain-dict figure factory, titles, margins as text.

Conventions: one colour per class from `PALETTE` in every view; no background colours (Streamlit's
light or dark theme applies).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from toy_models.heads import Margin, check_loss
from toy_models.heads.sphereface import lambda_text  # noqa: F401 - the views print λ with it

# Paul Tol's "muted" qualitative scheme (9 colours, https://personal.sron.nl/~pault/#sec:qualitative),
# designed to stay distinct for the common colour-vision deficiencies (deuteranopia, protanopia,
# tritanopia) and in print, plus a mid grey as the 10th colour (Tol pairs the scheme with a grey).
# Class k is always PALETTE[k % 10], in every view.
PALETTE: tuple[str, ...] = (
    "#CC6677",  # rose
    "#332288",  # indigo
    "#DDCC77",  # sand
    "#117733",  # green
    "#88CCEE",  # cyan
    "#882255",  # wine
    "#44AA99",  # teal
    "#999933",  # olive
    "#AA4499",  # purple
    "#888888",  # grey
)
# Two colours for "own class" against "other classes" (Okabe–Ito blue and vermillion: a CB-safe pair).
TARGET_COLOR = "#0072B2"
OTHER_COLOR = "#D55E00"
NEUTRAL = "rgba(128, 128, 128, 0.9)"  # reference lines: visible on light and dark backgrounds
BAND_FILL = "rgba(128, 128, 128, 0.28)"  # the grey decision margin
# A faint light rim on every point: invisible on a light background, it keeps the darker
# palette colours (indigo, wine) readable on Streamlit's dark theme and separates overlapping points.
MARKER_OUTLINE = {"color": "rgba(255, 255, 255, 0.45)", "width": 0.5}

_FONT = {"size": 13}


def class_color(k: int) -> str:
    """The colour of class k in every view."""
    return PALETTE[int(k) % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _figure(data: list[dict], layout: dict, as_spec: bool = False) -> go.Figure | dict:
    """A Figure from plain dicts, without plotly.py's per-property validation; or, with as_spec, the
    plain figure dict itself ({"data", "layout"}, numpy arrays kept as they are).

    Validation costs ~20 ms for the 30 traces of a hypersphere view, on every training tick;
    the unit tests validate every builder's output once (go.Figure(fig.to_dict())) instead. The live
    views take the spec: turning a Figure back into a dict (to_plotly_json) costs ~45 ms more.
    """
    base = {"font": _FONT, "margin": {"l": 10, "r": 10, "t": 60, "b": 10}, "hoverlabel": {"font": {"size": 12}}}
    layout = {**base, **layout}
    if as_spec:
        return {"data": data, "layout": layout}
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except TypeError:  # pragma: no cover - a plotly without the private switch: validate after all
        return go.Figure(data=data, layout=layout)


def _title(text: str, subtitle: str | None = None) -> dict:
    title: dict[str, Any] = {"text": text, "x": 0.0, "xanchor": "left", "font": {"size": 15}}
    if subtitle:
        title["subtitle"] = {"text": subtitle, "font": {"size": 12}}
    return title


def margin_text(loss: str, margin: Margin | None) -> str:
    """The margin as a reader wants it, with units: 'm = 0.50 rad (28.6°)', 'm = 0.35 (cosine units)',
    'm = 4 (multiplies θ)' (docs/losses.md §2.1: ArcFace radians, CosFace cosine units, SphereFace a multiplier)."""
    return check_loss(loss).margin_text(margin)
