"""toy_models.sweep: the margin grid, its workable range, and a sweep that stops and resumes exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toy_models import geometry, sweep
from toy_models.heads import LOSS_SPECS
from toy_models.sweep import MarginSweep, margin_grid, workable_range
from toy_models.train import TrainConfig, Trainer

BASE = TrainConfig(dataset="digits", loss="cosface", embedding_dim=3, num_threads=1, seed=3)


@pytest.mark.parametrize("loss", ["arcface", "cosface"])
@pytest.mark.parametrize("dim", [2, 3])
def test_grid_spans_the_workable_range_below_the_bound(loss, dim):
    bound = geometry.max_margin(loss, separation_rad=geometry.tammes_angle(10, dim))
    grid = margin_grid(loss, 10, dim)
    assert len(grid) == 8
    assert grid[0] == 0.0
    assert bool(np.all(np.diff(grid) > 0))
    assert grid[-1] < bound
    assert grid[-1] == pytest.approx(bound * 7 / 8)  # one step short of the bound, which leaves no room
    assert all(geometry.feasible_half_arc(loss, m, separation_rad=geometry.tammes_angle(10, dim)) > 0
               for m in grid)


def test_grid_count_and_sphereface_range():
    assert len(margin_grid("arcface", 10, 3, count=12)) == 12
    grid = margin_grid("sphereface", 10, 3)
    assert grid[0] == 1.0 and grid[-1] == 4.0
    with pytest.raises(ValueError, match="at least 8"):
        margin_grid("arcface", 10, 3, count=7)


def test_beyond_the_range_is_one_sentence_naming_it():
    with pytest.raises(ValueError) as error:
        margin_grid("arcface", 10, 2, high=0.8)
    message = str(error.value)
    assert "[0.00, 0.63)" in message and "36.0°" in message and "0.8" in message
    assert message.endswith("beyond the workable range.") and "\n" not in message
    with pytest.raises(ValueError, match=r"\[0\.00, 0\.19\)"):
        MarginSweep(TrainConfig(loss="cosface", embedding_dim=2), [0.0, 0.1, 0.25])
    with pytest.raises(ValueError, match=r"needs SphereFace, CosFace.* or ArcFace; Softmax has no margin to sweep\.$"):
        workable_range("softmax", 10, 3)


def test_arcface_range_on_few_classes_is_capped_by_the_formula():
    limits = workable_range("arcface", 2, 3)  # the bound (π) lies past ArcFace's formula range (π/2)
    assert limits.high == pytest.approx(math.pi / 2) and not limits.high_open


def _run(slices):
    sweep = MarginSweep(BASE, margin_grid("cosface", 10, 3), epochs=2)
    for steps in slices:
        sweep.advance(steps)
    return sweep


def test_stop_and_resume_equals_one_uninterrupted_run():
    whole = _run([10_000])
    assert whole.done and whole.progress == 1.0
    pieces = _run([1, 5, 17, 3])
    assert not pieces.done and 0 < pieces.progress < 1
    pieces.results()  # looking at a stopped sweep must not change how it goes on
    while not pieces.done:
        pieces.advance(seconds=0.01)
    assert pieces.step == whole.step == whole.total_steps
    for a, b in zip(whole.results(), pieces.results(), strict=True):
        np.testing.assert_allclose(a.features, b.features, atol=1e-6)
        np.testing.assert_allclose(a.class_weights, b.class_weights, atol=1e-6)
        assert a.test_accuracy == b.test_accuracy
        assert a.intra_deg == pytest.approx(b.intra_deg, abs=1e-6)


def test_results_one_per_margin_as_separate_runs_would_give():
    sweep = MarginSweep(BASE, margin_grid("cosface", 10, 3), epochs=1)
    sweep.advance(epochs=1)
    assert sweep.done and sweep.advance(5) == 0
    results = sweep.results()
    assert [r.margin for r in results] == list(sweep.margins)
    for r in results:
        assert r.features.shape[1] == 3 and len(r.features) == len(r.labels) > 0
        assert r.class_weights.shape == (10, 3) and r.centres.shape == (10, 3)
        assert 0.0 <= r.test_accuracy <= 1.0 and r.intra_deg > 0 and r.inter_deg > 0
    assert len({round(r.inter_deg, 6) for r in results}) > 1  # the margin made a difference
    # One member is the same model its own Trainer would train: same seed, batches, initial backbone.
    alone = Trainer(TrainConfig(**{**BASE.to_dict(), "margin": sweep.margins[3]}))
    alone.advance(epochs=1)
    np.testing.assert_allclose(alone.snapshot().class_weights, results[3].class_weights, atol=1e-4)


def test_a_bound_exactly_at_the_formulas_top_is_left_out_of_the_range(monkeypatch):
    """At the workable bound itself a perfectly placed sample only ties with its neighbour: the range is open
    there, even when the bound is exactly the top of the formula's own range."""
    top = float(LOSS_SPECS["arcface"].margin_range[1])
    monkeypatch.setattr(sweep.geometry, "max_margin", lambda loss, separation_rad: top)
    at_top = workable_range("arcface", 10, 3)
    assert (at_top.high, at_top.high_open) == (top, True) and not at_top.contains(top)
    monkeypatch.setattr(sweep.geometry, "max_margin", lambda loss, separation_rad: top + 0.01)
    above = workable_range("arcface", 10, 3)
    assert (above.high, above.high_open) == (top, False) and above.contains(top)


def test_a_sweep_whose_top_equals_its_bottom_is_one_sentence():
    with pytest.raises(ValueError, match=r"^the sweep's highest margin \(0\.1\) must be above its lowest \(0\.1\)\.$"):
        margin_grid("arcface", 10, 3, low=0.1, high=0.1)
    assert len(margin_grid("arcface", 10, 3, low=0.1, high=0.11)) == sweep.MIN_COUNT


def test_advancing_a_sweep_by_exactly_0_steps_or_epochs_trains_nothing():
    margins = MarginSweep(BASE, margin_grid("cosface", 10, 3), epochs=1)
    assert margins.advance(0) == 0 and margins.advance(epochs=0) == 0 and margins.step == 0
    with pytest.raises(ValueError, match="steps must be a non-negative integer, got -1"):
        margins.advance(-1)


def test_a_sweep_of_exactly_one_margin_is_a_sweep():
    single = MarginSweep(BASE, [0.1], epochs=1)
    assert single.margins == (0.1,) and len(single.configs) == 1
