"""app/components/live_plotly.py under AppTest (no browser): it registers, mounts, and sends the figure it was given.

The browser half (the camera surviving ticks) is tests/e2e/test_live_plotly.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

import app.components.live_plotly as lp

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
import plotly.graph_objects as go
import streamlit as st
from app.components.live_plotly import live_plotly

def figure(tick):
    rng = np.random.default_rng(tick)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    fig = go.Figure(go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers", name="pts"))
    fig.update_layout(title={{"text": f"tick {{tick}}"}}, uirevision="keep", scene={{"aspectmode": "cube"}})
    return fig

st.session_state.setdefault("tick", 0)

@st.fragment(run_every={run_every})
def live():
    st.session_state.tick += 1
    live_plotly(figure(st.session_state.tick), key="sphere", height=400, **{options})

live()
live_plotly({{"data": [{{"type": "bar", "y": [1, 2]}}], "layout": {{}}}}, key="bars")
"""


def run_app(options: str = "{}", run_every: str = "1.0") -> AppTest:
    at = AppTest.from_string(SCRIPT.format(root=str(ROOT), options=options, run_every=run_every), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_mounts_in_a_fragment_and_sends_the_figure_it_was_given():
    at = run_app()
    element = lp.find_live_plotly(at, "sphere")
    assert element.type == "bidi_component"
    sent = lp.sent_figure(element)
    tick = at.session_state["tick"]
    assert sent["layout"]["title"]["text"] == f"tick {tick}"
    assert sent["layout"]["uirevision"] == "keep"
    assert "template" not in sent["layout"], "the app theme is applied in the browser"
    trace = sent["data"][0]
    assert trace["type"] == "scatter3d" and trace["name"] == "pts"
    rng = np.random.default_rng(tick)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    assert np.array_equal(lp.decode_array(trace["x"]), xyz[:, 0])
    assert np.array_equal(lp.decode_array(trace["z"]), xyz[:, 2])
    assert sent == json.loads(lp.figure_json(_script_figure(tick)))

    data = lp.sent_data(element)
    assert data["height"] == 400 and data["theme"] is True
    assert data["config"] == {"displaylogo": False}
    assert re.fullmatch(r"/component/app\.components\.live_plotly\.plotlyjs/plotly\.min\.js", data["plotly_url"])

    # A second run is the next tick: same element, new data.
    at.run()
    again = lp.sent_figure(lp.find_live_plotly(at, "sphere"))
    assert again["layout"]["title"]["text"] == f"tick {tick + 1}"


def _script_figure(tick: int) -> go.Figure:
    rng = np.random.default_rng(tick)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    fig = go.Figure(go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers", name="pts"))
    fig.update_layout(title={"text": f"tick {tick}"}, uirevision="keep", scene={"aspectmode": "cube"})
    return fig


def test_plotly_js_is_served_from_the_plotly_package_not_sent_with_the_data(monkeypatch):
    import streamlit.components.v1 as v1

    declared = {}

    def fake_declare(name, path=None, url=None):
        declared.update(name=name, path=path, url=url)
        return type("Component", (), {"name": f"app.components.live_plotly.{name}"})()

    monkeypatch.setattr(v1, "declare_component", fake_declare)
    assert lp.plotly_js_url() == "/component/app.components.live_plotly.plotlyjs/plotly.min.js"
    assert Path(declared["path"]) == lp.PLOTLY_JS_DIR and declared["url"] is None
    assert (lp.PLOTLY_JS_DIR / lp.PLOTLY_JS_FILE).stat().st_size > 1_000_000
    monkeypatch.undo()

    at = run_app()
    element = lp.find_live_plotly(at, "sphere")
    assert len(element.proto.js_content) < 30_000, "only the small module is inlined"
    assert len(element.proto.json) < 50_000, "a tick carries the figure, not plotly.js"
    assert element.proto.isolate_styles is False, "plotly's global CSS must reach the graph"
    js = element.proto.js_content
    assert "export default function" in js and "Plotly.react" in js
    assert not re.search(r"https?://", js), "nothing is fetched from a CDN"


def test_two_instances_and_a_figure_dict():
    at = run_app()
    bars = lp.sent_figure(lp.find_live_plotly(at, "bars"))
    assert bars["data"] == [{"type": "bar", "y": [1, 2]}]
    with pytest.raises(LookupError, match="found 2"):
        lp.find_live_plotly(at)


def test_theme_none_keeps_the_template_and_config_merges():
    at = run_app(options='{"theme": None, "config": {"scrollZoom": False}}')
    element = lp.find_live_plotly(at, "sphere")
    assert "template" in lp.sent_figure(element)["layout"]
    data = lp.sent_data(element)
    assert data["theme"] is False
    assert data["config"] == {"displaylogo": False, "scrollZoom": False}


def test_base_url_path_is_honoured():
    from streamlit import config

    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", "/lab/")
    try:
        at = run_app()
        url = lp.sent_data(lp.find_live_plotly(at, "sphere"))["plotly_url"]
    finally:
        config.set_option("server.baseUrlPath", before)
    assert url.startswith("/lab/component/") and url.endswith("/plotly.min.js")


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="stable key"):
        lp.live_plotly(go.Figure(), key="")
    with pytest.raises(ValueError, match="theme"):
        lp.live_plotly(go.Figure(), key="k", theme="dark")
    with pytest.raises(TypeError, match="plotly Figure"):
        lp.figure_json([1, 2, 3])
    with pytest.raises(ValueError, match="not a live_plotly element"):
        lp.sent_data(type("Fake", (), {"proto": type("P", (), {"component_name": "other"})()})())


def test_decode_array_roundtrip():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    encoded = json.loads(lp.figure_json({"data": [{"type": "heatmap", "z": values}], "layout": {}}))["data"][0]["z"]
    assert np.array_equal(lp.decode_array(encoded), values)
    assert np.array_equal(lp.decode_array([1, 2]), np.array([1, 2]))
