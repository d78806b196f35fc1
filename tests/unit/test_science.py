"""The science the app teaches, checked on real training runs (digits, 3-D embedding, fixed seeds).

ArcFace paper, Table 3: compared with (normalised) softmax, a margin makes every class tighter (smaller
Intra, the mean angle of a feature to its class centre) and pushes the classes apart (larger Inter, the
mean angle from a class centre to its nearest other centre); docs/losses.md §8 defines them and quotes the
numbers measured here (see PHASES).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from toy_models.train import MultiTrainer, TrainConfig, Trainer

# 30 epochs at the default lr (1e-2), then 10 at 1e-3. Why the second phase: at a constant lr of 1e-2 the margin
# losses' test accuracy swings by several points from one epoch to the next (measured over 8 seeds after epoch
# 20: dips to 0.90 between readings of 0.98), so a reading at one instant is a lottery. A final low-lr phase
# (an ordinary step decay, through the hot set_hyper) settles the weights. Over seeds 0–7 this schedule gave
# every margin loss a smaller Intra and a larger Inter than softmax (24 of 24; gaps ≥ 1.5° and ≥ 1.3°); with
# 40 epochs at 1e-2, 2 of 24 comparisons failed. Seed 0 gives (test accuracy, Intra/Inter in degrees):
# softmax 0.969 11.8/49.8, SphereFace 0.961 7.8/55.9, CosFace 0.975 5.2/63.2, ArcFace 0.978 6.5/62.5.
PHASES = ((30, None), (10, 1e-3))  # (epochs, lr; None = the config's)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def four_losses(digits):
    """softmax, SphereFace, CosFace and ArcFace with the library defaults, trained side by side."""
    multi = MultiTrainer(TrainConfig(seed=0), dataset=digits)
    for epochs, lr in PHASES:
        if lr is not None:
            for i in range(len(multi.members)):
                multi.set_hyper(i, lr=lr)
        multi.advance(epochs=epochs)
    return {member.config.loss: member.evaluate_all() for member in multi.members}


@pytest.mark.parametrize("loss", ["sphereface", "cosface", "arcface"])
def test_a_margin_gives_tighter_and_further_apart_classes_than_softmax(four_losses, loss):
    softmax, margin = four_losses["softmax"], four_losses[loss]
    assert margin["intra_deg"] < softmax["intra_deg"], (loss, margin["intra_deg"], softmax["intra_deg"])
    assert margin["inter_deg"] > softmax["inter_deg"], (loss, margin["inter_deg"], softmax["inter_deg"])


@pytest.mark.parametrize("loss", ["softmax", "sphereface", "cosface", "arcface"])
def test_every_loss_reaches_95_percent_test_accuracy(four_losses, loss):
    assert four_losses[loss]["test_accuracy"] >= 0.95


def test_class_centres_stay_below_the_tammes_bound(four_losses):
    tammes_10_on_sphere = 66.15  # the best possible smallest angle between 10 directions in 3-D
    for stats in four_losses.values():
        assert 0 < stats["min_center_angle_deg"] <= tammes_10_on_sphere + 1e-6


def test_with_the_true_gradient_seed_0_traps_arcface_at_pi_minus_m(digits):
    """A lesson from one seed, not a law: why TrainConfig.gradient defaults to "detached".

    With the true gradient, d cos(θ+m)/dθ = −sin(θ+m) vanishes at θ = π − m. With seed 0 on 3-D digits the
    non-target terms push the class weights away until the targets sit at θ_y ≈ π − m, where nothing pulls them
    back (after 30 epochs: test accuracy 0.553, W-EC 151.9°, median θ_y 151.4°). Seeds 1-10 escape (test accuracy
    0.897-0.975 after 30 epochs; see the next test and TrainConfig's comment). The straight-through ("detached")
    gradient of insightface and opensphere has no such dead point, and seed 0 trains with it.
    """
    margin = 0.5
    trapped = Trainer(TrainConfig(loss="arcface", margin=margin, gradient="true", seed=0), dataset=digits)
    trapped.advance(steps=400)
    snap = trapped.snapshot()
    median_target_deg = float(np.degrees(np.median(snap.target_angle)))
    assert abs(median_target_deg - math.degrees(math.pi - margin)) < 3.0
    assert snap.angle_stats["w_ec_deg"] > 120
    assert snap.test_accuracy < 0.8

    freed = Trainer(TrainConfig(loss="arcface", margin=margin, gradient="detached", seed=0), dataset=digits)
    freed.advance(steps=400)
    assert freed.snapshot().test_accuracy > 0.9
    assert float(np.degrees(np.median(freed.snapshot().target_angle))) < 30


def test_with_the_true_gradient_other_seeds_escape_the_trap(digits):
    """The other side of the measurement: seed 1 (one of the ten that escape) trains to the usual accuracy with
    the true gradient in 30 epochs (measured: 0.972, W-EC 4.8°), its targets nowhere near π − m."""
    trainer = Trainer(TrainConfig(loss="arcface", gradient="true", seed=1), dataset=digits)
    trainer.advance(epochs=30)
    snap = trainer.snapshot()
    assert snap.test_accuracy > 0.93
    assert snap.angle_stats["w_ec_deg"] < 20
    assert float(np.degrees(np.median(snap.target_angle))) < 30
