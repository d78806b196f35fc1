"""Margin heads against reference values, an independent numpy evaluation, and their numerics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from toy_models import heads
from toy_models.heads import (
    GRADIENTS,
    LOSS_SPECS,
    MARGIN_LOSSES,
    build_head,
    check_margin,
    margin_logits,
    parse_margin,
    sphereface_lambda,
    target_cos,
)

# The reference vectors are copied into the repo (tests/data) so the suite passes without ../shared.
REF_PATH = Path(__file__).resolve().parents[1] / "data" / "ref_vectors.json"
REF = json.loads(REF_PATH.read_text())
COS = torch.tensor(REF["inputs"]["cos_theta"], dtype=torch.float64)
LABELS = torch.tensor(REF["inputs"]["labels"], dtype=torch.long)
NORMS = torch.tensor(REF["inputs"]["embedding_norms"], dtype=torch.float64).view(-1, 1)
CASES = {case["name"]: case for case in REF["pml_cases"] + REF["numpy_reference_variants"]}


def _our_logits(name: str) -> torch.Tensor:
    """Map each reference case onto margin_logits' arguments."""
    case = CASES[name]
    p = case["params"]
    if name.startswith("pml_arcface"):
        return margin_logits(COS, LABELS, "arcface", p["scale"], p["margin_rad"])
    if name.startswith("pml_cosface"):
        return margin_logits(COS, LABELS, "cosface", p["scale"], p["margin"])
    if name == "pml_normalized_softmax_default":
        return margin_logits(COS, LABELS, "normface", p["equivalent_scale"])
    if name.startswith("pml_sphereface"):
        # PML SphereFace: unnormalised features, ‖x‖ as the scale, no λ: our "original" form at λ = 0.
        m = p.get("margin_effective", p.get("margin"))
        return margin_logits(COS, LABELS, "sphereface", NORMS * p["scale"], m)
    if name.startswith("asoftmax_original"):
        return margin_logits(COS, LABELS, "sphereface", NORMS, p["m"], sphereface_lambda=p["lambda"])
    if name == "insightface_legacy_easy_margin_m0.5_s64":
        return margin_logits(COS, LABELS, "arcface", p["s"], p["m"], easy_margin=True)
    if name.startswith("insightface_"):
        return margin_logits(COS, LABELS, "combined", p["s"], (p["m1"], p["m2"], p["m3"]))
    raise KeyError(name)


SUPPORTED = [
    "pml_arcface_default",
    "pml_arcface_m0.5rad_s64",
    "pml_arcface_m0.5rad_s16",
    "pml_cosface_default",
    "pml_cosface_m0.4_s64",
    "pml_sphereface_default",
    "pml_sphereface_margin1.35_truncated",
    "pml_normalized_softmax_default",
    "insightface_arcface_torch_current_m0.5_s64",
    "insightface_legacy_easy_margin_m0.5_s64",
    "insightface_combined_CM1_s64",
    "insightface_combined_CM2_s64",
    "insightface_combined_SphereFace_m1.35_arccos_style_s64",
    "asoftmax_original_m4_lambda1000",
    "asoftmax_original_m4_lambda5",
]


@pytest.mark.parametrize("name", SUPPORTED)
def test_reference_vectors(name):
    case = CASES[name]
    logits = _our_logits(name)
    np.testing.assert_allclose(logits.numpy(), np.array(case["logits"]), atol=1e-9, rtol=0)
    per_sample = F.cross_entropy(logits, LABELS, reduction="none")
    np.testing.assert_allclose(per_sample.numpy(), case["per_sample_loss"], atol=1e-9, rtol=0)
    assert F.cross_entropy(logits, LABELS).item() == pytest.approx(case["expected_loss"], abs=1e-9)


def test_reference_fallback_sample_170_degrees():
    """Sample 5 sits at exactly 170°: θ + m > π, so ArcFace takes cos θ − m·sin m (−1.22452)."""
    assert REF["inputs"]["theta_target_deg"][5] == pytest.approx(170.0)
    g = target_cos(COS[5, LABELS[5]].view(1), "arcface", 0.5)
    assert g.item() == pytest.approx(-1.22452, abs=1e-5)
    assert g.item() == pytest.approx(CASES["pml_arcface_m0.5rad_s64"]["per_sample_target_cos_mod"][5], abs=1e-12)
    # the insightface-current variant (no fallback) rises above the plain cosine there
    raw = target_cos(COS[5, LABELS[5]].view(1), "combined", (1.0, 0.5, 0.0))
    assert raw.item() == pytest.approx(-0.94750, abs=1e-5)


def test_float32_reference_loss():
    logits = margin_logits(COS.float(), LABELS, "arcface", 64.0, 0.5)
    assert F.cross_entropy(logits, LABELS).item() == pytest.approx(
        CASES["pml_arcface_m0.5rad_s64"]["pml_loss_float32"], rel=1e-6
    )


