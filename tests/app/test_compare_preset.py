"""The Compare unit as a lesson embeds it (tests/app/_compare_preset_app.py): the preset applied, locked controls
disabled with their note and unmovable, hidden ones absent with their preset value in force, the URL ignored, a
bad preset refused with one sentence, each member's values and trainer for the checks; and the Compare page
itself, which fixes nothing, unchanged."""

from __future__ import annotations

import re

import pytest
from apphelpers import ENTRY, ROOT, texts
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from app.compare import member_defaults, parse_preset
from app.compare.unit import CompareUnit
from app.compare.values import merged

HARNESS = str(ROOT / "tests" / "app" / "_compare_preset_app.py")
NOTE = ":material/lock: This lesson fixed this."


def open_harness(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(HARNESS, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def lesson_run(at: AppTest):
    return at.session_state["les-run"]


def margins(at: AppTest) -> dict[str, float]:
    return {c.loss: c.margin for c in lesson_run(at).trainer.configs}


def has_widget(at: AppTest, key: str) -> bool:
    """Whether any widget with this key was drawn."""
    kinds = ("multiselect", "selectbox", "radio", "select_slider", "slider", "number_input", "text_input")
    for kind in kinds:
        try:
            getattr(at, kind)(key=key)
            return True
        except KeyError:
            continue
    return False


def assert_preset_in_force(at: AppTest) -> None:
    run = lesson_run(at)
    assert tuple(c.loss for c in run.frame.configs) == ("cosface", "arcface")  # the library's order
    first = run.trainer.configs[0]
    assert (first.embedding_dim, first.seed, first.lr, first.dataset) == (2, 3, 0.05, "toy")
    assert margins(at) == pytest.approx({"cosface": 0.1, "arcface": 0.2})
    scales = {c.loss: c.scale for c in run.trainer.configs}
    assert scales["cosface"] == 20.0
    # ArcFace's scale is not in the preset: the Compare default for 8 toy identities on a circle.
    assert scales["arcface"] == member_defaults("arcface", 8, 2)["scale"]


def test_the_preset_is_applied():
    at = open_harness()
    assert_preset_in_force(at)
    assert at.multiselect(key="les-losses").value == ["cosface", "arcface"]
    assert at.select_slider(key="les-arcface-margin").value == pytest.approx(0.2)
    assert at.slider(key="les-cosface-margin").value == pytest.approx(0.1)
    assert at.radio(key="les-embedding_dim").value == 2
    assert at.number_input(key="les-seed").value == 3


def test_locked_controls_are_disabled_with_a_note_and_free_ones_are_not():
    at = open_harness()
    for widget in (at.multiselect(key="les-losses"), at.select_slider(key="les-arcface-margin"),
                   at.slider(key="les-cosface-margin"), at.radio(key="les-embedding_dim")):  # fmt: skip
        assert widget.disabled, widget.key
    for widget in (at.select_slider(key="les-lr"), at.number_input(key="les-seed"),
                   at.select_slider(key="les-batch_size"), at.radio(key="les-arcface-gradient")):  # fmt: skip
        assert not widget.disabled, widget.key
    # The selection, each member's margin and the dimension: one note each.
    assert texts(at.caption).count(NOTE.replace("\\", "")) == 4, texts(at.caption)


def test_hidden_controls_are_absent_and_their_preset_values_stay():
    at = open_harness()
    for key in ("les-dataset", "les-backbone", "les-arcface-scale", "les-cosface-scale", "les-data"):
        assert not has_widget(at, key), key
    assert has_widget(at, "les-seed") and has_widget(at, "les-arcface-gradient")
    assert lesson_run(at).trainer.configs[0].dataset == "toy"


def test_a_locked_value_cannot_be_moved_and_a_free_change_keeps_the_preset():
    at = open_harness()
    # A disabled widget cannot move in a browser (nor in AppTest); its state changed behind its back is put back.
    with pytest.raises(AppTestError, match="disabled"):
        at.select_slider(key="les-arcface-margin").set_value(0.3)
    at.session_state["les-losses"] = ["softmax"]
    at.session_state["les-arcface-margin"] = 0.3
    at.session_state["les-embedding_dim"] = 3
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert_preset_in_force(at)
    assert at.select_slider(key="les-arcface-margin").value == pytest.approx(0.2)
    assert at.multiselect(key="les-losses").value == ["cosface", "arcface"]
    assert at.radio(key="les-embedding_dim").value == 2
    # A free cold change rebuilds every member from the new seed, the preset's margins kept.
    at.number_input(key="les-seed").set_value(4).run()
    run = lesson_run(at)
    assert all(c.seed == 4 for c in run.trainer.configs)
    assert margins(at) == pytest.approx({"cosface": 0.1, "arcface": 0.2})
    assert any(c.startswith("Seed changed: every member rebuilt from seed 4.") for c in texts(at.caption))
    # A free hot change reaches its member.
    at.radio(key="les-arcface-gradient").set_value("true").run()
    assert {c.loss: c.gradient for c in lesson_run(at).trainer.configs}["arcface"] == "true"


def test_a_hidden_member_selection_is_not_drawn_and_the_presets_trains():
    at = open_harness({"case": "hidden-losses"})
    assert not has_widget(at, "les-losses")
    assert tuple(c.loss for c in lesson_run(at).frame.configs) == ("cosface", "arcface")
    assert not at.select_slider(key="les-arcface-margin").disabled and has_widget(at, "les-dataset")
    assert not any("fixed this" in t for t in texts(at.caption))


def test_the_url_cannot_override_the_preset():
    at = open_harness({"m": "0.4", "s": "30", "dim": "3", "seed": "9", "losses": "softmax", "dataset": "digits",
                       "loss": "softmax", "backbone": "cnn"})  # fmt: skip
    assert_preset_in_force(at)
    assert lesson_run(at).trainer.configs[0].backbone == "mlp"


def test_member_views_give_each_members_values_and_the_run_its_model():
    at = open_harness()
    at.button(key="les-step").click().run()
    members = at.session_state["harness-members"]
    assert list(members) == ["cosface", "arcface"]
    arc = members["arcface"]
    assert arc.loss == "arcface" and arc.values["loss"] == "arcface"
    assert arc.values["margin"] == pytest.approx(0.2) and arc.values["embedding_dim"] == 2 and arc.values["seed"] == 3
    assert members["cosface"].values["scale"] == 20.0
    frame = at.session_state["les-run"].frame
    assert frame.epoch == 1 and frame.snapshots[1].step > 0
    assert frame.configs[1].margin == pytest.approx(0.2) and frame.configs[1].loss == "arcface"


ONE_SENTENCE = re.compile(r"^[^\n]+\.$")


@pytest.mark.parametrize(
    ("preset", "needle"),
    [
        ({"m": 0.2}, "belongs under members"),
        ({"dim": 5}, "dim=5"),
        ({"losses": ["arcface", "facenet"]}, "'facenet' is not a loss"),
        ({"losses": "arcface"}, "non-empty list"),
        ({"losses": []}, "non-empty list"),
        ({"losses": ["arcface", "arcface"]}, "twice"),
        ({"members": {"arcface": {"m": 9}}}, "above ArcFace's maximum"),
        ({"members": {"softmax": {"m": 0.1}}}, "Softmax has no margin"),
        ({"members": {"arcface": {"lr": 0.1}}}, "shared by every member"),
        ({"members": {"facenet": {"m": 0.1}}}, "'facenet' is not a loss"),
        ({"members": {"arcface": 0.2}}, "must be a table"),
        ({"members": ["arcface"]}, "must be a table"),
        ({"colour": "red"}, "'colour' is not a shared setting"),
    ],
)
def test_a_bad_preset_raises_one_sentence(preset, needle):
    with pytest.raises(ValueError) as caught:
        CompareUnit("les", preset=preset)
    message = str(caught.value)
    assert needle in message
    assert ONE_SENTENCE.match(message) and not re.search(r"\. [A-Z]", message), message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"locked": ["sphereface_form"]}, "locked control 'sphereface_form' is not a control of the Compare unit"),
        ({"hidden": ["colour"]}, "hidden control 'colour'"),
        ({"preset": {"pace": "warp"}}, "pace 'warp' is not a pace"),
    ],
)
def test_bad_locked_hidden_or_pace_raise_one_sentence(kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)) as caught:
        CompareUnit("les", **kwargs)
    assert ONE_SENTENCE.match(str(caught.value))


