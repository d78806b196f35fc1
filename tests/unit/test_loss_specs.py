"""Each loss's spec: its facts hold against its own formula, and the app's words come from it (labels, help, steps,
the workable-margin notes); a sixth loss is in tests/unit/test_am_softmax.py."""

from __future__ import annotations

import math

import pytest
import torch

from app import state
from app.live import notes
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


@pytest.mark.parametrize(
    ("values", "note"),
    [
        ({"loss": "arcface", "margin": 0.5},
         ("caption", "Workable for 10 classes on a circle: m < 0.63 rad (36.0°), the widest spacing 10 centres can "
                     "have there. At m = 0.50, a sample must stay within ±3.7° of its centre.")),
        ({"loss": "arcface", "margin": 0.7},
         ("warning", "m = 0.70 rad leaves no room: with 10 classes on a circle ArcFace's margin must stay below "
                     "0.63 rad (36.0°).")),
        ({"loss": "cosface", "margin": 0.35},
         ("warning", "m = 0.35 leaves no room: with 10 classes on a circle CosFace's margin must stay below 0.19 "
                     "(1 − cos 36.0°).")),
        ({"loss": "combined", "margin": (1.0, 1.5, 0.0)},
         ("warning", "m2 = 1.50 rad alone leaves no room: with 10 classes on a circle (the widest spacing 10 centres "
                     "can have there is 36.0°) even m3 = 0 is too much; lower m2.")),
        ({"loss": "combined", "margin": (1.0, 0.3, 0.2)},
         ("warning", "m3 = 0.20 leaves no room: with m2 = 0.30 and 10 classes on a circle m3 must stay below 0.15.")),
        ({"loss": "sphereface", "margin": 4.0, "sphereface_form": "original", "lambda_min": 5.0},
         ("caption", "SphereFace has no hard limit, but with 10 classes on a circle (the widest spacing 10 centres "
                     "can have there is 36.0°) a sample must stay within ±12.7° of its centre at m = 4.00 once λ has "
                     "fallen to λ min = 5.")),
    ],
    ids=lambda v: str(v.get("loss", "")) if isinstance(v, dict) else "",
)
def test_the_specs_note_templates_give_the_notes_users_read(values, note):
    """The notes come from each spec's templates alone: the sentences the app showed when notes.py spelled them."""
    assert notes.geometry_notes({**values, "scale": 64.0}, 10, 2) == [note]


@pytest.mark.parametrize("loss", [name for name, spec in LOSS_SPECS.items() if spec.notes is not None])
@pytest.mark.parametrize(("num_classes", "dim"), [(10, 2), (4, 3)])
def test_every_note_template_names_only_fields_it_is_given(loss, num_classes, dim):
    """A template with a field the renderer does not fill would raise KeyError on the page: fill each one, at the
    default margin and at margins past the bound."""
    spec = LOSS_SPECS[loss]
    values = {**state.defaults(loss), "scale": 64.0}
    for margin in (spec.default_margin, spec.margin_range[1] if not spec.margin_parts else
                   tuple(high for _low, high in spec.margin_range)):
        sentences = notes.geometry_notes({**values, "margin": margin}, num_classes, dim)
        assert sentences and all(level in ("caption", "warning") and "{" not in text for level, text in sentences)


def test_counts_are_words_from_no_to_five_and_digits_past_them():
    from toy_models.heads.spec import count_word

    assert [count_word(n) for n in (0, 1, 5, 6, -1)] == ["no", "one", "five", "6", "-1"]
