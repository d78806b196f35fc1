"""toy_models.experiments: the runs behind the papers' figures, small (digits, few epochs) and seeded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from toy_models import experiments
from toy_models.data import DatasetError
from toy_models.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = TrainConfig(seed=3, max_train=400, batch_size=64)  # digits, 400 training samples: a step is quick


def same_records(a, b) -> None:
    assert [r.config for r in a] == [r.config for r in b]
    for x, y in zip(a, b, strict=True):
        for sx, sy in zip(x.snapshots, y.snapshots, strict=True):
            np.testing.assert_array_equal(sx.embeddings, sy.embeddings)
            np.testing.assert_array_equal(sx.target_angle, sy.target_angle)
        assert x.metrics == y.metrics
        np.testing.assert_array_equal(x.holdout_embeddings, y.holdout_embeddings)


def test_train_side_by_side_snapshots_the_start_middle_and_end_and_is_seeded():
    configs = [dataclasses.replace(SMALL, loss=loss) for loss in ("softmax", "arcface")]
    progress = []
    records = experiments.train_side_by_side(configs, 3, settle_epochs=1, on_epoch=lambda d, t: progress.append((d, t)))
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [r.config.loss for r in records] == ["softmax", "arcface"]
    for record in records:
        assert [s.epoch for s in record.snapshots] == [0, 2, 4]
        assert record.final is record.snapshots[-1]
        assert record.holdout_embeddings.shape == (0, 3) and len(record.holdout_labels) == 0
        assert "verification_auc" not in record.metrics  # nothing held out, nothing to verify
    # The settling phase ran at a tenth of each lr, and the record keeps the config as given.
    assert records[1].final.hyper["lr"] == pytest.approx(configs[1].lr / 10)
    assert records[1].config.lr == configs[1].lr
    # Training moved the target angles: the end is tighter than the start.
    start, end = records[1].snapshots[0].target_angle, records[1].final.target_angle
    assert np.median(end) < np.median(start)
    same_records(records, experiments.train_side_by_side(configs, 3, settle_epochs=1))
    different = experiments.train_side_by_side([dataclasses.replace(c, seed=4) for c in configs], 3, settle_epochs=1)
    assert not np.array_equal(different[0].final.embeddings, records[0].final.embeddings)


def test_the_settling_phase_is_a_third_of_the_epochs_by_default():
    records = experiments.train_side_by_side([SMALL], 3)
    assert [s.epoch for s in records[0].snapshots] == [0, 2, 4]  # 3 + round(3 / 3) = 4 epochs, middle at 2


def test_eight_identity_toy_trains_the_first_eight_classes_in_2d():
    records = experiments.eight_identity_toy(
        ["softmax", {"loss": "cosface", "margin": 0.1}, dataclasses.replace(SMALL, loss="arcface", margin=0.3)],
        seed=5, epochs=2, base=SMALL,
    )  # fmt: skip
    assert [(r.config.loss, r.config.margin) for r in records] == [("softmax", None), ("cosface", 0.1),
                                                                   ("arcface", 0.3)]
    for record in records:
        assert record.config.embedding_dim == 2 and record.config.seed == 5
        assert record.config.holdout_classes == (8, 9)
        assert record.final.class_weights.shape == (8, 2)
        assert set(np.unique(record.final.labels)) == set(range(8))
        assert set(np.unique(record.holdout_labels)) == {8, 9}
    again = experiments.eight_identity_toy(["softmax", {"loss": "cosface", "margin": 0.1},
                                            dataclasses.replace(SMALL, loss="arcface", margin=0.3)],
                                           seed=5, epochs=2, base=SMALL)
    same_records(records, again)


def test_sphereface_multipliers_trains_one_member_per_m_in_3d():
    records = experiments.sphereface_multipliers((1, 4), seed=2, epochs=1, base=dataclasses.replace(SMALL,
                                                 loss="arcface", margin=0.5, embedding_dim=2))
    assert [(r.config.loss, r.config.margin, r.config.embedding_dim) for r in records] == [
        ("sphereface", 1.0, 3), ("sphereface", 4.0, 3)]
    same_records(records, experiments.sphereface_multipliers((1, 4), seed=2, epochs=1, base=dataclasses.replace(
        SMALL, loss="arcface", margin=0.5, embedding_dim=2)))


def test_open_set_verification_reports_the_held_out_classes():
    configs = [dataclasses.replace(SMALL, loss=loss) for loss in ("softmax", "cosface")]
    records = experiments.open_set_verification(configs, [9, 7], epochs=2)
    for record in records:
        assert record.config.holdout_classes == (7, 9)
        assert set(np.unique(record.holdout_labels)) == {7, 9}
        assert 0.0 <= record.metrics["verification_auc"] <= 1.0
        assert record.metrics["num_positive_pairs"] > 0 and record.metrics["num_negative_pairs"] > 0
    with pytest.raises(DatasetError, match="at least 2 are needed"):
        experiments.open_set_verification(configs, range(9), epochs=1)


def test_open_set_verification_on_glyphs_keeps_their_own_held_out_identities():
    from toy_models.glyphs import HOLDOUT_IDENTITIES

    config = TrainConfig(dataset="glyphs", train_identities=5, embedding_dim=8, loss="normface", seed=0)
    [record] = experiments.open_set_verification([config], experiments.default_holdout(10), epochs=1)
    assert record.config.holdout_classes == ()  # the glyphs' fixed holdout, not the digits' last two
    assert set(np.unique(record.holdout_labels)) == set(range(5, 5 + HOLDOUT_IDENTITIES))
    assert 0.0 <= record.metrics["verification_auc"] <= 1.0


def test_the_eight_identity_toy_on_glyphs_trains_their_first_eight():
    base = TrainConfig(dataset="glyphs", train_identities=40, seed=0)
    [record] = experiments.eight_identity_toy(["normface"], epochs=1, base=base)
    assert record.config.train_identities == 8 and record.config.embedding_dim == 2
    assert len(record.final.class_names) == 8


def test_paper_runs_trains_every_run_the_figures_need():
    configs = [dataclasses.replace(SMALL, loss=loss) for loss in ("softmax", "cosface")]
    seen = []
    runs = experiments.paper_runs(configs, epochs=1, on_progress=lambda f, what: seen.append((round(f, 6), what)))
    assert set(runs) == {"chosen", "toy", "sphereface"}
    assert [r.config.loss for r in runs["chosen"]] == ["softmax", "cosface"]
    # The toy: the chosen losses, then CosFace Fig. 4's margins at the chosen CosFace's scale.
    assert [(r.config.loss, r.config.margin) for r in runs["toy"]] == [
        ("softmax", None), ("cosface", 0.35), ("cosface", 0.0), ("cosface", 0.1), ("cosface", 0.2)]
    assert [r.config.margin for r in runs["sphereface"]] == list(experiments.SPHEREFACE_MULTIPLIERS)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert {what for _, what in seen} == {"the chosen losses", "the eight-identity toy (2-D)",
                                          "SphereFace with m = 1, 2, 3, 4 (3-D)"}
    with pytest.raises(ValueError, match="pick at least one loss"):
        experiments.paper_runs([])


def test_default_holdout_is_the_last_two_classes():
    assert experiments.default_holdout(10) == (8, 9)
    assert experiments.default_holdout(8) == (6, 7)
    assert experiments.class_names(TrainConfig())[:3] == ("0", "1", "2")
