"""The loop behind every advance (toy_models.train.loop.train_for), at its limits: exactly 0 steps, epochs or
seconds train nothing; a limit is stopped at exactly, never one step past; a negative limit is one sentence."""

from __future__ import annotations

import pytest

from toy_models.train.loop import train_for


class Counter:
    """take_step and epoch for a run of `per_epoch` steps an epoch."""

    def __init__(self, per_epoch: int = 3):
        self.steps, self.per_epoch = 0, per_epoch

    def take_step(self) -> None:
        self.steps += 1

    def epoch(self) -> int:
        return self.steps // self.per_epoch


@pytest.mark.parametrize("limit", [{"steps": 0}, {"epochs": 0}, {"seconds": 0}, {"seconds": 0.0}])
def test_a_limit_of_exactly_0_trains_nothing(limit):
    run = Counter()
    done = train_for(run.take_step, run.epoch, limit.get("steps"), limit.get("seconds"), limit.get("epochs"))
    assert done == 0 and run.steps == 0


def test_steps_and_epochs_stop_exactly_at_their_limit():
    run = Counter()
    assert train_for(run.take_step, run.epoch, 5, None, None) == 5 and run.steps == 5
    assert train_for(run.take_step, run.epoch, None, None, 2) == 4 and run.steps == 9  # epoch 1 -> exactly 3
    assert train_for(run.take_step, run.epoch, 100, None, 1) == 3 and run.epoch() == 4  # the first limit wins


@pytest.mark.parametrize(("name", "limit"), [("steps", -1), ("epochs", -1), ("seconds", -0.5)])
def test_a_negative_limit_is_one_sentence(name, limit):
    run = Counter()
    kwargs = {"steps": None, "seconds": None, "epochs": None, name: limit}
    with pytest.raises(ValueError, match=f"^{name} must be a non-negative"):
        train_for(run.take_step, run.epoch, kwargs["steps"], kwargs["seconds"], kwargs["epochs"])
    assert run.steps == 0
