"""Closed-form geometry: target curves, decision boundaries, bounds, margin layout and Tammes.

geometry computes g(θ) through heads.target_cos, so checking it against the heads would prove nothing:
every expected value here comes from an independent numpy closed form (docs/losses.md §1) or from
the reference vectors computed with pytorch-metric-learning and insightface's formulas (tests/data).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from toy_models.geometry import (
    balanced_sample,
    cap_half_arcs,
    cosface_min_scale,
    decision_boundary,
    decision_boundary_cos,
    decision_margin_band,
    decision_regions,
    feasible_half_arc,
    margin_layout,
    max_margin,
    min_scale,
    multiclass_separation,
    tammes_angle,
    tammes_points,
    target_logit_curve,
    target_logit_features,
)
from toy_models.geometry.tammes import _tammes

THETA = np.linspace(0.0, math.pi, 721)

MARGIN_SETTINGS = [
    ("normface", None),
    ("sphereface", 1.35),
    ("sphereface", 4.0),
    ("cosface", 0.1),
    ("cosface", 0.35),
    ("arcface", 0.2),
    ("arcface", 0.5),
    ("combined", (1.0, 0.3, 0.2)),
    ("combined", (0.9, 0.4, 0.15)),
]

# ---------------------------------------------------------------- 1. target-logit curves


@pytest.mark.parametrize("loss", ["softmax", "normface"])
def test_curve_is_cosine_without_margin(loss):
    np.testing.assert_allclose(target_logit_curve(THETA, loss), np.cos(THETA), atol=1e-15)


def reference_g(theta, loss, margin=None, *, easy_margin=False, sphereface_lambda=0.0) -> np.ndarray:
    """docs/losses.md §1 written out in numpy, independent of toy_models.heads."""
    theta = np.asarray(theta, dtype=np.float64)
    c = np.cos(theta)
    if loss in ("softmax", "normface"):
        return c
    if loss == "cosface":
        return c - margin
    if loss == "arcface":
        if easy_margin:
            return np.where(c > 0, np.cos(theta + margin), c)
        return np.where(theta <= math.pi - margin, np.cos(theta + margin), c - margin * math.sin(margin))
    if loss == "sphereface":
        k = np.floor(margin * theta / math.pi)
        psi = (-1.0) ** k * np.cos(margin * theta) - 2 * k
        return (sphereface_lambda * c + psi) / (1 + sphereface_lambda)
    m1, m2, m3 = margin
    return np.cos(m1 * theta + m2) - m3


@pytest.mark.parametrize(("loss", "margin"), MARGIN_SETTINGS)
def test_curve_matches_the_numpy_closed_form_at_random_angles(loss, margin):
    theta = np.random.default_rng(3).uniform(0.0, math.pi, size=200)
    np.testing.assert_allclose(target_logit_curve(theta, loss, margin), reference_g(theta, loss, margin), atol=1e-12)


def test_curve_options_match_the_numpy_closed_form():
    theta = np.random.default_rng(4).uniform(0.0, math.pi, size=200)
    np.testing.assert_allclose(
        target_logit_curve(theta, "arcface", 0.5, easy_margin=True),
        reference_g(theta, "arcface", 0.5, easy_margin=True),
        atol=1e-12,
    )
    for lam in (0.5, 5.0, 1000.0):
        np.testing.assert_allclose(
            target_logit_curve(theta, "sphereface", 4.0, sphereface_lambda=lam),
            reference_g(theta, "sphereface", 4.0, sphereface_lambda=lam),
            atol=1e-12,
        )


REF = json.loads((Path(__file__).resolve().parents[1] / "data" / "ref_vectors.json").read_text())
REF_CASES = {c["name"]: c for c in REF["pml_cases"] + REF["numpy_reference_variants"]}


@pytest.mark.parametrize(
    ("case", "loss", "margin", "options"),
    [
        ("pml_arcface_m0.5rad_s64", "arcface", 0.5, {}),  # includes θ = 170°, beyond π − m: the fallback
        ("insightface_legacy_easy_margin_m0.5_s64", "arcface", 0.5, {"easy_margin": True}),
        ("pml_cosface_default", "cosface", 0.35, {}),
        ("pml_sphereface_default", "sphereface", 4.0, {}),
        ("asoftmax_original_m4_lambda5", "sphereface", 4.0, {"sphereface_lambda": 5.0}),
        ("insightface_combined_CM1_s64", "combined", (1.0, 0.3, 0.2), {}),
        ("insightface_combined_CM2_s64", "combined", (0.9, 0.4, 0.15), {}),
    ],
)
def test_curve_matches_the_reference_vectors(case, loss, margin, options):
    theta = np.radians(REF["inputs"]["theta_target_deg"])
    expected = REF_CASES[case]["per_sample_target_cos_mod"]
    np.testing.assert_allclose(target_logit_curve(theta, loss, margin, **options), expected, atol=1e-9)


def test_curve_closed_forms():
    theta = np.linspace(0.1, 2.5, 50)
    np.testing.assert_allclose(target_logit_curve(theta, "arcface", 0.5), np.cos(theta + 0.5), atol=1e-12)
    np.testing.assert_allclose(target_logit_curve(theta, "cosface", 0.35), np.cos(theta) - 0.35, atol=1e-12)
    small = np.linspace(0.0, math.pi / 4, 20)
    np.testing.assert_allclose(target_logit_curve(small, "sphereface", 4.0), np.cos(4 * small), atol=1e-9)
    assert target_logit_curve(np.array([math.pi]), "sphereface", 4.0)[0] == pytest.approx(1 - 2 * 4)  # ψ(π) = −7
    lam = target_logit_curve(theta, "sphereface", 1.0, sphereface_lambda=5.0)
    np.testing.assert_allclose(lam, np.cos(theta), atol=1e-12)  # m = 1: ψ = cos, any blend is cos


def test_arcface_fallback_switch_and_jump():
    m = 0.5
    features = target_logit_features("arcface", m)
    assert features["monotone"]
    (event,) = features["events"]
    assert event["kind"] == "jump" and event["direction"] == "down"
    assert event["theta_rad"] == pytest.approx(math.pi - m)
    assert event["jump"] == pytest.approx(1 - math.cos(m) - m * math.sin(m), abs=1e-9)
    assert event["jump"] == pytest.approx(-0.117, abs=5e-4)
    assert features["start"] == pytest.approx(math.cos(m))
    assert features["end"] == pytest.approx(-1 - m * math.sin(m))
    # the curve itself: cos(θ + m) just before the switch, cos θ − m·sin m just after
    before, after = target_logit_curve(np.array([math.pi - m - 1e-6, math.pi - m + 1e-6]), "arcface", m)
    assert before == pytest.approx(-1.0, abs=1e-9)
    assert after == pytest.approx(-math.cos(m) - m * math.sin(m), abs=1e-6)


def test_easy_margin_jumps_up_at_90_degrees():
    m = 0.5
    features = target_logit_features("arcface", m, easy_margin=True)
    assert not features["monotone"]
    (event,) = features["events"]
    assert event["theta_deg"] == pytest.approx(90.0)
    assert event["direction"] == "up"
    assert event["jump"] == pytest.approx(math.sin(m), abs=1e-9)
    curve = target_logit_curve(THETA, "arcface", m, easy_margin=True)
    np.testing.assert_allclose(curve[THETA > math.pi / 2 + 1e-9], np.cos(THETA[THETA > math.pi / 2 + 1e-9]))


def test_combined_turns_where_m1_theta_plus_m2_reaches_pi():
    m1, m2, m3 = 0.9, 0.4, 0.15
    features = target_logit_features("combined", (m1, m2, m3))
    assert not features["monotone"]
    (event,) = features["events"]
    assert event["kind"] == "turn" and event["direction"] == "rises"
    assert event["theta_rad"] == pytest.approx((math.pi - m2) / m1)
    curve = target_logit_curve(THETA, "combined", (m1, m2, m3))
    after = THETA > event["theta_rad"]
    assert np.all(np.diff(curve[after]) > 0)
    assert np.all(np.diff(curve[~after]) < 0)
    # CM1 (1, 0.3, 0.2) turns at π − 0.3; a large m1 turns several times
    assert target_logit_features("combined", (1.0, 0.3, 0.2))["events"][0]["theta_rad"] == pytest.approx(math.pi - 0.3)
    kinds = [e["direction"] for e in target_logit_features("combined", (4.0, 0.0, 0.0))["events"]]
    assert kinds == ["rises", "falls", "rises"]


@pytest.mark.parametrize(
    ("loss", "margin", "options"),
    [
        ("arcface", 0.5, {}),
        ("arcface", 1.2, {}),
        ("sphereface", 1.35, {}),
        ("sphereface", 4.0, {}),
        ("sphereface", 4.0, {"sphereface_lambda": 5.0}),
        ("cosface", 0.35, {}),
    ],
)
def test_monotone_non_increasing(loss, margin, options):
    curve = target_logit_curve(THETA, loss, margin, **options)
    assert np.all(np.diff(curve) <= 1e-12)
    features = target_logit_features(loss, margin, **options)
    assert features["monotone"]
    if loss != "arcface":
        assert features["events"] == []


def test_curve_validation():
    with pytest.raises(ValueError, match="unknown loss"):
        target_logit_curve(THETA, "triplet", 0.5)
    with pytest.raises(ValueError, match=r"\[0, π\]"):
        target_logit_curve(np.array([-0.5]), "arcface", 0.5)
    with pytest.raises(ValueError, match="outside its valid range"):
        target_logit_curve(THETA, "arcface", 2.0)
    with pytest.raises(ValueError, match="easy_margin"):
        target_logit_curve(THETA, "cosface", 0.35, easy_margin=True)
    with pytest.raises(ValueError, match="sphereface_lambda"):
        target_logit_curve(THETA, "arcface", 0.5, sphereface_lambda=5.0)
    with pytest.raises(ValueError, match="three numbers"):
        target_logit_curve(THETA, "combined", 0.5)


# ---------------------------------------------------------------- 2. decision boundaries


@pytest.mark.parametrize(("loss", "margin"), MARGIN_SETTINGS)
def test_boundary_point_gives_equal_logits(loss, margin):
    """On class 1's boundary its target logit ties with class 2's plain one: g(θ1) = cos θ2 (numpy g)."""
    theta1 = np.linspace(0.01, math.pi - 0.01, 300)
    theta2 = decision_boundary(theta1, loss, margin)
    ok = np.isfinite(theta2)
    assert ok.sum() > 30
    g = reference_g(theta1, loss, margin)
    np.testing.assert_allclose(np.cos(theta2[ok]), g[ok], atol=1e-9)
    assert np.all(g[~ok] < -1), "NaN only where no θ2 is far enough"
    # a little further from W2 class 1 wins, a little closer it loses
    for shift, wins in ((1e-4, True), (-1e-4, False)):
        moved = theta2[ok] + shift
        inner = (moved > 0) & (moved < math.pi)
        assert np.all((g[ok][inner] > np.cos(moved[inner])) == wins)


@pytest.mark.parametrize(("loss", "margin"), MARGIN_SETTINGS)
def test_class2_boundary_is_the_mirror_image(loss, margin):
    band = decision_margin_band(loss, margin, num=101)
    x1, y1 = band["class1"]
    x2, y2 = band["class2"]
    np.testing.assert_array_equal(x2, y1)
    np.testing.assert_array_equal(y2, x1)
    # and a class-2 sample on it ties: g(θ2) = cos θ1
    ok = np.isfinite(x2)
    np.testing.assert_allclose(np.cos(x2[ok]), reference_g(y2[ok], loss, margin), atol=1e-9)


def test_normface_boundary_is_the_diagonal():
    np.testing.assert_allclose(decision_boundary(THETA, "normface"), THETA, atol=1e-7)
    band = decision_margin_band("normface", num=50)
    np.testing.assert_allclose(band["class1"][1], band["diagonal"][1], atol=1e-7)


@pytest.mark.parametrize("m", [0.2, 0.5, 1.0])
def test_arcface_margin_is_a_constant_angle(m):
    theta2 = decision_boundary(THETA, "arcface", m)
    defined = THETA <= math.pi - m - 1e-9
    np.testing.assert_allclose(theta2[defined] - THETA[defined], m, atol=1e-6)
    assert np.all(np.isnan(theta2[THETA > math.pi - m + 1e-6]))  # the fallback target is below −1 there
    band = decision_margin_band("arcface", m, num=201)
    bx, by = band["band"]
    assert np.all(np.abs(by - bx) <= m + 1e-6)  # the polygon is the strip |θ2 − θ1| ≤ m
    assert np.max(by - bx) == pytest.approx(m, abs=1e-6)


def test_sphereface_boundary_is_m_theta1():
    theta1 = np.linspace(0.0, math.pi / 4, 50)
    np.testing.assert_allclose(decision_boundary(theta1, "sphereface", 4.0), 4.0 * theta1, atol=1e-6)


@pytest.mark.parametrize("m", [0.1, 0.35])
def test_cosface_margin_in_the_cosine_plane_is_sqrt2_m(m):
    cos1 = np.linspace(-1.0, 1.0, 201)
    line = decision_boundary_cos(cos1, "cosface", m)
    inside = cos1 - m >= -1.0
    np.testing.assert_allclose(line[inside], cos1[inside] - m, atol=1e-12)
    assert np.all(np.isnan(line[~inside]))
    band = decision_margin_band("cosface", m, num=2001, plane="cos")
    x1, y1 = band["class1"]
    x2, y2 = band["class2"]
    p1 = np.stack([x1, y1], axis=1)[np.isfinite(y1)]
    p2 = np.stack([x2, y2], axis=1)[np.isfinite(x2)]
    mid = p1[len(p1) // 2]
    distance = np.min(np.linalg.norm(p2 - mid, axis=1))
    assert distance == pytest.approx(math.sqrt(2) * m, abs=2e-3)
    bx, by = band["band"]
    assert np.all(np.abs(bx - by) <= m + 1e-9)


def test_softmax_boundary_with_weight_norms():
    w1, w2 = 2.0, 1.0
    theta1 = np.linspace(0.0, math.pi, 181)
    theta2 = decision_boundary(theta1, "softmax", weight_norms=(w1, w2))
    ok = np.isfinite(theta2)
    np.testing.assert_allclose(w1 * np.cos(theta1[ok]), w2 * np.cos(theta2[ok]), atol=1e-12)
    assert np.all(np.isnan(theta2[np.abs(2 * np.cos(theta1)) > 1]))
    # unit norms: same as NormFace; softmax has one shared boundary, no band
    np.testing.assert_allclose(decision_boundary(theta1, "softmax"), theta1, atol=1e-7)
    band = decision_margin_band("softmax", weight_norms=(w1, w2))
    assert band["band"] is None
    np.testing.assert_allclose(decision_boundary_cos(np.array([0.25]), "softmax", weight_norms=(w1, w2)), [0.5])
    with pytest.raises(ValueError, match="only matter for softmax"):
        decision_boundary(theta1, "arcface", 0.5, weight_norms=(2.0, 1.0))


def test_band_is_none_for_a_non_monotone_boundary_and_regions_still_work():
    assert decision_margin_band("arcface", 0.5, easy_margin=True)["band"] is None
    regions = decision_regions("arcface", 0.5, num=181, easy_margin=True)
    assert set(np.unique(regions["labels"])) <= {0, 1, 2}


@pytest.mark.parametrize(("loss", "margin"), MARGIN_SETTINGS[1:])
def test_regions_agree_with_the_boundary(loss, margin):
    regions = decision_regions(loss, margin, num=181)
    labels, theta = regions["labels"], regions["x"]
    b1 = decision_boundary(theta, loss, margin)
    g = target_logit_curve(theta, loss, margin)
    class1 = (labels & 1).astype(bool)  # rows: θ2, columns: θ1
    for col in range(0, len(theta), 10):
        if np.isfinite(b1[col]):
            assert np.all(class1[theta > b1[col] + 1e-9, col])
            assert not np.any(class1[theta < b1[col] - 1e-9, col])
        else:
            assert g[col] < -1 and not np.any(class1[:, col])
    np.testing.assert_array_equal(labels == 1, (labels == 2).T)  # class 2 is the mirror image
    assert (labels == 0).any()  # a real margin leaves a band
    assert not (labels == 3).any()  # and no overlap


def _polygon_area(x: np.ndarray, y: np.ndarray) -> float:
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@pytest.mark.parametrize(("loss", "margin"), MARGIN_SETTINGS[1:])
@pytest.mark.parametrize("plane", ["angle", "cos"])
def test_band_polygon_covers_the_margin_region(loss, margin, plane):
    """The shaded polygon has the area of the 'neither class wins' cells of decision_regions."""
    band = decision_margin_band(loss, margin, num=2001, plane=plane)["band"]
    assert band is not None
    side = math.pi if plane == "angle" else 2.0
    labels = decision_regions(loss, margin, num=801, plane=plane)["labels"]
    expected = np.mean(labels == 0) * side**2
    assert _polygon_area(*band) == pytest.approx(expected, abs=0.003 * side**2)


def test_negative_margin_overlaps():
    labels = decision_regions("combined", (0.5, 0.0, 0.0), num=91)["labels"]
    assert (labels == 3).any()


def test_band_validation():
    with pytest.raises(ValueError, match="unknown plane"):
        decision_margin_band("arcface", 0.5, plane="polar")
    with pytest.raises(ValueError, match="num"):
        decision_margin_band("arcface", 0.5, num=1)
    with pytest.raises(ValueError, match=r"\[−1, 1\]"):
        decision_boundary_cos(np.array([1.5]), "arcface", 0.5)


# ---------------------------------------------------------------- 3. bounds


def test_documented_half_arcs():
    assert math.degrees(feasible_half_arc("arcface", 0.5, 10)) == pytest.approx(3.7, abs=0.05)
    assert math.degrees(feasible_half_arc("sphereface", 4.0, 10)) == pytest.approx(7.2, abs=1e-9)
    assert feasible_half_arc("normface", None, 10) == pytest.approx(math.pi / 10)


@pytest.mark.parametrize("sep", [0.3, 2 * math.pi / 10, 2 * math.pi / 8, 1.2, math.pi / 2, math.pi])
def test_half_arc_closed_forms(sep):
    for m in (0.05, 0.2, 0.5, 1.0):
        expected = max(0.0, (sep - m) / 2)
        assert feasible_half_arc("arcface", m, separation_rad=sep) == pytest.approx(expected, abs=1e-10)
    for m in (1.0, 1.35, 2.0, 4.0, 8.0):
        assert feasible_half_arc("sphereface", m, separation_rad=sep) == pytest.approx(sep / (m + 1), abs=1e-10)
    for m in (0.01, 0.1, 0.2, 0.35):
        if m <= 1 - math.cos(sep):
            expected = sep / 2 - math.asin(m / (2 * math.sin(sep / 2)))
        else:
            expected = 0.0
        assert feasible_half_arc("cosface", m, separation_rad=sep) == pytest.approx(expected, abs=1e-10)


def test_combined_half_arc_reduces_to_its_special_cases():
    sep = multiclass_separation(8)
    arc = feasible_half_arc("combined", (1.0, 0.3, 0.0), separation_rad=sep)
    assert arc == pytest.approx(feasible_half_arc("arcface", 0.3, separation_rad=sep), abs=1e-10)
    cos = feasible_half_arc("combined", (1.0, 0.0, 0.1), separation_rad=sep)
    assert cos == pytest.approx(feasible_half_arc("cosface", 0.1, separation_rad=sep), abs=1e-10)
    # at the half arc the margin is exactly met: g(φ) = cos(sep − φ)
    margin = (1.2, 0.1, 0.05)
    phi = feasible_half_arc("combined", margin, separation_rad=sep)
    assert phi > 0
    g = target_logit_curve(np.array([phi]), "combined", margin)[0]
    assert g == pytest.approx(math.cos(sep - phi), abs=1e-10)


def test_max_margin_values():
    assert max_margin("cosface", 8) == pytest.approx(0.29, abs=5e-3)
    assert max_margin("cosface", 10) == pytest.approx(0.19, abs=5e-3)
    assert max_margin("cosface", 8) == pytest.approx(1 - math.cos(math.pi / 4))
    assert max_margin("arcface", 10) == pytest.approx(2 * math.pi / 10)
    assert max_margin("sphereface", 10) == math.inf
    sep = multiclass_separation(10)
    assert max_margin("combined", 10, margin=(1.0, 0.3, 0.2)) == pytest.approx(math.cos(0.3) - math.cos(sep))
    assert max_margin("combined", 10, margin=(1.0, 0.3, 0.2), component="m2") == -math.inf
    assert max_margin("combined", 10, margin=(1.0, 0.3, 0.05), component="m2") == pytest.approx(
        math.acos(math.cos(sep) + 0.05)
    )
    with pytest.raises(ValueError, match="no margin"):
        max_margin("normface", 10)
    with pytest.raises(ValueError, match="component"):
        max_margin("combined", 10, margin=(1.0, 0.3, 0.2), component="m1")


@pytest.mark.parametrize("num_classes", [8, 10, 12])
def test_half_arc_vanishes_beyond_max_margin(num_classes):
    for loss in ("arcface", "cosface"):
        bound = max_margin(loss, num_classes)
        assert feasible_half_arc(loss, bound * 0.98, num_classes) > 0
        assert feasible_half_arc(loss, bound, num_classes) == pytest.approx(0.0, abs=1e-9)
        assert feasible_half_arc(loss, min(bound * 1.02, 1.0), num_classes) == 0.0
    margin = (1.0, 0.2, 0.0)
    m3 = max_margin("combined", num_classes, margin=margin)
    assert feasible_half_arc("combined", (1.0, 0.2, m3 * 0.98), num_classes) > 0
    assert feasible_half_arc("combined", (1.0, 0.2, m3 * 1.02), num_classes) == 0.0
    m2 = max_margin("combined", num_classes, margin=(1.0, 0.0, 0.05), component="m2")
    assert feasible_half_arc("combined", (1.0, m2 * 0.98, 0.05), num_classes) > 0
    assert feasible_half_arc("combined", (1.0, m2 * 1.02, 0.05), num_classes) == 0.0


def test_half_arc_with_a_tammes_separation():
    sep = tammes_angle(10, 3)
    assert feasible_half_arc("arcface", 0.5, separation_rad=sep) == pytest.approx((sep - 0.5) / 2)
    assert max_margin("arcface", separation_rad=sep) == pytest.approx(sep)


def test_cosface_min_scale():
    assert cosface_min_scale(10, 0.9) == pytest.approx(3.96, abs=5e-3)
    assert cosface_min_scale(10, 0.99) == pytest.approx(6.11, abs=5e-3)
    assert cosface_min_scale(10, 0.999) == pytest.approx(8.19, abs=5e-3)
    assert cosface_min_scale(2, 0.4) == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        cosface_min_scale(10, 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        cosface_min_scale(1, 0.9)


def _own_centre_probability(centres: np.ndarray, s: float) -> np.ndarray:
    """Plain numpy softmax: each class's probability for a sample sitting exactly on its own centre."""
    logits = s * centres @ centres.T  # row k: the sample on W_k
    logits -= logits.max(axis=1, keepdims=True)
    return np.diag(np.exp(logits)) / np.exp(logits).sum(axis=1)