def test_loss_is_read_as_the_member_selection():
    assert CompareUnit("les", locked=["loss"]).locked == {"losses"}


def test_parse_preset_keeps_only_what_it_names_in_clean_values():
    preset = parse_preset({"lr": "0.05", "batch": 64, "losses": ["cosface", "softmax"],
                           "members": {"combined": {"m1": 1.0, "m2": 0.3, "m3": 0.1}, "cosface": {"grad": "true"}}})
    assert preset.shared == {"lr": 0.05, "batch_size": 64}
    assert preset.losses == ("softmax", "cosface")
    assert preset.members == {"combined": {"margin": (1.0, 0.3, 0.1)}, "cosface": {"gradient": "true"}}
    assert parse_preset(None) == parse_preset({})


def test_a_solution_merges_over_the_preset_member_by_member():
    preset = {"dim": 2, "losses": ["arcface"], "members": {"arcface": {"m": 0.2, "grad": "true"}}}
    solution = {"seed": 5, "losses": ["arcface", "cosface"], "members": {"arcface": {"m": 0.4}, "cosface": {"m": 0.1}}}
    assert merged(preset, solution) == {"dim": 2, "seed": 5, "losses": ["arcface", "cosface"],
                                        "members": {"arcface": {"m": 0.4, "grad": "true"}, "cosface": {"m": 0.1}}}
    assert preset["members"]["arcface"] == {"m": 0.2, "grad": "true"}, "the preset itself is unchanged"
    assert merged(None, {"dim": 3}) == {"dim": 3}


def test_the_compare_page_fixes_nothing():
    """The Compare page (CompareUnit("cmp"), no preset): every control drawn and free, no note, the defaults."""
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.run()
    at.switch_page("app/pages/compare.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    run = at.session_state["cmp-run"]
    assert tuple(c.loss for c in run.frame.configs) == ("softmax", "sphereface", "cosface", "arcface")
    assert not at.multiselect(key="cmp-losses").disabled
    for key in ("cmp-dataset", "cmp-backbone", "cmp-arcface-scale", "cmp-cosface-scale", "cmp-arcface-gradient"):
        assert has_widget(at, key), key
    assert not any("fixed this" in t for t in texts(at.caption))
    arc = {c.loss: c for c in run.trainer.configs}["arcface"]
    assert arc.margin == member_defaults("arcface", 10, 3)["margin"]
    assert (arc.embedding_dim, arc.seed, arc.dataset) == (3, 0, "digits")
