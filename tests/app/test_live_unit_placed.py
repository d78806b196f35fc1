"""The live unit with its views placed one by one (as a lesson lays them out), through AppTest."""

from __future__ import annotations

import pytest
from apphelpers import ROOT, run_state
from streamlit.testing.v1 import AppTest

from app.components.live_plotly import find_live_plotly
from app.live import LiveUnit

PLACED = str(ROOT / "tests" / "app" / "_placed_unit_app.py")


@pytest.fixture(scope="module")
def at() -> AppTest:
    at = AppTest.from_file(PLACED, default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_only_the_named_views_are_drawn(at):
    for key in ("placed-sphere", "placed-target-logit"):
        assert find_live_plotly(at, key) is not None
    for key in ("placed-angle-hist", "placed-curves", "placed-decision"):
        with pytest.raises(LookupError):
            find_live_plotly(at, key)
    assert [m.label for m in at.main.metric][:6] == ["W-EC", "W-Inter", "Intra", "Inter", "Closest centres",
                                                     "Tammes bound"]  # fmt: skip


def test_the_run_bar_and_the_controls_are_in_the_sidebar(at):
    assert [b.label for b in at.sidebar.button][:3] == ["Play", "Step", "Reset"]
    assert {"Epoch", "Train accuracy", "Test accuracy", "Loss"} <= {m.label for m in at.sidebar.metric}
    assert at.selectbox(key="placed-loss").disabled  # locked by the preset


def test_the_details_hook_follows_the_training(at):
    calls = len(at.session_state["details-calls"])
    at.button(key="placed-step").click().run()
    assert run_state(at, "placed").trainer.epoch == 1
    seen = at.session_state["details-calls"]
    assert len(seen) > calls and seen[-1] == run_state(at, "placed").trainer.step


def test_an_unknown_view_is_refused_with_one_sentence():
    with pytest.raises(ValueError, match="'spheer' is not a view of the live unit"):
        LiveUnit("x", views={"spheer": None})


def test_training_stops_at_every_epoch_end_for_the_hook():
    from app.training.worker import advance_to_epoch_ends
    from toy_models.train import TrainConfig, Trainer

    trainer = Trainer(TrainConfig(num_threads=1))
    seen: list[tuple[int, float]] = []
    advance_to_epoch_ends(trainer, lambda: seen.append((trainer.epoch, trainer.epoch_fraction)), seconds=60, epochs=3)
    assert seen == [(1, 0.0), (2, 0.0), (3, 0.0)]
    plain = Trainer(TrainConfig(num_threads=1))
    advance_to_epoch_ends(plain, None, seconds=60, epochs=3)
    assert plain.step == trainer.step  # the same training, only watched
