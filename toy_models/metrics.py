"""Metrics of a trained embedding: accuracy, the ArcFace paper's angle statistics, pair angles, verification.

Everything takes plain arrays (numpy or torch, converted here) so it works on a snapshot, on a whole test
set or on hand-made points in a test:

    embeddings     (N, d) features; normalised here, so raw backbone outputs are fine
    labels         (N,) integer class indices
    class_weights  (C, d) class-weight vectors W_j (row j belongs to class j); normalised here

The angle maths runs in float64 and clips cosines into [−1, 1] before arccos, so rounding can never turn
two identical directions into NaN. Angles are radians inside the code; functions whose results are
degrees say so in their names (`*_deg`), as the paper's tables and figures are in degrees.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "FAR_TARGETS",
    "angle_statistics",
    "closed_set_accuracy",
    "pair_angles",
    "pair_similarities",
    "tar_at_far",
    "target_angles",
    "verification_metrics",
]

# FAR levels at which verification reports TAR, with the keys verification_metrics uses for them.
FAR_TARGETS = {"tar_at_far_1e-2": 1e-2, "tar_at_far_1e-3": 1e-3}


def _as_float64(array) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, possibly on a GPU
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def _as_labels(labels) -> np.ndarray:
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    return labels.astype(np.int64, copy=False)


def _unit_rows(array: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; an all-zero row stays zero (it has no direction) instead of becoming NaN."""
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


def _angle_deg(cosines: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))


