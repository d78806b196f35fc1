"""app/plots/: every figure carries exactly the data it claims, from the one geometry module."""

from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from app import plots
from toy_models import geometry
from toy_models.heads import LOSS_SPECS, LOSSES

# A margin per loss that fits 10 classes on a circle (36° apart): its default, lowered to half the room there.
MARGINS = {
    loss: spec.fitting_margin(spec.default_margin, 2 * math.pi / 10, 0.5, lambda _part, value: round(value, 2))
    for loss, spec in LOSS_SPECS.items()
} | {"sphereface": 1.5, "cosface": 0.1, "arcface": 0.3, "combined": (1.0, 0.2, 0.05)}  # the values chosen by hand
MARGIN_LOSSES = tuple(loss for loss, spec in LOSS_SPECS.items() if spec.has_margin)


def uneven_circle(num_classes=10, per_class=30, seed=0):
    """Weights 36° apart ± 10° (so the gaps differ) and features ~5° around their weight."""
    rng = np.random.default_rng(seed)
    angles = np.radians(360.0 / num_classes * np.arange(num_classes) + rng.uniform(-10, 10, num_classes))
    weights = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = np.repeat(np.arange(num_classes), per_class)
    f = angles[labels] + np.radians(rng.normal(0, 5, len(labels)))
    features = np.stack([np.cos(f), np.sin(f)], axis=1)
    return features, labels, weights


def sphere_data(num_classes=10, per_class=30, seed=0):
    rng = np.random.default_rng(seed)
    weights = geometry.tammes_points(num_classes, 3) + rng.normal(0, 0.05, (num_classes, 3))
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    labels = np.repeat(np.arange(num_classes), per_class)
    features = weights[labels] + rng.normal(0, 0.1, (len(labels), 3))
    return features, labels, weights


def traces(fig, **match):
    out = []
    for t in fig.data:
        if all(getattr(t, k, None) == v for k, v in match.items()):
            out.append(t)
    return out


def point_traces(fig):
    return [t for t in fig.data if t.type in ("scattergl", "scatter3d") and t.mode == "markers"]