# ---------------------------------------------------------------- independent numpy evaluation


def _numpy_target(cos: np.ndarray, loss: str, margin) -> np.ndarray:
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    if loss == "normface":
        return cos
    if loss == "cosface":
        return cos - margin
    if loss == "arcface":
        return np.where(theta + margin <= np.pi, np.cos(theta + margin), cos - margin * np.sin(margin))
    if loss == "sphereface":
        k = np.floor(margin * theta / np.pi)
        return (-1.0) ** k * np.cos(margin * theta) - 2.0 * k
    m1, m2, m3 = margin
    return np.cos(m1 * theta + m2) - m3


RANDOM_SETTINGS = [
    ("normface", None, 10.0),
    ("cosface", 0.35, 30.0),
    ("cosface", 0.1, 4.0),
    ("arcface", 0.5, 64.0),
    ("arcface", 1.2, 8.0),
    ("sphereface", 1.35, 16.0),
    ("sphereface", 4.0, 2.0),
    ("combined", (1.0, 0.3, 0.2), 64.0),
    ("combined", (0.9, 0.4, 0.15), 16.0),
    ("combined", (1.35, 0.2, 0.3), 16.0),
]


@pytest.mark.parametrize(("loss", "margin", "scale"), RANDOM_SETTINGS)
def test_matches_independent_numpy_formula(loss, margin, scale):
    rng = np.random.default_rng(7)
    cos = rng.uniform(-0.999, 0.999, size=(64, 7))
    labels = rng.integers(0, 7, size=64)
    expected = cos * scale
    rows = np.arange(64)
    expected[rows, labels] = scale * _numpy_target(cos[rows, labels], loss, margin)
    for gradient in GRADIENTS:
        got = margin_logits(torch.tensor(cos), torch.tensor(labels), loss, scale, margin, gradient=gradient)
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-9, rtol=0)


def test_only_the_target_column_changes():
    cos = torch.rand(16, 5) * 2 - 1
    labels = torch.randint(0, 5, (16,))
    logits = margin_logits(cos, labels, "arcface", 10.0, 0.4)
    mask = F.one_hot(labels, 5).bool()
    assert torch.equal(logits[~mask], (cos * 10.0)[~mask])
    assert (logits[mask] < (cos * 10.0)[mask]).all()


def test_half_precision_input_uses_float32_margin_maths():
    cos = torch.tensor([[0.999, 0.1], [0.2, -0.3]], dtype=torch.float16)
    logits = margin_logits(cos, torch.tensor([0, 1]), "arcface", 64.0, 0.5)
    assert logits.dtype == torch.float32


# ---------------------------------------------------------------- gradients at cos = ±1


HEAD_SETTINGS = [
    ("softmax", {}),
    ("normface", {}),
    ("sphereface", {"margin": 1.5}),
    ("sphereface", {"margin": 4.0, "form": "original"}),
    ("cosface", {"margin": 0.35}),
    ("arcface", {"margin": 0.5}),
    ("arcface", {"margin": 0.5, "easy_margin": True}),
    ("combined", {"margin": (1.2, 0.3, 0.2)}),
]


@pytest.mark.parametrize(("loss", "options"), HEAD_SETTINGS)
@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["aligned", "opposite"])
def test_gradients_finite_at_exact_alignment(loss, options, gradient, sign):
    torch.manual_seed(0)
    extra = {} if loss == "softmax" else {"gradient": gradient}
    head = build_head(loss, 3, 4, **options, **extra)
    with torch.no_grad():
        head.weight.copy_(torch.eye(4, 3) * 2.0 + torch.tensor([[0.0, 0.0, 0.0]] * 3 + [[1.0, 1.0, 0.0]]))
    labels = torch.tensor([0, 1, 2, 3])
    # each embedding exactly parallel (or antiparallel) to its class weight: cos = ±1 exactly
    embeddings = (sign * head.weight.detach().clone() * 1.7).requires_grad_(True)
    cos_y = head.cosine(embeddings).gather(1, labels.view(-1, 1))
    assert torch.all(cos_y == sign) or torch.allclose(cos_y, torch.full_like(cos_y, sign), atol=1e-7)
    loss_value = F.cross_entropy(head(embeddings, labels), labels)
    loss_value.backward()
    assert torch.isfinite(loss_value)
    assert torch.isfinite(embeddings.grad).all()
    assert torch.isfinite(head.weight.grad).all()


@pytest.mark.parametrize("loss", ["arcface", "sphereface", "combined", "cosface"])
@pytest.mark.parametrize("value", [1.0, -1.0])
def test_margin_logits_gradient_finite_at_exact_cosine(loss, value):
    margin = LOSS_SPECS[loss].default_margin
    for gradient in GRADIENTS:
        cos = torch.tensor([[value, 0.0, -0.5]], requires_grad=True)
        logits = margin_logits(cos, torch.tensor([0]), loss, 16.0, margin, gradient=gradient)
        F.cross_entropy(logits, torch.tensor([0])).backward()
        assert torch.isfinite(cos.grad).all()


