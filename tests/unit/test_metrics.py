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


@pytest.mark.parametrize(("negatives", "resolved"), [(99, False), (100, True)])
def test_far_1e_2_is_resolved_from_exactly_100_different_class_pairs(negatives, resolved):
    scores = np.concatenate([np.ones(5), np.linspace(0, 0.5, negatives)])
    is_same = np.concatenate([np.ones(5, bool), np.zeros(negatives, bool)])
    value, note = tar_at_far(scores, is_same, 1e-2)
    if resolved:
        assert (value, note) == (1.0, "")
    else:
        assert math.isnan(value) and note == "FAR 0.01 needs at least 100 different-class pairs to resolve, got 99"


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


# ------------------------------------------------------------------------------------------------------
# Edge cases and input checks (each pins behaviour a mutation run showed untested)

# A direction whose unit vector's dot product with itself rounds to 1 + 2e-16 (and with its opposite to
# −1 − 2e-16) in float64: without clipping, arccos would return NaN there.
ROUNDING = np.array([[0.1257302210933933, -0.1321048632913019]])


def test_rounding_precondition():
    unit = ROUNDING / np.linalg.norm(ROUNDING, axis=1, keepdims=True)
    assert (unit @ unit.T)[0, 0] > 1.0 and (unit @ -unit.T)[0, 0] < -1.0


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["aligned", "opposite"])
def test_angles_stay_finite_where_cosines_round_past_plus_minus_one(sign):
    weights = np.concatenate([ROUNDING, [[1.0, 0.0]]])
    features = sign * np.repeat(ROUNDING, 3, axis=0)
    labels = np.zeros(3, dtype=np.int64)
    expected = 0.0 if sign > 0 else 180.0
    target, _ = target_angles(features, labels, weights)
    np.testing.assert_allclose(np.degrees(target), expected, atol=1e-6)
    stats = angle_statistics(features, labels, weights)
    assert stats["w_ec_deg"] == pytest.approx(expected, abs=1e-6)
    # pairs of (anti)parallel samples: same-class pairs are identical vectors, so exactly 0°
    mixed = np.concatenate([ROUNDING, -ROUNDING, ROUNDING])
    positive, negative = pair_angles(mixed, np.array([0, 1, 0]))
    np.testing.assert_allclose(positive, [0.0], atol=1e-6)
    np.testing.assert_allclose(negative, [180.0, 180.0], atol=1e-6)
    cos_positive, cos_negative = pair_similarities(mixed, np.array([0, 1, 0]))
    assert cos_positive.max() <= 1.0 and cos_negative.min() >= -1.0


def test_angle_statistics_of_a_single_class_have_no_inter_class_angle():
    keep = LABELS == 1
    stats = angle_statistics(ASYMMETRIC_FEATURES[keep], LABELS[keep], WEIGHTS)
    assert stats["w_ec_deg"] == pytest.approx(10.0, abs=1e-9)
    assert stats["intra_deg"] == pytest.approx(10.0, abs=1e-9)
    assert math.isnan(stats["inter_deg"]) and math.isnan(stats["min_center_angle_deg"])
    assert stats["w_inter_deg"] == pytest.approx(320 / 3, abs=1e-9)


def test_float32_input_is_computed_in_float64():
    features32 = ASYMMETRIC_FEATURES.astype(np.float32)
    weights32 = WEIGHTS.astype(np.float32)
    from_float32 = angle_statistics(features32, LABELS, weights32)
    from_float64 = angle_statistics(features32.astype(np.float64), LABELS, weights32.astype(np.float64))
    for key, value in from_float64.items():
        assert from_float32[key] == pytest.approx(value, abs=1e-12), key


def test_tensors_that_require_grad_are_accepted():
    features = torch.tensor(ASYMMETRIC_FEATURES, requires_grad=True)
    weights = torch.tensor(WEIGHTS, requires_grad=True)
    labels = torch.tensor(LABELS)
    assert angle_statistics(features, labels, weights)["w_ec_deg"] == pytest.approx(15.0, abs=1e-9)
    assert closed_set_accuracy(features, labels, weights) == 1.0


def test_closed_set_accuracy_of_one_and_of_no_samples():
    assert closed_set_accuracy(unit_2d([5]), np.array([0]), WEIGHTS) == 1.0
    assert closed_set_accuracy(unit_2d([95]), np.array([0]), WEIGHTS) == 0.0
    assert math.isnan(closed_set_accuracy(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), WEIGHTS))


