"""AM-Softmax (Wang et al. 2018), the loss added by following docs/adding-a-loss.md: its formula, its gradients at
cos = ±1, that it trains on digits, and that the app offers it wherever a loss is chosen, although no module outside
toy_models/heads/amsoftmax.py and the registry names it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from app import plots, state
from app.compare.values import member_defaults, preset_from_link
from app.live import notes, views
from app.plots import papers
from toy_models import export, geometry
from toy_models.heads import LOSS_SPECS, LOSSES, build_head, margin_logits
from toy_models.train import TrainConfig, Trainer

PAPER_SCALE, PAPER_MARGIN = 30.0, 0.35  # Wang et al. 2018 train with s = 30 and settle on m = 0.35


def test_its_defaults_are_the_papers():
    head = build_head("amsoftmax", 3, 10)
    assert (head.scale, head.margin, head.gradient) == (PAPER_SCALE, PAPER_MARGIN, "true")
    assert TrainConfig(loss="amsoftmax").resolved().scale == PAPER_SCALE


@pytest.mark.parametrize("gradient", ["true", "detached"])
def test_target_logit_is_s_times_cos_minus_m_and_nothing_else_changes(gradient):
    """ψ = s·(cos θ_y − m) in the target column, s·cos θ_j elsewhere, written out here from the paper."""
    torch.manual_seed(0)
    head = build_head("amsoftmax", 4, 5, scale=PAPER_SCALE, margin=0.2, gradient=gradient).double()
    embeddings = torch.randn(12, 4, dtype=torch.float64)
    labels = torch.arange(12) % 5
    logits, scores = head.training_logits(embeddings, labels)
    cos = F.normalize(embeddings, dim=1) @ F.normalize(head.weight, dim=1).T
    rows = torch.arange(12)
    expected = PAPER_SCALE * cos
    expected[rows, labels] = PAPER_SCALE * (cos[rows, labels] - 0.2)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(scores, cos, rtol=0, atol=1e-12)  # it predicts the class of largest cosine
    torch.testing.assert_close(head(embeddings), PAPER_SCALE * cos, rtol=0, atol=1e-12)  # inference: no margin


@pytest.mark.parametrize("gradient", ["true", "detached"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_gradients_are_finite_at_cos_plus_and_minus_one(gradient, sign):
    """Each feature exactly on (cos = +1) or exactly opposite (cos = −1) its own class weight."""
    head = build_head("amsoftmax", 3, 3, gradient=gradient)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3))
    embeddings = (sign * torch.eye(3)).requires_grad_(True)
    labels = torch.arange(3)
    logits = head(embeddings, labels)
    assert torch.equal(logits.diagonal(), PAPER_SCALE * (sign - torch.full((3,), PAPER_MARGIN)))
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(embeddings.grad).all() and torch.isfinite(head.weight.grad).all()
    cosine = torch.tensor([[sign, 0.0], [0.0, sign]], dtype=torch.float64, requires_grad=True)
    logits = margin_logits(cosine, torch.tensor([0, 1]), "amsoftmax", PAPER_SCALE, PAPER_MARGIN, gradient=gradient)
    logits.sum().backward()
    assert torch.isfinite(cosine.grad).all()


def test_it_trains_on_digits(digits):
    """Measured (seeds 0-2, 3 epochs): the loss falls to 0.26-0.49 of its start, test accuracy 0.47-0.57."""
    trainer = Trainer(TrainConfig(loss="amsoftmax", num_threads=1), dataset=digits)
    trainer.advance(epochs=3)
    snap = trainer.snapshot()
    loss = snap.history.loss
    assert all(math.isfinite(value) for value in loss)
    assert loss[-1] < 0.6 * loss[0]
    assert snap.test_accuracy > 0.3  # chance is 0.1


def test_at_cosfaces_scale_it_trains_exactly_as_cosface(digits):
    """The same target as CosFace's LMCL: with the same s and m, the same seed trains to the same weights."""
    runs = [Trainer(TrainConfig(loss=loss, scale=16.0, margin=0.3, num_threads=1), dataset=digits)
            for loss in ("amsoftmax", "cosface")]
    for run in runs:
        run.advance(steps=20)
    for a, b in zip(runs[0].head.parameters(), runs[1].head.parameters(), strict=True):
        assert torch.equal(a, b)
    assert runs[0].last_loss == runs[1].last_loss


