"""The divergence guard restores what it must and nothing more: the optimizer's moments go back with the weights
(or a poisoned run never recovers), and the user's current settings stand (a restore must not bring back the
learning rate of the copy's time). Each test here was checked against the bug it names, planted by hand."""

from __future__ import annotations

import math

import pytest
import torch

from toy_models.data import load_dataset
from toy_models.train import GUARD_EVERY, MultiTrainer, TrainConfig, Trainer
from toy_models.train.model_run import all_finite

pytestmark = pytest.mark.usefixtures("one_thread")


def adam_state(trainer: Trainer) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in state.items()} for state in trainer.optimizer.state.values()]


def diverged(run) -> list:
    return [e for e in run.events if e.kind == "diverged"]


CONFIG = TrainConfig(loss="cosface")  # reaches 90 % within a few epochs on digits


def test_a_restore_brings_back_the_adam_moments_of_the_copy(digits):
    """Planted bug: the restore loads the weights but not the optimizer state. Moments poisoned with NaN then
    stay NaN, every later step diverges again, and the run never recovers (test accuracy stays at the copy's)."""
    twin = Trainer(CONFIG, dataset=digits)
    twin.advance(steps=GUARD_EVERY)  # exactly the state the guard copies before step GUARD_EVERY
    at_copy = adam_state(twin)

    trainer = Trainer(CONFIG, dataset=digits)
    trainer.advance(steps=GUARD_EVERY + 5)
    for state in trainer.optimizer.state.values():
        state["exp_avg"].fill_(float("nan"))
        state["exp_avg_sq"].fill_(1e30)
    trainer.advance(steps=1)  # the update writes NaN into every weight: restored at once
    [event] = diverged(trainer)
    assert event.restored_step == GUARD_EVERY
    for restored, saved in zip(adam_state(trainer), at_copy, strict=True):
        assert restored.keys() == saved.keys()
        for key in saved:
            assert torch.equal(restored[key], saved[key]), key

    clean = Trainer(CONFIG, dataset=digits)
    trainer.advance(epochs=8)
    clean.advance(epochs=8)
    assert len(diverged(trainer)) == 1  # it recovered: no further divergence
    assert trainer.snapshot().test_accuracy > max(0.7, clean.snapshot().test_accuracy - 0.15)


def test_a_multi_trainer_member_gets_its_own_moments_back(digits):
    """The same for a MultiTrainer member, whose moments are rows of the stack's flat moment buffers: only the
    poisoned member is restored, with the moments of its last-good copy, and it recovers."""
    twin = MultiTrainer(CONFIG, dataset=digits)
    twin.advance(steps=GUARD_EVERY)
    at_copy = [[v[2].clone() for v in twin.stack.views(m)] for m in (twin.stack.moment1, twin.stack.moment2)]

    multi, clean = MultiTrainer(CONFIG, dataset=digits), MultiTrainer(CONFIG, dataset=digits)
    multi.advance(steps=GUARD_EVERY + 5)
    clean.advance(steps=GUARD_EVERY + 7)
    for view in multi.stack.views(multi.stack.moment1):
        view[2].fill_(float("nan"))
    multi.advance(steps=2)
    assert [len(diverged(m)) for m in multi.members] == [0, 0, 1, 0]
    for moments, saved in zip((multi.stack.moment1, multi.stack.moment2), at_copy, strict=True):
        for view, saved_row in zip(multi.stack.views(moments), saved, strict=True):
            assert torch.equal(view[2], saved_row)
    for i in (0, 1, 3):  # the others went on undisturbed
        for ours, theirs in zip(multi.stack.views(multi.stack.flat), clean.stack.views(clean.stack.flat), strict=True):
            assert torch.equal(ours[i], theirs[i])
    multi.advance(epochs=8)
    clean.advance(epochs=8)
    assert len(diverged(multi.members[2])) == 1
    assert multi.snapshot(2).test_accuracy > max(0.7, clean.snapshot(2).test_accuracy - 0.15)


@pytest.mark.parametrize(
    ("optimizer", "changes"),
    [("adam", {"lr": 0.003}), ("adam", {"lr": 0.02, "weight_decay": 1e-3}),
     ("sgd", {"lr": 0.03, "momentum": 0.5, "weight_decay": 1e-4})],
)
def test_the_users_settings_stand_after_a_restore(digits, optimizer, changes):
    """Planted bug: after the restore the optimizer keeps the param_groups of the copy (a state_dict carries the
    lr, momentum and weight decay of its time). The user changed them since; their values must stand."""
    lr = 0.01 if optimizer == "adam" else 0.1
    trainer = Trainer(TrainConfig(loss="softmax", optimizer=optimizer, lr=lr), dataset=digits)
    trainer.advance(steps=GUARD_EVERY + 5)  # the last-good copy (step 25) holds the old settings
    trainer.set_hyper(**changes)
    with torch.no_grad():
        trainer.backbone.embedding.weight[0, 0] = float("nan")
    trainer.advance(steps=1)
    [event] = diverged(trainer)
    assert event.restored_step == GUARD_EVERY and f"lr={changes['lr']:g}" in event.message
    for name, value in changes.items():
        assert getattr(trainer.config, name) == value
        assert all(group[name] == value for group in trainer.optimizer.param_groups), name
    trainer.advance(steps=5)  # training goes on with them
    assert math.isfinite(trainer.last_loss) and len(diverged(trainer)) == 1
    assert trainer.optimizer.param_groups[0]["lr"] == changes["lr"]