@pytest.mark.parametrize(
    ("features", "labels", "weights", "message"),
    [
        (FEATURES, LABELS[:-1], WEIGHTS, r"one label per row, got \(6, 2\) and \(5,\)"),
        (FEATURES[0], LABELS[:2], WEIGHTS, r"embeddings must be \(N, d\) with one label per row"),
        (FEATURES, LABELS.reshape(2, 3), WEIGHTS, r"labels must be one-dimensional, got shape \(2, 3\)"),
        (FEATURES, LABELS, np.ones((3, 3)), r"class_weights must be \(C, 2\), got \(3, 3\)"),
        (FEATURES, LABELS, np.ones(2), r"class_weights must be \(C, 2\), got \(2,\)"),
        (FEATURES, np.array([0, 0, 1, 1, 2, 3]), WEIGHTS, r"labels must lie in 0\.\.2 \(one class weight per class\)"),
        (FEATURES, np.array([0, 0, 1, 1, 2, -1]), WEIGHTS, r"labels must lie in 0\.\.2"),
    ],
)
def test_bad_inputs_are_refused_with_a_sentence(features, labels, weights, message):
    with pytest.raises(ValueError, match=message):
        angle_statistics(features, labels, weights)


# ------------------------------------------------------------------------------------------------------
# Pair sampling: exact below the cap, uniform above it

# Classes of sizes 2, 4 and 3 (n = 9): 1 + 6 + 3 = 10 same-class pairs, 36 − 10 = 26 different-class pairs.
PAIR_LABELS = np.array([0, 1, 1, 2, 1, 0, 2, 1, 2])


def _unordered(pairs: np.ndarray) -> list[tuple[int, int]]:
    return sorted(tuple(sorted(p)) for p in pairs.tolist())


def _all_pairs(labels: np.ndarray, same: bool) -> list[tuple[int, int]]:
    n = len(labels)
    return sorted((i, j) for i in range(n) for j in range(i + 1, n) if (labels[i] == labels[j]) == same)


@pytest.mark.parametrize("max_pairs", [10, 26, 100])
def test_pairs_are_exact_when_the_cap_allows_it(max_pairs):
    from toy_models.metrics import _pair_indices

    positive, negative = _pair_indices(PAIR_LABELS, max_pairs, seed=0)
    assert _unordered(positive) == _all_pairs(PAIR_LABELS, same=True)  # 10 ≤ every cap here: all of them once
    if max_pairs >= 26:
        assert _unordered(negative) == _all_pairs(PAIR_LABELS, same=False)
    else:
        assert len(negative) == max_pairs


@pytest.mark.parametrize("max_pairs", [1, 9, 25])
def test_sampled_pairs_are_exactly_max_pairs_of_the_right_kind(max_pairs):
    from toy_models.metrics import _pair_indices

    for seed in range(5):
        positive, negative = _pair_indices(PAIR_LABELS, max_pairs, seed=seed)
        assert len(negative) == max_pairs and positive.dtype.kind == "i" and negative.dtype.kind == "i"
        assert len(positive) == min(max_pairs, 10)
        assert set(_unordered(positive)) <= set(_all_pairs(PAIR_LABELS, same=True))
        assert set(_unordered(negative)) <= set(_all_pairs(PAIR_LABELS, same=False))


def test_sampled_pairs_are_uniform_over_all_pairs_of_their_kind():
    """Every same-class pair (and every different-class pair) is equally likely. A cap one below the total
    forces sampling; pooled over 800 seeds, each of the 10 (26) pairs is expected 720 (769) times, ± 5 sd."""
    from toy_models.metrics import _pair_indices

    for same, cap in ((True, 9), (False, 25)):
        everything = _all_pairs(PAIR_LABELS, same)
        counts = dict.fromkeys(everything, 0)
        for seed in range(800):
            pairs = _pair_indices(PAIR_LABELS, cap, seed=seed)[0 if same else 1]
            for pair in _unordered(pairs):
                counts[pair] += 1
        draws, p = 800 * cap, 1 / len(everything)
        sd = math.sqrt(draws * p * (1 - p))
        assert all(abs(c - draws * p) < 5 * sd for c in counts.values()), (same, counts)