def _check_inputs(embeddings, labels, class_weights=None):
    features = _as_float64(embeddings)
    labels = _as_labels(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"embeddings must be (N, d) with one label per row, got {features.shape} and {labels.shape}")
    if class_weights is None:
        return features, labels, None
    weights = _as_float64(class_weights)
    if weights.ndim != 2 or weights.shape[1] != features.shape[1]:
        raise ValueError(f"class_weights must be (C, {features.shape[1]}), got {weights.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(weights)):
        raise ValueError(f"labels must lie in 0..{len(weights) - 1} (one class weight per class)")
    return features, labels, weights


# ------------------------------------------------------------------------------------------------------
# Closed set: classification against the class weights.


def closed_set_accuracy(embeddings, labels, class_weights) -> float:
    """Share of samples whose most similar class weight (largest cosine) is their own class."""
    features, labels, weights = _check_inputs(embeddings, labels, class_weights)
    if len(labels) == 0:
        return float("nan")
    predicted = np.argmax(_unit_rows(features) @ _unit_rows(weights).T, axis=1)
    return float(np.mean(predicted == labels))


def target_angles(embeddings, labels, class_weights) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, in RADIANS: θ_y, the angle to its own class weight, and the angle to the nearest OTHER class
    weight, min_{j≠y} θ_j. A sample is classified correctly exactly when the first is the smaller one.
    """
    features, labels, weights = _check_inputs(embeddings, labels, class_weights)
    cosines = np.clip(_unit_rows(features) @ _unit_rows(weights).T, -1.0, 1.0)
    rows = np.arange(len(labels))
    target = np.arccos(cosines[rows, labels])
    cosines[rows, labels] = -np.inf  # exclude the own class from the nearest-other search
    nearest_other = np.arccos(np.max(cosines, axis=1))
    return target, nearest_other


# ------------------------------------------------------------------------------------------------------
# The angle statistics of the ArcFace paper (Table 3), in degrees.


def angle_statistics(embeddings, labels, class_weights) -> dict[str, float]:
    """ArcFace Table 3's angle statistics, in DEGREES, plus the smallest angle between two feature centres.

    A class's feature centre is the mean of its unit features, normalised. Then

        w_ec_deg      mean over classes of angle(W_j, centre_j)            (weights vs where the features are)
        w_inter_deg   mean over j of min_{k≠j} angle(W_j, W_k)            (how far apart the weights are)
        intra_deg     mean over samples of angle(x_i, centre_{y_i})       (how tight each class is)
        inter_deg     mean over j of min_{k≠j} angle(centre_j, centre_k)  (how far apart the classes are)
        min_center_angle_deg   min over j≠k of angle(centre_j, centre_k)  (compare with the Tammes bound)

    Classes without samples have no centre and are left out of the centre statistics (W-Inter still uses
    every class weight). With fewer than two classes present, inter_deg and min_center_angle_deg are NaN.
    """
    features, labels, weights = _check_inputs(embeddings, labels, class_weights)
    unit_features = _unit_rows(features)
    unit_weights = _unit_rows(weights)

    present = np.unique(labels)
    centres = _unit_rows(np.stack([unit_features[labels == c].mean(axis=0) for c in present]))
    centre_of_sample = centres[np.searchsorted(present, labels)]

    w_ec = _angle_deg(np.sum(unit_weights[present] * centres, axis=1))
    intra = _angle_deg(np.sum(unit_features * centre_of_sample, axis=1))

    def nearest_other_deg(directions: np.ndarray) -> np.ndarray:
        """For each direction, the angle to the closest of the others."""
        cosines = directions @ directions.T
        np.fill_diagonal(cosines, -np.inf)
        return _angle_deg(np.max(cosines, axis=1))

    nan = float("nan")
    w_inter = nearest_other_deg(unit_weights)
    inter = nearest_other_deg(centres) if len(present) > 1 else np.array([nan])
    return {
        "w_ec_deg": float(np.mean(w_ec)) if len(w_ec) else nan,
        "w_inter_deg": float(np.mean(w_inter)),
        "intra_deg": float(np.mean(intra)) if len(intra) else nan,
        "inter_deg": float(np.mean(inter)),
        "min_center_angle_deg": float(np.min(inter)),
    }


# ------------------------------------------------------------------------------------------------------
# Pairs: same-class and different-class pairs of samples (ArcFace Figs. 6–7, open-set verification).


def _pair_indices(labels: np.ndarray, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(positive pairs, negative pairs), each an (n, 2) index array with i ≠ j.

    When a kind has at most `max_pairs` pairs in all, every one of them is used (the result is exact).
    Otherwise `max_pairs` pairs are drawn uniformly at random, with replacement, from that kind with a
    generator seeded by `seed`: positives by picking a class in proportion to its number of pairs and then
    two distinct members, negatives by drawing two samples and keeping those with different labels.
    Sampling positives and negatives separately keeps the rare positives from being starved; rates such as
    TPR and FPR are per-kind, so the different sampling shares do not bias them.
    """
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be a positive integer, got {max_pairs!r}")
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    positives_total = int(np.sum(counts * (counts - 1) // 2))
    negatives_total = n * (n - 1) // 2 - positives_total
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(labels == c) for c in classes]

    if positives_total <= max_pairs:
        positive = [np.stack(np.triu_indices(len(m), k=1), axis=1) for m in members]
        positive = np.concatenate([m[p] for m, p in zip(members, positive, strict=True)]) if positive else None
    else:
        per_class = rng.multinomial(max_pairs, counts * (counts - 1) / (2 * positives_total))
        chunks = []
        for m, k in zip(members, per_class, strict=True):
            if k == 0:
                continue
            first = rng.integers(0, len(m), k)
            second = (first + rng.integers(1, len(m), k)) % len(m)  # any member but the first
            chunks.append(np.stack([m[first], m[second]], axis=1))
        positive = np.concatenate(chunks)

    if negatives_total <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        keep = labels[i] != labels[j]
        negative = np.stack([i[keep], j[keep]], axis=1)
    else:
        chunks, have = [], 0
        while have < max_pairs:  # each round keeps the draws whose labels differ
            i = rng.integers(0, n, 2 * (max_pairs - have))
            j = rng.integers(0, n, 2 * (max_pairs - have))
            keep = labels[i] != labels[j]
            chunks.append(np.stack([i[keep], j[keep]], axis=1))
            have += int(keep.sum())
        negative = np.concatenate(chunks)[:max_pairs]

    empty = np.zeros((0, 2), dtype=np.int64)
    return (positive if positive is not None else empty), negative


def pair_similarities(
    embeddings, labels, *, max_pairs: int = 200_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of (same-class pairs, different-class pairs); sampling as in `pair_angles`."""
    features, labels, _ = _check_inputs(embeddings, labels)
    unit = _unit_rows(features)
    positive, negative = _pair_indices(labels, max_pairs, seed)

    def cosines(pairs: np.ndarray) -> np.ndarray:
        return np.clip(np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=1), -1.0, 1.0)

    return cosines(positive), cosines(negative)


def pair_angles(embeddings, labels, *, max_pairs: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Angles in DEGREES between same-class pairs and between different-class pairs (ArcFace Figs. 6–7).

    Each kind is capped at `max_pairs`: all pairs when there are that few, otherwise a seeded uniform sample
    (with replacement) of that many, so the same inputs and seed always give the same arrays.
    """
    positive, negative = pair_similarities(embeddings, labels, max_pairs=max_pairs, seed=seed)
    return _angle_deg(positive), _angle_deg(negative)


def tar_at_far(scores, is_same, far: float) -> tuple[float, str]:
    """True-accept rate at a false-accept rate of at most `far`, and a note ("" when the value is sound).

    From scikit-learn's ROC curve with every threshold kept (drop_intermediate=False): the largest TPR among
    the operating points whose FPR ≤ far. No interpolation between points: the ROC of a finite sample is a
    step function, so this is the TAR a threshold chosen on these pairs actually achieves, never an
    optimistic guess between two thresholds.

    With fewer than 1/far negative pairs, the smallest non-zero FPR the data can show is above `far`, so the
    question cannot be answered: the result is NaN and the note says how many negatives there were.
    """
    from sklearn.metrics import roc_curve  # lazy: scikit-learn takes about a second to import

    is_same = np.asarray(is_same, dtype=bool)
    num_negative = int(np.count_nonzero(~is_same))
    num_positive = int(np.count_nonzero(is_same))
    if num_positive == 0 or num_negative == 0:
        return float("nan"), f"needs both same-class and different-class pairs, got {num_positive} and {num_negative}"
    needed = math.ceil(1.0 / far - 1e-9)
    if num_negative < needed:
        return float("nan"), (
            f"FAR {far:g} needs at least {needed} different-class pairs to resolve, got {num_negative}"
        )
    fpr, tpr, _ = roc_curve(is_same, np.asarray(scores, dtype=np.float64), drop_intermediate=False)
    return float(np.max(tpr[fpr <= far])), ""


def verification_metrics(embeddings, labels, *, max_pairs: int = 200_000, seed: int = 0) -> dict:
    """Open-set verification over pairs of samples (typically of classes held out of training).

    A pair is accepted as "same identity" when the cosine of its features exceeds a threshold. Returns

        verification_auc       ROC AUC of the pair cosines (1 = every same-class pair beats every other pair)
        tar_at_far_1e-2        TAR at FAR ≤ 1e-2, see `tar_at_far`
        tar_at_far_1e-3        TAR at FAR ≤ 1e-3
        num_positive_pairs, num_negative_pairs   how many pairs the numbers rest on
        notes                  {metric: why it is NaN}; empty when every value is sound

    Pairs: every pair when a kind has at most `max_pairs`, else a seeded sample of `max_pairs` of that kind.
    """
    from sklearn.metrics import roc_auc_score

    positive, negative = pair_similarities(embeddings, labels, max_pairs=max_pairs, seed=seed)
    scores = np.concatenate([positive, negative])
    is_same = np.concatenate([np.ones(len(positive), bool), np.zeros(len(negative), bool)])
    notes: dict[str, str] = {}
    if len(positive) and len(negative):
        auc = float(roc_auc_score(is_same, scores))
    else:
        auc = float("nan")
        notes["verification_auc"] = (
            f"needs both same-class and different-class pairs, got {len(positive)} and {len(negative)}"
        )
    result = {"verification_auc": auc}
    for key, far in FAR_TARGETS.items():
        result[key], note = tar_at_far(scores, is_same, far)
        if note:
            notes[key] = note
    result.update(num_positive_pairs=len(positive), num_negative_pairs=len(negative), notes=notes)
    return result