def test_min_scale_on_the_circle_has_the_polygon_closed_form():
    # 4 classes on a circle: cosines 0, −1, 0 to the others, so p = 1 / (1 + e^−s)², s = −ln(P^−½ − 1).
    for p in (0.5, 0.9, 0.99, 0.999):
        assert min_scale(4, 2, p).scale == pytest.approx(-math.log(p**-0.5 - 1), abs=1e-9)
    # 10 classes: the polygon's own probability, written out, is exactly P at the returned scale.
    bound = min_scale(10, 2, 0.99)
    k = np.arange(1, 10)
    p_at = 1 / (1 + np.sum(np.exp(bound.scale * (np.cos(2 * math.pi * k / 10) - 1))))
    assert p_at == pytest.approx(0.99, abs=1e-12)
    assert bound.layout == "polygon" and bound.min_angle_rad == pytest.approx(math.radians(36))
    np.testing.assert_allclose(bound.per_class, bound.scale, rtol=1e-12)  # symmetric: every class alike


@pytest.mark.parametrize(("num_classes", "dim"), [(2, 2), (3, 2), (4, 3), (5, 4), (10, 9), (10, 20)])
def test_min_scale_with_room_for_a_simplex_is_cosface_bound(num_classes, dim):
    for p in (0.6, 0.9, 0.99, 0.999):
        bound = min_scale(num_classes, dim, p)
        assert bound.layout == "simplex"
        assert bound.scale == pytest.approx(cosface_min_scale(num_classes, p), abs=1e-9)
        assert bound.simplex_scale == cosface_min_scale(num_classes, p)


