"""The training engine: config validation, determinism, hot changes, the divergence guard, time budgets,
and MultiTrainer's promise that all-at-once training equals separate runs."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from toy_models import metrics
from toy_models.data import load_dataset
from toy_models.heads import LOSS_SPECS, sphereface_lambda
from toy_models.train import (
    GUARD_EVERY,
    History,
    MultiTrainer,
    Snapshot,
    TrainConfig,
    Trainer,
    choose_device,
    is_hot_change,
    stack,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def assert_snapshot_finite(snap: Snapshot) -> None:
    for name in ("embeddings", "class_weights", "target_angle", "nearest_angle"):
        assert np.isfinite(getattr(snap, name)).all(), name
    for name in ("loss", "train_accuracy", "test_accuracy", "epoch_fraction"):
        assert math.isfinite(getattr(snap, name)), name
    assert all(math.isfinite(v) for v in snap.angle_stats.values())
    for name in ("loss", "train_accuracy", "test_accuracy"):
        assert all(math.isfinite(v) for v in getattr(snap.history, name))


def assert_snapshots_identical(a: Snapshot, b: Snapshot) -> None:
    for f in dataclasses.fields(Snapshot):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def weights_of(run) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*run.backbone.parameters(), *run.head.parameters()]]


# --------------------------------------------------------------------------------------------------------
# TrainConfig


def test_config_round_trips_through_json():
    config = TrainConfig(loss="combined", margin=[1.0, 0.3, 0.2], holdout_classes=[8, 9], num_threads=1)
    assert config.margin == (1.0, 0.3, 0.2) and config.holdout_classes == (8, 9)
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config


def test_config_resolves_loss_defaults():
    config = TrainConfig(loss="cosface")
    assert config.scale is None and config.margin is None
    resolved = config.resolved()
    assert resolved.scale == LOSS_SPECS["cosface"].default_scale
    assert resolved.margin == LOSS_SPECS["cosface"].default_margin
    assert TrainConfig(loss="softmax").resolved().scale is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"loss": "triplet"}, "unknown loss"),
        ({"dataset": "cifar"}, "unknown dataset"),
        ({"backbone": "resnet"}, "unknown backbone"),
        ({"scale": 0}, "scale"),
        ({"scale": -2.0}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"lr": 0}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"embedding_dim": 1}, "embedding_dim"),
        ({"margin": 2.0}, "outside its valid range"),
        ({"loss": "cosface", "margin": -0.1}, "outside its valid range"),
        ({"loss": "combined", "margin": 0.5}, "three numbers"),
        ({"loss": "arcface", "margin": (0.1, 0.2, 0.3)}, "one margin number"),
        ({"loss": "softmax", "scale": 16.0}, "takes no scale"),
        ({"loss": "normface", "margin": 0.2}, "takes no margin"),
        ({"loss": "cosface", "easy_margin": True}, "arcface only"),
        ({"gradient": "straight"}, "gradient"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"momentum": 1.0}, "momentum"),
        ({"device": "tpu"}, "device"),
        ({"seed": -1}, "seed"),
        ({"holdout_classes": ("8",)}, "holdout_classes"),
        ({"lambda_min": -1.0}, "lambda_min"),
        ({"snapshot_per_class": 0}, "snapshot_per_class"),
    ],
)
def test_config_rejects_bad_values_with_one_sentence(changes, words):
    with pytest.raises(ValueError, match=words) as info:
        TrainConfig(**changes)
    assert "\n" not in str(info.value)


def test_from_dict_rejects_unknown_keys_and_non_mappings():
    with pytest.raises(ValueError, match="unknown config field 'epochz'"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="mapping"):
        TrainConfig.from_dict([("loss", "arcface")])


def test_hot_and_cold_changes():
    old = TrainConfig()
    assert TrainConfig.hot_fields | TrainConfig.cold_fields == {f.name for f in dataclasses.fields(TrainConfig)}
    assert {"margin", "scale", "lr"} <= TrainConfig.hot_fields
    assert {"loss", "embedding_dim", "dataset", "backbone", "hidden", "batch_size", "seed"} <= TrainConfig.cold_fields
    assert is_hot_change(old, dataclasses.replace(old, margin=0.3, lr=0.003))
    assert is_hot_change(old, old.resolved())  # None and the loss's default are the same margin
    assert not is_hot_change(old, dataclasses.replace(old, embedding_dim=2))
    assert not is_hot_change(old, dataclasses.replace(old, loss="cosface"))


# --------------------------------------------------------------------------------------------------------
# Devices


def test_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert choose_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        choose_device("cuda")
    with pytest.raises(ValueError, match="MPS"):
        choose_device("mps")


def test_auto_device_is_the_cpu_here(digits):
    """The digits MLP trains on the CPU on any machine: beside a GPU because the CPU is faster for it."""
    trainer = Trainer(TrainConfig(max_train=200), dataset=load_dataset("digits", max_train=200))
    assert trainer.device.type == "cpu"


# --------------------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_bit_identical_snapshots_and_different_seeds_differ(digits):
    config = TrainConfig(seed=3)
    a, b = Trainer(config, dataset=digits), Trainer(config, dataset=digits)
    a.advance(steps=40)
    b.advance(steps=40)
    assert_snapshots_identical(a.snapshot(), b.snapshot())
    c = Trainer(dataclasses.replace(config, seed=4), dataset=digits)
    c.advance(steps=40)
    assert not np.array_equal(a.snapshot().embeddings, c.snapshot().embeddings)
    assert a.snapshot().loss != c.snapshot().loss


def test_training_neither_uses_nor_changes_the_global_rng(digits):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.advance(steps=5)
    trainer.snapshot()
    assert torch.equal(torch.random.get_rng_state(), before)


def test_multi_trainer_is_deterministic(digits):
    a, b = MultiTrainer(TrainConfig(), dataset=digits), MultiTrainer(TrainConfig(), dataset=digits)
    a.advance(steps=30)
    b.advance(steps=30)
    for x, y in zip(a.snapshots(), b.snapshots(), strict=True):
        assert_snapshots_identical(x, y)


# --------------------------------------------------------------------------------------------------------
# Steps, epochs, time budget, snapshots


def test_advance_by_epochs_stops_at_the_boundary_and_records_history(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    per_epoch = math.ceil(len(digits.y_train) / trainer.config.batch_size)
    assert trainer.steps_per_epoch == per_epoch
    assert trainer.advance(epochs=2) == 2 * per_epoch
    assert (trainer.epoch, trainer.step, trainer.epoch_fraction) == (2, 2 * per_epoch, 0.0)
    history = trainer.snapshot().history
    assert history.epoch == (0, 1, 2) and history.step == (0, per_epoch, 2 * per_epoch)
    assert history.loss[2] < history.loss[0]
    assert set(history.to_dict()) == set(History.names()) == {"epoch", "step", "loss", "train_accuracy",
                                                               "test_accuracy"}


def test_advance_validates_its_budget(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    for kwargs in ({}, {"steps": -1}, {"epochs": 1.5}, {"seconds": -0.1}, {"seconds": float("nan")}):
        with pytest.raises(ValueError):
            trainer.advance(**kwargs)
    assert trainer.advance(0) == 0 and trainer.advance(seconds=0) == 0


def test_time_budget_takes_steps_and_returns_in_time(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    start = time.perf_counter()
    steps = trainer.advance(seconds=0.2)
    elapsed = time.perf_counter() - start
    assert steps > 0
    assert elapsed < 0.2 + 2.0  # generous: a loaded machine may stall, but never for seconds on digits
    assert trainer.advance(steps=5, seconds=100.0) == 5  # the first limit reached wins


def test_snapshot_contents(digits):
    trainer = Trainer(TrainConfig(snapshot_per_class=5), dataset=digits)
    trainer.advance(steps=30)
    snap = trainer.snapshot()
    assert snap is trainer.snapshot()  # nothing changed: the cached snapshot
    num_classes = digits.num_classes
    assert snap.embeddings.shape == (5 * num_classes, 3) and snap.embeddings.dtype == np.float32
    assert np.bincount(snap.labels, minlength=num_classes).tolist() == [5] * num_classes
    np.testing.assert_allclose(np.linalg.norm(snap.embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(snap.class_weights, axis=1), 1.0, atol=1e-5)
    assert snap.class_weights.shape == (num_classes, 3)
    assert ((0 <= snap.target_angle) & (snap.target_angle <= math.pi)).all()
    assert snap.target_angle.dtype == np.float32 and snap.nearest_angle.shape == snap.target_angle.shape
    assert set(snap.angle_stats) == {"w_ec_deg", "w_inter_deg", "intra_deg", "inter_deg", "min_center_angle_deg"}
    assert snap.hyper["margin"] == 0.5 and snap.hyper["scale"] == 16.0 and snap.hyper["lr"] == 0.01
    assert snap.class_names == digits.class_names and snap.test_accuracy_step == 30
    assert (snap.step, snap.epoch) == (30, 1) and 0 < snap.epoch_fraction < 1
    assert_snapshot_finite(snap)
    trainer.set_hyper(snapshot_per_class=2)
    assert len(trainer.snapshot().labels) == 2 * num_classes


def test_passed_dataset_must_match_the_config(digits):
    with pytest.raises(ValueError, match="does not match"):
        Trainer(TrainConfig(holdout_classes=(9,)), dataset=digits)


def test_sphereface_lambda_anneals_with_the_steps(digits):
    config = TrainConfig(loss="sphereface", sphereface_form="original", lambda_base=100.0, lambda_gamma=0.5)
    trainer = Trainer(config, dataset=digits)
    assert trainer.snapshot().hyper["sphereface_lambda"] == sphereface_lambda(0, 100.0, 0.5)
    trainer.advance(steps=12)
    assert trainer.snapshot().hyper["sphereface_lambda"] == sphereface_lambda(12, 100.0, 0.5)
    trainer.set_hyper(lambda_min=20.0)
    trainer.advance(steps=20)
    assert trainer.snapshot().hyper["sphereface_lambda"] == 20.0


def test_sgd_cnn_and_the_toy_dataset_train(digits):
    sgd = Trainer(TrainConfig(loss="softmax", optimizer="sgd", lr=0.1), dataset=digits)
    sgd.advance(epochs=3)
    assert sgd.snapshot().test_accuracy > 0.3
    cnn = Trainer(TrainConfig(backbone="cnn", max_train=300), dataset=load_dataset("digits", max_train=300))
    cnn.advance(steps=10)
    assert_snapshot_finite(cnn.snapshot())
    toy = Trainer(TrainConfig(dataset="toy", embedding_dim=2))
    toy.advance(epochs=4)
    assert toy.snapshot().test_accuracy > 0.8


# --------------------------------------------------------------------------------------------------------
# Hot changes


def test_changing_the_margin_keeps_the_weights_and_changes_the_next_loss(digits):
    a, b = Trainer(TrainConfig(), dataset=digits), Trainer(TrainConfig(), dataset=digits)
    a.advance(steps=20)
    b.advance(steps=20)
    adam_state = [s["exp_avg"].clone() for s in b.optimizer.state.values()]
    b.set_hyper(margin=0.2)
    for x, y in zip(weights_of(a), weights_of(b), strict=True):
        assert torch.equal(x, y)  # weights identical right after the change
    for before, state in zip(adam_state, b.optimizer.state.values(), strict=True):
        assert torch.equal(before, state["exp_avg"])  # and so is the optimizer state
    a.advance(steps=1)
    b.advance(steps=1)
    assert b.last_loss < a.last_loss  # a smaller margin: a smaller loss on the very same batch
    assert b.head.margin == 0.2 and b.config.margin == 0.2
    assert b.events[-1].kind == "hyper" and "margin 0.5 → 0.2" in b.events[-1].message


def test_set_hyper_changes_lr_scale_and_rejects_cold_or_bad_values(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.set_hyper(lr=0.003, scale=30.0)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.003 and trainer.head.scale == 30.0
    with pytest.raises(ValueError, match="outside its valid range"):
        trainer.set_hyper(margin=3.0, lr=0.1)
    assert trainer.config.lr == 0.003 and trainer.head.margin == 0.5  # nothing applied
    with pytest.raises(ValueError, match="embedding_dim cannot change while training"):
        trainer.set_hyper(embedding_dim=2)
    with pytest.raises(ValueError, match="unknown setting"):
        trainer.set_hyper(temperature=2.0)
    trainer.reconfigure(dataclasses.replace(trainer.config, margin=0.4))
    assert trainer.head.margin == 0.4
    with pytest.raises(ValueError, match="seed cannot change"):
        trainer.reconfigure(dataclasses.replace(trainer.config, seed=9))


# --------------------------------------------------------------------------------------------------------
# The divergence guard


def test_a_nan_weight_is_restored_from_the_last_good_copy_and_reported(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.advance(steps=GUARD_EVERY + 5)
    good = [p.clone() for p in trainer.backbone.parameters()]
    with torch.no_grad():
        trainer.backbone.embedding.weight[0, 0] = float("nan")
    trainer.advance(steps=1)
    [event] = [e for e in trainer.events if e.kind == "diverged"]
    assert event.restored_step == GUARD_EVERY and event.step == GUARD_EVERY + 6
    assert event.message.startswith(f"arcface diverged at step {GUARD_EVERY + 6}")
    assert "s=16, m=0.5, lr=0.01" in event.message and f"restored the weights of step {GUARD_EVERY}" in event.message
    assert event.count == 1 and event.message.endswith(f"step {GUARD_EVERY}")  # a first restore is not counted
    assert not any(torch.equal(a, b) for a, b in zip(good, trainer.backbone.parameters(), strict=True))
    assert_snapshot_finite(trainer.snapshot())
    assert trainer.snapshot().events[-1] == event
    trainer.advance(steps=30)  # training goes on
    assert trainer.step == GUARD_EVERY + 36 and math.isfinite(trainer.last_loss)
    assert_snapshot_finite(trainer.snapshot())


def test_a_hopeless_learning_rate_keeps_being_restored_and_counted(digits):
    trainer = Trainer(TrainConfig(loss="softmax", lr=1e30), dataset=digits)
    trainer.advance(steps=40)
    diverged = [e for e in trainer.events if e.kind == "diverged"]
    assert diverged and diverged[-1].count > 1 and "time from this copy" in diverged[-1].message
    assert len(diverged) < 10  # repeats raise a count instead of flooding the list
    assert trainer.step == 40
    assert_snapshot_finite(trainer.snapshot())
    trainer.set_hyper(lr=0.01)  # the caller decides what to change; then it trains again
    trainer.advance(epochs=3)
    assert trainer.snapshot().test_accuracy > 0.5


def test_a_weight_going_non_finite_on_the_last_step_never_reaches_a_snapshot(digits, monkeypatch):
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.advance(steps=3)
    original_step = trainer.optimizer.step

    def poisoned_step(*args, **kwargs):
        original_step(*args, **kwargs)
        with torch.no_grad():
            trainer.head.weight[0, 0] = float("inf")

    monkeypatch.setattr(trainer.optimizer, "step", poisoned_step)
    trainer.advance(steps=1)
    assert trainer.events[-1].kind == "diverged" and "weight became non-finite" in trainer.events[-1].message
    assert_snapshot_finite(trainer.snapshot())


# --------------------------------------------------------------------------------------------------------
# MultiTrainer


def test_multi_trainer_members_start_identical_and_see_the_same_batches(digits):
    multi = MultiTrainer(TrainConfig(), dataset=digits)
    assert [m.config.loss for m in multi.members] == ["softmax", "sphereface", "cosface", "arcface"]
    assert [m.config.margin for m in multi.members] == [None, 1.5, 0.35, 0.5]
    first = [p.clone() for p in multi.members[0].backbone.parameters()]
    for member in multi.members[1:]:
        for a, b in zip(first, member.backbone.parameters(), strict=True):
            assert torch.equal(a, b)
    multi.advance(steps=3)
    assert multi.step == 3 and all(m.snapshot().step == 3 for m in multi.members)


ALL_LOSSES = [
    {"loss": "softmax"},
    {"loss": "normface"},
    {"loss": "sphereface"},
    {"loss": "sphereface", "sphereface_form": "original"},
    {"loss": "cosface"},
    {"loss": "arcface"},
    {"loss": "arcface", "easy_margin": True},
    {"loss": "combined"},
]


@pytest.mark.parametrize("gradient", ["detached", "true"])
def test_one_batched_step_computes_what_separate_trainers_compute(digits, gradient):
    """From identical weights, the batched forward/backward gives every member the loss and gradients its own
    Trainer gets. Only float32 rounding differs (bmm instead of mm, another summation order): rtol 1e-4."""
    configs = [TrainConfig(gradient=gradient, **spec) for spec in ALL_LOSSES]
    multi = MultiTrainer(configs, dataset=digits)
    assert multi.fast
    singles = [Trainer(c, dataset=digits) for c in configs]
    multi.advance(steps=5)  # away from the initial weights, and SphereFace's λ away from its start
    for member, single in zip(multi.members, singles, strict=True):
        single.backbone.load_state_dict(member.backbone.state_dict())
        single.head.load_state_dict(member.head.state_dict())
    x, y = digits.x_train[100:164], digits.y_train[100:164]
    losses, scores, flat_grad = multi.losses_and_gradients(x, y)
    grads = multi.stack.views(flat_grad)
    for i, (member, single) in enumerate(zip(multi.members, singles, strict=True)):
        logits, single_scores = single.head.training_logits(single.backbone(x), y)
        loss = F.cross_entropy(logits, y)
        params = [*single.backbone.parameters(), *single.head.parameters()]
        expected = torch.autograd.grad(loss, params)
        got = [g[i] for g in grads][: len(params)]  # a margin head has no bias row
        assert losses[i].item() == pytest.approx(loss.item(), rel=1e-5), member.config.loss
        assert torch.equal(scores[i].argmax(0), single_scores.argmax(1))
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def twins(configs, dataset, steps):
    """A MultiTrainer on the fast path, trained `steps` steps, and one on the autograd reference with the very same
    weights and SphereFace step counts (copied through the members' state dicts)."""
    fast, reference = MultiTrainer(configs, dataset=dataset), MultiTrainer(configs, dataset=dataset, fast=False)
    assert fast.fast and not reference.fast
    fast.advance(steps=steps)
    for a, b in zip(fast.members, reference.members, strict=True):
        b.backbone.load_state_dict(a.backbone.state_dict())
        b.head.load_state_dict(a.head.state_dict())
    return fast, reference


@pytest.mark.parametrize("gradient", ["detached", "true"])
def test_the_fast_path_computes_the_gradients_of_the_autograd_reference(digits, gradient):
    """The hand-written batched backward (toy_models.train.batched) against the plain autograd path, member by
    member through its own modules, for every loss and option: losses, predictions and every gradient."""
    configs = [TrainConfig(gradient=gradient, **spec) for spec in ALL_LOSSES]
    fast, reference = twins(configs, digits, steps=7)
    x, y = digits.x_train[200:264], digits.y_train[200:264]
    fast_losses, fast_scores, fast_grad = fast.losses_and_gradients(x, y)
    ref_losses, ref_scores, ref_grad = reference.losses_and_gradients(x, y)
    fast_grads, ref_grads = fast.stack.views(fast_grad), reference.stack.views(ref_grad)
    torch.testing.assert_close(fast_losses, ref_losses, rtol=1e-5, atol=1e-6)
    assert torch.equal(fast_scores.argmax(1), ref_scores.argmax(1))
    assert len(fast_grads) == len(ref_grads) == len(fast.stack.names)
    for name, a, b in zip(fast.stack.names, fast_grads, ref_grads, strict=True):
        for i, config in enumerate(configs):
            torch.testing.assert_close(a[i], b[i], rtol=1e-4, atol=1e-6, msg=lambda m, n=name, c=config: (
                f"{c.loss} {c.sphereface_form} {n}: {m}"))
    sphereface = [m.head.iteration.item() for m in fast.members if m.config.loss == "sphereface"]
    assert sphereface == [m.head.iteration.item() for m in reference.members if m.config.loss == "sphereface"]


def test_the_fast_path_trains_as_the_autograd_reference_does(digits):
    """30 steps of SGD (which keeps a rounding difference a rounding difference, unlike Adam): every member of
    the fast path ends where its autograd twin ends, for every loss, option and gradient mode."""
    configs = [TrainConfig(optimizer="sgd", lr=0.05, weight_decay=1e-4, gradient=gradient, **spec)
               for spec in ALL_LOSSES for gradient in ("detached", "true")]
    fast, reference = twins(configs, digits, steps=0)
    fast.advance(steps=30)
    reference.advance(steps=30)
    for a, b in zip(fast.members, reference.members, strict=True):
        for x, y in zip(weights_of(a), weights_of(b), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=1e-5)
        assert a.last_loss == pytest.approx(b.last_loss, abs=1e-5)
        assert a.snapshot().train_accuracy == b.snapshot().train_accuracy
        assert a.snapshot().hyper["sphereface_lambda"] == b.snapshot().hyper["sphereface_lambda"]


def test_all_at_once_equals_separate_runs_with_sgd(digits):
    """Same seed, same batches, 30 steps: every member ends where its own Trainer ends.

    With SGD a rounding difference stays a rounding difference (measured ≤ 4e-6 after 30 steps at lr 0.05), so
    an elementwise atol of 1e-5 holds for every loss, margin option and gradient mode.
    """
    configs = [TrainConfig(optimizer="sgd", lr=0.05, weight_decay=1e-4, gradient=gradient, **spec)
               for spec in ALL_LOSSES for gradient in ("detached", "true")]
    multi = MultiTrainer(configs, dataset=digits)
    singles = [Trainer(c, dataset=digits) for c in configs]
    multi.advance(steps=30)
    for trainer in singles:
        trainer.advance(steps=30)
    for member, single in zip(multi.members, singles, strict=True):
        for a, b in zip(weights_of(member), weights_of(single), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        assert member.last_loss == pytest.approx(single.last_loss, abs=1e-5)
        assert member.snapshot().train_accuracy == single.snapshot().train_accuracy


def test_all_at_once_equals_separate_runs_with_adam(digits):
    """The same with Adam, the default, for 30 steps.

    Adam divides each gradient entry by its running RMS, so an entry whose gradient is almost zero (where
    rounding decides its size, even its sign) may take a step of up to lr in one run and not in the other.
    Those are isolated entries (NormFace: 22 of 4,096 in one layer): the weights agree to a relative norm of
    8e-3 at worst after 30 steps (measured; 1e-6 for most losses), the losses to 1e-4. Hence 2e-2 and 1e-3.
    """
    configs = [TrainConfig(**spec) for spec in ALL_LOSSES]
    multi = MultiTrainer(configs, dataset=digits)
    singles = [Trainer(c, dataset=digits) for c in configs]
    multi.advance(steps=30)
    for trainer in singles:
        trainer.advance(steps=30)
    for member, single in zip(multi.members, singles, strict=True):
        for a, b in zip(weights_of(member), weights_of(single), strict=True):
            assert float((a - b).norm() / b.norm()) < 2e-2, member.config.loss
        assert member.last_loss == pytest.approx(single.last_loss, abs=1e-3)
        ours, theirs = member.snapshot(), single.snapshot()
        assert ours.test_accuracy == pytest.approx(theirs.test_accuracy, abs=0.02)
        for key, value in theirs.angle_stats.items():
            assert ours.angle_stats[key] == pytest.approx(value, abs=0.5)


def test_all_at_once_with_per_member_learning_rates_and_the_cnn():
    dataset = load_dataset("digits", max_train=256)
    base = TrainConfig(backbone="cnn", max_train=256)
    configs = [dataclasses.replace(base, loss="softmax", lr=0.003), dataclasses.replace(base, loss="arcface")]
    multi = MultiTrainer(configs, dataset=dataset)
    singles = [Trainer(c, dataset=dataset) for c in configs]
    multi.advance(steps=10)
    for trainer in singles:
        trainer.advance(steps=10)
    for member, single in zip(multi.members, singles, strict=True):  # tolerance: see the Adam test above
        for a, b in zip(weights_of(member), weights_of(single), strict=True):
            assert float((a - b).norm() / b.norm()) < 2e-2
    multi.set_hyper(1, lr=0.001, margin=0.3)
    assert multi.members[1].head.margin == 0.3
    multi.advance(steps=2)
    assert all(math.isfinite(m.last_loss) for m in multi.members)


def test_multi_trainer_restores_only_the_member_that_diverged(digits):
    a, b = MultiTrainer(TrainConfig(), dataset=digits), MultiTrainer(TrainConfig(), dataset=digits)
    a.advance(steps=GUARD_EVERY + 2)
    b.advance(steps=GUARD_EVERY + 2)
    with torch.no_grad():
        a.members[2].head.weight[1, 1] = float("nan")  # a view into the stacked weights
    a.advance(steps=3)
    b.advance(steps=3)
    assert [e.kind for e in a.members[2].events] == ["diverged"]
    assert a.members[2].events[0].restored_step == GUARD_EVERY
    for i in (0, 1, 3):
        assert not a.members[i].events
        for x, y in zip(weights_of(a.members[i]), weights_of(b.members[i]), strict=True):
            assert torch.equal(x, y)
    for snap in a.snapshots():
        assert_snapshot_finite(snap)


def test_multi_trainer_checks_its_members_share_the_cold_settings(digits):
    with pytest.raises(ValueError, match="all members must share embedding_dim"):
        MultiTrainer([TrainConfig(), TrainConfig(embedding_dim=2)], dataset=digits)
    with pytest.raises(ValueError, match="unknown loss"):
        MultiTrainer(TrainConfig(), losses=["arcface", "magface"], dataset=digits)
    multi = MultiTrainer(TrainConfig(scale=30.0), losses=["softmax", {"loss": "cosface", "margin": 0.2}],
                         dataset=digits)
    assert [m.config.scale for m in multi.members] == [None, 30.0]
    assert multi.members[1].config.margin == 0.2


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_the_stacks_update_is_torch_optims(optimizer, weight_decay):
    """stack.adam_update / sgd_update (public tensor operations on the flat buffer) against torch.optim.Adam / SGD
    over 20 steps of random gradients; per-element settings (members that differ) against the same with numbers."""
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(500, generator=generator)
    grads = [torch.randn(500, generator=generator) for _ in range(20)]
    leaf = start.clone().requires_grad_()
    if optimizer == "adam":
        reference = torch.optim.Adam([leaf], lr=0.01, weight_decay=weight_decay, foreach=False)
    else:
        reference = torch.optim.SGD([leaf], lr=0.01, momentum=0.9, weight_decay=weight_decay, foreach=False)
    ours, per_element = start.clone(), start.clone()
    state = [torch.zeros(500) for _ in range(4)]
    for step, grad in enumerate(grads, start=1):
        leaf.grad = grad.clone()
        reference.step()
        if optimizer == "adam":
            stack.adam_update(ours, grad.clone(), state[0], state[1], step, 0.01, weight_decay)
            stack.adam_update(per_element, grad.clone(), state[2], state[3], step, torch.full((500,), 0.01),
                              torch.full((500,), weight_decay))
        else:
            stack.sgd_update(ours, grad.clone(), state[0], 0.01, 0.9, weight_decay)
            stack.sgd_update(per_element, grad.clone(), state[2], torch.full((500,), 0.01), torch.full((500,), 0.9),
                             torch.full((500,), weight_decay))
    torch.testing.assert_close(ours, leaf.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(per_element, leaf.detach(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------------
# Softmax: accuracy is the head's own prediction


def own_accuracy(run, x, y) -> float:
    """Accuracy of argmax over the head's inference logits (W·x + b for softmax), computed here from the modules."""
    with torch.no_grad():
        return (run.head(run.backbone(x)).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("kind", ["trainer", "fast", "reference"])
def test_every_softmax_accuracy_is_the_heads_own_prediction(digits, kind):
    """For W·x + b the angle to the unit class weights (metrics.closed_set_accuracy) is not what the model
    predicts: bias and feature norm decide too (here 0.47 by angle against 0.91 by logits on the training set).
    Test, training, history, evaluate_all and snapshot accuracies must all be the logits' argmax. One step is the
    whole training set, so the running training accuracy is known: the training set scored before that step."""
    config = TrainConfig(loss="softmax", batch_size=2048, lr=0.05)
    if kind == "trainer":
        run = Trainer(config, dataset=digits)
        advance = run.advance
    else:
        multi = MultiTrainer([config], dataset=digits, fast=kind == "fast")
        run, advance = multi.members[0], multi.advance
    advance(steps=59)
    train_before = own_accuracy(run, digits.x_train, digits.y_train)
    by_angle = run.evaluate(digits.x_train, digits.y_train)
    assert abs(train_before - metrics.closed_set_accuracy(by_angle.embeddings, by_angle.labels,
                                                          by_angle.class_weights)) > 0.2  # they do differ here
    advance(steps=1)  # one epoch
    test, train = own_accuracy(run, digits.x_test, digits.y_test), own_accuracy(run, digits.x_train, digits.y_train)
    snap = run.snapshot()
    assert snap.history.train_accuracy[-1] == pytest.approx(train_before, abs=1e-6)
    assert snap.train_accuracy == pytest.approx(train_before, abs=1e-6)  # right at a boundary: the last epoch's
    assert snap.test_accuracy == pytest.approx(test, abs=1e-6)
    assert snap.history.test_accuracy[-1] == pytest.approx(test, abs=1e-6)
    final = run.evaluate_all()
    assert final["test_accuracy"] == pytest.approx(test, abs=1e-6)
    assert final["train_accuracy"] == pytest.approx(train, abs=1e-6)


def test_large_stacks_use_torch_optims_fused_adam_with_the_same_result(digits, monkeypatch):
    """From FUSED_ADAM_MIN_ELEMENTS stacked elements on (MNIST's MLP, not digits'), the update is
    torch.optim.Adam(fused=True) with the flat buffer as its parameter and the stack's moments as its state. Both
    paths give the same parameters and moments on the same gradients, and the restore of one member's rows
    reaches the fused optimizer's state (they are the same tensors)."""
    written_out = MultiTrainer(TrainConfig(), dataset=digits)
    monkeypatch.setattr(stack, "FUSED_ADAM_MIN_ELEMENTS", 0)
    fused = MultiTrainer(TrainConfig(), dataset=digits)
    generator = torch.Generator().manual_seed(1)
    for step in range(20):
        grad = torch.randn(written_out.stack.flat.shape, generator=generator)
        if step == 12:
            fused.set_hyper(0, weight_decay=1e-3)  # a setting changed on every member: still the fused path
            written_out.set_hyper(0, weight_decay=1e-3)
            for i in (1, 2, 3):
                fused.set_hyper(i, weight_decay=1e-3)
                written_out.set_hyper(i, weight_decay=1e-3)
        written_out.stack.optimizer_step(grad.clone())
        fused.stack.optimizer_step(grad.clone())
    for name in ("flat", "moment1", "moment2"):
        torch.testing.assert_close(getattr(fused.stack, name), getattr(written_out.stack, name), rtol=1e-5, atol=1e-6)
    for run in (written_out, fused):  # a restore of member 2's rows, then a step: the restored moments are used
        copy = run.stack.capture()
        run.stack.optimizer_step(torch.full_like(run.stack.flat, 5.0))
        run.stack.load_row(2, copy)
        run.stack.optimizer_step(torch.randn(run.stack.flat.shape, generator=torch.Generator().manual_seed(2)))
    for name in ("flat", "moment1", "moment2"):
        torch.testing.assert_close(getattr(fused.stack, name), getattr(written_out.stack, name), rtol=1e-5, atol=1e-6)
