"""The margin sweep section (app.compare.sweep) through AppTest: start, stop, resume, cache, bad input."""

from __future__ import annotations

import json

import pytest
from apphelpers import ROOT, texts
from streamlit.testing.v1 import AppTest

from toy_models.sweep import margin_grid

SWEEP_APP = str(ROOT / "tests" / "app" / "_sweep_app.py")


def open_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(SWEEP_APP, default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def state(at: AppTest):
    return at.session_state["sw-state"]


def figures(at: AppTest) -> list[dict]:
    charts = [e for e in at.get("plotly_chart")]
    return [json.loads(c.proto.spec) for c in charts]


def run_until_done(at: AppTest, limit: int = 60) -> None:
    for _ in range(limit):
        if state(at).running is None:
            return
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    raise AssertionError("the sweep did not finish")


def test_a_sweep_trains_shows_one_frame_per_margin_and_is_kept():
    at = open_app({"losses": "softmax,cosface,arcface", "dim": "3"})
    assert at.selectbox(key="sw-loss").options == ["CosFace (LMCL)", "ArcFace"]  # softmax: no margin
    at.selectbox(key="sw-loss").set_value("arcface")
    at.number_input(key="sw-epochs").set_value(3)
    at.run()
    assert not figures(at)
    at.button(key="sw-start").click().run()  # 3 epochs of digits fit in the first slice
    run_until_done(at)
    sweep = next(iter(state(at).sweeps.values()))
    assert sweep.done and sweep.trainer.epoch == 3
    assert sweep.margins == margin_grid("arcface", 10, 3)
    (spec,) = figures(at)
    assert len(spec["frames"]) == 8 == len(spec["layout"]["sliders"][0]["steps"])
    assert any(t.startswith("Done: 8 margins, epoch 3 of 3") for t in texts(at.caption))
    # A rerun shows the same finished sweep and trains nothing more.
    step = sweep.step
    at.run()
    assert sweep.step == step and len(figures(at)) == 1 and len(state(at).sweeps) == 1
    assert not at.get("button") or all(b.key != "sw-start" for b in at.button)


def test_coming_back_shows_the_finished_sweep_without_training():
    at = open_app({"losses": "cosface"})
    at.number_input(key="sw-epochs").set_value(2)
    at.button(key="sw-start").click().run()
    run_until_done(at)
    (before,) = figures(at)
    at.query_params["away"] = "1"
    at.run()
    assert not figures(at)
    del at.query_params["away"]
    at.run()
    (after,) = figures(at)  # the settings the user left, and their sweep
    assert at.number_input(key="sw-epochs").value == 2
    assert any(t.startswith("Done: 8 margins, epoch 2 of 2") for t in texts(at.caption))
    assert after["layout"]["title"] == before["layout"]["title"]
    assert len(state(at).sweeps) == 1 and state(at).running is None


@pytest.mark.slow
def test_stop_and_resume():
    at = open_app()
    at.number_input(key="sw-epochs").set_value(200)
    at.button(key="sw-start").click().run()
    sweep = next(iter(state(at).sweeps.values()))
    assert 0 < sweep.progress < 1
    at.button(key="sw-stop").click().run()
    assert state(at).running is None
    stopped_at = sweep.step
    at.run()
    at.run()
    assert sweep.step == stopped_at  # stopped means no more training
    assert any(t.startswith("Stopped: 8 margins") for t in texts(at.caption)), texts(at.caption)
    at.button(key="sw-resume").click().run()
    assert state(at).running is not None and sweep.step > stopped_at
    assert len(state(at).sweeps) == 1  # resumed the same sweep, not a new one


def test_beyond_the_workable_range_is_one_sentence_and_nothing_is_lost():
    at = open_app({"losses": "cosface", "dim": "2"})
    at.number_input(key="sw-epochs").set_value(1)
    at.button(key="sw-start").click().run()
    run_until_done(at)
    assert len(figures(at)) == 1
    high = next(n for n in at.number_input if n.key.startswith("sw-high-"))
    high.set_value(0.3).run()  # 10 classes on a circle leave CosFace room only below 0.19
    errors = texts(at.error)
    assert errors == ["CosFace (LMCL)'s margin must lie in [0.00, 0.19) (cosine units) for 10 classes "
                      "on a circle, so 0.3 is beyond the workable range."]
    assert not at.exception
    assert at.button(key="sw-start").disabled
    assert len(figures(at)) == 1  # the finished sweep is still on screen
    assert "Showing the last sweep drawn; these settings have not been swept yet." in texts(at.caption)


def test_no_margin_loss_chosen():
    at = open_app({"losses": "softmax"})
    assert texts(at.info) == ["A margin sweep needs SphereFace, CosFace or ArcFace among the chosen losses."]


def test_a_dataset_that_cannot_load_is_one_sentence(tmp_path):
    at = AppTest.from_string(f"""
from app.compare.sweep import render
from toy_models.train import TrainConfig
render([TrainConfig(loss="arcface", dataset="mnist", data_dir={str(tmp_path)!r})], key="sw")
""", default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = texts(at.error)
    assert error.startswith("The sweep cannot load its dataset: ") and str(tmp_path) in error
    assert at.button(key="sw-start").disabled


def test_a_sweep_goes_through_the_play_cap_with_its_weight(monkeypatch):
    """On a hosted server a sweep trains only in training slots, as many as it costs: past the cap it waits,
    says so, and starts when the slots free."""
    from app import hosted
    from app.compare.sweep import sweep_weight

    monkeypatch.setenv(hosted.HOSTED_ENV, "1")
    monkeypatch.setenv(hosted.PLAY_CAP_ENV, "2")
    monkeypatch.delenv(hosted.CONFIG_ENV, raising=False)
    hosted.settings.cache_clear()
    hosted.play_slots.cache_clear()
    try:
        assert (sweep_weight(8), sweep_weight(16), sweep_weight(24)) == (2, 2, 3)
        hosted.play_slots().acquire("someone-else", "tab")  # a student playing: one of the two slots
        at = open_app({"losses": "arcface", "dim": "3"})
        at.number_input(key="sw-epochs").set_value(2)
        at.run()
        at.button(key="sw-start").click().run()
        at.run()
        assert state(at).sweeps and all(s.step == 0 for s in state(at).sweeps.values())  # 8 margins need 2 slots
        assert any("queue" in i for i in texts(at.info)), texts(at.info)
        hosted.play_slots().release("someone-else", "tab")
        run_until_done(at)
        assert all(s.done for s in state(at).sweeps.values())
        assert hosted.play_slots().status().playing == 0  # the finished sweep gave its slots back
    finally:
        hosted.settings.cache_clear()
        hosted.play_slots.cache_clear()
