"""The live unit (app.live) through AppTest: a preset, locked and hidden controls, two units on one page."""

from __future__ import annotations

import pytest
import torch
from apphelpers import ROOT, run_state, texts
from streamlit.testing.v1 import AppTest

from app.live import LiveUnit

TWO_UNITS = str(ROOT / "tests" / "app" / "_two_units_app.py")


def two_units(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(TWO_UNITS, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def epochs(at: AppTest) -> list[int]:
    return [int(m.value.replace(",", "")) for m in at.metric if m.label == "Epoch"]


def test_the_preset_is_applied():
    at = two_units()
    config = run_state(at, "a").trainer.config
    assert (config.loss, config.margin, config.embedding_dim, config.dataset) == ("cosface", 0.2, 2, "toy")
    assert at.selectbox(key="a-loss").value == "cosface"
    assert at.slider(key="a-margin").value == pytest.approx(0.2)
    assert at.radio(key="a-embedding_dim").value == 2


def test_a_locked_control_is_disabled_and_the_url_cannot_change_it():
    at = two_units()
    margin = at.slider(key="a-margin")
    assert margin.disabled
    assert "This lesson fixed this." in [c.replace(":material/lock: ", "") for c in texts(at.caption)]
    assert at.selectbox(key="a-loss").disabled  # a margin means something only for its own loss
    assert not at.slider(key="a-scale").disabled  # the rest stays free

    at = two_units({"m": "0.3", "loss": "arcface", "s": "20"})
    notices = [w for w in texts(at.warning) if w.startswith("URL")]
    assert "URL value m=0.3 ignored: This lesson fixes Margin m (cosine) at 0.2." in notices
    assert any(n.startswith("URL value loss=arcface ignored: This lesson fixes Loss") for n in notices)
    assert len(notices) == 2  # one sentence each; s=20 is not locked and is taken
    config = run_state(at, "a").trainer.config
    assert (config.loss, config.margin, config.scale) == ("cosface", 0.2, 20.0)


def test_a_hidden_control_is_absent_and_in_force():
    at = two_units({"dataset": "digits"})
    with pytest.raises(KeyError):
        at.selectbox(key="a-dataset")
    assert run_state(at, "a").trainer.dataset.name == "toy"
    assert any(w.startswith("URL value dataset=digits ignored") for w in texts(at.warning))


@pytest.mark.slow
def test_two_units_on_one_page_are_independent():
    at = two_units()
    a, b = run_state(at, "a"), run_state(at, "b")
    assert a is not b and a.trainer is not b.trainer
    assert b.trainer.config.loss == "arcface" and b.trainer.dataset.name == "digits"
    at.button(key="a-step").click().run()
    assert epochs(at) == [1, 0]
    b_weights = [p.detach().clone() for p in b.trainer.backbone.parameters()]
    at.select_slider(key="b-margin").set_value(0.3).run()
    assert b.trainer.config.margin == pytest.approx(0.3) and a.trainer.config.margin == pytest.approx(0.2)
    assert epochs(at) == [1, 0]
    assert all(torch.equal(x, y) for x, y in zip(b_weights, b.trainer.backbone.parameters(), strict=True))
    # Only unit "a" is bound to the address bar: b's margin is not in it.
    assert at.query_params["margin"] == "0.2" and at.query_params["loss"] == "cosface"
    at.button(key="b-play").click().run()
    assert b.playing and not a.playing
    at.run()
    at.run()  # ticks: b trains, a (paused) stays at its one epoch
    assert epochs(at)[0] == 1 and epochs(at)[1] > 0


def test_a_bad_preset_or_an_unknown_control_is_refused_with_one_sentence():
    with pytest.raises(ValueError, match=r"^Preset value m=9 is above ArcFace's maximum 1\.57 rad; using 1\.57\.$"):
        LiveUnit("x", preset={"m": "9"})
    with pytest.raises(ValueError, match="locked control 'margn' is not a control"):
        LiveUnit("x", locked={"margn"})
    with pytest.raises(ValueError, match="hidden control 'speed' is not a control"):
        LiveUnit("x", hidden={"speed"})