def test_a_second_restore_from_the_same_copy_brings_back_the_same_moments(digits):
    """The copy must survive a restore: the optimizer gets a copy of it, not the copy's own tensors (which the
    next steps would update in place). Two divergences between two last-good copies restore the same state."""
    twin = Trainer(CONFIG, dataset=digits)
    twin.advance(steps=GUARD_EVERY)
    at_copy = adam_state(twin)
    trainer = Trainer(CONFIG, dataset=digits)
    trainer.advance(steps=GUARD_EVERY + 5)
    for _ in range(2):
        with torch.no_grad():
            trainer.head.weight[0, 0] = float("nan")
        trainer.advance(steps=1)
        for restored, saved in zip(adam_state(trainer), at_copy, strict=True):
            for key in saved:
                assert torch.equal(restored[key], saved[key]), key
        trainer.advance(steps=3)  # Adam updates its moments in place: the copy must not be among them
    assert [e.count for e in diverged(trainer)] == [2]


def test_overflowing_features_from_finite_weights_are_restored_when_shown(digits):
    """Weights of 3e38 are finite, but the features they produce are not: the snapshot's evaluation restores the
    last-good copy and says so, instead of showing zeros."""
    trainer = Trainer(CONFIG, dataset=digits)
    trainer.advance(steps=GUARD_EVERY + 2)
    with torch.no_grad():
        trainer.backbone.embedding.weight.fill_(3e38)
    assert trainer.params_finite()
    snap = trainer.snapshot()
    [event] = diverged(trainer)
    assert "features became non-finite" in event.message and event.restored_step == GUARD_EVERY
    assert float(trainer.backbone.embedding.weight.detach().abs().max()) < 1e3
    assert math.isfinite(snap.test_accuracy) and snap.test_accuracy > 0


def test_the_finite_checks_count_huge_values_as_finite():
    """x·0 before the sum: a sum of finite values may overflow to inf, and must not raise a false alarm."""
    huge = torch.full((4,), 3e38)
    assert all_finite([huge, torch.ones(3)])
    assert not all_finite([huge, torch.tensor([float("inf")])])
    assert not all_finite([torch.tensor([float("nan")])])
    multi_rows = MultiTrainer(TrainConfig(max_train=128), dataset=load_dataset("digits", max_train=128))
    with torch.no_grad():
        multi_rows.members[1].head.weight.fill_(3e38)
        multi_rows.members[2].head.weight[0, 0] = float("inf")
    assert multi_rows.stack.rows_finite() == [True, True, False, True]


def test_a_multi_trainer_keeps_no_copy_of_a_member_whose_loss_overflowed(digits):
    """At a guard step, a member whose loss is not finite keeps its older copy, even with finite weights (here
    3e38, which overflow the forward): the copy it restores must work."""
    multi = MultiTrainer(CONFIG, dataset=digits)
    multi.advance(steps=3 * GUARD_EVERY)  # the next step is a guard step (step 75); the last copy is of step 50
    with torch.no_grad():
        multi.members[2].backbone.embedding.weight.fill_(3e38)
    multi.advance(steps=1)
    [event] = diverged(multi.members[2])
    assert event.restored_step == 2 * GUARD_EVERY
    assert float(multi.members[2].backbone.embedding.weight.detach().abs().max()) < 1e3


def test_a_multi_trainer_member_made_non_finite_between_steps_is_restored_before_it_is_shown(digits):
    multi = MultiTrainer(CONFIG, dataset=digits)
    multi.advance(steps=GUARD_EVERY + 1)
    with torch.no_grad():
        multi.members[1].head.weight[0, 0] = float("inf")
    multi.advance(steps=0)  # no step: only the check at the end of advance
    [event] = diverged(multi.members[1])
    assert "a weight became non-finite" in event.message
    assert all(math.isfinite(s.test_accuracy) for s in multi.snapshots())


def test_a_restored_sphereface_member_gets_its_lambda_schedule_back(digits):
    """SphereFace's original form anneals λ by its step count, a buffer of the head: a restore puts it back to
    the copy's, as a Trainer's head.load_state_dict does."""
    config = TrainConfig(loss="sphereface", sphereface_form="original")
    twin = MultiTrainer([config, CONFIG], dataset=digits)
    twin.advance(steps=GUARD_EVERY + 1)  # up to and including the forward of the step the copy is taken at
    multi = MultiTrainer([config, CONFIG], dataset=digits)
    multi.advance(steps=GUARD_EVERY + 5)
    with torch.no_grad():
        multi.members[0].head.weight[0, 0] = float("nan")
    multi.advance(steps=1)
    [event] = diverged(multi.members[0])
    assert event.restored_step == GUARD_EVERY
    assert int(multi.members[0].head.iteration) == int(twin.members[0].head.iteration) == GUARD_EVERY + 1
    assert multi.snapshot(0).hyper["sphereface_lambda"] == twin.snapshot(0).hyper["sphereface_lambda"]
