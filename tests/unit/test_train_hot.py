"""Hot settings on a running model: which settings reach the head, the margin checked exactly once on its way
there, and request_hyper, the thread-safe hand-over the app uses while another thread trains."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from toy_models import heads
from toy_models.train import MultiTrainer, TrainConfig, Trainer
from toy_models.train import config as config_module
from toy_models.train.model_run import head_settings

pytestmark = pytest.mark.usefixtures("one_thread")


def weights_of(run) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*run.backbone.parameters(), *run.head.parameters()]]


# --------------------------------------------------------------------------------------------------------
# What reaches the head, and how often the margin is checked


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"loss": "softmax"}, set()),
        ({"loss": "normface"}, {"scale", "gradient"}),
        ({"loss": "cosface"}, {"scale", "gradient", "margin"}),
        ({"loss": "arcface"}, {"scale", "gradient", "margin", "easy_margin"}),
        ({"loss": "sphereface"}, {"scale", "gradient", "margin"}),
        ({"loss": "sphereface", "sphereface_form": "original"},
         {"scale", "gradient", "margin", "lambda_base", "lambda_gamma", "lambda_power", "lambda_min"}),
        ({"loss": "combined"}, {"scale", "gradient", "margin"}),
    ],
)
def test_the_head_declares_which_settings_reach_it(digits, options, expected):
    config = TrainConfig(lr=0.02, lambda_base=50.0, **options).resolved()
    trainer = Trainer(config, dataset=digits)
    settings = head_settings(trainer.config, trainer.head)
    assert set(settings) == expected
    for name, value in settings.items():  # built with the config's values, not the head's own defaults
        assert trainer.head.hyper()[name] == value, name


def test_a_margin_is_checked_exactly_once_between_set_hyper_and_the_head(digits, monkeypatch):
    """set_hyper(margin=m) -> TrainConfig.with_hot checks m -> head.margin -> margin_logits -> target_cos: one
    check_margin call on the whole way, however many steps follow (the head neither re-checks it on set_hyper
    nor in its forward)."""
    calls = []
    original = heads.check_margin

    def counting(loss, margin):
        calls.append(margin)
        return original(loss, margin)

    monkeypatch.setattr(heads, "check_margin", counting)  # MarginHead.set_hyper / __init__ call this one
    monkeypatch.setattr(config_module, "check_margin", counting)  # TrainConfig's
    trainer = Trainer(TrainConfig(), dataset=digits)
    calls.clear()
    trainer.set_hyper(margin=0.3)
    trainer.advance(steps=3)
    trainer.snapshot()
    assert calls == [0.3] and trainer.head.margin == 0.3
    calls.clear()
    trainer.request_hyper(margin=0.25)
    trainer.advance(steps=3)
    assert calls == [0.25] and trainer.head.margin == 0.25
    calls.clear()
    trainer.set_hyper(lr=0.005)  # any new config checks all its values once, by TrainConfig; the head does not
    assert calls == [0.25]


def test_the_heads_own_set_hyper_still_checks_for_direct_callers():
    head = heads.build_head("arcface", 3, 5)
    with pytest.raises(ValueError, match="outside its valid range"):
        head.set_hyper(margin=3.0)
    with pytest.raises(ValueError, match="outside its valid range"):
        heads.build_head("cosface", 3, 5, margin=-0.5)
    with pytest.raises(ValueError, match="scale"):
        head.set_hyper(scale=-1.0)
    assert head.margin == 0.5


def test_none_restores_the_losses_default_margin_and_scale(digits):
    trainer = Trainer(TrainConfig(loss="cosface", margin=0.2, scale=30.0), dataset=digits)
    trainer.set_hyper(margin=None, scale=None)
    assert (trainer.config.margin, trainer.config.scale) == (0.35, 16.0)
    assert (trainer.head.margin, trainer.head.scale) == (0.35, 16.0)


# --------------------------------------------------------------------------------------------------------
# request_hyper: validated in the caller's thread, applied before the next step


def test_a_requested_value_is_applied_before_the_next_step(digits):
    """request_hyper then one step gives exactly what set_hyper then one step gives: the value counts from the
    very next optimiser step, and the event is recorded at that step."""
    requested, direct = Trainer(TrainConfig(), dataset=digits), Trainer(TrainConfig(), dataset=digits)
    requested.advance(steps=10)
    direct.advance(steps=10)
    requested.request_hyper(margin=0.2, lr=0.003)
    assert requested.config.margin == 0.5 and requested.head.margin == 0.5  # nothing changes before the step
    direct.set_hyper(margin=0.2, lr=0.003)
    requested.advance(steps=1)
    direct.advance(steps=1)
    assert requested.last_loss == direct.last_loss
    for a, b in zip(weights_of(requested), weights_of(direct), strict=True):
        assert torch.equal(a, b)
    assert requested.optimizer.param_groups[0]["lr"] == 0.003
    assert requested.events[-1].kind == "hyper" and requested.events[-1].step == 10
    assert requested.events[-1].message == direct.events[-1].message


def test_a_bad_request_raises_in_the_callers_thread_and_changes_nothing(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.request_hyper(margin=0.3)
    with pytest.raises(ValueError, match="outside its valid range"):
        trainer.request_hyper(margin=2.5, lr=0.1)
    with pytest.raises(ValueError, match="seed cannot change"):
        trainer.request_hyper(seed=3)
    with pytest.raises(ValueError, match="unknown setting"):
        trainer.request_hyper(temperature=1.0)
    trainer.advance(steps=1)
    assert trainer.config.margin == 0.3 and trainer.config.lr == 0.01  # the good request stood, the bad ones not


def test_requests_add_up_and_the_newest_value_wins(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.request_hyper(margin=0.3)
    trainer.request_hyper(lr=0.004)
    trainer.request_hyper(margin=0.1)
    snap = trainer.snapshot()  # a snapshot applies a waiting request too
    assert snap.hyper["margin"] == 0.1 and snap.hyper["lr"] == 0.004
    assert [e.kind for e in trainer.events] == ["hyper"]
    trainer.set_hyper(margin=0.2)  # set_hyper after a request: the request first, then the direct change
    trainer.request_hyper(lr=0.002)
    trainer.set_hyper(margin=0.4)
    assert trainer.config.lr == 0.002 and trainer.config.margin == 0.4


def test_request_hyper_from_another_thread_while_advance_runs(digits):
    """The app's situation: advance(seconds=...) runs in one thread while a UI callback hands over slider values
    from another. Every value is applied between steps, in the order requested; the last one stands."""
    trainer = Trainer(TrainConfig(), dataset=digits)
    margins = [round(0.05 + 0.01 * i, 2) for i in range(30)]
    requests_done = threading.Event()
    errors: list[BaseException] = []

    def train() -> None:
        try:
            for _ in range(2_000):  # bounded; normally a few rounds
                trainer.advance(seconds=0.02)
                if requests_done.is_set():
                    trainer.advance(steps=1)
                    return
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    def request() -> None:
        try:
            for margin in margins:
                trainer.request_hyper(margin=margin)
                with pytest.raises(ValueError):
                    trainer.request_hyper(margin=-1.0)
        except BaseException as error:  # handed to the main thread
            errors.append(error)
        finally:
            requests_done.set()

    threads = [threading.Thread(target=train), threading.Thread(target=request)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads) and not errors
    assert trainer.config.margin == margins[-1] and trainer.head.margin == margins[-1]
    applied = [float(e.message.rsplit("→ ", 1)[1]) for e in trainer.events if e.kind == "hyper"]
    assert applied and applied[-1] == margins[-1]
    assert applied == sorted(applied) and set(applied) <= set(margins)  # in request order, none invented
    snap = trainer.snapshot()
    assert snap.hyper["margin"] == margins[-1] and not [e for e in trainer.events if e.kind == "diverged"]


def test_a_multi_trainer_member_takes_requests_of_its_own(digits):
    multi = MultiTrainer(TrainConfig(), dataset=digits)
    multi.advance(steps=3)
    multi.request_hyper(3, margin=0.2)
    multi.request_hyper(1, lr=0.002)
    with pytest.raises(ValueError, match="outside its valid range"):
        multi.request_hyper(2, margin=5.0)
    assert multi.members[3].config.margin == 0.5
    multi.advance(steps=1)
    assert multi.members[3].head.margin == 0.2 and multi.members[3].events[-1].step == 3
    assert multi.members[1].config.lr == 0.002 and multi.members[2].config.margin == 0.35
    assert [m.config.lr for m in multi.members] == [0.01, 0.002, 0.01, 0.01]


def test_reconfigure_goes_through_the_same_checks(digits):
    trainer = Trainer(TrainConfig(), dataset=digits)
    trainer.reconfigure(dataclasses.replace(trainer.config, margin=0.4, lr=0.02))
    assert trainer.head.margin == 0.4 and trainer.optimizer.param_groups[0]["lr"] == 0.02