def numeric(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def angle_deg(v) -> float:
    return math.degrees(math.atan2(v[1], v[0]))


def wrap_deg(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


# --------------------------------------------------------------------------------------------
# Palette
# --------------------------------------------------------------------------------------------


def test_palette_has_ten_distinct_colours_and_wraps():
    assert len(plots.PALETTE) == 10
    assert len(set(plots.PALETTE)) == 10
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in plots.PALETTE)
    assert plots.class_color(3) == plots.PALETTE[3]
    assert plots.class_color(13) == plots.PALETTE[3]


# --------------------------------------------------------------------------------------------
# Hypersphere, 2-D
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
def test_circle_points_rays_and_legend(loss):
    features, labels, weights = uneven_circle()
    names = [f"digit {k}" for k in range(10)]
    fig = plots.hypersphere_figure(features, labels, weights, class_names=names, loss=loss, margin=MARGINS[loss])
    points = point_traces(fig)
    assert [t.name for t in points] == names
    for k, t in enumerate(points):
        assert t.type == "scattergl"
        assert len(t.x) == np.sum(labels == k)
        assert t.marker.color == plots.PALETTE[k]
        xy = np.stack([t.x, t.y], axis=1).astype(np.float64)
        r = np.linalg.norm(xy, axis=1)
        assert np.all(r >= 1.0 - 1e-5) and np.all(r <= 1.08 + 1e-5), "points sit on a thin ring just outside r = 1"
        # Only the radius is jittered: the angles are the features' own.
        expected = features[labels == k]
        cos = np.sum(xy / r[:, None] * expected, axis=1)
        assert np.all(cos > 1 - 1e-6)
    rays = [t for t in fig.data if (t.name or "").startswith("W ")]
    assert len(rays) == 10
    for k, ray in enumerate(rays):
        tip = np.array([ray.x[1], ray.y[1]], dtype=np.float64)
        assert np.allclose(tip / np.linalg.norm(tip), weights[k], atol=1e-6)
        assert ray.line.color == plots.PALETTE[k]
        assert ray.legendgroup == points[k].legendgroup
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert fig.layout.uirevision
    for t in fig.data:
        for axis in ("x", "y"):
            values = numeric(getattr(t, axis))
            assert not np.any(np.isnan(values[[v is not None for v in getattr(t, axis)]]))


def expected_wedges(weights, loss, margin):
    """An independent re-derivation: sort the weight angles, take each side's gap, ask geometry."""
    angles = np.arctan2(weights[:, 1], weights[:, 0])
    out = []
    for k in range(len(weights)):
        diffs = (angles - angles[k]) % (2 * math.pi)
        diffs[k] = np.inf
        ccw_gap = diffs.min()
        diffs_cw = (angles[k] - angles) % (2 * math.pi)
        diffs_cw[k] = np.inf
        cw_gap = diffs_cw.min()
        ccw = geometry.feasible_half_arc(loss, margin, separation_rad=min(ccw_gap, math.pi))
        cw = geometry.feasible_half_arc(loss, margin, separation_rad=min(cw_gap, math.pi))
        out.append((angles[k], ccw, cw))
    return out


def wedge_traces(fig) -> dict[int, object]:
    return {t.meta["class"]: t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == "wedge"}


def cap_traces(fig) -> dict[int, object]:
    return {t.meta["class"]: t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == "cap"}


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_circle_wedges_are_the_feasible_arcs_with_the_real_gaps(loss):
    features, labels, weights = uneven_circle()
    margin = MARGINS[loss]
    fig = plots.hypersphere_figure(features, labels, weights, class_names=None, loss=loss, margin=margin)
    wedges = wedge_traces(fig)
    assert sorted(wedges) == list(range(10)), "one wedge trace per class, empty or not"
    asymmetric = 0
    for k, (center, ccw, cw) in enumerate(expected_wedges(weights, loss, margin)):
        wedge = wedges[k]
        assert wedge.name.endswith("margin wedge") and wedge.legendgroup == f"class-{k}"
        assert wedge.meta["half_arc_rad"] == pytest.approx([cw, ccw], abs=1e-12)
        assert wedge.meta["centre_rad"] == pytest.approx(center, abs=1e-12)
        if ccw <= 0 and cw <= 0:
            assert len(wedge.x) == 0
            continue
        assert wedge.fill == "toself"
        rim = np.stack([wedge.x[1:-1], wedge.y[1:-1]], axis=1).astype(np.float64)
        rim_deg = np.array([wrap_deg(angle_deg(p) - math.degrees(center)) for p in rim])
        assert rim_deg.max() == pytest.approx(math.degrees(ccw), abs=1e-3)
        assert rim_deg.min() == pytest.approx(-math.degrees(cw), abs=1e-3)
        assert np.allclose(np.linalg.norm(rim, axis=1), wedge.meta["radius"], atol=1e-5)
        asymmetric += abs(ccw - cw) > 1e-3
    assert asymmetric >= 5, "uneven weights must give asymmetric wedges"


def test_a_margin_that_does_not_fit_leaves_empty_wedges_and_dotted_rays():
    features, labels, weights = uneven_circle()
    fig = plots.hypersphere_figure(features, labels, weights, loss="arcface", margin=1.2)  # 69° > every gap
    wedges = wedge_traces(fig)
    assert len(wedges) == 10 and all(len(t.x) == 0 for t in wedges.values())
    rays = [t for t in fig.data if (t.name or "").startswith("W ")]
    assert all(t.line.dash == "dot" for t in rays)
    assert all("does not fit" in t.hovertemplate for t in rays)
    assert [t.meta for t in rays] == [{"role": "weight", "class": k} for k in range(10)]


@pytest.mark.parametrize(("dim", "loss"), [(2, "arcface"), (2, "cosface"), (3, "arcface"), (3, "sphereface")])
def test_regions_can_be_redrawn_from_meta_when_only_the_margin_moves(dim, loss):
    """What a browser would do: keep the gaps from the meta, recompute the half-arcs for a new margin."""
    features, labels, weights = uneven_circle() if dim == 2 else sphere_data()
    small, large = {"arcface": (0.2, 0.5), "cosface": (0.05, 0.15), "sphereface": (1.5, 3.0)}[loss]
    before = plots.hypersphere_figure(features, labels, weights, loss=loss, margin=small)
    after = plots.hypersphere_figure(features, labels, weights, loss=loss, margin=large)
    assert [t.name for t in before.data] == [t.name for t in after.data], "a margin change keeps the trace list"
    regions_before = wedge_traces(before) if dim == 2 else cap_traces(before)
    regions_after = wedge_traces(after) if dim == 2 else cap_traces(after)
    assert sorted(regions_before) == sorted(regions_after) == list(range(10))
    changed = 0
    for k, trace in regions_before.items():
        assert regions_after[k].meta["gap_rad"] == trace.meta["gap_rad"]
        redrawn = geometry.cap_half_arcs(loss, large, trace.meta["gap_rad"])
        assert np.allclose(redrawn, regions_after[k].meta["half_arc_rad"], atol=1e-12)
        changed += not np.allclose(redrawn, trace.meta["half_arc_rad"])
    assert changed == 10, "the larger margin shrinks every region"


def test_bisectors_for_normalised_losses_only():
    features, labels, weights = uneven_circle()
    for loss in LOSSES:
        fig = plots.hypersphere_figure(features, labels, weights, loss=loss, margin=MARGINS[loss])
        bisectors = [t for t in fig.data if t.name == "decision boundaries (test time)"]
        if loss == "softmax":
            assert not bisectors
            continue
        (b,) = bisectors
        ends = np.array([[x, y] for x, y in zip(b.x, b.y, strict=True) if x is not None and (x, y) != (0.0, 0.0)])
        assert len(ends) == 10
        angles = np.arctan2(weights[:, 1], weights[:, 0])
        for end in ends:
            # On a bisector the two nearest weights are equally far.
            d = np.sort(np.abs([wrap_deg(angle_deg(end) - math.degrees(a)) for a in angles]))
            assert d[0] == pytest.approx(d[1], abs=1e-6)


def test_max_points_keeps_the_classes_balanced():
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.full(3, 0), np.full(200, 1), np.full(500, 2)])
    features = rng.normal(size=(len(labels), 2))
    weights = np.eye(2)[[0, 1, 0]] + np.array([[0, 0], [0, 0], [-1, 0.1]])
    fig = plots.hypersphere_figure(features, labels, weights, loss="normface", margin=None, max_points=99)
    counts = [len(t.x) for t in point_traces(fig)]
    assert counts == [3, 48, 48]
    idx = geometry.balanced_sample(labels, 99)
    assert np.array_equal(idx, geometry.balanced_sample(labels, 99)), "the sample is deterministic"
    assert np.array_equal(geometry.balanced_sample(labels, 10_000), np.arange(len(labels)))


