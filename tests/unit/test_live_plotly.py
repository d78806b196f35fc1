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
    # Sent as number lists rounded to 7 significant digits (what a float32 holds).
    np.testing.assert_allclose(lp.decode_array(trace["x"]), xyz[:, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(lp.decode_array(trace["z"]), xyz[:, 2], rtol=1e-6, atol=1e-6)
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


def _numbers(value) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(v is None or isinstance(v, (int, float)) for v in value)


def _decoded(value):
    """Plotly JSON with every typed array decoded to a numpy array (for comparing two encodings)."""
    if isinstance(value, dict) and "bdata" in value:
        return lp.decode_array(value).astype(np.float64)
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items() if k != "template"}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _assert_same(a, b, where="figure"):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or _numbers(a) or _numbers(b):
        a, b = lp.decode_array(a), lp.decode_array(b)
        # Both are rounded to SIGNIFICANT_DIGITS on the way out (the spec's float64 before, the figure's after)
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-12 * max(1.0, np.nanmax(np.abs(a), initial=0)),
                                   err_msg=where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_the_fast_encoding_of_a_spec_equals_plotlys_own():
    """figure_json(spec) (numpy arrays encoded directly) is the fast path beside Figure.to_plotly_json."""
    from app import plots
    from toy_models.train import History

    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(120, 3)), np.repeat(np.arange(6), 20)
    weights = rng.normal(size=(6, 3))
    target_deg, nearest_deg = rng.uniform(0, 90, 50), rng.uniform(0, 90, 50)
    history = History(epoch=(0, 1, 2), step=(0, 10, 20), loss=(2.0, 1.0, float("nan")),
                      train_accuracy=(0.1, 0.5, 0.7), test_accuracy=(0.1, 0.4, 0.6))
    builders = [
        lambda **k: plots.hypersphere_figure(features, labels, weights, loss="arcface", margin=0.4, **k),
        lambda **k: plots.hypersphere_figure(features[:, :2], labels, weights[:, :2], loss="cosface", margin=0.1, **k),
        lambda **k: plots.angle_histograms(target_deg, nearest_deg, **k),
        lambda **k: plots.training_curves(history, **k),
        lambda **k: plots.target_logit_figure("arcface", 0.5, scale=16.0, **k),
        lambda **k: plots.decision_boundary_figure("combined", (1.0, 0.3, 0.2), **k),  # a 2-D heatmap grid
    ]
    for build in builders:
        fast = json.loads(lp.figure_json(build(as_spec=True)))
        plain = json.loads(lp.figure_json(build()))
        _assert_same(_decoded(fast), _decoded(plain))
    assert "NaN" not in lp.encode_json({"y": [1.0, float("nan")], "z": np.array([np.inf, 1.0])})
