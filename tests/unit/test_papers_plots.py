"""app/plots/papers.py and verification.py: each figure carries exactly the data it claims.

Inputs are hand-made arrays (no training): the figures are pure functions of them.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from app.plots import papers, verification
from toy_models import geometry
from toy_models.metrics import pair_similarities, tar_at_far, verification_metrics

RNG = np.random.default_rng(0)


def valid(figure) -> go.Figure:
    """The builders skip plotly's validation for speed: validate once here (raises on any bad property)."""
    return go.Figure(figure.to_dict() if isinstance(figure, go.Figure) else figure)


def as_array(values) -> np.ndarray:
    """A trace's values as float64: a plain list (None for gaps) or plotly's typed array {"dtype", "bdata"}."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).astype(np.float64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def panel_traces(spec: dict, index: int) -> list[dict]:
    axis = "x" if index == 0 else f"x{index + 1}"
    return [t for t in spec["data"] if t.get("xaxis", "x") == axis]


# -- captions -------------------------------------------------------------------------------------------


def test_every_figure_has_a_caption_that_names_the_paper_figure_it_mirrors():
    captions = papers.paper_captions()
    assert set(captions) == set(papers.FIGURE_IDS)
    for figure_id, caption in captions.items():
        assert caption.title and len(caption.text) > 200, figure_id  # a paragraph, not a label
        assert "\n" not in caption.text  # the file's line breaks are joined into one paragraph
        assert any(paper in caption.mirrors for paper in ("ArcFace", "CosFace", "SphereFace")), figure_id
    # The figures of docs/losses.md §9 name their figure number.
    for figure_id in set(papers.FIGURE_IDS) - {"roc"}:
        assert "Fig" in captions[figure_id].mirrors, figure_id
    assert captions["target_angles"].mirrors == "ArcFace Fig. 4(a)"
    assert captions["decision_margins"].mirrors == "ArcFace Fig. 5"
    assert captions["cosine_margins"].mirrors == "CosFace Fig. 2"


def test_a_caption_file_missing_a_figure_is_refused_with_its_name(tmp_path: Path):
    text = papers.CAPTIONS_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "captions.toml"
    broken.write_text(text.replace("[pair_angles]", "[pair_angle]"), encoding="utf-8")
    with pytest.raises(ValueError, match="'pair_angles'"):
        papers.paper_captions(broken)


# -- ArcFace Fig. 4(a) ---------------------------------------------------------------------------------


def test_target_angle_histograms_count_every_finite_sample_once_per_stage():
    stages = [RNG.uniform(0, math.pi, 97), RNG.uniform(0, 1.0, 97), np.r_[RNG.uniform(0, 0.3, 95), np.nan, np.inf, 0.0]]
    spec = papers.target_angle_histograms([("Softmax", stages), ("ArcFace", stages[::-1])], as_spec=True)
    valid(spec)
    assert len(spec["data"]) == 6
    for index in range(2):
        bars = panel_traces(spec, index)
        assert [b["name"] for b in bars] == ["start", "middle", "end"]
        counts = [int(b["y"].sum()) for b in bars]
        assert counts == ([97, 97, 96] if index == 0 else [96, 97, 97])  # the NaN and the infinity are left out
    # The bars sit where the angles are, in degrees: the "middle" stage lies below 1 rad = 57.3°.
    middle = spec["data"][1]
    assert middle["x"][middle["y"] > 0].max() < 60
    assert [d["showlegend"] for d in spec["data"]] == [True, True, True, False, False, False]
    with pytest.raises(ValueError, match="3 stages"):
        papers.target_angle_histograms([("Softmax", stages[:2])])


# -- ArcFace Fig. 4(b) ---------------------------------------------------------------------------------


def test_target_logit_curves_are_the_geometry_module_s_curves():
    members = [{"loss": "softmax"}, {"loss": "sphereface", "margin": 1.35}, {"loss": "cosface", "margin": 0.35},
               {"loss": "arcface", "margin": 0.5}]
    figure = valid(papers.target_logit_curves(members))
    names = [t.name for t in figure.data]
    assert names[0].startswith("Softmax / NormFace")
    assert names[1:] == ["SphereFace, m = 1.35 (multiplies θ)", "CosFace, m = 0.35 (cosine units)",
                         "ArcFace, m = 0.50 rad (28.6°)"]  # softmax is the dashed reference, not a second curve
    for trace, member in zip(figure.data[1:], members[1:], strict=True):
        x, y = as_array(trace.x), as_array(trace.y)
        ok = np.isfinite(x)
        expected = geometry.target_logit_curve(np.radians(x[ok]), member["loss"], member["margin"])
        np.testing.assert_allclose(y[ok], expected, atol=1e-9)
    arcface = as_array(figure.data[3].x)
    gap = np.flatnonzero(np.isnan(arcface))
    assert len(gap) == 1 and abs(arcface[gap[0] - 1] - math.degrees(math.pi - 0.5)) < 0.01  # the fallback jump
    band = figure.layout.shapes[0]
    assert (band.x0, band.x1) == (20.0, 100.0)  # ArcFace Fig. 4b's θ range


# -- ArcFace Fig. 5, CosFace Fig. 2 ----------------------------------------------------------------------


def boundary(spec: dict, index: int, which: int) -> tuple[np.ndarray, np.ndarray]:
    [trace] = [t for t in panel_traces(spec, index) if t.get("meta", {}).get("class") == which]
    return np.asarray(trace["x"], np.float64), np.asarray(trace["y"], np.float64)


def test_decision_margin_panels_draw_the_four_papers_boundaries():
    spec = papers.decision_margin_panels({"arcface": 0.4, "sphereface": 2.0}, as_spec=True)
    valid(spec)
    titles = [a["text"] for a in spec["layout"]["annotations"] if a.get("yanchor") == "bottom"]
    assert titles == ["Softmax", "SphereFace: m = 2 (multiplies θ)", "CosFace: m = 0.35 (cosine units)",
                      "ArcFace: m = 0.40 rad (22.9°)"]  # CosFace was not given: its default
    # ArcFace (panel 4): θ2 = θ1 + m, a band of constant width. SphereFace (panel 2): θ2 = m·θ1.
    x, y = boundary(spec, 3, 1)
    ok = np.isfinite(y)
    np.testing.assert_allclose(y[ok] - x[ok], math.degrees(0.4), atol=1e-3)
    x, y = boundary(spec, 1, 1)
    ok = np.isfinite(y) & (x < 80)
    np.testing.assert_allclose(y[ok], 2 * x[ok], atol=1e-3)
    # Softmax has no band; each margin loss has one.
    bands = [any(t.get("meta", {}).get("role") == "band" for t in panel_traces(spec, i)) for i in range(4)]
    assert bands == [False, True, True, True]
    # One legend entry per name, and every panel square.
    shown = [t["name"] for t in spec["data"] if t.get("showlegend", True)]
    assert len(shown) == len(set(shown))
    for i in range(4):
        y_axis = spec["layout"]["yaxis" if i == 0 else f"yaxis{i + 1}"]
        assert y_axis["scaleanchor"] == ("x" if i == 0 else f"x{i + 1}")


def test_cosine_margin_panels_show_lmcl_s_parallel_lines_and_softmax_s_norm_dependent_boundary():
    spec = papers.cosine_margin_panels({"cosface": 0.2}, weight_norms=(1.25, 0.8), as_spec=True)
    valid(spec)
    x, y = boundary(spec, 3, 1)  # CosFace: cos θ2 = cos θ1 − m, and its mirror: √2·m apart
    ok = np.isfinite(y)
    np.testing.assert_allclose(y[ok], x[ok] - 0.2, atol=1e-6)
    x2, y2 = boundary(spec, 3, 2)
    ok2 = np.isfinite(x2)
    np.testing.assert_allclose(x2[ok2], y2[ok2] - 0.2, atol=1e-6)
    [softmax] = [t for t in panel_traces(spec, 0) if t["name"].startswith("softmax boundary")]
    sx, sy = np.asarray(softmax["x"], float), np.asarray(softmax["y"], float)
    ok = np.isfinite(sy)
    np.testing.assert_allclose(sy[ok], 1.25 / 0.8 * sx[ok], atol=1e-9)  # ‖W1‖cos θ1 = ‖W2‖cos θ2


# -- ArcFace Figs. 6–7 -----------------------------------------------------------------------------------


def test_pair_angle_histograms_give_each_kind_of_pair_a_share_summing_to_100_percent():
    positive, negative = RNG.uniform(0, 40, 300), RNG.uniform(50, 180, 5000)
    spec = papers.pair_angle_histograms([("ArcFace", positive, negative), ("Softmax", negative, positive)],
                                        as_spec=True)
    valid(spec)
    for trace in spec["data"]:
        assert float(trace["y"].sum()) == pytest.approx(100.0, abs=1e-3)
    medians = sorted(round(s["x0"], 6) for s in spec["layout"]["shapes"])
    assert medians == sorted(round(float(np.median(v)), 6) for v in (positive, negative, negative, positive))


# -- small multiples -------------------------------------------------------------------------------------


def test_sphere_panels_are_one_titled_figure_per_panel_without_legends():
    weights = np.eye(3)
    labels = np.repeat(np.arange(3), 5)
    features = weights[labels] + RNG.normal(0, 0.05, (15, 3))
    panels = [{"features": features, "labels": labels, "class_weights": weights, "loss": "sphereface",
               "margin": m, "subtitle": f"panel {m}"} for m in (1.0, 4.0)]
    figures = papers.sphere_panels(panels, as_spec=True)
    assert len(figures) == 2
    for figure, m in zip(figures, (1.0, 4.0), strict=True):
        valid(figure)
        assert figure["layout"]["title"]["text"] == f"SphereFace, m = {m:g} (multiplies θ)"
        assert figure["layout"]["showlegend"] is False
    assert figures[0]["layout"]["uirevision"] != figures[1]["layout"]["uirevision"]  # cameras kept apart
    weights_2d = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    features_2d = weights_2d[labels] + RNG.normal(0, 0.05, (15, 2))
    circles = papers.sphere_panels([{**panels[0], "features": features_2d, "class_weights": weights_2d}],
                                   as_spec=True)
    assert "scattergl" not in {t["type"] for t in circles[0]["data"]}  # no WebGL context per small circle


# -- verification ----------------------------------------------------------------------------------------


def labelled_features(n_per_class=60, spread=0.6, seed=1):
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.repeat(np.arange(3), n_per_class)
    return centres[labels] + rng.normal(0, spread, (len(labels), 3)), labels


def test_verification_rows_match_scikit_learn_and_the_library_metrics():
    features, labels = labelled_features()
    positive, negative = pair_similarities(features, labels)
    [row] = verification.verification_rows([("ArcFace", "arcface", positive, negative)])
    scores = np.r_[positive, negative]
    truth = np.r_[np.ones(len(positive), bool), np.zeros(len(negative), bool)]
    assert row["auc"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert row["tar_at_far_1e-2"] == tar_at_far(scores, truth, 1e-2)[0]
    assert row["tar_at_far_1e-3"] == tar_at_far(scores, truth, 1e-3)[0]
    library = verification_metrics(features, labels)  # what the command line reports for the same features
    assert row["auc"] == pytest.approx(library["verification_auc"], abs=1e-12)
    assert (row["positive_pairs"], row["negative_pairs"]) == (library["num_positive_pairs"],
                                                              library["num_negative_pairs"])
    assert 0.5 < row["auc"] < 1.0 and not row["notes"]


def test_verification_rows_say_why_a_value_is_missing():
    [row] = verification.verification_rows([("CosFace", "cosface", np.array([0.9, 0.8]), np.array([0.1, 0.2]))])
    assert row["auc"] == 1.0
    assert math.isnan(row["tar_at_far_1e-3"]) and "1000" in row["notes"]["tar_at_far_1e-3"]
    [row] = verification.verification_rows([("CosFace", "cosface", np.array([0.9]), np.array([]))])
    assert math.isnan(row["auc"]) and "auc" in row["notes"]


def test_roc_figure_draws_scikit_learn_s_curve_and_marks_tar_at_the_two_fars():
    features, labels = labelled_features()
    positive, negative = pair_similarities(features, labels)
    members = [("ArcFace", "arcface", positive, negative), ("Softmax", "softmax", negative[:500], positive[:500])]
    for log_far in (True, False):
        figure = valid(verification.roc_figure(members, log_far=log_far))
        [curve] = [t for t in figure.data if t.name.startswith("ArcFace: AUC")]
        truth = np.r_[np.ones(len(positive), bool), np.zeros(len(negative), bool)]
        fpr, tpr, _ = roc_curve(truth, np.r_[positive, negative])
        keep = fpr >= verification.FAR_AXIS_MIN / 2 if log_far else np.ones(len(fpr), bool)
        np.testing.assert_allclose(as_array(curve.x), fpr[keep])
        np.testing.assert_allclose(as_array(curve.y), tpr[keep])
        assert curve.name == f"ArcFace: AUC {roc_auc_score(truth, np.r_[positive, negative]):.3f}"
        [dots] = [t for t in figure.data if t.name == "ArcFace: TAR at FAR 1e-2, 1e-3"]
        assert list(dots.x) == [1e-2, 1e-3]
        assert list(dots.y) == [tar_at_far(np.r_[positive, negative], truth, far)[0] for far in (1e-2, 1e-3)]
        assert (figure.layout.xaxis.type == "log") == log_far
    # The second member's scores are reversed: worse than chance, and its AUC says so.
    worse = [t.name for t in figure.data if t.name.startswith("Softmax: AUC")]
    assert worse and float(worse[0].split()[-1]) < 0.5


def test_pair_and_live_angle_histograms_leave_out_what_is_not_a_finite_angle():
    from app.plots import angles

    values = np.r_[RNG.uniform(20.0, 160.0, 50), np.nan, np.inf, -np.inf]
    spec = papers.pair_angle_histograms([("ArcFace", values, values)], as_spec=True)
    bars = [t for t in spec["data"] if t.get("type") == "bar"]
    assert all(abs(float(np.sum(t["y"])) - 100.0) < 1e-3 for t in bars)  # shares of the 50 finite pairs
    assert all(float(np.asarray(t["y"])[-1]) == 0.0 for t in bars)  # nothing piled up at 180°
    live = angles.angle_histograms(values, values, as_spec=True)
    assert [int(np.sum(t["y"])) for t in live["data"] if t.get("type") == "bar"] == [50, 50]
