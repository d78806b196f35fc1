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

Note = tuple[str, str]
TARGET_PROBABILITY = 0.99  # "every class can reach p = 0.99": the scale warning's yardstick


def _fmt_angle(rad: float) -> str:
    return f"{rad:.2f} rad ({math.degrees(rad):.1f}°)"


def _margin_notes(loss: str, margin: Any, spread: str, best: str, sep: float) -> list[Note]:
    name = state.loss_label(loss)
    if loss == "arcface":
        limit = geometry.max_margin(loss, separation_rad=sep)
        if margin >= limit:
            return [("warning", f"m = {margin:.2f} rad leaves no room: with {spread} {name}'s margin must stay "
                                f"below {_fmt_angle(limit)}.")]
        arc = geometry.feasible_half_arc(loss, margin, separation_rad=sep)
        return [("caption", f"Workable for {spread}: m < {_fmt_angle(limit)}, {best}. At m = {margin:.2f}, a "
                            f"sample must stay within ±{math.degrees(arc):.1f}° of its centre.")]
    if loss == "cosface":
        limit = geometry.max_margin(loss, separation_rad=sep)
        if margin >= limit:
            return [("warning", f"m = {margin:.2f} leaves no room: with {spread} {name}'s margin must stay below "
                                f"{limit:.2f} (1 − cos {math.degrees(sep):.1f}°).")]
        arc = geometry.feasible_half_arc(loss, margin, separation_rad=sep)
        return [("caption", f"Workable for {spread}: m < {limit:.2f} = 1 − cos {math.degrees(sep):.1f}°, {best}. "
                            f"At m = {margin:.2f}, a sample must stay within ±{math.degrees(arc):.1f}° of its centre.")]
    if loss == "combined":
        _m1, m2, m3 = margin
        limit = geometry.max_margin(loss, separation_rad=sep, margin=margin, component="m3")
        if limit <= 0:
            return [("warning", f"m2 = {m2:.2f} rad alone leaves no room: with {spread} ({best} is "
                                f"{math.degrees(sep):.1f}°) even m3 = 0 is too much; lower m2.")]
        if m3 >= limit:
            return [("warning", f"m3 = {m3:.2f} leaves no room: with m2 = {m2:.2f} and {spread} m3 must stay "
                                f"below {limit:.2f}.")]
        arc = geometry.feasible_half_arc(loss, margin, separation_rad=sep)
        return [("caption", f"Workable for {spread}: m3 < {limit:.2f} at m2 = {m2:.2f} ({best} is "
                            f"{math.degrees(sep):.1f}°); a sample must stay within ±{math.degrees(arc):.1f}° of its "
                            "centre.")]
    return []


def sphereface_note(values: Mapping[str, Any], spread: str, best: str, sep: float) -> Note:
    """SphereFace has no hard limit. In the original form the blend (λ·cos θ + ψ)/(1 + λ) softens the
    margin, and λ falls at every step: the note gives the arc at the end of the schedule, λ = λ_min."""
    m = values["margin"]
    lam = float(values["lambda_min"]) if values.get("sphereface_form") == "original" else 0.0
    arc = geometry.feasible_half_arc("sphereface", m, separation_rad=sep, sphereface_lambda=lam)
    blend = f" once λ has fallen to λ min = {lam:g}" if lam else ""
    return ("caption", f"SphereFace has no hard limit, but with {spread} ({best} is {math.degrees(sep):.1f}°) a "
                       f"sample must stay within ±{math.degrees(arc):.1f}° of its centre at m = {m:.2f}{blend}.")


def geometry_notes(values: Mapping[str, Any], num_classes: int, dim: int) -> list[Note]:
    """(level, sentence) notes about the workable margin and scale for C classes in `dim` dimensions."""
    loss = values["loss"]
    sep = geometry.tammes_angle(num_classes, dim)
    spread = f"{num_classes} classes {'on a circle' if dim == 2 else 'on a sphere'}"
    best = f"the widest spacing {num_classes} centres can have there"
    if loss == "sphereface":
        notes = [sphereface_note(values, spread, best, sep)]
    else:
        notes = _margin_notes(loss, values.get("margin"), spread, best, sep)
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