def test_edge_cases_empty_class_single_class_no_points_and_nan():
    features, labels, weights = uneven_circle(num_classes=3)
    keep = labels != 1  # class 1 has no points
    fig = plots.hypersphere_figure(features[keep], labels[keep], weights, loss="arcface", margin=0.3)
    assert [len(t.x) for t in point_traces(fig)] == [30, 0, 30]

    one = plots.hypersphere_figure(features[labels == 0], labels[labels == 0], weights[:1], loss="arcface", margin=0.3)
    assert not wedge_traces(one), "a single class has no neighbour to leave a margin against"
    assert not [t for t in one.data if t.name == "decision boundaries (test time)"]

    empty = plots.hypersphere_figure(np.zeros((0, 2)), np.zeros(0, dtype=int), weights, loss="cosface", margin=0.1)
    assert sum(len(t.x) for t in point_traces(empty)) == 0
    assert len([t for t in empty.data if (t.name or "").startswith("W ")]) == 3

    bad = features.copy()
    bad[0] = np.nan
    bad[1] = 0.0
    fig = plots.hypersphere_figure(bad, labels, weights, loss="softmax", margin=None)
    assert sum(len(t.x) for t in point_traces(fig)) == len(labels) - 2
    for t in point_traces(fig):
        assert np.all(np.isfinite(np.asarray(t.x, dtype=float)))

    with pytest.raises(ValueError, match="no class weight"):
        plots.hypersphere_figure(features, labels + 5, weights, loss="softmax", margin=None)
    with pytest.raises(ValueError, match="shape"):
        plots.hypersphere_figure(np.zeros((4, 5)), np.zeros(4, dtype=int), np.eye(5), loss="softmax", margin=None)
    with pytest.raises(ValueError, match="labels"):
        plots.hypersphere_figure(features, labels[:-1], weights, loss="softmax", margin=None)


# --------------------------------------------------------------------------------------------
# Hypersphere, 3-D
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
def test_sphere_points_rays_caps(loss):
    features, labels, weights = sphere_data()
    fig = plots.hypersphere_figure(features, labels, weights, loss=loss, margin=MARGINS[loss])
    assert fig.layout.scene.aspectmode == "cube"
    assert fig.layout.uirevision
    assert not traces(fig, type="surface")  # a translucent surface doubles the software-WebGL draw time
    (globe,) = [t for t in fig.data if t.name == "unit sphere"]
    xyz = np.stack([globe.x, globe.y, globe.z], axis=1).astype(np.float64)
    r = np.linalg.norm(xyz[np.all(np.isfinite(xyz), axis=1)], axis=1)
    assert np.allclose(r, 1.0, atol=1e-5), "the globe's circles lie on the unit sphere"
    points = point_traces(fig)
    assert [len(t.x) for t in points] == [30] * 10
    for k, t in enumerate(points):
        xyz = np.stack([t.x, t.y, t.z], axis=1).astype(np.float64)
        assert np.allclose(np.linalg.norm(xyz, axis=1), 1.0, atol=1e-5), "points lie on the unit sphere"
        assert t.marker.color == plots.PALETTE[k]
    rays = [t for t in fig.data if (t.name or "").startswith("W ")]
    for k, ray in enumerate(rays):
        tip = np.array([ray.x[1], ray.y[1], ray.z[1]], dtype=np.float64)
        assert np.allclose(tip / np.linalg.norm(tip), weights[k], atol=1e-6)
    caps = cap_traces(fig)
    if loss in ("softmax", "normface"):
        assert not caps
        return
    assert sorted(caps) == list(range(10)), "one cap trace per class, empty or not"
    cos = np.clip(weights @ weights.T, -1, 1)
    np.fill_diagonal(cos, -1)
    for k, ring in caps.items():
        nearest = math.acos(cos[k].max())
        radius = geometry.feasible_half_arc(loss, MARGINS[loss], separation_rad=nearest)
        assert ring.meta["gap_rad"] == pytest.approx(nearest, abs=1e-9)
        assert ring.meta["half_arc_rad"] == pytest.approx(radius, abs=1e-12)
        assert np.allclose(ring.meta["centre"], weights[k], atol=1e-12)
        assert ring.legendgroup == f"class-{k}" and ring.line.color == plots.PALETTE[k]
        if radius <= 0:
            assert len(ring.x) == 0
            continue
        xyz = np.stack([ring.x, ring.y, ring.z], axis=1).astype(np.float64)
        angles = np.arccos(np.clip(xyz @ weights[k], -1, 1))
        assert np.allclose(angles, radius, atol=1e-4), "the ring is the cap's edge"