def test_detached_gradient_is_plain_softmax_gradient():
    """Straight-through: same forward as the true gradient, but d loss / d cos is that of s·cos."""
    cos = torch.tensor([[0.3, 0.1, -0.2]], requires_grad=True)
    labels = torch.tensor([0])
    true_logits = margin_logits(cos, labels, "arcface", 8.0, 0.5, gradient="true")
    detached_logits = margin_logits(cos, labels, "arcface", 8.0, 0.5, gradient="detached")
    assert torch.allclose(true_logits, detached_logits)
    F.cross_entropy(detached_logits, labels).backward()
    p = torch.softmax(detached_logits.detach(), dim=1)
    expected = 8.0 * (p - F.one_hot(labels, 3))
    assert torch.allclose(cos.grad, expected, atol=1e-6)


# ---------------------------------------------------------------- monotone target logits


@pytest.mark.parametrize(
    ("loss", "margin", "options"),
    [
        ("arcface", 0.5, {}),
        ("arcface", 1.2, {}),
        ("arcface", 0.05, {}),
        ("sphereface", 1.35, {}),
        ("sphereface", 1.5, {}),
        ("sphereface", 4.0, {}),
        ("sphereface", 2.7, {}),
        ("sphereface", 4.0, {"sphereface_lambda": 5.0}),
    ],
)
def test_target_logit_monotone_non_increasing(loss, margin, options):
    theta = torch.linspace(0, math.pi, 20001, dtype=torch.float64)
    g = target_cos(torch.cos(theta), loss, margin, **options)
    assert (g[1:] - g[:-1] <= 1e-12).all()


def test_sphereface_psi_endpoints():
    """ψ(0) = 1 and ψ(π) = 1 − 2m for integer m (−7 at m = 4)."""
    ends = target_cos(torch.tensor([1.0, -1.0], dtype=torch.float64), "sphereface", 4.0)
    assert ends[0].item() == pytest.approx(1.0, abs=1e-9)
    assert ends[1].item() == pytest.approx(-7.0, abs=1e-9)


def test_easy_margin_only_where_cos_positive():
    cos = torch.tensor([0.5, -0.5], dtype=torch.float64)
    g = target_cos(cos, "arcface", 0.5, easy_margin=True)
    assert g[0].item() == pytest.approx(math.cos(math.acos(0.5) + 0.5))
    assert g[1].item() == -0.5


# ---------------------------------------------------------------- heads and arguments


def test_lambda_schedule_matches_reference_samples():
    samples = REF["lambda_schedules"]["samples"]
    for iteration, values in samples.items():
        assert sphereface_lambda(int(iteration)) == pytest.approx(values["wy1iu"], rel=1e-12)
        assert sphereface_lambda(int(iteration), 1500, 0.1, 1, 5) == pytest.approx(values["clcarwin"], rel=1e-12)


def test_original_sphereface_head_anneals_lambda_per_training_step():
    head = build_head("sphereface", 2, 3, margin=4.0, form="original")
    x, y = torch.randn(8, 2), torch.randint(0, 3, (8,))
    head(x, y)
    assert head.current_lambda() == pytest.approx(sphereface_lambda(1))
    for _ in range(9):
        head(x, y)
    assert head.current_lambda() == pytest.approx(sphereface_lambda(10))
    head.eval()
    head(x, y)  # evaluation does not advance the schedule
    assert int(head.iteration) == 10


def test_heads_inference_logits_have_no_margin():
    head = build_head("arcface", 3, 5, margin=0.5, scale=10.0)
    x = torch.randn(4, 3)
    assert torch.allclose(head(x), 10.0 * head.cosine(x))


def test_softmax_head_is_linear_with_bias():
    head = build_head("softmax", 3, 5)
    x = torch.randn(4, 3)
    assert torch.allclose(head(x), x @ head.weight.T + head.bias)


def test_set_hyper_keeps_weights_and_validates():
    head = build_head("cosface", 3, 5, margin=0.2)
    before = head.weight.detach().clone()
    head.set_hyper(margin=0.3, scale=20.0)
    assert head.margin == 0.3 and head.scale == 20.0
    assert torch.equal(head.weight, before)
    with pytest.raises(ValueError, match="outside its valid range"):
        head.set_hyper(margin=5.0)
    with pytest.raises(ValueError, match="positive"):
        head.set_hyper(scale=-1.0)
    with pytest.raises(ValueError, match="no hyperparameter"):
        head.set_hyper(temperature=3.0)