def test_a_positive_max_pairs_is_required():
    features = unit_2d(np.arange(9) * 40)
    assert [len(a) for a in pair_angles(features, PAIR_LABELS, max_pairs=1)] == [1, 1]
    with pytest.raises(ValueError, match="max_pairs must be a positive integer, got 0"):
        pair_angles(features, PAIR_LABELS, max_pairs=0)


def test_no_samples_give_no_pairs():
    positive, negative = pair_similarities(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    assert positive.shape == (0,) and negative.shape == (0,)


def test_default_seed_is_zero():
    rng = np.random.default_rng(5)
    features, labels = rng.normal(size=(300, 3)), rng.integers(0, 3, 300)
    for fn in (pair_similarities, pair_angles):
        default, seeded = fn(features, labels, max_pairs=50), fn(features, labels, max_pairs=50, seed=0)
        np.testing.assert_array_equal(default[0], seeded[0])
        np.testing.assert_array_equal(default[1], seeded[1])
    np.testing.assert_equal(verification_metrics(features, labels, max_pairs=50),
                            verification_metrics(features, labels, max_pairs=50, seed=0))  # NaNs compare equal


def test_verification_metrics_use_the_seeded_capped_pairs():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, 200)
    features = np.eye(4)[labels] + 0.8 * rng.normal(size=(200, 4))
    result = verification_metrics(features, labels, max_pairs=300, seed=3)
    positive, negative = pair_similarities(features, labels, max_pairs=300, seed=3)
    expected_auc = roc_auc_score(np.r_[np.ones(300), np.zeros(300)], np.r_[positive, negative])
    assert result["verification_auc"] == pytest.approx(expected_auc, abs=1e-12)
    assert result["num_positive_pairs"] == 300 and result["num_negative_pairs"] == 300
    assert result["verification_auc"] != verification_metrics(features, labels, max_pairs=300, seed=4)[
        "verification_auc"]


def test_notes_explain_each_missing_value():
    result = verification_metrics(FEATURES[:2], LABELS[:2])
    assert result["notes"]["verification_auc"] == "needs both same-class and different-class pairs, got 1 and 0"
    assert result["notes"]["tar_at_far_1e-2"] == "needs both same-class and different-class pairs, got 1 and 0"


def test_tar_at_far_with_one_kind_missing_or_a_single_positive():
    negatives = np.arange(1000) / 1000
    assert tar_at_far(negatives, np.zeros(1000, bool), 1e-2)[1] == (
        "needs both same-class and different-class pairs, got 0 and 1000")
    value, note = tar_at_far(np.ones(5), np.ones(5, bool), 1e-2)
    assert math.isnan(value) and note == "needs both same-class and different-class pairs, got 5 and 0"
    # one positive above every negative is found at FAR 0, and labels may be given as 0/1 integers
    scores = np.r_[2.0, negatives]
    assert tar_at_far(scores, np.r_[1, np.zeros(1000, int)], 1e-2) == (1.0, "")


def test_sampled_pairs_are_independent_draws_within_one_call():
    """Sizes 4 and 40: 6 + 780 = 786 same-class pairs. 700 independent draws hit about 465 distinct pairs;
    draws sharing one partner offset per class could hit at most 40 + 4."""
    from toy_models.metrics import _pair_indices

    labels = np.repeat([0, 1], [4, 40])
    positive, _ = _pair_indices(labels, 700, seed=0)
    assert len(set(_unordered(positive))) > 300


def test_default_caps_are_the_documented_ones():
    one_class = unit_2d(np.linspace(0, 90, 201))  # 201 · 200 / 2 = 20,100 same-class pairs
    assert len(pair_angles(one_class, np.zeros(201, dtype=np.int64))[0]) == 20_000
    many = unit_2d(np.linspace(0, 90, 633))  # 200,028 same-class pairs
    labels = np.zeros(633, dtype=np.int64)
    assert len(pair_similarities(many, labels)[0]) == 200_000
    assert verification_metrics(many, labels)["num_positive_pairs"] == 200_000


def test_tar_at_far_counts_integer_labels_correctly():
    # 0/1 integers, not booleans: 50 negatives are too few for FAR 1e-2, and the note must count them right
    is_same = np.r_[np.ones(5, int), np.zeros(50, int)]
    value, note = tar_at_far(np.arange(55.0), is_same, 1e-2)
    assert math.isnan(value) and note == "FAR 0.01 needs at least 100 different-class pairs to resolve, got 50"