# --------------------------------------------------------------------------------------------
# Angles and training
# --------------------------------------------------------------------------------------------


def test_angle_histograms_fixed_bins_and_counts():
    rng = np.random.default_rng(0)
    target = np.concatenate([rng.uniform(0, 40, 300), [np.nan, 200.0]])
    other = rng.uniform(30, 120, 300)
    fig = plots.angle_histograms(target, other)
    bars = traces(fig, type="bar")
    assert len(bars) == 2
    centers = np.arange(1.5, 180, 3.0)
    for bar in bars:
        assert np.allclose(bar.x, centers)
        assert bar.width == pytest.approx(3.0)
    assert bars[0].y.sum() == 301, "NaN dropped, 200° clipped into the last bin"
    assert bars[0].y[-1] == 1
    assert bars[1].y.sum() == 300
    assert list(fig.layout.xaxis.range) == [0, 180]
    assert fig.layout.barmode == "overlay"
    # Different data, same axes: nothing jumps between ticks.
    other_fig = plots.angle_histograms(rng.uniform(100, 170, 10), [])
    assert np.array_equal(other_fig.data[0].x, bars[0].x)
    assert other_fig.data[1].y.sum() == 0


def test_training_curves_from_dict_and_history():
    history = {"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.5], "train_accuracy": [0.1, 0.6, 0.9],
               "test_accuracy": [0.1, 0.5, 0.8]}  # fmt: skip
    fig = plots.training_curves(history)
    loss, train, test = fig.data
    assert list(loss.y) == [3.0, 2.0, 1.5]
    assert np.allclose(train.y, [10, 60, 90]) and np.allclose(test.y, [10, 50, 80])
    assert train.yaxis == "y2" and loss.yaxis == "y"
    assert "epoch" in fig.layout.xaxis2.title.text

    from toy_models.train import History

    h = History(epoch=(0, 1), step=(0, 10), loss=(2.0, 1.0), train_accuracy=(0.2, 0.4), test_accuracy=(0.3, 0.5))
    fig = plots.training_curves(h)
    assert list(fig.data[0].y) == [2.0, 1.0]
    empty = plots.training_curves({})
    assert empty.layout.annotations[0].text == "no epochs yet"


# --------------------------------------------------------------------------------------------
# Instant analytic views
# --------------------------------------------------------------------------------------------

LOGIT_CASES = [
    ("softmax", None, {}),
    ("normface", None, {}),
    ("arcface", 0.5, {}),
    ("arcface", 0.5, {"easy_margin": True}),
    ("cosface", 0.35, {}),
    ("sphereface", 4.0, {}),
    ("sphereface", 1.35, {"sphereface_lambda": 5.0}),
    ("combined", (1.0, 0.3, 0.2), {}),
    ("combined", (1.35, 0.3, 0.2), {}),
]


@pytest.mark.parametrize(("loss", "margin", "options"), LOGIT_CASES)
def test_target_logit_curve_is_geometry_curve(loss, margin, options):
    fig = plots.target_logit_figure(loss, margin, **options)
    ref = traces(fig, name="softmax / NormFace: cos θ")[0]
    assert np.allclose(ref.y, np.cos(np.radians(np.asarray(ref.x, dtype=float))), atol=1e-6)
    assert list(fig.layout.xaxis.range) == [0, 180]
    paper = [s for s in fig.layout.shapes if s.type == "rect" and s.x0 == 20]
    paper_note = [a for a in fig.layout.annotations if "Fig. 4b" in (a.text or "")]
    if loss == "arcface":  # the only view that is the paper's figure
        assert len(paper) == 1 and paper[0].x1 == 100
        assert [a.text for a in paper_note] == ["θ range of ArcFace Fig. 4b"]
    else:
        assert not paper and not paper_note
    curves = [t for t in fig.data if (t.name or "").startswith(plots.LOSS_SPECS[loss].label + ":")]
    if loss in ("softmax", "normface"):
        assert not curves
        return
    (curve,) = curves
    x = np.asarray(curve.x, dtype=float)
    y = np.asarray(curve.y, dtype=float)
    ok = ~np.isnan(x)
    expected = geometry.target_logit_curve(np.radians(x[ok]), loss, margin, **options)
    assert np.allclose(y[ok], expected, atol=2e-5)
    assert x[ok].min() == 0 and x[ok].max() == pytest.approx(180, abs=1e-4)
    events = geometry.target_logit_features(loss, margin, **options)["events"]
    jumps = [e for e in events if e["kind"] == "jump"]
    assert np.sum(~ok) == len(jumps), "one NaN gap per jump, no vertical connector"
    markers = [t for t in fig.data if t.name == "jump"]
    assert len(markers) == len(jumps)
    for event, marker in zip(jumps, markers, strict=True):
        assert marker.x[0] == pytest.approx(event["theta_deg"])
        assert marker.y[1] - marker.y[0] == pytest.approx(event["jump"], abs=1e-4)


