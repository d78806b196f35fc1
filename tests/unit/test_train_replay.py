"""Replay: a live run with hot changes, rebuilt from its initial config and hyper_log, gives identical metrics."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from toy_models.train import TrainConfig, Trainer, replay

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = TrainConfig(loss="arcface", embedding_dim=3, max_train=600, seed=3, num_threads=1)


def live_style_run(digits) -> Trainer:
    """Ticks of uneven length, changes from another thread (request_hyper) and from the training one."""
    trainer = Trainer(CONFIG, dataset=digits)
    trainer.advance(steps=13)
    trainer.set_hyper(margin=0.3)
    trainer.advance(seconds=0.02)
    handover = threading.Thread(target=trainer.request_hyper, kwargs={"lr": 0.005, "scale": 20.0})
    handover.start()
    handover.join()
    trainer.advance(steps=7)  # the request applies before the first of these steps
    trainer.snapshot()  # a snapshot applies a waiting request too: nothing is waiting here
    trainer.request_hyper(gradient="true")
    trainer.snapshot()  # ...and here it applies this one, between steps
    trainer.advance(steps=30)
    trainer.set_hyper(margin=0.45, lr=0.01)
    trainer.advance(steps=20)
    return trainer


def state_of(trainer: Trainer) -> dict:
    metrics = trainer.evaluate_all()
    metrics.pop("notes")
    snap = trainer.snapshot()
    return {
        "step": trainer.step,
        "epoch": trainer.epoch,
        "metrics": metrics,
        "angles": snap.angle_stats,
        "history": trainer.history,
        "weights": [p.detach().clone() for p in [*trainer.backbone.parameters(), *trainer.head.parameters()]],
    }


def test_hot_changes_are_logged_at_the_step_they_apply(digits):
    trainer = live_style_run(digits)
    log = trainer.hyper_log
    assert [changes for _, changes in log] == [
        {"margin": 0.3}, {"lr": 0.005, "scale": 20.0}, {"gradient": "true"}, {"lr": 0.01, "margin": 0.45},
    ]
    assert log[0][0] == 13
    assert log[1][0] > 13  # after the time-budgeted tick, whatever its length
    assert log[2][0] == log[1][0] + 7
    assert log[3][0] == log[2][0] + 30
    assert trainer.step == log[3][0] + 20


def test_a_live_run_replays_to_identical_metrics(digits):
    original = live_style_run(digits)
    expected = state_of(original)
    # Through JSON, as a submitted report carries it.
    log = json.loads(json.dumps(original.hyper_log))
    rebuilt = replay(original.initial_config, log, original.step, dataset=digits)
    got = state_of(rebuilt)
    assert got["step"] == expected["step"] and got["epoch"] == expected["epoch"]
    assert got["metrics"] == expected["metrics"]
    assert got["angles"] == expected["angles"]
    assert got["history"] == expected["history"]
    for a, b in zip(got["weights"], expected["weights"], strict=True):
        assert torch.equal(a, b)
    assert rebuilt.hyper_log == original.hyper_log


def test_replaying_without_the_changes_differs(digits):
    """The log matters: the same steps without it end elsewhere (so the equality above is not vacuous)."""
    original = live_style_run(digits)
    plain = replay(original.initial_config, [], original.step, dataset=digits)
    assert not np.allclose(plain.snapshot().embeddings, original.snapshot().embeddings)


def test_replay_to_an_earlier_step_stops_there(digits):
    trainer = Trainer(CONFIG, dataset=digits)
    trainer.advance(steps=12)
    trainer.set_hyper(margin=0.2)
    middle = state_of(trainer)
    trainer.advance(steps=5)
    rebuilt = replay(CONFIG, trainer.hyper_log, 12, dataset=digits)
    rebuilt.set_hyper(margin=0.2)
    assert state_of(rebuilt)["metrics"] == middle["metrics"]


def test_max_epochs_refuses_a_long_replay_before_training(digits):
    trainer = Trainer(CONFIG, dataset=digits)
    limit = 2 * trainer.steps_per_epoch
    assert replay(CONFIG, [], limit, dataset=digits, max_epochs=2).step == limit
    with pytest.raises(ValueError, match=f"step {limit + 1} is beyond 2 epochs"):
        replay(CONFIG, [], limit + 1, dataset=digits, max_epochs=2)


@pytest.mark.parametrize(
    ("log", "step", "words"),
    [
        ([[5, {"margin": 0.2}], [3, {"margin": 0.3}]], 10, "step order"),
        ([[12, {"margin": 0.2}]], 10, "beyond the run's last step 10"),
        ([[1, {"seed": 4}]], 10, "seed cannot change while training"),
        ([[1, {"margin": 9.0}]], 10, "margin"),
        ([[-1, {"margin": 0.2}]], 10, "non-negative integer"),
        ([[1, {}]], 10, "non-empty mapping"),
        (["oops"], 10, "pair"),
        ([], -2, "non-negative integer"),
    ],
)
def test_a_bad_log_is_one_sentence(digits, log, step, words):
    with pytest.raises(ValueError, match=words):
        replay(CONFIG, log, step, dataset=digits)


def test_changes_at_one_step_and_a_replay_to_step_0_are_read(digits):
    both = replay(CONFIG, [[2, {"lr": 0.005}], [2, {"margin": 0.3}]], 3, dataset=digits)
    assert (both.step, both.config.lr, both.config.margin) == (3, 0.005, 0.3)
    untrained = replay(CONFIG, [[0, {"margin": 0.3}]], 0, dataset=digits)
    assert untrained.step == 0 and untrained.config.margin == 0.3
    with pytest.raises(ValueError, match="the step to replay to must be a non-negative integer, got -1"):
        replay(CONFIG, [], -1, dataset=digits)
    with pytest.raises(ValueError, match=r"hyper_log\[1\]: step 1 comes after step 2"):
        replay(CONFIG, [[2, {"lr": 0.005}], [1, {"margin": 0.3}]], 3, dataset=digits)
