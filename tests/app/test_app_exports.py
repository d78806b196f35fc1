"""The Playground's export panel: one sentence before training, four download buttons after a Step."""

from __future__ import annotations

import pytest
from apphelpers import build_on_threads, k, record_downloads, start

from toy_models import export

LABELS = ["Embeddings (CSV)", "Metrics and config (JSON)", "Weights (.pt)", "Figure (HTML)"]


def download_buttons(at):
    return [e for e in at.get("download_button")]


@pytest.mark.slow
def test_export_panel_says_why_before_training_and_offers_files_after_a_step():
    at = start()
    assert not at.exception
    assert export.NOTHING_YET in [i.value for i in at.info]
    assert download_buttons(at) == []

    at.button(key=k("step")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert export.NOTHING_YET not in [i.value for i in at.info]
    buttons = download_buttons(at)
    assert [b.proto.label for b in buttons] == LABELS
    # The files are built on click only (deferred), and a download does not rerun the page.
    assert all(b.proto.deferred_file_id and not b.proto.url and b.proto.ignore_rerun for b in buttons)
    figure = at.selectbox(key=k("export-figure"))
    assert figure.options == ["Hypersphere", "Angle histograms", "Training curves", "Target logit",
                              "Decision margins"]

    at.button(key=k("reset")).click().run()  # a fresh model has nothing to export again
    assert export.NOTHING_YET in [i.value for i in at.info] and download_buttons(at) == []


def test_every_figure_of_the_panel_builds_as_standalone_html():
    """The builders behind the figure choice, called as the button's callable would call them."""
    from app.live.base import UnitRun
    from app.live.exports import live_unit_figures
    from app.plots.export import figure_html
    from app.training.handle import ModelHandle
    from app.training.runners import InlineRunner
    from toy_models.train import TrainConfig

    run = UnitRun(handle=ModelHandle(InlineRunner(), [TrainConfig(num_threads=1, hidden=16)]))
    run.handle.advance(epochs=1, seconds=20)
    for loss, margin in (("arcface", 0.5), ("cosface", 0.35), ("sphereface", 1.5), ("softmax", None)):
        values = {"loss": loss, "margin": margin, "scale": 30.0, "sphereface_form": "normalized"}
        for name, build in live_unit_figures(run, values).items():
            html = figure_html(build(), title=name)
            assert "<script src" not in html and "Plotly.newPlot" in html, (loss, name)


def test_each_download_callable_builds_its_file_without_hanging(monkeypatch):
    """The buttons' callables, run as Streamlit runs them on a click: on a thread of their own, while the
    run's training lock is free. (A figure builder that takes the lock inside a callable that already held
    it used to hang the download and the training with it.)"""
    captured = record_downloads(monkeypatch)
    at = start()
    at.button(key=k("step")).click().run()
    assert list(captured) == LABELS and all(callable(v) for v in captured.values())
    results = build_on_threads(captured, timeout=60)
    assert set(results) == set(LABELS), f"still building: {set(LABELS) - set(results)}"
    assert results["Embeddings (CSV)"].startswith(b"index,split,label,class_name,prediction,x0,x1,x2\n")
    assert '"command": "train"' in results["Metrics and config (JSON)"]
    assert results["Weights (.pt)"][:2] == b"PK"  # torch.save's zip format
    assert "Plotly.newPlot" in results["Figure (HTML)"]


def _compare_like_app():
    """The panel as the Compare page would use it: one run per loss, the members of one MultiTrainer."""
    import streamlit as st

    from app.live.exports import export_panel
    from app.training.handle import ModelHandle
    from app.training.runners import InlineRunner
    from toy_models.train import TrainConfig

    if "multi" not in st.session_state:
        configs = [TrainConfig(hidden=16, num_threads=1, loss=loss) for loss in ("softmax", "cosface")]
        st.session_state.multi = ModelHandle(InlineRunner(), configs, compare=True)
    multi = st.session_state.multi
    if st.button("Train", key="train"):
        multi.advance(epochs=1, seconds=20)
    export_panel(multi, ["softmax", "cosface"], {"Nothing": {"data": [], "layout": {}}}, key="cmp")


def test_the_panel_offers_a_choice_of_model_for_several_runs():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_compare_like_app, default_timeout=30).run()
    assert [i.value for i in at.info] == [export.NOTHING_YET] and not at.selectbox
    at.button(key="train").click().run()
    assert not at.exception and not at.info
    assert at.selectbox(key="cmp-model").options == ["softmax", "cosface"]
    assert at.selectbox(key="cmp-figure").options == ["Nothing"]
    assert [b.proto.label for b in download_buttons(at)] == LABELS
