"""AppTests of the Compare page: every loss combination in both dimensions, the statistics table against
`toy_models.metrics`, hot changes reaching one member only, cold changes rebuilding all, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from apphelpers import ENTRY, build_on_threads, record_downloads, texts, unescape
from streamlit.testing.v1 import AppTest

from app.compare import member_defaults
from app.components.live_plotly import find_live_plotly, sent_data
from toy_models import geometry, metrics
from toy_models.heads import LOSSES

PAGE = "app/pages/compare.py"


def open_compare(timeout: float = 60) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def compare_run(at: AppTest):
    return at.session_state["cmp-run"]


def table(at: AppTest):
    assert len(at.dataframe) == 1, "the page shows one statistics table"
    return at.dataframe[0].value


def test_default_page_trains_four_losses_on_identical_batches():
    at = open_compare()
    run = compare_run(at)
    assert tuple(c.loss for c in run.frame.configs) == ("softmax", "sphereface", "cosface", "arcface")
    assert list(table(at)["Loss"]) == ["Softmax", "SphereFace", "CosFace", "ArcFace"]
    for loss in tuple(c.loss for c in run.frame.configs):
        find_live_plotly(at, f"cmp-{loss}-sphere")  # one small view per loss
    # Same initial backbone: every member starts from identical backbone weights.
    first = [m.snapshot().embeddings for m in run.trainer.members]
    assert all(np.array_equal(first[0], e) for e in first[1:])


@pytest.mark.slow
@pytest.mark.parametrize("dim", [2, 3])
def test_every_loss_combination_renders(dim):
    """Every loss alone, every pair and all of them, in 2-D and 3-D: no exception, one view and one table row per
    loss, in the library's order, and the 3-D views (only they) share a camera group. (Every non-empty set grows
    as 2^n with the losses, and a set of three or more adds nothing a pair and the whole set do not exercise.)"""
    at = open_compare()
    at.radio(key="cmp-embedding_dim").set_value(dim).run()
    for size in (1, 2, len(LOSSES)):
        for combo in itertools.combinations(LOSSES, size):
            at.multiselect(key="cmp-losses").set_value(list(combo)).run()
            assert not at.exception, (combo, [e.value for e in at.exception])
            run = compare_run(at)
            assert tuple(c.loss for c in run.frame.configs) == combo
            assert len(table(at)) == len(combo)
            for loss in combo:
                sent = sent_data(find_live_plotly(at, f"cmp-{loss}-sphere"))
                assert (sent.get("camera_group") == "cmp-camera") == (dim == 3), (combo, dim)
            assert all(len(m.snapshot().embeddings[0]) == dim for m in run.trainer.members)


def test_statistics_table_matches_the_metrics_computed_directly():
    at = open_compare()
    at.button(key="cmp-step").click().run()
    run = compare_run(at)
    shown = table(at)
    for row, member in zip(shown.itertuples(index=False), run.trainer.members, strict=True):
        snap = member.snapshot()
        direct = metrics.angle_statistics(snap.embeddings, snap.labels, snap.class_weights)
        assert row[1] == pytest.approx(direct["w_ec_deg"], abs=0.051)
        assert row[2] == pytest.approx(direct["w_inter_deg"], abs=0.051)
        assert row[3] == pytest.approx(direct["intra_deg"], abs=0.051)
        assert row[4] == pytest.approx(direct["inter_deg"], abs=0.051)
        scored = member.evaluate_test()  # the whole test set, through the member's own head
        accuracy = 100 * float(np.mean(scored.predictions == scored.labels))
        assert float(row[5]) == pytest.approx(accuracy, abs=0.051)
        assert row[6] == pytest.approx(direct["min_center_angle_deg"], abs=0.051)
        assert row[7] == pytest.approx(math.degrees(geometry.tammes_angle(10, 3)), abs=0.051)


def test_a_hot_change_reaches_its_member_only_and_keeps_the_weights():
    at = open_compare()
    at.button(key="cmp-step").click().run()
    run = compare_run(at)
    multi, step = run.trainer, run.trainer.step
    before = [m.hyper()["margin"] for m in multi.members]
    at.select_slider(key="cmp-arcface-margin").set_value(0.3).run()
    assert compare_run(at).trainer is multi and multi.step == step, "a margin change must not rebuild"
    after = [m.snapshot().hyper["margin"] for m in multi.members]
    assert after[3] == pytest.approx(0.3)
    assert after[:3] == before[:3]
    assert not any("rebuilt" in t for t in texts(at.caption))


def test_a_cold_change_rebuilds_every_member_and_says_so():
    at = open_compare()
    at.button(key="cmp-step").click().run()
    old = compare_run(at).trainer
    at.number_input(key="cmp-seed").set_value(3).run()
    run = compare_run(at)
    assert run.trainer is not old and run.trainer.step == 0
    assert all(c.seed == 3 for c in run.trainer.configs)
    assert any(c.startswith("Seed changed: every member rebuilt from seed 3.") for c in texts(at.caption))
    # where the four members train, and why, under the run bar (their work counted together)
    assert any("CPU: " in c for c in texts(at.caption))


@pytest.mark.slow
def test_reset_rebuilds_from_the_seed_pauses_and_says_so():
    at = open_compare()
    first = [m.snapshot().embeddings for m in compare_run(at).trainer.members]
    at.button(key="cmp-step").click().run()
    at.button(key="cmp-play").click().run()
    assert compare_run(at).playing
    at.button(key="cmp-reset").click().run()
    run = compare_run(at)
    assert not run.playing and run.trainer.step == 0
    assert all(np.array_equal(a, m.snapshot().embeddings) for a, m in zip(first, run.trainer.members, strict=True))
    assert any(c.startswith("Reset: every member rebuilt from seed 0.") for c in texts(at.caption))


def test_nothing_selected_gets_one_sentence_and_keeps_the_settings():
    at = open_compare()
    at.select_slider(key="cmp-arcface-margin").set_value(0.3).run()
    at.multiselect(key="cmp-losses").set_value([]).run()
    assert not at.exception
    assert [unescape(w.value) for w in at.warning] == [
        "Nothing to compare: choose at least one loss in the sidebar's Losses box."
    ]
    at.multiselect(key="cmp-losses").set_value(["arcface"]).run()
    assert compare_run(at).trainer.configs[0].margin == pytest.approx(0.3), "the ArcFace margin was kept"


@pytest.mark.parametrize("dim", [2, 3])
def test_member_defaults_fit_the_classes_and_dimension(dim):
    sep = geometry.tammes_angle(10, dim)
    need = geometry.min_scale(10, dim, 0.99).scale
    arc = member_defaults("arcface", 10, dim)
    cos = member_defaults("cosface", 10, dim)
    assert 0 < arc["margin"] <= 0.4 * geometry.max_margin("arcface", separation_rad=sep) + 1e-9
    assert 0 < cos["margin"] <= 0.4 * geometry.max_margin("cosface", separation_rad=sep) + 1e-9
    assert arc["scale"] >= need and cos["scale"] >= need
    m1, m2, m3 = member_defaults("combined", 10, dim)["margin"]
    assert geometry.max_margin("combined", separation_rad=sep, margin=(m1, m2, m3), component="m3") > m3
    assert "scale" not in member_defaults("softmax", 10, dim)


def test_export_tab_before_training_then_files_that_replay(monkeypatch):
    """The Compare page's Export tab: one sentence before any step; after a Step, every member's files are
    built on threads of their own (as Streamlit runs them on a click), the JSON replays to the same metrics
    (the whole comparison: only the all-at-once trainer reproduces a member exactly) and the weights reload."""
    import json

    from toy_models import cli, export

    captured = record_downloads(monkeypatch)
    at = open_compare()
    assert export.NOTHING_YET in [i.value for i in at.info]
    assert not captured
    at.button(key="cmp-step").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="cmp-export-model").options == ["Softmax", "SphereFace", "CosFace", "ArcFace"]
    results = build_on_threads(captured)
    assert set(results) == set(captured), f"still building: {set(captured) - set(results)}"
    record = json.loads(results["Metrics and config (JSON)"])
    assert record["command"] == "compare" and len(record["runs"]) == 4
    assert cli.replay(record).startswith("replay matches: 4 run(s)")  # ReplayMismatch on any difference
    backbone, head = export.load_weights(results["Weights (.pt)"])
    assert head is not None and sum(p.numel() for p in backbone.parameters()) > 0
    assert "<script src" not in results["Figure (HTML)"] and "Plotly.newPlot" in results["Figure (HTML)"]


def _compare_at(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.query_params.update(query)
    at.switch_page("app/pages/compare.py")
    return at.run()


def test_a_compare_link_reproduces_the_comparison_and_the_page_writes_one():
    at = _compare_at({"losses": "cosface,arcface", "arcface.margin": "0.3", "cosface.scale": "20", "dim": "2",
                      "seed": "4"})
    assert not at.exception, [e.value for e in at.exception]
    configs = {c.loss: c for c in compare_run(at).frame.configs}
    assert list(configs) == ["cosface", "arcface"]
    assert configs["arcface"].margin == pytest.approx(0.3) and configs["cosface"].scale == 20.0
    assert all(c.embedding_dim == 2 and c.seed == 4 for c in configs.values())
    written = dict(at.query_params)
    assert written["losses"] in ("cosface,arcface", ["cosface,arcface"])
    again = _compare_at({k: v[0] if isinstance(v, list) else v for k, v in written.items()})
    assert [(c.loss, c.margin, c.scale, c.seed) for c in compare_run(again).frame.configs] == [
        (c.loss, c.margin, c.scale, c.seed) for c in configs.values()]  # the written link reproduces it
    link = next(c.value for c in at.code if "losses=" in c.value)
    assert "arcface.margin=0.3" in link and "embedding_dim=2" in link


def test_a_bad_compare_link_value_is_one_sentence_and_the_default_stays():
    at = _compare_at({"losses": "arcface,tripletface", "arcface.margin": "9", "batch": "abc"})
    assert not at.exception
    warnings = texts(at.warning)
    assert any("'tripletface', which is not a loss" in w for w in warnings), warnings
    assert any("arcface.margin" not in w and "margin=9" in w and "maximum 1.57" in w for w in warnings), warnings
    assert any("batch=abc" in w for w in warnings), warnings
    configs = compare_run(at).frame.configs
    assert [c.loss for c in configs] == ["arcface"] and configs[0].margin == pytest.approx(1.57)


@pytest.mark.parametrize(("losses", "cells"), [("softmax,sphereface,cosface,arcface", [0.25] * 4),
                                               ("softmax,normface,sphereface,cosface,arcface", [1 / 3] * 6)])
def test_up_to_exactly_four_losses_share_one_row_and_five_wrap_three_to_a_row(losses, cells):
    at = _compare_at({"losses": losses, "dim": "2"})
    assert not at.exception, [e.value for e in at.exception]
    views = [c.weight for c in at.columns if c.weight in (0.25, pytest.approx(1 / 3))]
    assert views == pytest.approx(cells)  # five: two rows of three cells, the last one left empty
