"""`[after: ID]`: prose held back until a question is answered, validated in one sentence; and the facts of the
live unit that an open question keeps back (its answer's placeholder says which, in which dimension)."""

from __future__ import annotations

import pytest
from test_lesson_format import GOOD, error_of, write

from app.lessons.format import load_lesson
from app.lessons.withhold import held_back, question_facts, withheld_facts
from app.live import notes

PICKED = GOOD.replace("[question: pick]\n", "[question: pick]\n\n[after: pick]\nThat one, because of the reason.\n")


def test_after_holds_back_the_prose_below_it_until_the_question_is_answered(tmp_path):
    lesson = load_lesson(write(tmp_path, PICKED))
    kinds = [(b.kind, b.after) for b in lesson.blocks]
    assert kinds[:4] == [("prose", ()), ("view", ()), ("question", ()), ("prose", ("pick",))]
    [held] = [b for b in lesson.blocks if b.after]
    assert held.text_or_name == "That one, because of the reason."
    assert held_back(held, {}) and held_back(held, {"angle": 3}) and not held_back(held, {"pick": 0})
    assert not held_back(lesson.blocks[0], {})


def test_after_holds_back_one_paragraph(tmp_path):
    text = PICKED.replace("That one, because of the reason.\n", "That one, because\nof the reason.\n\nNow train.\n")
    blocks = load_lesson(write(tmp_path, text)).blocks
    assert [(b.kind, b.text_or_name, b.after) for b in blocks[3:5]] == [
        ("prose", "That one, because\nof the reason.", ("pick",)), ("prose", "Now train.", ())]


def test_after_two_questions_waits_for_both(tmp_path):
    text = GOOD.replace("[check: spread]\n", "[check: spread]\n\n[question: angle]\n\n[after: pick, angle]\nBoth.\n")
    [held] = [b for b in load_lesson(write(tmp_path, text)).blocks if b.after]
    assert held.after == ("pick", "angle")
    assert held_back(held, {"pick": 1}) and not held_back(held, {"pick": 1, "angle": 66})
    message = error_of(tmp_path, text.replace("[check: spread]\n\n[question: angle]", "[check: spread]"))
    assert "[after: pick, angle] comes before [question: angle]" in message


def test_after_above_a_check_holds_back_the_whole_check(tmp_path):
    text = GOOD.replace("[check: spread]\n", "[after: pick]\n[check: spread]\n")
    blocks = load_lesson(write(tmp_path, text)).blocks
    [held] = [b for b in blocks if b.after]
    assert (held.kind, held.text_or_name, held.after) == ("check", "spread", ("pick",))
    assert held_back(held, {}) and not held_back(held, {"pick": 1})
    assert [b.kind for b in blocks] == [b.kind for b in load_lesson(write(tmp_path, GOOD)).blocks]


def test_a_margin_question_keeps_back_the_limit_where_no_other_question_asks(tmp_path):
    circle = GOOD.replace('answer = "{{ tammes_deg(classes, dim) }}"',
                          'answer = "{{ max_margin_deg(arcface, classes) }}"')
    lesson = load_lesson(write(tmp_path, circle))
    assert question_facts(lesson.question("angle")) == {"margin_limit:2:*"}
    assert withheld_facts(lesson, ()) == {"margin_limit:2:*", "margin_limit:3:*"}  # the sphere's note: the rule
    assert withheld_facts(lesson, {"angle"}) == frozenset()


def test_a_choice_question_keeps_back_the_fact_it_names(tmp_path):
    kept = GOOD.replace('answer = 1\n', 'answer = 1\nkeeps_back = "{{ min_scale(8, 3, 0.99) }}"\n', 1)
    lesson = load_lesson(write(tmp_path, kept))
    assert question_facts(lesson.question("pick")) == {"scale_bound:3:8"}
    assert withheld_facts(lesson, {"angle"}) == {"scale_bound:3:8"}
    assert withheld_facts(lesson, {"angle", "pick"}) == frozenset()
    for bad_value in ("8", "{{ deg(0.5) }}"):
        message = error_of(tmp_path, kept.replace("{{ min_scale(8, 3, 0.99) }}", bad_value))
        assert "questions.pick.keeps_back: must be exactly one placeholder of a fact" in message, message


@pytest.mark.parametrize(("text", "words"), [
    (GOOD.replace("[question: pick]\n", "[question: pick]\n\n[after: pik]\nSo.\n"), "names no question 'pik'"),
    (GOOD.replace("[view: sphere]\n", "[after: pick]\nSo.\n\n[view: sphere]\n"), "[after: pick] comes before"),
    (GOOD.replace("[question: pick]\n\n[check: spread]", "[question: pick]\n\n[after: pick]\n[question: angle]\n\n"
                  "[check: spread]"), "[after: pick] holds back nothing"),
    (GOOD + "\n[after: pick]\n", "[after: pick] at the end holds back nothing"),
], ids=["unknown", "above", "nothing", "at-the-end"])  # fmt: skip
def test_a_bad_after_marker_is_one_sentence(tmp_path, text, words):
    message = error_of(tmp_path, text)
    assert words in message, message


def test_an_open_question_keeps_back_the_fact_its_answer_is(tmp_path):
    lesson = load_lesson(write(tmp_path, GOOD))
    # answer = "{{ tammes_deg(classes, dim) }}": the Tammes bound, in either dimension the learner picks
    assert question_facts(lesson.question("angle")) == {"tammes:2:*", "tammes:3:*"}
    assert question_facts(lesson.question("pick")) == frozenset()  # a choice states no number of the unit's
    assert withheld_facts(lesson, {"angle"}) == frozenset()
    assert {key.split(":")[0] for key in withheld_facts(lesson, ())} <= set(notes.FACTS)


def test_notes_keep_the_margin_limit_back_only_in_its_dimension():
    cosface = {"loss": "cosface", "margin": 0.35, "scale": 16.0}
    told = notes.geometry_notes(cosface, 10, 2)
    assert any("must stay below 0.19" in text for _, text in told)
    for key in ("margin_limit:2:*", "margin_limit:2:10"):
        kept = notes.geometry_notes(cosface, 10, 2, {key})
        assert kept[0] == notes.MARGIN_WITHHELD and not any("0.19" in text for _, text in kept)
    assert notes.geometry_notes(cosface, 10, 2, {"margin_limit:3:*"}) == told  # the sphere's question: not here
    assert notes.geometry_notes(cosface, 10, 2, {"margin_limit:2:8"}) == told  # eight classes' limit: not ten's


def test_the_scale_note_is_kept_back_whether_or_not_s_is_large_enough():
    for scale in (2.0, 64.0):
        kept = notes.geometry_notes({"loss": "normface", "scale": scale}, 10, 3, {"scale_bound:3:*"})
        assert kept == [notes.SCALE_WITHHELD]
    assert any("10.1" in text for _, text in notes.geometry_notes({"loss": "normface", "scale": 2.0}, 10, 3))


def test_a_placeholder_that_leaves_out_its_classes_or_dimension_withholds_as_for_any():
    """An argument the file leaves out counts as `classes` / `dim` (any), not as an error."""
    from app.lessons.withhold import _facts_of

    assert _facts_of("{{ max_margin(cosface) }}") == _facts_of("{{ max_margin(cosface, classes) }}")
    assert _facts_of("{{ max_margin(cosface) }}") == {"margin_limit:2:*"}
    assert _facts_of("{{ tammes_deg(10) }}") == {"tammes:2:10", "tammes:3:10"}