def test_min_scale_for_ten_classes_in_two_and_three_dimensions():
    circle, sphere = min_scale(10, 2, 0.99), min_scale(10, 3, 0.99)
    assert circle.scale == pytest.approx(27.7, abs=0.05)
    assert sphere.scale == pytest.approx(10.1, abs=0.05)
    assert sphere.layout == "tammes" and sphere.min_angle_rad == pytest.approx(tammes_angle(10, 3))
    # The Tammes layout is not symmetric: classes differ, and the bound is the one for all at once.
    assert sphere.per_class.min() < sphere.scale - 0.3
    assert sphere.scale == sphere.per_class.max()
    p_at = _own_centre_probability(tammes_points(10, 3), sphere.scale)
    assert p_at.min() == pytest.approx(0.99, abs=1e-9) and np.all(p_at >= 0.99 - 1e-9)
    assert _own_centre_probability(tammes_points(10, 3), 0.98 * sphere.scale).min() < 0.99


@pytest.mark.parametrize(("num_classes", "dim"), [(10, 2), (10, 3), (7, 3), (10, 9), (16, 4)])
def test_min_scale_rises_with_the_probability_and_never_beats_the_simplex(num_classes, dim):
    scales = [min_scale(num_classes, dim, p).scale for p in (0.2, 0.5, 0.9, 0.99, 0.999)]
    assert np.all(np.diff(scales) > 0)
    for p in (0.5, 0.99):
        assert min_scale(num_classes, dim, p).scale >= cosface_min_scale(num_classes, p) - 1e-9
    assert min_scale(num_classes, dim, 1 / num_classes).scale == 0.0  # chance level needs no scale