def test_target_logit_annotations_name_the_jumps_and_the_rise():
    arc = plots.target_logit_figure("arcface", 0.5)
    x = math.degrees(math.pi - 0.5)
    assert any(s.type == "line" and s.x0 == pytest.approx(x) for s in arc.layout.shapes)
    assert any("jump -0.117" in (a.text or "") for a in arc.layout.annotations)
    easy = plots.target_logit_figure("arcface", 0.5, easy_margin=True)
    assert any(s.type == "line" and s.x0 == pytest.approx(90.0) for s in easy.layout.shapes)
    combined = plots.target_logit_figure("combined", (1.35, 0.3, 0.2))
    turn = math.degrees((math.pi - 0.3) / 1.35)
    assert any(s.type == "rect" and s.x0 == pytest.approx(turn) and s.x1 == 180 for s in combined.layout.shapes)
    assert any("rises" in (a.text or "") for a in combined.layout.annotations)
    assert not [t for t in plots.target_logit_figure("cosface", 0.35).data if t.name == "jump"]


@pytest.mark.parametrize(("scale", "options"), [(None, {}), (16.0, {}), (30.0, {}), (16.0, {"easy_margin": True})])
def test_jump_is_labelled_in_the_units_of_the_y_axis(scale, options):
    """The note beside a jump must read what the eye sees between the two markers, scaled or not."""
    fig = plots.target_logit_figure("arcface", 0.5, scale=scale, **options)
    (marker,) = [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == "jump"]
    visible = float(marker.y[1] - marker.y[0])
    (note,) = [a for a in fig.layout.annotations if (a.text or "").startswith("jump")]
    labelled = float(re.match(r"jump ([+-][0-9.]+)", note.text).group(1))
    assert labelled == pytest.approx(visible, rel=5e-3)
    m, s = 0.5, scale or 1.0
    g_jump = math.sin(m) if options else 1 - math.cos(m) - m * math.sin(m)  # up at 90°, or down at π − m
    assert labelled == pytest.approx(s * g_jump, rel=5e-3)


def test_target_logit_scale_multiplies_everything():
    plain = plots.target_logit_figure("cosface", 0.35)
    scaled = plots.target_logit_figure("cosface", 0.35, scale=16.0)
    for a, b in zip(plain.data, scaled.data, strict=True):
        assert np.allclose(np.asarray(b.y, dtype=float), 16.0 * np.asarray(a.y, dtype=float), equal_nan=True)
    assert "s·g" in scaled.layout.yaxis.title.text
    with pytest.raises(ValueError):
        plots.target_logit_figure("cosface", 0.35, scale=0)


BOUNDARY_CASES = [
    ("softmax", None, {}),
    ("normface", None, {}),
    ("arcface", 0.5, {}),
    ("cosface", 0.35, {}),
    ("sphereface", 1.5, {}),
    ("combined", (1.0, 0.3, 0.2), {}),
    ("arcface", 0.5, {"easy_margin": True}),
    ("combined", (1.35, 0.3, 0.2), {}),
]


