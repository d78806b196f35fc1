"""Where each class's margin region sits on the circle or sphere, how large it is, and which points to show.

The hypersphere view draws, around each class weight, the region inside which a sample satisfies its
margin: a wedge on the circle, a cap on the sphere. Its size depends on two separate things:

* the layout of the class weights: `margin_layout` gives each class's centre direction and the
  angle(s) to the neighbour(s) that bound its region. It depends on the weights only, so it changes
  when the model trains, not when the margin slider moves;
* the loss and margin: `cap_half_arcs` turns those gaps into half-arcs, `feasible_half_arc` for all
  gaps at once. It depends on the gaps only, so a margin change needs no new layout.

Keeping the two apart lets a browser redraw the regions from (centre, gaps) when only the margin moves.

`balanced_sample` picks which points a figure shows when a snapshot has more than it can draw.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..heads import LOSS_SPECS, Margin
from ._common import _check_options, _g_of_theta

# Two weights closer than this (radians) leave no room for any margin between them.
_COINCIDENT_RAD = 1e-12


class MarginLayout(NamedTuple):
    """Each class's centre and the gaps its margin region depends on (see `margin_layout`).

    centres:  (C, d) unit class-weight directions.
    gaps_rad: d = 2: (C, 2), the angle to the neighbouring weight clockwise (column 0) and
              counter-clockwise (column 1); a wedge reaches `cap_half_arcs` of each side that way.
              d ≥ 3: (C, 1), the angle to the nearest other weight; a cap of `cap_half_arcs` of it.
              NaN for a single class (there is no neighbour).
    """

    centres: np.ndarray
    gaps_rad: np.ndarray


def margin_layout(class_weights) -> MarginLayout:
    """Each class's centre direction and the neighbour gap(s) its margin region depends on.

    class_weights: (C, d) class-weight vectors, d ≥ 2 (normalised here; each row must be finite and
    non-zero). On the circle a class has a neighbour on each side, and the wedge around it is
    asymmetric when the weights are unevenly spread, so both gaps are kept. On the sphere (and above)
    the cap is bounded by the nearest other weight: inside a cap of half-arc φ every other weight is
    at least gap − φ away, so the margin holds against all classes.
    """
    weights = np.asarray(class_weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] < 2 or len(weights) < 1:
        raise ValueError(f"class_weights must have shape (C, d) with C ≥ 1 and d ≥ 2, got {weights.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    if not np.all(np.isfinite(centres)):
        raise ValueError("class_weights must be finite and non-zero")
    num_classes, dim = centres.shape
    if dim == 2:
        gaps = np.full((num_classes, 2), np.nan)
        if num_classes >= 2:
            gaps[:, 0], gaps[:, 1] = _circle_gaps(np.arctan2(centres[:, 1], centres[:, 0]))
        return MarginLayout(centres, gaps)
    gaps = np.full((num_classes, 1), np.nan)
    if num_classes >= 2:
        cos = np.clip(centres @ centres.T, -1.0, 1.0)
        np.fill_diagonal(cos, -np.inf)
        gaps[:, 0] = np.arccos(cos.max(axis=1))
    return MarginLayout(centres, gaps)


def _circle_gaps(angles_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each angle on the circle: the gap (rad) to the next one clockwise and counter-clockwise."""
    order = np.argsort(angles_rad, kind="stable")
    sorted_angles = angles_rad[order]
    ccw_sorted = np.diff(np.concatenate([sorted_angles, sorted_angles[:1] + 2 * math.pi]))
    ccw = np.empty(len(angles_rad))
    ccw[order] = ccw_sorted
    cw = np.empty(len(angles_rad))
    cw[order] = np.roll(ccw_sorted, 1)  # my clockwise gap is my clockwise neighbour's counter-clockwise one
    return cw, ccw