@pytest.mark.parametrize(
    ("loss", "text", "message"),
    [
        ("arcface", "abc", "not a number"),
        ("arcface", "2.5", "outside its valid range"),
        ("arcface", "-0.1", "outside its valid range"),
        ("cosface", "nan", "finite"),
        ("sphereface", "0.5", "outside its valid range"),
        ("combined", "0.5", "three"),
        ("combined", "1,0.3", "three"),
        ("combined", "1,0.3,2", "m3=2"),
        ("arcface", "1,2,3", "one margin"),
    ],
)
def test_parse_margin_errors(loss, text, message):
    with pytest.raises(ValueError, match=message):
        parse_margin(text, loss)


def test_parse_margin_values():
    assert parse_margin("0.5", "arcface") == 0.5
    assert parse_margin("1, 0.3, 0.2", "combined") == (1.0, 0.3, 0.2)
    assert check_margin("normface", None) is None


def test_unknown_loss_and_options_are_rejected():
    with pytest.raises(ValueError, match="unknown loss"):
        build_head("tripletface", 3, 4)
    with pytest.raises(ValueError, match="unknown loss"):
        margin_logits(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), "tripletface", 1.0, 0.1)
    with pytest.raises(TypeError):
        build_head("cosface", 3, 4, easy_margin=True)
    with pytest.raises(ValueError, match="softmax takes no"):
        build_head("softmax", 3, 4, margin=0.5)


def test_every_margin_loss_has_a_head_and_spec():
    for loss in MARGIN_LOSSES:
        head = build_head(loss, 3, 4)
        assert head.loss_name == loss
        assert loss in heads.LOSS_SPECS


# ---------------------------------------------------------------- SphereFace's original form, through the head


def _numpy_psi(theta: np.ndarray, m: float) -> np.ndarray:
    k = np.floor(m * theta / np.pi)
    return (-1.0) ** k * np.cos(m * theta) - 2.0 * k


