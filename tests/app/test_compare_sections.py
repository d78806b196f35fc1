"""The Compare page's papers and verification sections through AppTest (on the harness page
tests/app/_compare_sections_app.py: ?section=papers|verification|both&losses=a,b|none&dim=2|3).

Training is cut to a couple of epochs here (the sections' EPOCHS): these tests check what the sections show and
cache, not the science (tests/unit/test_science_open_set.py does that on full runs).
"""

from __future__ import annotations

import pytest
from apphelpers import ROOT, texts
from streamlit.testing.v1 import AppTest

from app.compare import papers as papers_section
from app.compare import verification as verification_section
from toy_models import experiments

HARNESS = str(ROOT / "tests" / "app" / "_compare_sections_app.py")
CLOSED_FORM_CHARTS = 3  # target logits, angle-plane and cosine-plane decision margins


@pytest.fixture(autouse=True)
def short_training(monkeypatch):
    monkeypatch.setattr(papers_section, "EPOCHS", 2)
    monkeypatch.setattr(verification_section, "EPOCHS", 2)


@pytest.fixture
def count_calls(monkeypatch):
    """Counts the trainings the sections start: {name: calls}."""
    calls = {"paper_runs": 0, "open_set_verification": 0}
    for name in calls:
        original = getattr(experiments, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(experiments, name, counted)
    return calls


def open_harness(**query: str) -> AppTest:
    at = AppTest.from_file(HARNESS, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def captions(at: AppTest) -> list[str]:
    """The captions as read: without the Markdown emphasis (the "Mirrors ..." sentence is in italics)."""
    return [c.replace("*", "") for c in texts(at.caption)]


def test_nothing_selected_gets_one_sentence_per_section_and_nothing_else(count_calls):
    at = open_harness(losses="none")
    assert texts(at.info) == ["Pick at least one loss to reproduce the papers' figures.",
                              "Pick at least one loss to verify on held-out classes."]
    assert not charts(at) and not at.button and not at.multiselect
    assert count_calls == {"paper_runs": 0, "open_set_verification": 0}


@pytest.mark.parametrize(("losses", "dim"), [("arcface", "2"), ("softmax,cosface", "3"),
                                             ("softmax,sphereface,cosface,arcface", "2"),
                                             ("sphereface,normface", "3")])
def test_the_closed_form_figures_show_at_once_with_their_captions(losses, dim, count_calls):
    at = open_harness(section="papers", losses=losses, dim=dim)
    assert len(charts(at)) == CLOSED_FORM_CHARTS
    mirrored = [c for c in captions(at) if "Mirrors" in c]
    assert len(mirrored) == CLOSED_FORM_CHARTS
    assert any(c.endswith("Mirrors ArcFace Fig. 4(b).") for c in mirrored)
    assert any(c.endswith("Mirrors CosFace Fig. 2.") for c in mirrored)
    assert at.button(key="cmp-papers-run").label == "Reproduce the figures"
    assert count_calls["paper_runs"] == 0  # nothing trains before the button


@pytest.mark.slow
def test_reproduce_trains_once_and_shows_every_figure(count_calls):
    at = open_harness(section="papers", losses="softmax,cosface,arcface", dim="3")
    at.button(key="cmp-papers-run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # 3 closed-form + target angles + pair angles + toy (3 chosen + 3 CosFace margins) + 4 SphereFace spheres
    assert len(charts(at)) == CLOSED_FORM_CHARTS + 2 + 6 + 4
    mirrored = " ".join(c for c in captions(at) if "Mirrors" in c)
    for figure in ("ArcFace Fig. 4(a)", "ArcFace Figs. 6–7", "ArcFace Fig. 3 and CosFace Fig. 4", "SphereFace Fig. 5"):
        assert f"Mirrors {figure}." in mirrored
    cache = at.session_state["cmp-papers-results"]
    assert len(cache) == 1 and set(next(iter(cache.values()))) == {"chosen", "toy", "sphereface"}
    at.run()  # a rerun (any widget) shows the cached figures without training again
    assert len(charts(at)) == CLOSED_FORM_CHARTS + 2 + 6 + 4
    assert at.button(key="cmp-papers-run").disabled  # the figures of these settings are there
    assert count_calls["paper_runs"] == 1


@pytest.mark.slow
def test_verification_holds_out_the_last_two_classes_and_reports_every_loss(count_calls):
    at = open_harness(section="verification", losses="softmax,sphereface,cosface,arcface", dim="3")
    holdout = at.multiselect(key="cmp-verify-holdout")
    assert holdout.value == [8, 9]
    at.button(key="cmp-verify-run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [records] = at.session_state["cmp-verify-results"].values()
    assert [r.config.holdout_classes for r in records] == [(8, 9)] * 4
    table = at.table[0].value
    assert list(table["Loss"]) == ["Softmax", "SphereFace, m = 1.5 (multiplies θ)",
                                   "CosFace, m = 0.35 (cosine units)", "ArcFace, m = 0.50 rad (28.6°)"]
    assert list(table.columns) == ["Loss", "AUC", "TAR @ FAR 1e-2", "TAR @ FAR 1e-3", "same-class pairs",
                                   "different-class pairs"]
    # The table's AUC is the library's verification AUC of the same run (as the command line reports it).
    assert list(table["AUC"]) == [f"{r.metrics['verification_auc']:.3f}" for r in records]
    assert list(table["TAR @ FAR 1e-3"]) == [f"{r.metrics['tar_at_far_1e-3']:.3f}" for r in records]
    # The ordering sentence: success when the papers' order holds, a warning that explains it when not.
    finding = texts(at.success) + texts(at.warning)
    assert len(finding) == 1 and "AUC from best to worst" in finding[0]
    aucs = {r.config.loss: r.metrics["verification_auc"] for r in records}
    papers_order_holds = all(aucs[m] > aucs["softmax"] for m in ("sphereface", "cosface", "arcface"))
    assert bool(at.success) == papers_order_holds
    assert len(charts(at)) == 2  # the ROC and the held-out pair angles
    at.toggle(key="cmp-verify-log-far").set_value(False).run()
    assert count_calls["open_set_verification"] == 1  # the axis changed, the run was not repeated


@pytest.mark.slow
@pytest.mark.parametrize(("held", "sentence"), [
    (list(range(9)), "Holding out 9 of the 10 classes leaves 1 to train on: at least two are needed, so nothing "
                     "was trained."),
    ([3], "Hold out at least two classes: verification needs pairs of different classes the model never saw."),
    ([], "Hold out at least two classes: verification needs pairs of different classes the model never saw."),
])  # fmt: skip
def test_a_held_out_set_that_cannot_work_gets_one_sentence_and_keeps_what_was_trained(held, sentence, count_calls):
    at = open_harness(section="verification", losses="softmax,arcface", dim="2")
    at.button(key="cmp-verify-run").click().run()
    trained = dict(at.session_state["cmp-verify-results"])
    at.multiselect(key="cmp-verify-holdout").set_value(held).run()
    assert not at.exception
    assert texts(at.warning) == [sentence]
    assert not at.table and not charts(at)
    with pytest.raises(KeyError):
        at.button(key="cmp-verify-run")
    assert count_calls["open_set_verification"] == 1  # nothing trained for the bad set
    assert dict(at.session_state["cmp-verify-results"]) == trained  # nothing the user had is lost
    at.multiselect(key="cmp-verify-holdout").set_value([8, 9]).run()
    assert at.table and count_calls["open_set_verification"] == 1  # back to the trained set: shown from the cache


def test_the_held_out_classes_survive_a_visit_to_another_page():
    at = open_harness(section="verification", losses="softmax,arcface", dim="3")
    at.multiselect(key="cmp-verify-holdout").set_value([6, 7]).run()
    at.query_params["section"] = "papers"  # a run that does not draw the section: Streamlit drops its widgets
    at.run()
    assert "cmp-verify-holdout" not in at.session_state
    at.query_params["section"] = "verification"
    at.run()
    assert at.multiselect(key="cmp-verify-holdout").value == [6, 7]