def test_min_scale_validation():
    with pytest.raises(ValueError, match="between 0 and 1"):
        min_scale(10, 3, 1.0)
    with pytest.raises(ValueError, match="dim must be at least 2"):
        min_scale(10, 1, 0.9)
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        min_scale(1, 3, 0.9)


def test_bound_validation():
    with pytest.raises(ValueError, match="exactly one"):
        feasible_half_arc("arcface", 0.5)
    with pytest.raises(ValueError, match="exactly one"):
        feasible_half_arc("arcface", 0.5, 10, separation_rad=0.5)
    with pytest.raises(ValueError, match="at least 2"):
        feasible_half_arc("arcface", 0.5, 1)
    with pytest.raises(ValueError, match="whole number"):
        max_margin("arcface", 2.5)
    with pytest.raises(ValueError, match=r"\(0, π\]"):
        feasible_half_arc("arcface", 0.5, separation_rad=4.0)
    with pytest.raises(ValueError, match="unknown loss"):
        max_margin("center", 10)


# ---------------------------------------------------------------- layout of the margin regions


def _circle(angles_deg) -> np.ndarray:
    a = np.radians(np.asarray(angles_deg, dtype=float))
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def test_circle_layout_gaps_are_the_angles_to_each_side():
    # Unsorted, uneven, with lengths other than 1: gaps are angles between directions.
    weights = _circle([10, 200, 100, 130]) * np.array([[1.0], [2.0], [0.5], [3.0]])
    layout = margin_layout(weights)
    np.testing.assert_allclose(np.linalg.norm(layout.centres, axis=1), 1.0)
    expected_cw_ccw = {0: (170, 90), 1: (70, 170), 2: (90, 30), 3: (30, 70)}
    assert layout.gaps_rad.shape == (4, 2)
    for k, (cw, ccw) in expected_cw_ccw.items():
        np.testing.assert_allclose(np.degrees(layout.gaps_rad[k]), [cw, ccw], atol=1e-9)