def test_original_sphereface_head_uses_the_feature_norm_as_its_scale():
    """The reference cases feed ‖x‖ to margin_logits directly; here the head itself must find it.

    Logits are ‖x‖·cos θ_j off target and ‖x‖·(λ·cos θ_y + ψ(θ_y))/(1 + λ) on target, evaluated in numpy.
    The norms (0.5 … 7) are far from the head's `scale` (16), so a head that used s would fail.
    """
    head = build_head("sphereface", 2, 3, margin=1.5, form="original", scale=16.0)
    directions = np.radians([0.0, 120.0, 240.0])
    with torch.no_grad():
        head.weight.copy_(torch.tensor(np.stack([np.cos(directions), np.sin(directions)], 1) * 2.0))
    feature_deg = np.array([10.0, 100.0, 200.0, 300.0])
    norms = np.array([0.5, 2.0, 3.0, 7.0])
    x = np.stack([np.cos(np.radians(feature_deg)), np.sin(np.radians(feature_deg))], 1) * norms[:, None]
    labels = np.array([0, 1, 2, 2])
    cos = np.cos(np.radians(feature_deg[:, None] - np.degrees(directions)[None, :]))

    inference = head(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(inference, norms[:, None] * cos, atol=1e-6)

    training = head(torch.tensor(x), torch.tensor(labels)).detach().numpy()  # first step: λ at iteration 1
    lam = sphereface_lambda(1)
    rows = np.arange(4)
    expected = norms[:, None] * cos
    theta_y = np.arccos(cos[rows, labels])
    expected[rows, labels] = norms * (lam * cos[rows, labels] + _numpy_psi(theta_y, 1.5)) / (1 + lam)
    np.testing.assert_allclose(training, expected, atol=1e-5)


def test_normalized_sphereface_head_uses_its_scale_not_the_norm():
    head = build_head("sphereface", 2, 3, margin=1.5, scale=16.0)
    x = torch.randn(5, 2) * 7.0
    assert torch.allclose(head(x), 16.0 * head.cosine(x))


# ---------------------------------------------------------------- combined_equivalent


def test_combined_equivalent_reproduces_arcface_only_up_to_pi_minus_m():
    """(1, m, 0) is cos(θ + m): ArcFace's target up to θ = π − m; beyond it ArcFace falls back to the
    monotone cos θ − m·sin m while the combined margin keeps cos(θ + m), which rises again."""
    m = 0.5
    assert heads.combined_equivalent("arcface", m) == (1.0, m, 0.0)
    theta = torch.linspace(0.0, math.pi, 2001, dtype=torch.float64)
    cos = torch.cos(theta)
    arcface = target_cos(cos, "arcface", m)
    combined = target_cos(cos, "combined", heads.combined_equivalent("arcface", m))
    below = theta <= math.pi - m - 1e-9
    beyond = theta > math.pi - m + 1e-9
    torch.testing.assert_close(combined[below], arcface[below], atol=1e-12, rtol=0)
    assert (combined[beyond] > arcface[beyond] + 1e-3).all()  # cos(θ + m) ≥ −1 > cos θ − m·sin m there


def test_combined_equivalent_is_exact_for_cosface_and_normface_and_sphereface_below_pi_over_m():
    cos = torch.linspace(-1.0, 1.0, 401, dtype=torch.float64)
    for loss, margin in (("cosface", 0.35), ("normface", None)):
        torch.testing.assert_close(
            target_cos(cos, "combined", heads.combined_equivalent(loss, margin)), target_cos(cos, loss, margin),
            atol=1e-12, rtol=0)
    # SphereFace's ψ is cos(mθ) on its first piece θ ≤ π/m only (arccos-style: no monotone extension beyond)
    m = 1.5
    assert heads.combined_equivalent("sphereface", m) == (m, 0.0, 0.0)
    theta = torch.acos(cos)
    sphere = target_cos(cos, "sphereface", m)
    combined = target_cos(cos, "combined", heads.combined_equivalent("sphereface", m))
    first = theta <= math.pi / m - 1e-9
    torch.testing.assert_close(combined[first], sphere[first], atol=1e-12, rtol=0)
    beyond = theta > math.pi / m + 1e-3
    assert (combined[beyond] > sphere[beyond]).all()  # cos(mθ) ≥ −1 > ψ(θ) on ψ's later pieces
    assert heads.combined_equivalent("combined", (1.0, 0.3, 0.2)) == (1.0, 0.3, 0.2)
    with pytest.raises(ValueError, match="softmax has no combined-margin equivalent"):
        heads.combined_equivalent("softmax", None)


# ---------------------------------------------------------------- properties of the margin formulas (hypothesis)

def margin_strategy(loss: str):
    """Any margin in the loss's valid range (its spec's margin_range), part by part for a margin of several."""
    spec = LOSS_SPECS[loss]
    if spec.margin_range is None:
        return st.none()
    if spec.margin_parts:
        return st.tuples(*(st.floats(low, high) for low, high in spec.margin_range))
    return st.floats(*spec.margin_range)


MARGIN_STRATEGY = {loss: margin_strategy(loss) for loss in MARGIN_LOSSES}


@st.composite
def loss_and_margin(draw, losses=MARGIN_LOSSES):
    loss = draw(st.sampled_from(losses))
    return loss, draw(MARGIN_STRATEGY[loss])


@st.composite
def cosines_and_labels(draw, max_rows=6, max_classes=5, exact_ends=False):
    rows = draw(st.integers(1, max_rows))
    classes = draw(st.integers(2, max_classes))
    cosine = draw(hnp.arrays(np.float64, (rows, classes), elements=st.floats(-1.0, 1.0)))
    labels = draw(hnp.arrays(np.int64, rows, elements=st.integers(0, classes - 1)))
    if exact_ends:  # every target cosine exactly +1 or −1, where acos' is infinite
        cosine[np.arange(rows), labels] = draw(hnp.arrays(np.float64, rows, elements=st.sampled_from([-1.0, 1.0])))
    return torch.tensor(cosine), torch.tensor(labels)


FAST = settings(max_examples=60, deadline=None)


@FAST
@given(lm=loss_and_margin(), data=cosines_and_labels(), scale=st.floats(0.5, 64.0),
       gradient=st.sampled_from(GRADIENTS))
def test_property_only_the_target_column_is_bent(lm, data, scale, gradient):
    loss, margin = lm
    cosine, labels = data
    logits = margin_logits(cosine, labels, loss, scale, margin, gradient=gradient)
    target = F.one_hot(labels, cosine.shape[1]).bool()
    assert torch.equal(logits[~target], (cosine * scale)[~target])
    expected_target = scale * target_cos(cosine[target], loss, margin)
    torch.testing.assert_close(logits[target], expected_target, atol=1e-12, rtol=1e-12)


@FAST
@given(lm=loss_and_margin(("arcface", "cosface", "sphereface")),
       theta=st.lists(st.floats(0.0, math.pi), min_size=2, max_size=40), lam=st.sampled_from([0.0, 5.0, 1000.0]))
def test_property_target_is_monotone_non_increasing_in_theta(lm, theta, lam):
    """A larger angle to the own class never earns a larger target logit (ArcFace thanks to its fallback)."""
    loss, margin = lm
    theta = torch.tensor(sorted(theta), dtype=torch.float64)
    options = {"sphereface_lambda": lam} if loss == "sphereface" else {}
    g = target_cos(torch.cos(theta), loss, margin, **options)
    assert (g[1:] - g[:-1] <= 1e-12).all(), (theta, g)


@FAST
@given(lm=loss_and_margin(), data=cosines_and_labels(exact_ends=True), scale=st.floats(0.5, 64.0),
       gradient=st.sampled_from(GRADIENTS), easy=st.booleans(), lam=st.sampled_from([0.0, 5.0]))
def test_property_gradients_finite_at_cos_plus_minus_one(lm, data, scale, gradient, easy, lam):
    loss, margin = lm
    cosine, labels = data
    cosine.requires_grad_(True)
    options = {"easy_margin": easy} if loss == "arcface" else {"sphereface_lambda": lam} if loss == "sphereface" else {}
    logits = margin_logits(cosine, labels, loss, scale, margin, gradient=gradient, **options)
    value = F.cross_entropy(logits, labels)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(cosine.grad).all()


@FAST
@given(lm=loss_and_margin(), data=cosines_and_labels(), scale=st.floats(0.5, 64.0))
def test_property_detached_gradient_is_plain_scaled_softmax_gradient(lm, data, scale):
    """Straight-through: forward values as with the true gradient, d loss / d cos = s·(softmax(logits) − onehot)/N."""
    loss, margin = lm
    cosine, labels = data
    cosine.requires_grad_(True)
    logits = margin_logits(cosine, labels, loss, scale, margin, gradient="detached")
    torch.testing.assert_close(logits, margin_logits(cosine, labels, loss, scale, margin, gradient="true"))
    F.cross_entropy(logits, labels).backward()
    probabilities = torch.softmax(logits.detach(), dim=1)
    expected = scale * (probabilities - F.one_hot(labels, cosine.shape[1])) / len(labels)
    torch.testing.assert_close(cosine.grad, expected, atol=1e-10, rtol=1e-9)


# ---------------------------------------------------------------- details a mutation run showed untested


def test_true_gradient_is_the_derivative_of_the_closed_form():
    """d g / d cos at interior points: 1 (CosFace), sin(θ+m)/sin θ (ArcFace), m·sin(mθ)/sin θ (SphereFace's
    first piece), m1·sin(m1·θ + m2)/sin θ (combined): the margin is differentiated, not just evaluated."""
    cos = torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64, requires_grad=True)
    theta = torch.acos(cos.detach())
    expected = {
        ("cosface", 0.3): torch.ones(3, dtype=torch.float64),
        ("arcface", 0.5): torch.sin(theta + 0.5) / torch.sin(theta),
        ("sphereface", 1.5): 1.5 * torch.sin(1.5 * theta) / torch.sin(theta),
        ("combined", (1.2, 0.3, 0.2)): 1.2 * torch.sin(1.2 * theta + 0.3) / torch.sin(theta),
    }
    for (loss, margin), derivative in expected.items():
        (grad,) = torch.autograd.grad(target_cos(cos, loss, margin).sum(), cos)
        torch.testing.assert_close(grad, derivative, atol=1e-9, rtol=1e-9, msg=loss)


