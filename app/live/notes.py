"""Sentences about the workable margin and scale, computed from `toy_models.geometry`, never typed in.

`geometry_notes(values, num_classes, dim)` returns (level, sentence) pairs: "caption" for the workable
range, "warning" when the setting is beyond it. In 2-D the class centres can at best be spread evenly
on the circle (2π/C apart); in 3-D the Tammes bound gives the best separation on the sphere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from app import state
from toy_models import geometry
from toy_models.heads import LOSS_SPECS

Note = tuple[str, str]
TARGET_PROBABILITY = 0.99  # "every class can reach p = 0.99": the scale warning's yardstick


def _margin_notes(values: Mapping[str, Any], spread: str, best: str, sep: float) -> list[Note]:
    """The loss's workable-margin note, from its spec's templates (`LossSpec.notes`) filled with the geometry."""
    spec = LOSS_SPECS[values["loss"]]
    margin = values.get("margin")
    if spec.notes is None or margin is None:
        return []
    options = spec.settled_options(values)  # SphereFace's original form: λ once it has fallen to λ_min
    limit = geometry.max_margin(spec.name, separation_rad=sep, margin=margin)
    fields = {"name": spec.short_label, "spread": spread, "best": best, "sep_deg": math.degrees(sep), "limit": limit,
              "limit_deg": math.degrees(limit), **spec.margin_fields(margin), **options}
    if spec.notes.no_room and limit <= 0:
        return [("warning", spec.notes.no_room.format(**fields))]
    if spec.notes.too_large and fields[spec.notes.bounded] >= limit:
        return [("warning", spec.notes.too_large.format(**fields))]
    arc = geometry.feasible_half_arc(spec.name, margin, separation_rad=sep, **options)
    blend = spec.notes.blend.format(**fields) if any(options.values()) else ""
    return [("caption", spec.notes.caption.format(**fields, arc_deg=math.degrees(arc), blend=blend))]


def geometry_notes(values: Mapping[str, Any], num_classes: int, dim: int) -> list[Note]:
    """(level, sentence) notes about the workable margin and scale for C classes in `dim` dimensions."""
    loss = values["loss"]
    sep = geometry.tammes_angle(num_classes, dim)
    spread = f"{num_classes} classes {'on a circle' if dim == 2 else 'on a sphere'}"
    best = f"the widest spacing {num_classes} centres can have there"
    notes = _margin_notes(values, spread, best, sep)
    scale = state.param_by_name(loss, "scale")
    if scale is not None and state.is_active(scale, values):
        notes += scale_notes(float(values["scale"]), num_classes, dim)
    return notes


def scale_notes(scale: float, num_classes: int, dim: int) -> list[Note]:
    """A warning when s is too small for every class to reach TARGET_PROBABILITY in this dimension.

    The bound is for the best layout the dimension allows (`geometry.min_scale`): CosFace's 6.11 for
    10 classes assumes a regular simplex, which needs C − 1 dimensions; on a circle it is about 27.7.
    """
    bound = geometry.min_scale(num_classes, dim, TARGET_PROBABILITY)
    if scale >= bound.scale:
        return []
    where = {"polygon": "spread evenly on a circle", "tammes": f"spread as well as {dim}-D allows",
             "simplex": "as a regular simplex"}[bound.layout]  # fmt: skip
    text = (f"s = {scale:g} caps the probability: with {num_classes} class centres {where}, every class reaches "
            f"p = {TARGET_PROBABILITY} for a sample on its own centre only when s ≥ {bound.scale:.1f}.")
    if bound.layout != "simplex":
        text += (f" (CosFace's bound {bound.simplex_scale:.2f} assumes a regular simplex, which needs "
                 f"{num_classes - 1} dimensions.)")
    return [("warning", text)]