@pytest.mark.parametrize(("loss", "margin", "options"), BOUNDARY_CASES)
def test_decision_boundary_is_geometry_boundary(loss, margin, options):
    fig = plots.decision_boundary_figure(loss, margin, **options)
    c1 = traces(fig, name="class 1 boundary")[0]
    c2 = traces(fig, name="class 2 boundary")[0]
    x1 = np.asarray(c1.x, dtype=float)
    expected = np.degrees(geometry.decision_boundary(np.radians(x1), loss, margin, **options))
    assert np.allclose(np.asarray(c1.y, dtype=float), expected, atol=1e-3, equal_nan=True)
    assert c1.line.dash == "dash" and c2.line.dash == "dash"
    # Class 2's boundary is the mirror image of class 1's.
    assert np.allclose(np.asarray(c2.y, dtype=float), x1, atol=1e-4)
    assert np.allclose(np.asarray(c2.x, dtype=float), np.asarray(c1.y, dtype=float), atol=1e-3, equal_nan=True)
    diagonal = next(t for t in fig.data if (t.name or "").startswith("NormFace"))
    assert np.allclose(diagonal.x, diagonal.y)
    assert list(fig.layout.xaxis.range) == [0, 180] and list(fig.layout.yaxis.range) == [0, 180]
    assert fig.layout.yaxis.scaleanchor == "x"
    band = geometry.decision_margin_band(loss, margin, 400, **options)
    grey = [t for t in fig.data if t.name == "decision margin"]
    if loss in ("softmax", "normface"):
        assert not grey
    elif band["band"] is not None:
        (poly,) = grey
        assert poly.fill == "toself"
        assert np.allclose(np.asarray(poly.x, dtype=float), np.degrees(band["band"][0]), atol=1e-3)
    else:
        (heat,) = grey
        assert heat.type == "heatmap"
        regions = geometry.decision_regions(loss, margin, 200, **options)
        assert np.array_equal(~np.isnan(np.asarray(heat.z, dtype=float)), regions["labels"] == 0)


def test_decision_boundary_cos_plane():
    fig = plots.decision_boundary_figure("cosface", 0.35, plane="cos")
    c1 = traces(fig, name="class 1 boundary")[0]
    x = np.asarray(c1.x, dtype=float)
    expected = geometry.decision_boundary_cos(x, "cosface", 0.35)
    assert np.allclose(np.asarray(c1.y, dtype=float), expected, atol=1e-5, equal_nan=True)
    assert list(fig.layout.xaxis.range) == [-1, 1]
    # The two lines are √2·m apart (CosFace Fig. 2): measure along the normal at the centre.
    ok = ~np.isnan(np.asarray(c1.y, dtype=float))
    assert np.allclose(x[ok] - np.asarray(c1.y, dtype=float)[ok], 0.35, atol=1e-5)
    with pytest.raises(ValueError):
        plots.decision_boundary_figure("cosface", 0.35, plane="polar")


def test_margin_text_units():
    # docs/losses.md §2.1: ArcFace's m is an angle, CosFace's a cosine offset, SphereFace's multiplies θ.
    assert plots.margin_text("arcface", 0.5) == "m = 0.50 rad (28.6°)"
    assert plots.margin_text("cosface", 0.35) == "m = 0.35 (cosine units)"
    assert plots.margin_text("sphereface", 4) == "m = 4 (multiplies θ)"
    assert plots.margin_text("normface", None) == "no margin"
    assert plots.margin_text("combined", (1.35, 0.3, 0.2)) == (
        "m1 = 1.35 (multiplies θ), m2 = 0.30 rad (17.2°), m3 = 0.20 (cosine units)"
    )


def target_curve(fig):
    (curve,) = [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == "target_curve"]
    return curve


@pytest.mark.parametrize(
    ("loss", "margin", "options", "formula"),
    [
        ("cosface", 0.35, {}, "cos θ − m"),
        ("arcface", 0.5, {}, "cos(θ + m), and cos θ − m·sin m beyond π − m"),
        ("arcface", 0.5, {"easy_margin": True}, "cos(θ + m) where cos θ > 0, else cos θ"),
        ("sphereface", 4.0, {}, "ψ(θ), the monotone cos(mθ)"),
        ("sphereface", 4.0, {"sphereface_lambda": 5.0}, "(λ·cos θ + ψ(θ)) / (1 + λ)"),
        ("combined", (1.0, 0.3, 0.2), {}, "cos(m1·θ + m2) − m3"),
    ],
)
def test_target_formula_labels_follow_the_research_notes(loss, margin, options, formula):
    for scale in (None, 16.0):
        curve = target_curve(plots.target_logit_figure(loss, margin, scale=scale, **options))
        assert curve.name == f"{plots.LOSS_SPECS[loss].label}: {formula}"
        assert "s·" not in curve.name and "ψ(m" not in curve.name, "ψ already holds m; the scale is on the axis"


def test_sphereface_original_form_is_drawn_in_cosine_units():
    """Its scale is the feature norm, so the s slider must not stretch the curve."""
    options = {"sphereface_lambda": 5.0, "sphereface_form": "original"}
    fig = plots.target_logit_figure("sphereface", 4.0, scale=16.0, **options)
    curve = target_curve(fig)
    x = np.asarray(curve.x, dtype=float)
    expected = geometry.target_logit_curve(np.radians(x), "sphereface", 4.0, sphereface_lambda=5.0)
    np.testing.assert_allclose(np.asarray(curve.y, dtype=float), expected, atol=1e-12)
    assert curve.meta["scale"] == 1.0
    reference = traces(fig, name="softmax / NormFace: cos θ")[0]
    assert np.allclose(reference.y, np.cos(np.radians(np.asarray(reference.x, dtype=float))), atol=1e-6)
    assert "‖x‖" in fig.layout.yaxis.title.text and "s·" not in fig.layout.yaxis.title.text
    assert "feature norm ‖x‖" in fig.layout.title.subtitle.text
    assert "λ = 5" in fig.layout.title.subtitle.text
    # Its normalised form does have an s, and is drawn with it.
    normalised = target_curve(plots.target_logit_figure("sphereface", 4.0, scale=16.0))
    x = np.asarray(normalised.x, dtype=float)
    np.testing.assert_allclose(
        np.asarray(normalised.y, dtype=float), 16.0 * geometry.target_logit_curve(np.radians(x), "sphereface", 4.0)
    )
    with pytest.raises(ValueError, match="only exists for sphereface"):
        plots.target_logit_figure("arcface", 0.5, sphereface_form="original")
    with pytest.raises(ValueError, match="unknown SphereFace form"):
        plots.target_logit_figure("sphereface", 4.0, sphereface_form="paper")


