"""AM-Softmax in the running app: the Playground opens it from a link and trains it, Compare trains it beside
softmax. No page, unit or plot module names it: they read its spec (tests/unit/test_am_softmax.py has the rest)."""

from __future__ import annotations

from apphelpers import ENTRY, figure, k, margin_widget, start, texts
from streamlit.testing.v1 import AppTest


def test_the_playground_opens_it_from_a_link_and_trains_it():
    at = start({"loss": "amsoftmax", "dim": "2", "m": "0.35"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=k("loss")).value == "amsoftmax"
    assert margin_widget(at, "margin").label == "Additive margin m (cosine)"
    warnings = texts(at.sidebar.warning)
    assert any(text.startswith("m = 0.35 leaves no room: with 10 classes on a circle AM-Softmax's margin")
               for text in warnings), warnings
    at.button(key=k("step")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    curve = figure(at, "target-logit")
    assert "AM-Softmax (additive margin): cos θ − m" in [trace.get("name") for trace in curve["data"]]
    assert any(text.startswith("Training AM-Softmax with the") for text in texts(at.caption) + texts(at.markdown))


def test_compare_trains_it_beside_softmax():
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.run()
    at.switch_page("app/pages/compare.py")
    at.run()
    at.multiselect(key="cmp-losses").set_value(["softmax", "amsoftmax"]).run()
    at.button(key="cmp-step").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[0].value["Loss"]) == ["Softmax", "AM-Softmax"]