@pytest.mark.parametrize("outside", [1.0 + 1e-7, -1.0 - 1e-7])
def test_cosines_a_rounding_error_outside_plus_minus_one_give_the_value_at_the_end(outside):
    cos = torch.tensor([outside], dtype=torch.float64)
    end = torch.tensor([max(-1.0, min(1.0, outside))], dtype=torch.float64)
    for loss in ("arcface", "sphereface", "combined"):
        margin = LOSS_SPECS[loss].default_margin
        torch.testing.assert_close(target_cos(cos, loss, margin), target_cos(end, loss, margin), msg=loss)


def test_arcface_uses_cos_theta_plus_m_up_to_and_including_pi_minus_m():
    boundary = torch.cos(torch.tensor([math.pi - 0.5], dtype=torch.float64))
    assert torch.acos(boundary).item() == math.pi - 0.5  # the boundary angle itself is representable here
    assert target_cos(boundary, "arcface", 0.5).item() == pytest.approx(-1.0, abs=1e-12)  # cos(π), no fallback


def test_easy_margin_leaves_cos_zero_alone():
    assert target_cos(torch.tensor([0.0]), "arcface", 0.5, easy_margin=True).item() == 0.0


def test_softmax_and_normface_targets_are_the_plain_cosine():
    cos = torch.linspace(-1, 1, 5)
    assert torch.equal(target_cos(cos, "softmax", None), cos)
    assert torch.equal(target_cos(cos, "normface", None), cos)


def test_unknown_names_are_named_in_the_error():
    with pytest.raises(ValueError, match="unknown loss 'tripletface': choose one of softmax, normface, "):
        target_cos(torch.zeros(2), "tripletface", 0.1)
    with pytest.raises(ValueError, match="unknown loss 'tripletface'"):
        margin_logits(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), "tripletface", 1.0, 0.1)
    with pytest.raises(ValueError, match=r"^softmax has no margin: use a plain linear layer \(SoftmaxHead\)$"):
        margin_logits(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), "softmax", 1.0)
    with pytest.raises(ValueError, match="unknown gradient option 'sideways': choose 'true' or 'detached'"):
        margin_logits(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), "cosface", 1.0, 0.1, gradient="sideways")
    with pytest.raises(ValueError, match="unknown gradient option 'sideways'"):
        build_head("cosface", 3, 4, gradient="sideways")
    with pytest.raises(ValueError, match="unknown SphereFace form 'square': choose 'normalized' or 'original'"):
        build_head("sphereface", 3, 4, form="square")