# --------------------------------------------------------------------------------------------
# Everything validates and serialises
# --------------------------------------------------------------------------------------------


def all_figures() -> dict[str, go.Figure]:
    f2, l2, w2 = uneven_circle()
    f3, l3, w3 = sphere_data()
    figs = {}
    for loss in LOSSES:
        figs[f"circle-{loss}"] = lambda loss=loss: plots.hypersphere_figure(f2, l2, w2, loss=loss, margin=MARGINS[loss])
        figs[f"sphere-{loss}"] = lambda loss=loss: plots.hypersphere_figure(f3, l3, w3, loss=loss, margin=MARGINS[loss])
        figs[f"logit-{loss}"] = lambda loss=loss: plots.target_logit_figure(loss, MARGINS[loss])
        figs[f"boundary-{loss}"] = lambda loss=loss: plots.decision_boundary_figure(loss, MARGINS[loss])
    # Empty regions (a margin too large for every gap), a scaled jump, SphereFace's original form, the cos plane.
    figs["circle-no-fit"] = lambda: plots.hypersphere_figure(f2, l2, w2, loss="arcface", margin=1.2)
    figs["sphere-no-fit"] = lambda: plots.hypersphere_figure(f3, l3, w3, loss="arcface", margin=1.5)
    figs["logit-arcface-scaled"] = lambda: plots.target_logit_figure("arcface", 0.5, scale=16.0)
    figs["logit-arcface-easy"] = lambda: plots.target_logit_figure("arcface", 0.5, easy_margin=True, scale=16.0)
    figs["logit-sphereface-original"] = lambda: plots.target_logit_figure(
        "sphereface", 4.0, sphereface_lambda=5.0, sphereface_form="original", scale=16.0
    )
    figs["boundary-cosface-cos"] = lambda: plots.decision_boundary_figure("cosface", 0.35, plane="cos")
    figs["angles"] = lambda: plots.angle_histograms(np.linspace(0, 90, 500), np.linspace(20, 150, 500))
    figs["curves"] = lambda: plots.training_curves({"epoch": [0, 1], "loss": [2, 1], "train_accuracy": [0.1, 0.5],
                                                     "test_accuracy": [0.1, 0.4]})  # fmt: skip
    return figs


def test_every_figure_validates_and_serialises():
    """Full plotly validation of what the builders make without it (style._figure), and clean JSON.

    How long they take is measured by benchmarks/figure_speed.py, against a bare figure in the same run.
    """
    for name, build in all_figures().items():
        fig = build()
        go.Figure(fig.to_dict())  # full plotly validation
        text = fig.to_json()
        assert "NaN" not in text and "Infinity" not in text, name
        assert fig.layout.title.text, name
        assert fig.layout.paper_bgcolor is None and fig.layout.plot_bgcolor is None, "the theme picks backgrounds"


@pytest.mark.parametrize(("epochs", "mode"), [(29, "lines+markers"), (30, "lines")])
def test_training_curves_mark_each_epoch_below_30_epochs_and_draw_lines_from_30(epochs, mode):
    history = {"epoch": list(range(1, epochs + 1)), "loss": [1.0] * epochs, "train_accuracy": [0.5] * epochs,
               "test_accuracy": [0.5] * epochs}  # fmt: skip
    figure = plots.training_curves(history, as_spec=True)
    names = ("training loss", "train accuracy", "test accuracy")
    assert {trace["name"]: trace["mode"] for trace in figure["data"] if trace.get("name") in names} == dict.fromkeys(
        names, mode
    )


def test_a_class_past_the_named_ones_is_called_by_its_number():
    from app.plots.sphere import _class_name

    assert _class_name(["zero", "one"], 1) == "one"
    assert _class_name(["zero", "one"], 2) == "class 2"
    assert _class_name(None, 0) == "class 0"