def test_sphere_layout_gap_is_the_nearest_other_weight():
    weights = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
    layout = margin_layout(weights)
    assert layout.gaps_rad.shape == (4, 1)
    np.testing.assert_allclose(np.degrees(layout.gaps_rad[:, 0]), [45, 45, 90, 45], atol=1e-9)
    centres, gaps = margin_layout(np.eye(3)[:1])  # one class: no neighbour
    assert centres.shape == (1, 3) and np.isnan(gaps).all()
    with pytest.raises(ValueError, match="non-zero"):
        margin_layout(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        margin_layout(np.ones(3))


def test_half_arcs_for_even_weights_are_the_closed_forms():
    layout = margin_layout(_circle(36.0 * np.arange(10)))
    sep = math.radians(36.0)
    np.testing.assert_allclose(cap_half_arcs("arcface", 0.5, layout.gaps_rad), (sep - 0.5) / 2, atol=1e-9)
    np.testing.assert_allclose(np.degrees(cap_half_arcs("sphereface", 4.0, layout.gaps_rad)), 7.2, atol=1e-6)
    cos = sep / 2 - math.asin(0.1 / (2 * math.sin(sep / 2)))
    np.testing.assert_allclose(cap_half_arcs("cosface", 0.1, layout.gaps_rad), cos, atol=1e-9)


def test_half_arcs_keep_the_shape_and_handle_the_edges():
    gaps = np.array([[0.0, 0.3], [np.nan, 4.0], [0.3, 1.0]])
    arcs = cap_half_arcs("arcface", 0.2, gaps)
    assert arcs.shape == gaps.shape
    assert arcs[0, 0] == 0.0  # coincident weights leave no room
    assert np.isnan(arcs[1, 0])  # no neighbour: nothing to bound the region
    assert arcs[1, 1] == pytest.approx((math.pi - 0.2) / 2)  # a gap over π counts as π
    assert arcs[0, 1] == arcs[2, 0] == pytest.approx(0.05)
    assert cap_half_arcs("arcface", 0.5, [0.3]) == pytest.approx([0.0])  # the margin does not fit
    with pytest.raises(ValueError, match="gaps_rad"):
        cap_half_arcs("arcface", 0.2, [-0.1])
    with pytest.raises(ValueError, match="outside its valid range"):
        cap_half_arcs("arcface", 2.0, [0.3])


HALF_ARC_CASES = [
    ("arcface", 0.0, {}), ("arcface", 0.5, {}), ("arcface", 1.2, {}), ("arcface", 0.5, {"easy_margin": True}),
    ("cosface", 0.1, {}), ("cosface", 0.35, {}), ("sphereface", 1.5, {}), ("sphereface", 4.0, {}),
    ("sphereface", 4.0, {"sphereface_lambda": 5.0}), ("sphereface", 7.5, {"sphereface_lambda": 1000.0}),
    ("combined", (1.0, 0.3, 0.2), {}), ("combined", (1.5, 0.5, 0.1), {}), ("combined", (0.6, 0.1, 0.0), {}),
    ("normface", None, {}),
]


@pytest.mark.parametrize(("loss", "margin", "options"), HALF_ARC_CASES)
def test_all_at_once_half_arcs_equal_one_root_search_per_gap(loss, margin, options):
    """cap_half_arcs (every gap at once: grids over the brackets) is the fast path beside feasible_half_arc."""
    gaps = np.concatenate([np.random.default_rng(3).uniform(0.01, 3.5, 60), [math.pi, 0.7, 1e-3]])
    fast = cap_half_arcs(loss, margin, gaps, **options)
    plain = [feasible_half_arc(loss, margin, separation_rad=min(g, math.pi), **options) for g in gaps]
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-12)