# ---------------------------------------------------------------- in the app, with no app module edited


def test_the_loss_choice_and_its_controls_come_from_the_spec():
    choice = state.param_by_name("amsoftmax", "loss")
    assert "amsoftmax" in choice.options and choice.label_of("amsoftmax") == "AM-Softmax (additive margin)"
    assert "AM-Softmax subtracts the same cosine margin" in choice.help
    margin, scale = state.param_by_name("amsoftmax", "margin"), state.param_by_name("amsoftmax", "scale")
    assert (margin.label, margin.default, margin.unit, margin.maximum) == ("Additive margin m (cosine)", 0.35, "cos",
                                                                         1.0)
    assert scale.default == PAPER_SCALE and state.param_by_name("amsoftmax", "gradient") is not None
    assert state.param_by_name("amsoftmax", "sphereface_form") is None


def test_a_share_link_names_it_and_reads_back_the_same_values():
    values, notices = state.validate({"loss": "amsoftmax", "m": "0.2", "s": "24"})
    assert notices == [] and (values["loss"], values["margin"], values["scale"]) == ("amsoftmax", 0.2, 24.0)
    assert state.validate(state.to_query(values)).values == values
    _, notices = state.validate({"loss": "amsoftmax", "m": "3"})
    assert notices == ["URL value m=3 is above AM-Softmax's maximum 1 (cosine units); using 1."]


def test_compare_takes_it_from_a_link_and_starts_it_inside_the_room():
    preset, notices = preset_from_link({"losses": "softmax,amsoftmax", "amsoftmax.margin": "0.1", "dim": "2"})
    assert notices == [] and preset.losses == ("softmax", "amsoftmax")
    assert preset.members == {"amsoftmax": {"margin": 0.1}}
    own = member_defaults("amsoftmax", 10, 2)  # 0.35 leaves no room on a circle: Compare starts it lower
    assert 0 < own["margin"] < geometry.max_margin("amsoftmax", 10) and own["scale"] >= PAPER_SCALE


def test_the_workable_margin_note_names_it():
    values = {**state.defaults("amsoftmax"), "margin": PAPER_MARGIN, "scale": 64.0}
    assert notes.geometry_notes(values, 10, 2) == [(
        "warning", "m = 0.35 leaves no room: with 10 classes on a circle AM-Softmax's margin must stay below 0.19 "
                   "(1 − cos 36.0°).")]
    ((level, text),) = notes.geometry_notes(values, 10, 3)
    assert level == "caption" and text.startswith("Workable for 10 classes on a sphere: m < 0.60 = 1 − cos 66.1°")


def test_its_figures_carry_its_name_formula_and_colour():
    curve = plots.target_logit_figure("amsoftmax", PAPER_MARGIN, scale=PAPER_SCALE)
    assert curve.layout.title.text == "Target logit: AM-Softmax (additive margin)"
    assert curve.layout.title.subtitle.text == "m = 0.35 (cosine units)"
    assert "AM-Softmax (additive margin): cos θ − m" in [trace.name for trace in curve.data]
    assert views.decision_plane("amsoftmax") == "cos"  # a cosine margin is a straight band in the cosine plane
    together = papers.target_logit_curves([{"loss": "amsoftmax", "margin": PAPER_MARGIN}], as_spec=True)
    (mine,) = [trace for trace in together["data"] if trace["name"].startswith("AM-Softmax")]
    assert mine["line"]["color"] == LOSS_SPECS["amsoftmax"].color
    assert len({spec.color for spec in LOSS_SPECS.values()}) == len(LOSSES)  # a colour of its own


def test_its_weights_export_and_load_back(digits):
    trainer = Trainer(TrainConfig(loss="amsoftmax", num_threads=1, max_train=200), dataset=digits)
    trainer.advance(steps=3)
    _backbone, head = export.load_weights(export.weights_bytes(trainer))
    assert head.spec is LOSS_SPECS["amsoftmax"] and (head.scale, head.margin) == (PAPER_SCALE, PAPER_MARGIN)
    assert torch.equal(head.weight, trainer.head.weight.detach().cpu())