@pytest.mark.parametrize(
    ("loss", "margin", "message"),
    [
        ("arcface", 2.0, "arcface margin 2 is outside its valid range [0, 1.571] rad"),
        ("cosface", 1.5, "cosface margin 1.5 is outside its valid range [0, 1] (cosine units)"),
        ("sphereface", 0.5, "sphereface margin 0.5 is outside its valid range [1, 8] (multiplier)"),
        ("combined", (0.1, 0.3, 0.2), "combined margin m1=0.1 is outside its valid range [0.5, 4]"),
        ("combined", (1.0, 2.0, 0.2), "combined margin m2=2 is outside its valid range [0, 1.5708]"),
        ("combined", 0.5, "the combined margin needs three numbers m1, m2, m3 (for example 1,0.3,0.2)"),
        ("combined", (1.0, 0.3), "the combined margin needs three numbers m1, m2, m3 (for example 1,0.3,0.2)"),
        ("arcface", (1.0, 2.0, 3.0), "arcface needs a single number as its margin, got (1.0, 2.0, 3.0)"),
        ("arcface", None, "arcface needs a single number as its margin, got None"),
    ],
)
def test_check_margin_messages(loss, margin, message):
    with pytest.raises(ValueError) as err:
        check_margin(loss, margin)
    assert str(err.value) == message


@pytest.mark.parametrize("loss", ["arcface", "cosface", "sphereface", "combined"])
def test_check_margin_accepts_both_ends_of_the_range(loss):
    spec = LOSS_SPECS[loss]
    if loss == "combined":
        for end in (0, 1):
            margin = tuple(r[end] for r in spec.margin_range)
            assert check_margin(loss, margin) == margin
    else:
        for value in spec.margin_range:
            assert check_margin(loss, value) == value


def test_parse_margin_takes_numbers_and_sequences():
    assert parse_margin(0.5, "arcface") == 0.5 and isinstance(parse_margin(1, "cosface"), float)
    assert parse_margin([1, 0.3, 0.2], "combined") == (1.0, 0.3, 0.2)
    with pytest.raises(ValueError, match=r"^the combined margin needs three comma-separated numbers m1,m2,m3$"):
        parse_margin("0.5", "combined")


def test_head_shape_checks():
    assert build_head("arcface", 1, 2).weight.shape == (2, 1)  # the smallest head there is
    for dim, classes in ((0, 4), (3, 1)):
        with pytest.raises(ValueError, match=r"^a head needs embedding_dim ≥ 1 and at least 2 classes$"):
            build_head("arcface", dim, classes)


def test_hyper_and_repr_list_the_settings():
    head = build_head("arcface", 3, 4, margin=0.4, scale=20.0, gradient="detached", easy_margin=True)
    assert head.hyper() == {"scale": 20.0, "gradient": "detached", "margin": 0.4, "easy_margin": True}
    assert repr(head).startswith("ArcFaceHead(embedding_dim=3, num_classes=4, scale=20.0, gradient=detached, "
                                 "margin=0.4, easy_margin=True")
    assert build_head("normface", 3, 4, margin=0.5).hyper() == {"scale": 16.0, "gradient": "true"}  # no margin
    sphere = build_head("sphereface", 3, 4, margin=4.0, form="original", lambda_min=20.0)
    assert sphere.hyper() == {"scale": 16.0, "gradient": "true", "margin": 4.0, "form": "original",
                              "lambda_base": 1000.0, "lambda_gamma": 0.12, "lambda_power": 1.0, "lambda_min": 20.0}
    assert build_head("sphereface", 3, 4).hyper() == {"scale": 16.0, "gradient": "true", "margin": 1.5,
                                                      "form": "normalized"}
    assert build_head("sphereface", 3, 4, form="original").hyper()["lambda_min"] == 5.0
    assert repr(build_head("softmax", 3, 4)) == "SoftmaxHead(embedding_dim=3, num_classes=4)"
    assert build_head("arcface", 3, 4).hyper()["easy_margin"] is False  # easy margin is opt-in


def test_set_hyper_scale_bounds():
    head = build_head("cosface", 3, 5)
    head.set_hyper(scale=0.5)
    assert head.scale == 0.5
    for bad in (0.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="scale must be a positive number"):
            head.set_hyper(scale=bad)


def test_constructor_margins_are_used():
    for loss, margin in (("cosface", 0.2), ("arcface", 0.3), ("sphereface", 4.0), ("combined", (1.1, 0.2, 0.1))):
        assert build_head(loss, 3, 4, margin=margin).margin == margin


def test_class_directions_are_the_unit_weights():
    head = build_head("cosface", 3, 4)
    with torch.no_grad():
        head.weight.mul_(torch.tensor([[1.0], [2.0], [5.0], [0.1]]))
    directions = head.class_directions()
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(directions * head.weight.norm(dim=1, keepdim=True), head.weight.detach())