def test_balanced_sample_water_fills_the_classes():
    labels = np.concatenate([np.full(3, 0), np.full(200, 1), np.full(500, 2)])
    idx = balanced_sample(labels, 99)
    assert np.bincount(labels[idx]).tolist() == [3, 48, 48]
    assert np.all(np.diff(idx) > 0), "sorted, no repeats"
    np.testing.assert_array_equal(idx, balanced_sample(labels, 99))  # seeded
    assert not np.array_equal(idx, balanced_sample(labels, 99, seed=1))
    np.testing.assert_array_equal(balanced_sample(labels, 10_000), np.arange(len(labels)))
    assert np.bincount(labels[balanced_sample(labels, 100)]).tolist() == [3, 49, 48]  # the odd one goes first
    assert len(balanced_sample(labels, 0)) == 0
    with pytest.raises(ValueError, match="max_points"):
        balanced_sample(labels, -1)


# ---------------------------------------------------------------- 4. Tammes

PUBLISHED_3D_DEG = {4: 109.47, 5: 90.0, 6: 90.0, 7: 77.87, 8: 74.86, 9: 70.53, 10: 66.15, 12: 63.43}


@pytest.mark.parametrize(("n", "expected_deg"), sorted(PUBLISHED_3D_DEG.items()))
def test_tammes_3d_matches_published_optima(n, expected_deg):
    angle = tammes_angle(n, 3)
    assert math.degrees(angle) == pytest.approx(expected_deg, abs=0.1)
    points = tammes_points(n, 3)
    assert points.shape == (n, 3)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-12)
    gram = points @ points.T
    np.fill_diagonal(gram, -1.0)
    assert math.acos(np.max(gram)) == pytest.approx(angle, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 36])
