"""The glyph data set in the Playground and on Compare: the K control, held-out identities, views past 3-D."""

from __future__ import annotations

import pytest
from apphelpers import ENTRY, epoch, figure, k, run_state, start, texts
from streamlit.testing.v1 import AppTest

from app.live import exports, views
from toy_models.glyphs import HOLDOUT_IDENTITIES


def _no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_glyphs_in_16_d_train_on_k_identities_and_say_why_nothing_is_drawn():
    at = start({"dataset": "glyphs", "train_identities": "12", "dim": "16"}, timeout=60)
    _no_exception(at)
    assert at.number_input(key=k("train_identities")).value == 12
    at.button(key=k("step")).click().run()
    _no_exception(at)
    assert epoch(at) == 1
    trainer = run_state(at).trainer
    assert trainer.config.train_identities == 12 and trainer.config.embedding_dim == 16
    data = trainer.dataset
    assert data.num_classes == 12 and int(data.y_train.max()) == 11  # the held-out identities are never trained on
    assert len(data.holdout_classes) == HOLDOUT_IDENTITIES and min(data.holdout_classes) == 12
    assert views.undrawn_text(16, 12) in [i.value for i in at.info]
    assert {"Intra", "Inter", "Tammes bound"} <= {m.label for m in at.metric}
    names = exports.live_unit_figures(run_state(at), at.session_state[k("values")])
    assert "Hypersphere" not in names and "Angle histograms" in names  # no sphere to export either
    at.number_input(key=k("train_identities")).set_value(20).run()
    _no_exception(at)
    assert run_state(at).trainer.dataset.num_classes == 20 and at.query_params["train_identities"] == "20"
    assert any(c.startswith("Training identities K changed: model rebuilt from seed 0.") for c in texts(at.caption))


def test_many_glyph_identities_on_the_sphere_drop_the_legend_and_say_so():
    at = start({"dataset": "glyphs", "train_identities": "40", "dim": "3"}, timeout=60)
    _no_exception(at)
    assert figure(at, "sphere")["layout"]["showlegend"] is False
    assert views.many_classes_text(40) in texts(at.caption)
    at.number_input(key=k("train_identities")).set_value(views.LEGEND_MAX_CLASSES).run()  # exactly the limit
    _no_exception(at)
    assert figure(at, "sphere")["layout"].get("showlegend", True) is True
    assert not [c for c in texts(at.caption) if "the ten colours repeat" in c]


def test_other_datasets_show_no_k_control():
    at = start()
    assert not [w for w in at.number_input if w.key == k("train_identities")]
    assert "train_identities" not in at.query_params


def test_compare_trains_every_member_on_the_same_glyph_identities():
    at = AppTest.from_file(ENTRY, default_timeout=90)
    at.query_params.update({"dataset": "glyphs", "train_identities": "10", "embedding_dim": "16",
                            "losses": "softmax,normface,arcface"})
    at.switch_page("app/pages/compare.py")
    at.run()
    _no_exception(at)
    frame = at.session_state["cmp-run"].handle.frame
    assert [c.train_identities for c in frame.configs] == [10, 10, 10]
    assert any(views.undrawn_text(16, 10) in i.value for i in at.info)


@pytest.mark.slow  # two verification runs of about 1,600 steps each
def test_compare_verifies_on_the_glyphs_own_held_out_identities_and_compares_k_with_k():
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.query_params.update({"dataset": "glyphs", "train_identities": "6", "embedding_dim": "16",
                            "losses": "softmax,normface,arcface"})
    at.switch_page("app/pages/compare.py")
    at.run()
    _no_exception(at)
    # Nothing to choose: the glyphs hold out their own identities.
    assert not [m for m in at.multiselect if m.key == "cmp-verify-holdout"]
    assert any("the glyphs' own 72 identities" in c.value for c in at.caption)
    at.button(key="cmp-verify-run").click().run()
    _no_exception(at)
    finding = next(i.value for i in at.info if "training identities" in i.value)
    assert finding.startswith("With K = 6 training identities, AUC on the held-out identities from best to worst:")
    assert "ArcFace against NormFace" in finding and "Change the training identities K" in finding
    at.number_input(key="cmp-train_identities").set_value(9).run()
    at.button(key="cmp-verify-run").click().run()
    _no_exception(at)
    finding = next(i.value for i in at.info if "training identities" in i.value)
    assert "From K = 6 to K = 9 the AUC moved by Softmax" in finding
    kept = at.table[-1].value
    assert list(kept["K"]) == ["6", "9"] and {"Softmax", "NormFace", "ArcFace"} <= set(kept.columns)