@pytest.mark.parametrize("dim", [2, 3])
def test_a_margin_that_leaves_no_room_says_so_and_one_that_fits_does_not(dim):
    """The geometry clamps a half-arc that cannot exist to exactly 0: such a class gets the "does not fit" note."""
    rng = np.random.default_rng(0)
    features, labels, weights = rng.normal(size=(50, dim)), np.arange(50) % 10, rng.normal(size=(10, dim))

    def classes_without_room(margin: float) -> set[str]:
        spec = plots.hypersphere_figure(features, labels, weights, loss="arcface", margin=margin, as_spec=True)
        return {t["legendgroup"] for t in spec["data"] if str(t.get("name", "")).startswith("W ")
                and "does not fit" in t["hovertemplate"] and t["line"]["dash"] == "dot"}  # the class's own ray

    layout = geometry.margin_layout(weights)
    clamped = (geometry.cap_half_arcs("arcface", 1.5, layout.gaps_rad) == 0.0).all(axis=1)
    assert 0 < clamped.sum() and len(classes_without_room(1.5)) == clamped.sum()  # exactly the clamped ones
    assert classes_without_room(0.05) == set()
    if dim == 3:  # and on the sphere their caps are empty, named "no margin cap"
        spec = plots.hypersphere_figure(features, labels, weights, loss="arcface", margin=1.5, as_spec=True)
        empty_caps = [t for t in spec["data"] if "no margin cap" in str(t.get("hovertemplate", ""))]
        assert len(empty_caps) == clamped.sum() and all(len(t["x"]) == 0 for t in empty_caps)


def test_the_log_roc_keeps_a_point_at_exactly_half_the_axis_start_and_drops_far_0():
    from app.plots.verification import FAR_AXIS_MIN, roc_figure

    positive = [1.0] * 5 + [0.85] * 5
    negative = [0.0] * 19_999 + [0.9]  # one different-class pair above 0.85: a FAR of exactly 1 / 20000
    assert 1 / 20_000 == FAR_AXIS_MIN / 2
    spec = roc_figure([("ArcFace", "arcface", positive, negative)], as_spec=True)
    [curve] = [t for t in spec["data"] if t.get("name", "").startswith("ArcFace: AUC")]
    far = np.asarray(curve["x"], dtype=np.float64)
    assert far.min() == FAR_AXIS_MIN / 2 and 0.0 not in far


@pytest.mark.parametrize(("theta_deg", "ax"), [(90.0, 60), (90.5, -60)])
def test_a_jump_note_points_right_up_to_exactly_90_degrees_and_left_past_it(theta_deg, ax):
    from app.plots.loss_views import _jump_marks

    event = {"theta_deg": theta_deg, "theta_rad": math.radians(theta_deg), "jump": -0.1, "label": "fallback"}
    _, _, note = _jump_marks(event, 0.5, 0.4, 1.0)
    assert note["ax"] == ax


@pytest.mark.parametrize(("start", "x", "anchor"), [(140.0, 180.0, "right"), (139.0, 159.5, "center")])
def test_a_rise_of_exactly_40_degrees_is_labelled_at_its_end_and_a_wider_one_in_its_middle(start, x, anchor):
    from app.plots.loss_views import _rise_marks

    _, [note] = _rise_marks([{"direction": "rises", "theta_deg": start}])
    assert (note["x"], note["xanchor"]) == (x, anchor)


def test_the_target_curve_breaks_only_strictly_inside_0_and_pi():
    from app.plots.loss_views import _curve_segments

    theta, _ = _curve_segments("arcface", 0.5, False, 0.0, [0.0, math.pi, 1.0], 64)
    assert np.isnan(theta).sum() == 1  # one gap, at 1 rad: a break at an end is no break
    assert theta[0] == 0.0 and theta[-1] == math.pi


def test_a_label_equal_to_the_class_count_has_no_class_weight():
    rng = np.random.default_rng(0)
    features, weights = rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    assert plots.hypersphere_figure(features, np.array([0, 1, 2, 2]), weights, loss="arcface", margin=0.2)
    with pytest.raises(ValueError, match=r"^label 3 has no class weight \(only 3 classes\)$"):
        plots.hypersphere_figure(features, np.array([0, 1, 2, 3]), weights, loss="arcface", margin=0.2)


@pytest.mark.parametrize("scale", [0.0, -1.0, math.inf, math.nan])
def test_the_target_logit_figure_refuses_a_scale_that_is_not_a_positive_finite_number(scale):
    from app.plots.loss_views import _curve_scale

    with pytest.raises(ValueError, match="scale must be a positive number"):
        _curve_scale("arcface", scale, "normalized")
    assert _curve_scale("arcface", 16.0, "normalized") == (16.0, "target logit s·g(θ)")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_class_weight_that_is_not_finite_is_one_sentence(bad):
    weights = np.array([[1.0, 0.0], [0.0, bad]])
    with pytest.raises(ValueError, match=r"^class_weights must be finite and non-zero$"):
        plots.hypersphere_figure(np.ones((2, 2)), np.array([0, 1]), weights, loss="arcface", margin=0.2)
