"""Sentences about the workable margin and scale, computed from `toy_models.geometry`, never typed in.

`geometry_notes(values, num_classes, dim)` returns (level, sentence) pairs: "caption" for the workable
range, "warning" when the setting is beyond it. In 2-D the class centres can at best be spread evenly
on the circle (2π/C apart); in 3-D the Tammes bound gives the best separation on the sphere.

A lesson may ask for one of these numbers before it shows it: `withheld` names the facts to keep back
(FACTS; `app.lessons.withhold` says which question keeps which), and the notes are then worded without them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping
from typing import Any

from app import state
from toy_models import geometry

Note = tuple[str, str]
TARGET_PROBABILITY = 0.99  # "every class can reach p = 0.99": the scale warning's yardstick
# What a lesson can keep back while its question is open: the largest workable margin, the smallest scale that
# lets every class reach TARGET_PROBABILITY, and the Tammes angle (the best spacing of C centres).
# Each is kept back for one dimension and number of classes: "margin_limit:2:10" is the limit for ten classes on a
# circle, "*" any number of classes (`withheld_here`).
MARGIN_LIMIT, SCALE_BOUND, TAMMES = "margin_limit", "scale_bound", "tammes"
FACTS = (MARGIN_LIMIT, SCALE_BOUND, TAMMES)
MARGIN_WITHHELD = ("caption", "How large the margin may be here is one of this lesson's questions: answer it, and "
                              "this note gives the workable range.")
SCALE_WITHHELD = ("caption", "How large s must be is one of this lesson's questions: answer it, and this note "
                             "says whether s is large enough.")


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


def geometry_notes(values: Mapping[str, Any], num_classes: int, dim: int,
                   withheld: Collection[str] = ()) -> list[Note]:
    """(level, sentence) notes about the workable margin and scale for C classes in `dim` dimensions, without
    the facts in `withheld` (FACTS)."""
    withheld = withheld_here(withheld, dim, num_classes)
    loss = values["loss"]
    sep = geometry.tammes_angle(num_classes, dim)
    spread = f"{num_classes} classes {'on a circle' if dim == 2 else 'on a sphere'}"
    best = f"the widest spacing {num_classes} centres can have there"
    if loss == "sphereface":
        notes = [] if TAMMES in withheld else [sphereface_note(values, spread, best, sep)]
    elif loss in ("arcface", "cosface", "combined") and withheld and {MARGIN_LIMIT, TAMMES} & set(withheld):
        notes = [MARGIN_WITHHELD]  # the limit is the Tammes angle's consequence: either gives the other away
    else:
        notes = _margin_notes(loss, values.get("margin"), spread, best, sep)
    scale = state.param_by_name(loss, "scale")
    if scale is not None and state.is_active(scale, values):
        # (held back, the note shows either way: its absence alone would say that s is large enough)
        notes += [SCALE_WITHHELD] if SCALE_BOUND in withheld else scale_notes(float(values["scale"]), num_classes, dim)
    return notes


def notes_at_stop(values: Mapping[str, Any], num_classes: int, dim: int, withheld: Collection[str] = ()) -> list[Note]:
    """`geometry_notes`, remembered: the charts send the notes at a dozen stops around the slider with every
    tick (app.live.preview.with_notes), and they change only when a setting does."""
    return list(_remembered(tuple(sorted(values.items())), num_classes, dim, frozenset(withheld)))


@functools.lru_cache(maxsize=4096)
def _remembered(items: tuple, num_classes: int, dim: int, withheld: frozenset) -> tuple[Note, ...]:
    return tuple(geometry_notes(dict(items), num_classes, dim, withheld))


def withheld_here(withheld: Collection[str], dim: int, num_classes: int) -> frozenset[str]:
    """The FACTS kept back for C classes in this dimension, from keys such as "margin_limit:2:10" ("*": any C)."""
    here = set()
    for key in withheld:
        name, fact_dim, classes = [*key.split(":"), "", ""][:3]
        if fact_dim == str(dim) and classes in ("*", str(num_classes)):
            here.add(name)
    return frozenset(here)


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