def test_cosine_keeps_float64_and_lifts_half_precision_to_float32():
    head = build_head("cosface", 3, 4)
    x = torch.randn(5, 3, dtype=torch.float64)
    cos64 = head.cosine(x)
    assert cos64.dtype == torch.float64
    expected = F.normalize(x, dim=1) @ F.normalize(head.weight.detach().double(), dim=1).T
    torch.testing.assert_close(cos64, expected)
    assert head.cosine(x.half()).dtype == torch.float32


def test_softmax_head_adds_its_bias():
    head = build_head("softmax", 3, 4)
    with torch.no_grad():
        head.bias.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    x = torch.randn(2, 3)
    torch.testing.assert_close(head(x), x @ head.weight.T + head.bias)


def test_heads_pass_their_options_to_margin_logits():
    torch.manual_seed(0)
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    easy = build_head("arcface", 3, 4, margin=0.5, scale=8.0, easy_margin=True)
    cos = easy.cosine(x)
    torch.testing.assert_close(easy(x, y), margin_logits(cos, y, "arcface", 8.0, 0.5, easy_margin=True))
    detached = build_head("arcface", 3, 4, margin=0.5, scale=8.0, gradient="detached")
    embeddings = x.clone().requires_grad_(True)
    logits = detached(embeddings, y)
    F.cross_entropy(logits, y).backward()
    # straight-through: d loss / d cos = s·(p − onehot)/N, carried back to the embeddings through cos alone
    d_cos = 8.0 * (torch.softmax(logits.detach(), dim=1) - F.one_hot(y, 4)) / 6
    again = x.clone().requires_grad_(True)
    (detached.cosine(again) * d_cos).sum().backward()
    torch.testing.assert_close(embeddings.grad, again.grad, atol=1e-6, rtol=1e-5)


def test_sphereface_lambda_is_zero_in_the_normalized_form_and_floors_at_lambda_min():
    assert build_head("sphereface", 3, 4).current_lambda() == 0.0
    head = build_head("sphereface", 3, 4, form="original", lambda_min=20.0)
    assert head.iteration.dtype == torch.long
    head.iteration.fill_(10**6)
    assert head.current_lambda() == 20.0
    assert build_head("sphereface", 3, 4, form="original").current_lambda() == 1000.0  # iteration 0: λ = base


# ---------------------------------------------------------------- the one training forward


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "normface"},
        {"loss": "cosface"},
        {"loss": "arcface"},
        {"loss": "arcface", "easy_margin": True},
        {"loss": "combined"},
        {"loss": "sphereface"},
        {"loss": "sphereface", "form": "original"},
    ],
)
@pytest.mark.parametrize("gradient", ["true", "detached"])
def test_training_logits_are_margin_logits_of_the_heads_cosines(options, gradient):
    """head.training_logits (what every trainer calls) against margin_logits on the head's cosines, with the scale,
    margin and options written out here: equal values and gradients; the scores predict as inference does; and
    SphereFace's λ counts one step per training call, none in eval()."""
    options = dict(options)
    loss = options.pop("loss")
    torch.manual_seed(0)
    embeddings = torch.randn(16, 3, requires_grad=True)
    labels = torch.randint(0, 5, (16,))
    head = build_head(loss, 3, 5, gradient=gradient, **options)
    original = options.get("form") == "original"
    before = int(head.iteration) if loss == "sphereface" else 0
    logits, scores = head.training_logits(embeddings, labels)
    extra = {}
    if options.get("easy_margin"):
        extra["easy_margin"] = True
    if original:
        extra["sphereface_lambda"] = sphereface_lambda(before + 1)  # the first step uses iteration 1 (Caffe)
    scale = embeddings.norm(dim=1, keepdim=True) if original else LOSS_SPECS[loss].default_scale
    expected = margin_logits(head.cosine(embeddings), labels, loss, scale, head.margin, gradient=gradient, **extra)
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)
    (ours,) = torch.autograd.grad(F.cross_entropy(logits, labels), embeddings)
    (theirs,) = torch.autograd.grad(F.cross_entropy(expected, labels), embeddings)
    # (the original form's ‖x‖ is a second path to the embeddings: its terms may add up in another order)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-8 if original else 0)
    assert torch.equal(scores.argmax(1), head(embeddings.detach()).argmax(1))
    if loss == "sphereface":
        assert int(head.iteration) == before + 1
        head.eval()
        head.training_logits(embeddings, labels)
        assert int(head.iteration) == before + 1


def test_softmax_training_logits_are_its_linear_logits_and_scores():
    torch.manual_seed(0)
    head = build_head("softmax", 3, 4)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])
    logits, scores = head.training_logits(x, y)
    torch.testing.assert_close(logits, x @ head.weight.T + head.bias)
    assert scores is logits
