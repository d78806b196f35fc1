"""Each loss's spec: its facts hold against its own formula, and the words it carries for the app say what the app
says today (labels, help, steps, legend formulas, margin texts, the workable-margin notes), so the app can read
them from the spec instead of spelling them itself."""

from __future__ import annotations

import math

import pytest
import torch

from app import state
from app.live import notes
from app.plots import loss_views, style
from toy_models import geometry
from toy_models.heads import HEAD_CLASSES, LOSS_SPECS, LOSSES, build_head

APPLIED = " Applied to the running model."  # the app's own sentence for a hot setting


def test_every_loss_has_one_spec_and_one_head_that_share_it():
    assert tuple(LOSS_SPECS) == LOSSES == tuple(HEAD_CLASSES)
    for loss, spec in LOSS_SPECS.items():
        assert spec.name == loss and HEAD_CLASSES[loss].spec is spec
        assert build_head(loss, 3, 4).spec is spec


def test_a_spec_is_read_only():
    with pytest.raises(AttributeError, match="read-only"):
        LOSS_SPECS["arcface"].default_margin = 0.1


@pytest.mark.parametrize("loss", [name for name, spec in LOSS_SPECS.items() if spec.has_margin])
@pytest.mark.parametrize("num_classes", [3, 8, 10])
def test_the_workable_margin_rule_is_where_the_formula_stops_fitting(loss, num_classes):
    """max_margin is the margin at which a sample on its own centre ties with the nearest other centre: g(0) = cos sep
    there, and a hair below it g(0) > cos sep (the combined margin's bound is on m3, m1 and m2 held)."""
    spec = LOSS_SPECS[loss]
    sep = 2 * math.pi / num_classes
    one = torch.ones(1, dtype=torch.float64)
    if loss == "combined":
        margin = (1.0, 0.1, 0.05)
        bound = spec.max_margin(sep, margin=margin)

        def g0(m):
            return float(spec.target(one, (1.0, 0.1, m)))
    else:
        margin = None
        bound = spec.max_margin(sep)

        def g0(m):
            return float(spec.target(one, m))
    if math.isinf(bound):  # SphereFace: g(0) = 1 for every multiplier
        assert all(g0(m) == pytest.approx(1.0) for m in (1.0, 2.0, 4.0, 8.0))
        return
    assert g0(bound) == pytest.approx(math.cos(sep), abs=1e-9)
    assert g0(bound * (1 - 1e-6)) > math.cos(sep)
    assert geometry.max_margin(loss, num_classes, margin=margin) == bound


# ---------------------------------------------------------------- the words the app shows, from the spec


@pytest.mark.parametrize("loss", LOSSES)
def test_margin_controls_say_what_the_spec_says(loss):
    spec, param = LOSS_SPECS[loss], state.param_by_name(loss, "margin")
    if not spec.has_margin:
        assert param is None
        return
    assert (param.label, param.help) == (spec.margin_label, spec.margin_help + APPLIED)
    if spec.margin_parts:
        for part, control in zip(spec.margin_parts, param.parts, strict=True):
            assert (control.label, control.help, control.step, control.unit) == (part.label, part.help, part.step,
                                                                                 part.unit)
    else:
        assert (param.step, param.unit) == (spec.margin_step, spec.margin_unit)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("options", [{}, {"easy_margin": True}, {"sphereface_lambda": 5.0}])
def test_legend_formulas_are_the_specs(loss, options):
    spec = LOSS_SPECS[loss]
    options = {name: value for name, value in options.items() if name in spec.target_options}
    assert spec.legend_formula(**options) == loss_views._target_formula(loss, **options)


@pytest.mark.parametrize(
    ("loss", "margin"),
    [("softmax", None), ("normface", None), ("arcface", 0.5), ("arcface", None), ("cosface", 0.35),
     ("sphereface", 4.0), ("sphereface", 1.35), ("combined", (1.0, 0.3, 0.2)), ("combined", (1.35, 0.0, 0.15))],
)
def test_margin_texts_are_the_specs(loss, margin):
    assert LOSS_SPECS[loss].margin_text(margin) == style.margin_text(loss, margin)


def render_margin_notes(values: dict, num_classes: int, dim: int) -> list[tuple[str, str]]:
    """The workable-margin notes from the spec's templates alone: how a generic notes.py renders them."""
    spec = LOSS_SPECS[values["loss"]]
    if spec.notes is None:
        return []
    sep = geometry.tammes_angle(num_classes, dim)
    options = spec.settled_options(values)
    limit = geometry.max_margin(spec.name, separation_rad=sep, margin=values["margin"])
    fields = {
        "name": spec.short_label,
        "spread": f"{num_classes} classes {'on a circle' if dim == 2 else 'on a sphere'}",
        "best": f"the widest spacing {num_classes} centres can have there",
        "sep_deg": math.degrees(sep),
        "limit": limit,
        "limit_deg": math.degrees(limit),
        **spec.margin_fields(values["margin"]),
        **options,
    }
    if spec.notes.no_room and limit <= 0:
        return [("warning", spec.notes.no_room.format(**fields))]
    if spec.notes.too_large and fields[spec.notes.bounded] >= limit:
        return [("warning", spec.notes.too_large.format(**fields))]
    arc = geometry.feasible_half_arc(spec.name, values["margin"], separation_rad=sep, **options)
    blend = spec.notes.blend.format(**fields) if any(options.values()) else ""
    return [("caption", spec.notes.caption.format(**fields, arc_deg=math.degrees(arc), blend=blend))]


NOTE_CASES = [
    {"loss": "arcface", "margin": m} for m in (0.0, 0.3, 0.5, 0.62, 0.63, 1.2)
] + [
    {"loss": "cosface", "margin": m} for m in (0.0, 0.1, 0.19, 0.35)
] + [
    {"loss": "combined", "margin": m} for m in ((1.0, 0.3, 0.2), (1.0, 0.1, 0.05), (1.0, 1.5, 0.0), (0.9, 0.2, 0.0))
] + [
    {"loss": "sphereface", "margin": m, "sphereface_form": form, "lambda_min": 5.0}
    for m in (1.0, 1.5, 4.0) for form in ("normalized", "original")
] + [{"loss": "softmax", "margin": None}, {"loss": "normface", "margin": None}]


@pytest.mark.parametrize("values", NOTE_CASES, ids=lambda v: f"{v['loss']}-{v['margin']}-{v.get('sphereface_form')}")
@pytest.mark.parametrize(("num_classes", "dim"), [(10, 2), (10, 3), (8, 2), (4, 3)])
def test_the_specs_note_templates_give_the_apps_sentences(values, num_classes, dim):
    values = {**values, "scale": 64.0}  # a scale large enough that no scale warning joins the margin's note
    assert render_margin_notes(values, num_classes, dim) == notes.geometry_notes(values, num_classes, dim)