def cap_half_arcs(
    loss: str,
    margin: Margin | None,
    gaps_rad,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> np.ndarray:
    """The half-arc (radians) of the margin region against a neighbour each gap away, elementwise.

    `feasible_half_arc(loss, margin, separation_rad=gap)` for every entry of `gaps_rad` (any shape,
    e.g. `margin_layout(...).gaps_rad`); the result has the same shape. A gap over π counts as π (a
    neighbour can be no further than π), a gap of (almost) 0 gives 0 (coincident weights leave no
    room), NaN stays NaN (no neighbour). 0 also where the margin does not fit (see `max_margin`).
    Each distinct gap is solved once: on the circle every gap is one class's counter-clockwise side
    and its neighbour's clockwise side.
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    gaps = np.asarray(gaps_rad, dtype=np.float64)
    if np.any(gaps[np.isfinite(gaps)] < 0) or np.any(np.isinf(gaps)):
        raise ValueError("gaps_rad must be angles ≥ 0 (radians), or NaN where there is no neighbour")
    out = np.full(gaps.shape, np.nan)
    known = ~np.isnan(gaps)
    distinct, index = np.unique(gaps[known], return_inverse=True)
    seps = np.minimum(distinct, math.pi)
    arcs = _closed_form_half_arcs(loss, margin, seps, easy_margin, sphereface_lambda)
    if arcs is None:
        arcs = _half_arcs(loss, margin, seps, easy_margin, sphereface_lambda)
    arcs[distinct <= _COINCIDENT_RAD] = 0.0
    out[known] = arcs[index]
    return out


def _closed_form_half_arcs(loss: str, margin: Margin | None, seps: np.ndarray, easy_margin: bool, lam: float):
    """The half-arcs in closed form where the loss's spec has one (`LossSpec.half_arcs`), else None."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return LOSS_SPECS[loss].half_arcs(margin, seps, easy_margin=easy_margin, sphereface_lambda=lam)


_GRID = np.linspace(0.0, 1.0, 257)  # the first grid over [0, sep], as fractions of sep
_FINE = np.linspace(0.0, 1.0, 65)  # laid over the bracket _REFINEMENTS times, 64-fold narrower each
_REFINEMENTS = 6  # 256 · 64^6 ≈ 2e13 parts of sep: float64's resolution of an angle


def _half_arcs(loss: str, margin: Margin | None, seps: np.ndarray, easy_margin: bool, lam: float) -> np.ndarray:
    """`feasible_half_arc` for many separations at once (the fast path beside it, tested against it).

    The same rule: on a grid over [0, sep], the first φ where g(φ) < cos(sep − φ) brackets the root.
    Instead of one root search per separation, the bracket of every separation is then narrowed
    together: a finer grid laid over the bracket, six times, one vectorised evaluation of g each. The
    hypersphere view needs this for every class at every preview stop of the margin slider, on every
    training tick (where g allows, `_closed_form_half_arcs` answers first).
    """
    if len(seps) == 0:
        return np.zeros(0)

    def h(phi: np.ndarray, sep: np.ndarray) -> np.ndarray:
        return _g_of_theta(phi, loss, margin, easy_margin, lam) - np.cos(sep - phi)

    sep = seps[:, None]
    phi = sep * _GRID[None, :]
    negative = h(phi, sep) < 0.0
    arcs = np.where(negative.any(axis=1), 0.0, seps)  # no negative: the whole gap holds
    cross = negative.argmax(axis=1)
    rows = np.flatnonzero(negative.any(axis=1) & (cross > 0))  # cross == 0: not even the centre holds
    lo, hi = phi[rows, cross[rows] - 1], phi[rows, cross[rows]]
    sep = seps[rows][:, None]
    for _ in range(_REFINEMENTS):
        phi = lo[:, None] + (hi - lo)[:, None] * _FINE[None, :]
        negative = h(phi, sep) < 0.0
        cross = np.where(negative.any(axis=1), negative.argmax(axis=1), len(_FINE) - 1)
        cross = np.maximum(cross, 1)  # phi[:, 0] = lo, where the condition held
        at = np.arange(len(rows))
        lo, hi = phi[at, cross - 1], phi[at, cross]
    arcs[rows] = lo
    return arcs


def balanced_sample(labels, max_points: int, *, seed: int = 0) -> np.ndarray:
    """Indices of at most `max_points` samples, as equal a share per class as the classes allow.

    Classes smaller than the fair share keep all their samples and the others share what is left
    (water-filling), so a small class is never crowded out of the picture. Deterministic (seeded)
    and sorted, so the same snapshot always shows the same points.
    """
    labels = np.asarray(labels).reshape(-1)
    n = len(labels)
    if max_points < 0:
        raise ValueError(f"max_points must be ≥ 0, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = dict.fromkeys(classes.tolist(), 0)
    left, open_classes = max_points, sorted(zip(counts.tolist(), classes.tolist(), strict=True))
    while open_classes:
        share = left // len(open_classes)
        count, k = open_classes[0]
        if count <= share:
            quota[k] = count
            left -= count
            open_classes.pop(0)
            continue
        extra = left - share * len(open_classes)
        for i, (_, k2) in enumerate(open_classes):
            quota[k2] = share + (1 if i < extra else 0)
        break
    chosen = [rng.choice(np.flatnonzero(labels == k), size=q, replace=False) for k, q in quota.items() if q > 0]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)