def test_tammes_2d_is_a_regular_polygon(n):
    assert tammes_angle(n, 2) == pytest.approx(2 * math.pi / n)
    points = tammes_points(n, 2)
    gram = points @ points.T
    np.fill_diagonal(gram, -1.0)
    assert math.acos(np.max(gram)) == pytest.approx(2 * math.pi / n)


@pytest.mark.parametrize(("n", "dim"), [(2, 3), (3, 3), (4, 3), (5, 4), (4, 8), (9, 8)])
def test_tammes_simplex(n, dim):
    assert tammes_angle(n, dim) == pytest.approx(math.acos(-1 / (n - 1)))
    points = tammes_points(n, dim)
    gram = points @ points.T
    off = gram[~np.eye(n, dtype=bool)]
    np.testing.assert_allclose(off, -1 / (n - 1), atol=1e-12)


@pytest.mark.parametrize(("n", "dim"), [(6, 4), (8, 4), (7, 5), (10, 5)])
def test_tammes_rankin_range_is_a_right_angle(n, dim):
    assert tammes_angle(n, dim) == pytest.approx(math.pi / 2)
    points = tammes_points(n, dim)
    gram = points @ points.T
    np.fill_diagonal(gram, -1.0)
    assert np.max(gram) == pytest.approx(0.0, abs=1e-12)


