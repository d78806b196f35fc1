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
from toy_models.heads import LOSS_SPECS

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


def geometry_notes(values: Mapping[str, Any], num_classes: int, dim: int,
                   withheld: Collection[str] = ()) -> list[Note]:
    """(level, sentence) notes about the workable margin and scale for C classes in `dim` dimensions, without
    the facts in `withheld` (FACTS)."""
    withheld = withheld_here(withheld, dim, num_classes)
    loss = values["loss"]
    sep = geometry.tammes_angle(num_classes, dim)
    spread = f"{num_classes} classes {'on a circle' if dim == 2 else 'on a sphere'}"
    best = f"the widest spacing {num_classes} centres can have there"
    notes_of_loss = LOSS_SPECS[loss].notes
    if notes_of_loss is not None and notes_of_loss.too_large and {MARGIN_LIMIT, TAMMES} & set(withheld):
        notes = [MARGIN_WITHHELD]  # the limit is the Tammes angle's consequence: either gives the other away
    elif notes_of_loss is not None and not notes_of_loss.too_large and TAMMES in withheld:
        notes = []  # no hard limit (SphereFace): its note would only give the spacing, the Tammes angle, away
    else:
        notes = _margin_notes(values, spread, best, sep)
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
