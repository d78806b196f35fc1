"""Metrics against values worked out by hand on tiny constructed embeddings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toy_models.metrics import (
    angle_statistics,
    closed_set_accuracy,
    pair_angles,
    pair_similarities,
    tar_at_far,
    target_angles,
    verification_metrics,
)


def unit_2d(degrees) -> np.ndarray:
    radians = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


# Three classes in 2-D. Weights at 0°, 100°, 220°; two features per class placed symmetrically around the
# class centre, so the centre direction is exactly the midpoint:
#   class 0: 10°, 30°   centre  20°   W-EC 20°   intra 10°, 10°
#   class 1: 120°, 140° centre 130°   W-EC 30°   intra 10°, 10°
#   class 2: 225°, 235° centre 230°   W-EC 10°   intra  5°,  5°
# Weight gaps: 0–100 = 100°, 100–220 = 120°, 220–360 = 140°  → nearest: 100, 100, 120 → W-Inter 106.67°
# Centre gaps: 20–130 = 110°, 130–230 = 100°, 230–380 = 150° → nearest: 110, 100, 100 → Inter 103.33°, min 100°
WEIGHTS = unit_2d([0, 100, 220])
FEATURES = unit_2d([10, 30, 120, 140, 225, 235])
LABELS = np.array([0, 0, 1, 1, 2, 2])


def test_angle_statistics_match_hand_computed_values():
    stats = angle_statistics(FEATURES, LABELS, WEIGHTS)
    assert stats["w_ec_deg"] == pytest.approx(20.0, abs=1e-9)
    assert stats["w_inter_deg"] == pytest.approx(320 / 3, abs=1e-9)
    assert stats["intra_deg"] == pytest.approx(50 / 6, abs=1e-9)
    assert stats["inter_deg"] == pytest.approx(310 / 3, abs=1e-9)
    assert stats["min_center_angle_deg"] == pytest.approx(100.0, abs=1e-9)


def test_angle_statistics_ignore_feature_and_weight_norms_and_accept_tensors():
    norms = np.array([[0.5], [3.0], [1.0], [7.0], [0.01], [2.0]])
    scaled = angle_statistics(torch.tensor(FEATURES * norms, dtype=torch.float32), torch.tensor(LABELS),
                              torch.tensor(WEIGHTS * 5.0))
    reference = angle_statistics(FEATURES, LABELS, WEIGHTS)
    for key, value in reference.items():
        assert scaled[key] == pytest.approx(value, abs=1e-4)  # float32 input, float64 maths


def test_angle_statistics_stay_finite_when_features_coincide_with_weights():
    # Exactly aligned unit vectors give cosines that round to 1 + 1e-16: clipping keeps arccos finite.
    features = np.repeat(WEIGHTS, 4, axis=0)
    labels = np.repeat(np.arange(3), 4)
    stats = angle_statistics(features, labels, WEIGHTS)
    assert all(math.isfinite(v) for v in stats.values())
    assert stats["intra_deg"] == pytest.approx(0.0, abs=1e-6)
    assert stats["w_ec_deg"] == pytest.approx(0.0, abs=1e-6)


def test_angle_statistics_skip_classes_without_samples():
    keep = LABELS != 2
    stats = angle_statistics(FEATURES[keep], LABELS[keep], WEIGHTS)
    assert stats["w_ec_deg"] == pytest.approx(25.0, abs=1e-9)  # classes 0 and 1 only
    assert stats["inter_deg"] == pytest.approx(110.0, abs=1e-9)
    assert stats["w_inter_deg"] == pytest.approx(320 / 3, abs=1e-9)  # still every class weight


def test_closed_set_accuracy_and_target_angles():
    features = unit_2d([10, 60, 120, 200])  # 60° is nearer W1 (100°) than W0 (0°): wrong for label 0
    labels = np.array([0, 0, 1, 2])
    assert closed_set_accuracy(features, labels, WEIGHTS) == pytest.approx(0.75)
    target, nearest = target_angles(features, labels, WEIGHTS)
    np.testing.assert_allclose(np.degrees(target), [10, 60, 20, 20], atol=1e-9)
    np.testing.assert_allclose(np.degrees(nearest), [90, 40, 100, 100], atol=1e-9)  # 120°→W2, 200°→W1
    assert ((target < nearest) == [True, False, True, True]).all()  # correct exactly when θ_y is the smaller


def test_pair_angles_use_all_pairs_when_few():
    positive, negative = pair_angles(FEATURES, LABELS, max_pairs=100)
    assert len(positive) == 3 and len(negative) == 12  # 3 same-class pairs, 15 − 3 different-class pairs
    np.testing.assert_allclose(np.sort(positive), [10, 20, 20], atol=1e-9)
    assert negative.min() == pytest.approx(85.0, abs=1e-9)  # 140° and 225°


def test_pair_sampling_is_capped_seeded_and_labelled_correctly():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 600)
    features = rng.normal(size=(600, 4))
    a = pair_angles(features, labels, max_pairs=500, seed=3)
    b = pair_angles(features, labels, max_pairs=500, seed=3)
    c = pair_angles(features, labels, max_pairs=500, seed=4)
    assert len(a[0]) == len(a[1]) == 500
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # Sampled pairs really are same-class / different-class pairs of distinct samples.
    from toy_models.metrics import _pair_indices

    positive, negative = _pair_indices(labels, 500, seed=3)
    assert (labels[positive[:, 0]] == labels[positive[:, 1]]).all() and (positive[:, 0] != positive[:, 1]).all()
    assert (labels[negative[:, 0]] != labels[negative[:, 1]]).all()


def test_verification_is_perfect_for_separated_classes_and_chance_for_random_features():
    labels = np.repeat(np.arange(4), 30)
    separated = np.eye(4)[labels] + 0.01 * np.random.default_rng(0).normal(size=(120, 4))
    result = verification_metrics(separated, labels)
    assert result["verification_auc"] == 1.0
    assert result["tar_at_far_1e-2"] == 1.0 and result["tar_at_far_1e-3"] == 1.0
    assert result["notes"] == {}

    rng = np.random.default_rng(0)
    random_labels = rng.integers(0, 4, 400)
    random = verification_metrics(rng.normal(size=(400, 8)), random_labels, max_pairs=20_000)
    assert abs(random["verification_auc"] - 0.5) < 0.03
    assert random["tar_at_far_1e-2"] < 0.05


def test_tar_at_far_on_a_constructed_score_set():
    # 1,000 negatives scored 0.000, 0.001, ..., 0.999; 100 positives:
    #   50 at 2.0 (above every negative), 30 at 0.9985 (above all but one), 10 at 0.9955 (above four), 10 at 0.
    negatives = np.arange(1000) / 1000
    positives = np.array([2.0] * 50 + [0.9985] * 30 + [0.9955] * 10 + [0.0] * 10)
    scores = np.concatenate([positives, negatives])
    is_same = np.concatenate([np.ones(100, bool), np.zeros(1000, bool)])
    # FAR ≤ 1e-3 allows one false accept (0.999): accept ≥ 0.9985 → 80 positives.
    assert tar_at_far(scores, is_same, 1e-3) == (pytest.approx(0.8), "")
    # FAR ≤ 1e-2 allows ten: accept ≥ 0.9955 (4 false accepts) → 90; lower thresholds pass 10 negatives first.
    assert tar_at_far(scores, is_same, 1e-2) == (pytest.approx(0.9), "")


def test_tar_at_far_says_so_when_there_are_too_few_negatives():
    scores = np.concatenate([np.ones(10), np.linspace(0, 0.5, 500)])
    is_same = np.concatenate([np.ones(10, bool), np.zeros(500, bool)])
    value, note = tar_at_far(scores, is_same, 1e-3)
    assert math.isnan(value) and "1000" in note and "500" in note
    assert tar_at_far(scores, is_same, 1e-2) == (1.0, "")


def test_verification_with_a_single_class_is_nan_with_reasons():
    result = verification_metrics(FEATURES[:2], LABELS[:2])
    assert math.isnan(result["verification_auc"])
    assert set(result["notes"]) == {"verification_auc", "tar_at_far_1e-2", "tar_at_far_1e-3"}
    assert result["num_positive_pairs"] == 1 and result["num_negative_pairs"] == 0


def test_pair_similarities_are_cosines():
    positive, negative = pair_similarities(FEATURES * 3.0, LABELS)
    np.testing.assert_allclose(np.sort(positive), np.cos(np.radians([20, 20, 10])), atol=1e-12)
    assert len(negative) == 12


# An asymmetric example: weights at 0°, 100°, 220°; each class's two features sit symmetrically around
# its centre, so the centres are exact:
#   class 0: 0°, 10°     centre   5°   W-EC  5°   intra  5°,  5°
#   class 1: 100°, 120°  centre 110°   W-EC 10°   intra 10°, 10°
#   class 2: 240°, 260°  centre 250°   W-EC 30°   intra 10°, 10°
# W-EC: mean of 5, 10, 30 = 15° (the median would be 10°).
# Centre gaps: 5–110 = 105°, 110–250 = 140°, 250–365 = 115° → nearest 105, 105, 115 → Inter 108.33°, min 105°.
ASYMMETRIC_FEATURES = unit_2d([0, 10, 100, 120, 240, 260])


def test_w_ec_is_the_mean_over_classes_not_a_middle_value():
    stats = angle_statistics(ASYMMETRIC_FEATURES, LABELS, WEIGHTS)
    assert stats["w_ec_deg"] == pytest.approx(15.0, abs=1e-9)
    assert stats["intra_deg"] == pytest.approx(50 / 6, abs=1e-9)
    assert stats["inter_deg"] == pytest.approx(325 / 3, abs=1e-9)
    assert stats["min_center_angle_deg"] == pytest.approx(105.0, abs=1e-9)


def test_w_ec_matches_each_centre_with_its_own_label_when_a_middle_class_is_missing():
    # Class 1 has no samples: class 2's centre (250°) must be compared with W_2 (220°, 30° away), not with
    # the second weight row W_1 (100°, 150° away). W-EC = (5 + 30) / 2 = 17.5°; centres 5° and 250°: 115°.
    keep = LABELS != 1
    stats = angle_statistics(ASYMMETRIC_FEATURES[keep], LABELS[keep], WEIGHTS)
    assert stats["w_ec_deg"] == pytest.approx(17.5, abs=1e-9)
    assert stats["intra_deg"] == pytest.approx(30 / 4, abs=1e-9)
    assert stats["inter_deg"] == pytest.approx(115.0, abs=1e-9)
    assert stats["min_center_angle_deg"] == pytest.approx(115.0, abs=1e-9)
    assert stats["w_inter_deg"] == pytest.approx(320 / 3, abs=1e-9)  # every weight, present or not


def _loop_angle_statistics(features: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """The paper's definitions written out class by class in plain numpy, as an independent check."""

    def unit(v):
        return v / np.linalg.norm(v)

    def angle(a, b):
        return math.degrees(math.acos(min(1.0, max(-1.0, float(np.dot(unit(a), unit(b)))))))

    classes = sorted(set(labels.tolist()))
    centre = {c: unit(np.mean([unit(f) for f in features[labels == c]], axis=0)) for c in classes}
    w_ec = [angle(weights[c], centre[c]) for c in classes]
    intra = [angle(f, centre[c]) for f, c in zip(features, labels, strict=True)]
    w_inter = [min(angle(weights[j], weights[k]) for k in range(len(weights)) if k != j) for j in range(len(weights))]
    inter = [min(angle(centre[j], centre[k]) for k in classes if k != j) for j in classes]
    return {"w_ec_deg": np.mean(w_ec), "w_inter_deg": np.mean(w_inter), "intra_deg": np.mean(intra),
            "inter_deg": np.mean(inter), "min_center_angle_deg": min(inter)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_angle_statistics_match_a_class_by_class_loop_with_non_contiguous_labels(seed):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(8, 3)) * rng.uniform(0.5, 3.0, size=(8, 1))
    present = np.array([1, 4, 6, 7])  # classes 0, 2, 3 and 5 have no samples
    labels = rng.permutation(np.repeat(present, [3, 7, 2, 5]))
    features = weights[labels] / np.linalg.norm(weights[labels], axis=1, keepdims=True) + 0.4 * rng.normal(
        size=(len(labels), 3))
    stats = angle_statistics(features, labels, weights)
    expected = _loop_angle_statistics(features, labels, weights)
    assert stats.keys() == expected.keys()
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value, abs=1e-9), key