def test_tammes_is_deterministic_and_cached():
    first = tammes_points(9, 3)
    _tammes.cache_clear()
    second = tammes_points(9, 3)  # searched again from scratch: same seeds, same points
    np.testing.assert_array_equal(first, second)
    assert _tammes.cache_info().misses == 1 and _tammes.cache_info().hits == 0
    tammes_angle(9, 3)
    tammes_points(9, 3)
    assert _tammes.cache_info().misses == 1 and _tammes.cache_info().hits == 2  # no second search
    second[0] = 0.0  # callers get a copy, the cache stays intact
    assert np.all(tammes_points(9, 3)[0] == first[0])
    assert tammes_points(9, 3) is not tammes_points(9, 3)


def test_tammes_validation():
    with pytest.raises(ValueError, match="dim must be at least 2"):
        tammes_angle(4, 1)
    with pytest.raises(ValueError, match="num_points must be at least 2"):
        tammes_angle(1, 3)
    with pytest.raises(ValueError, match="whole number"):
        tammes_points(4.5, 3)


def test_hundreds_of_points_get_an_achievable_spread_not_an_error():
    """The glyph data set has 289 training identities: the bound is a configuration actually found."""
    angle = tammes_angle(289, 3)
    points = tammes_points(289, 3)
    gram = points @ points.T
    assert math.isclose(angle, math.acos(float(np.max(gram[np.triu_indices(289, 1)]))), rel_tol=1e-9)
    assert math.radians(10) < angle < math.radians(12.7)  # good, and never past the known optimum (~12.6°)


@pytest.mark.parametrize(("n", "dim"), [(40, 3), (33, 16), (128, 16), (100, 8)])
def test_glyph_sized_bounds_come_at_once_and_never_past_rankins_right_angle(n, dim):
    """A page computes the bound for K glyph identities in 3 to 32 dimensions on every K: the exact polish took
    46 s for 33 points in 16-D; the single annealed start it now uses takes well under a second."""
    import time

    _tammes.cache_clear()
    start = time.process_time()
    angle = tammes_angle(n, dim)
    assert time.process_time() - start < 2.0
    assert angle < math.pi / 2  # more than 2·dim points: Rankin's bound
    polished = {(40, 3): 33.2, (33, 16): 87.3}  # degrees, from the exact search (seconds to a minute)
    if (n, dim) in polished:
        assert math.degrees(angle) > 0.95 * polished[(n, dim)]


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_a_target_probability_must_lie_strictly_between_0_and_1(p):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        min_scale(10, 3, p)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        cosface_min_scale(10, p)
    assert min_scale(10, 3, 0.001) is not None  # just inside works


@pytest.mark.parametrize("norms", [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0), (1.0, math.inf)])
def test_a_weight_norm_of_zero_or_less_or_infinite_is_refused(norms):
    with pytest.raises(ValueError, match=r"^weight_norms must be two positive numbers"):
        decision_boundary(np.array([0.5]), "softmax", weight_norms=norms)


def test_an_angle_of_exactly_0_or_pi_is_an_angle_and_past_the_rounding_is_not():
    assert np.isfinite(decision_boundary(np.array([0.0, math.pi]), "softmax")).all()
    with pytest.raises(ValueError, match=r"must lie in \[0, π\] radians"):
        decision_boundary(np.array([math.pi + 1e-3]), "softmax")
    with pytest.raises(ValueError, match=r"must lie in \[0, π\] radians"):
        decision_boundary(np.array([-1e-3]), "softmax")


def test_a_class_with_exactly_its_share_gives_all_its_points_and_the_rest_go_to_the_others():
    labels = np.array([0] * 3 + [1] * 10)
    chosen = balanced_sample(labels, 7, seed=0)  # share 3 each and one over: class 0 has exactly 3
    assert len(chosen) == 7 and np.sum(labels[chosen] == 0) == 3 and np.sum(labels[chosen] == 1) == 4
    assert list(balanced_sample(labels, 13, seed=0)) == list(range(13))  # exactly every point: all of them


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_angle_cosine_weight_norm_or_lambda_is_one_sentence(bad):
    with pytest.raises(ValueError, match=r"^theta1_rad must contain finite angles in radians$"):
        decision_boundary(np.array([0.5, bad]), "softmax")
    with pytest.raises(ValueError, match=r"must contain finite cosines$"):
        decision_boundary_cos(np.array([0.5, bad]), "softmax")
    for norms in ((bad, 1.0), (1.0, bad)):
        with pytest.raises(ValueError, match=r"^weight_norms must be two positive numbers"):
            decision_boundary(np.array([0.5]), "softmax", weight_norms=norms)
    with pytest.raises(ValueError, match=r"^sphereface_lambda must be a finite number ≥ 0"):
        target_logit_curve(np.array([0.5]), "sphereface", 1.5, sphereface_lambda=bad)
