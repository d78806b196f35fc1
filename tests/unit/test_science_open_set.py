"""The science check of the Compare page's open-set verification (digits, 3-D embedding, fixed seed).

The run is the page's: the four losses with their default margins trained together with the last two classes
(8 and 9) held out, 30 epochs and 10 more at a tenth of the lr (toy_models.experiments.open_set_verification).

Measured over seeds 0-7 with this exact setup (Inter in degrees, mean over the seeds; verification AUC on the
held-out pairs, mean ± sd):

    softmax      Inter 60.2   AUC 0.611 ± 0.045
    SphereFace   Inter 63.4   AUC 0.603 ± 0.046   Inter above softmax's in 6 of 8 seeds (seed 3: 60.2 vs 63.6;
                                                   seed 6: 64.3 vs 64.3), AUC above softmax's in 4 of 8
    CosFace      Inter 71.2   AUC 0.589 ± 0.026   Inter above in 8 of 8, AUC above in 3 of 8
    ArcFace      Inter 67.4   AUC 0.608 ± 0.042   Inter above in 8 of 8, AUC above in 4 of 8

So the closed-set geometry follows the papers (the margins spread the trained classes further apart), but the
open-set AUC does not: on 3-D digits no loss verifies unseen digits reliably better than another (every AUC is
0.53-0.70, and which is best changes with the seed). The page says so when it happens (app/compare/verification.py
ordering_finding). Seed 0, asserted below, gives softmax 0.703, ArcFace 0.675, SphereFace 0.603, CosFace 0.599.
"""

from __future__ import annotations

import math

import pytest

from app.plots.verification import verification_rows
from toy_models import experiments
from toy_models.metrics import pair_similarities
from toy_models.train import DEFAULT_COMPARE_LOSSES, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def held_out_run():
    configs = [TrainConfig(loss=loss, embedding_dim=3, seed=0) for loss in DEFAULT_COMPARE_LOSSES]
    records = experiments.open_set_verification(configs, experiments.default_holdout(10))
    return {record.config.loss: record for record in records}


@pytest.mark.parametrize("loss", ["sphereface", "cosface", "arcface"])
def test_with_classes_held_out_a_margin_still_spreads_the_trained_classes_further_than_softmax(held_out_run, loss):
    softmax, margin = held_out_run["softmax"].metrics, held_out_run[loss].metrics
    assert margin["inter_deg"] > softmax["inter_deg"], (loss, margin["inter_deg"], softmax["inter_deg"])
    assert margin["intra_deg"] < softmax["intra_deg"], (loss, margin["intra_deg"], softmax["intra_deg"])


def test_the_verification_auc_is_reported_for_all_four_losses(held_out_run):
    assert set(held_out_run) == set(DEFAULT_COMPARE_LOSSES)
    for loss, record in held_out_run.items():
        metrics = record.metrics
        assert math.isfinite(metrics["verification_auc"]) and 0.0 <= metrics["verification_auc"] <= 1.0, loss
        assert math.isfinite(metrics["tar_at_far_1e-2"]) and math.isfinite(metrics["tar_at_far_1e-3"]), loss
        assert metrics["num_negative_pairs"] >= 1000  # enough to resolve FAR = 1e-3
        # What the page shows (its ROC table) is what the command line reports for the same run.
        positive, negative = pair_similarities(record.holdout_embeddings, record.holdout_labels)
        [row] = verification_rows([(loss, loss, positive, negative)])
        assert row["auc"] == pytest.approx(metrics["verification_auc"], abs=1e-12)
        assert row["tar_at_far_1e-2"] == metrics["tar_at_far_1e-2"]


def test_on_3d_digits_seed_0_softmax_verifies_unseen_digits_best_and_the_page_says_so(held_out_run):
    """The finding for this seed, kept on record: the AUC ordering is not the papers' (softmax 0.703 is highest,
    0.028 above ArcFace), and the page's ordering check notices it."""
    from app.compare.verification import ordering_finding

    auc = {loss: record.metrics["verification_auc"] for loss, record in held_out_run.items()}
    assert max(auc, key=auc.get) == "softmax", auc
    rows = [{"loss": loss, "auc": value} for loss, value in auc.items()]
    holds, text = ordering_finding(rows, {}, embedding_dim=3, num_trained=8)
    assert not holds
    assert text.startswith("On this run the ordering differs") and f"{auc['softmax']:.3f}" in text


# --------------------------------------------------------------------------------------------------------
# The glyphs: the open-set direction on a small grid of training identities K (lesson 7's setup)


@pytest.mark.slow
def test_on_glyphs_auc_rises_with_k_and_the_margin_gains_no_more_than_the_seed_spread():
    """Lesson 7's runs, as its open-set view trains them (the MLP, 16-D, batch 64, lr 0.01; NormFace and ArcFace at
    s = 16, ArcFace m = 0.5; about 1,200 steps for every K), K = 8, 32, 128, seeds 0-2.

    Measured first (seeds 0-2): K = 8 softmax 0.742, NormFace 0.733, ArcFace 0.732 (spreads 0.013-0.031); K = 128
    0.950, 0.951, 0.943 (spreads 0.001-0.010). So the number of training identities lifts every loss by about 0.2,
    ten times the spread, and that is asserted. ArcFace beating NormFace at the largest K by more than the seed
    spread is NOT what this scale shows: ArcFace is 0.004-0.010 below NormFace on every seed, and that (no gain
    beyond the spread, as lesson 7 says) is asserted instead. On the 3-block CNN with all 289 identities (600 steps
    of batch 128, benchmarks/glyph_open_set.py --backbones cnn --k 289 --losses normface,arcface) ArcFace was above
    NormFace on each of seeds 0-2 (0.989/0.985, 0.976/0.961, 0.988/0.987) but by less than those runs' spread
    (0.013-0.026), and one such run takes about 50 CPU-seconds per seed: too slow for CI."""
    from app.compare.open_set_glyphs import verify_epochs
    from toy_models.train import TrainConfig as Config

    losses = ("softmax", "normface", "arcface")
    ks = (8, 32, 128)
    auc: dict[tuple[int, str], list[float]] = {}
    for k in ks:
        for seed in (0, 1, 2):
            base = Config(dataset="glyphs", train_identities=k, embedding_dim=16, seed=seed, num_threads=1)
            configs = [Config(**{**base.to_dict(), "loss": "softmax"}),
                       Config(**{**base.to_dict(), "loss": "normface", "scale": 16.0}),
                       Config(**{**base.to_dict(), "loss": "arcface", "scale": 16.0, "margin": 0.5})]
            records = experiments.open_set_verification(configs, (), epochs=verify_epochs(64 * k, 64))
            for loss, record in zip(losses, records, strict=True):
                auc.setdefault((k, loss), []).append(record.metrics["verification_auc"])

    def spread(values: list[float]) -> float:
        return max(values) - min(values)

    largest_spread = max(spread(v) for v in auc.values())
    assert largest_spread < 0.05, auc  # the spread is small, so the assertions below have teeth
    for loss in losses:
        means = [sum(auc[(k, loss)]) / 3 for k in ks]
        assert means[0] < means[1] < means[2], (loss, means)
        assert min(auc[(ks[-1], loss)]) > max(auc[(ks[0], loss)]), loss  # every seed at K = 128 beats every K = 8
        assert means[2] - means[0] > 3 * largest_spread, (loss, means, largest_spread)
    arcface, normface = auc[(ks[-1], "arcface")], auc[(ks[-1], "normface")]
    gain = sum(arcface) / 3 - sum(normface) / 3
    assert gain <= max(spread(arcface), spread(normface)), (arcface, normface)
