"""Lesson files: a good one loads; every kind of bad one gets one sentence naming the file, field and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.lessons import __main__ as cli
from app.lessons.format import LessonError, lesson_problems, load_lesson, load_lessons
from app.training.pace import PACES

GOOD = '''+++
id = "tiny"
number = 3
title = "A tiny lesson"
version = 1
minutes = 5
summary = "The smallest complete lesson."
objectives = ["Read a lesson file."]
unit = "live"
locked = ["loss"]
hidden = ["backbone"]

[preset]
loss = "arcface"
dim = 3
m = 0.1

[solution]
m = 0.4
epochs = 5

[[questions]]
id = "pick"
kind = "choice"
prompt = "Which one?"
options = ["This", "That"]
answer = 1
explanation = "That one."
view = "sphere"

[[questions]]
id = "angle"
kind = "number"
prompt = "How wide, in degrees?"
answer = "{{ tammes_deg(classes, dim) }}"
tolerance = 1.0
unit = "°"
explanation = "The Tammes angle is {{ tammes_deg(10, 3) :.1f }}°."

[[checks]]
id = "spread"
title = "Spread the classes"
settings = { loss = "arcface" }
at_least = { m = 0.3 }
within_epochs = 5
reach = { inter_deg = 20 }
feedback = "Raise m."
+++

Prose about {{ separation_deg(10) }} degrees.

[view: sphere]

[question: pick]

[check: spread]
'''


def write(tmp_path: Path, text: str, name: str = "03-tiny.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(LessonError) as caught:
        load_lesson(path)
    message = str(caught.value)
    # One sentence naming the file: starts with the file, ends with one full stop, one line.
    assert message.startswith(str(path) + ": "), message
    assert message.endswith(".") and not message.endswith(".."), message
    assert "\n" not in message, message
    return message


def bad(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_good_lesson_loads_with_blocks_in_order(tmp_path):
    lesson = load_lesson(write(tmp_path, GOOD))
    assert (lesson.id, lesson.number, lesson.unit, lesson.dim) == ("tiny", 3, "live", 3)
    assert lesson.locked == frozenset({"loss"}) and lesson.hidden == frozenset({"backbone"})
    assert lesson.preset == {"loss": "arcface", "dim": 3, "m": 0.1}
    (step,) = lesson.solution
    assert step.values == {"loss": "arcface", "dim": 3, "m": 0.4} and step.epochs == 5 and not step.continue_run
    kinds = [(b.kind, b.text_or_name) for b in lesson.blocks]
    assert kinds[1:] == [("view", "sphere"), ("question", "pick"), ("check", "spread"), ("question", "angle")]
    assert kinds[0][0] == "prose" and "{{ separation_deg(10) }}" in kinds[0][1]
    assert lesson.question("angle").tolerance == 1.0 and lesson.check("spread").at_least == {"m": 0.3}


def test_missing_front_matter(tmp_path):
    assert "front matter" in error_of(tmp_path, "# Just Markdown\n")
    assert "closing" in error_of(tmp_path, GOOD.replace("+++\n\nProse", "\n\nProse"))


def test_toml_syntax_error_names_the_line(tmp_path):
    message = error_of(tmp_path, bad('title = "A tiny lesson"', 'title = "A tiny lesson'))
    assert "TOML syntax error at line 4" in message  # the file's line (the front matter starts on line 2)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('minutes = 5', 'minutes = 5\ncolour = "red"', "colour"),
        ('view = "sphere"', 'view = "sphere"\nhint = "x"', "questions.pick.hint"),
        ('feedback = "Raise m."', 'feedback = "Raise m."\ncolour = 1', "checks.spread.colour"),
        ('m = 0.4\n', 'm = 0.4\nspeed = 2\n', "solution.speed"),
    ],
)
def test_unknown_key(tmp_path, old, new, field):
    message = error_of(tmp_path, bad(old, new))
    assert f": {field}: unknown key" in message


def test_wrong_type(tmp_path):
    message = error_of(tmp_path, bad("minutes = 5", 'minutes = "5"'))
    assert ": minutes: expected a whole number, got the text '5'." in message


def test_missing_required_field(tmp_path):
    message = error_of(tmp_path, bad('title = "A tiny lesson"\n', ""))
    assert ": title: missing" in message


def test_preset_out_of_range_quotes_the_schema(tmp_path):
    message = error_of(tmp_path, bad("m = 0.1", "m = 2.0"))
    assert ": preset.m: " in message and "above ArcFace's maximum 1.57 rad" in message


def test_preset_key_the_loss_does_not_use(tmp_path):
    message = error_of(tmp_path, bad('loss = "arcface"\ndim = 3\nm = 0.1', 'loss = "normface"\ndim = 3\nm = 0.1'))
    assert ": preset.m: " in message and "NormFace has no margin m" in message


def test_unknown_view_marker(tmp_path):
    message = error_of(tmp_path, bad("[view: sphere]", "[view: spheer]"))
    assert "body line" in message and "unknown view 'spheer'" in message
    message = error_of(tmp_path, bad("[view: sphere]", "[view: compare]"))  # a compare view in a live lesson
    assert "unknown view 'compare' for a live lesson" in message
    assert "unknown marker" in error_of(tmp_path, bad("[view: sphere]", "[figure: sphere]"))


def test_question_view_must_be_a_view(tmp_path):
    assert ": questions.pick.view: " in error_of(tmp_path, bad('view = "sphere"', 'view = "globe"'))


@pytest.mark.parametrize("field", ["locked", "hidden"])
def test_locked_or_hidden_must_be_controls(tmp_path, field):
    message = error_of(tmp_path, GOOD.replace(f'{field} = ["', f'{field} = ["speed", "', 1))
    assert f": {field}: 'speed' is not a control" in message


@pytest.mark.parametrize(("old", "new", "kind"), [("[question: pick]", "[question: nope]", "question"),
                                                  ("[check: spread]", "[check: nope]", "check")])
def test_marker_naming_an_unknown_id(tmp_path, old, new, kind):
    assert f"[{kind}: nope] names no {kind} of this lesson" in error_of(tmp_path, bad(old, new))


def test_marker_placed_twice(tmp_path):
    assert "placed twice" in error_of(tmp_path, bad("[check: spread]", "[check: spread]\n\n[check: spread]"))


def test_duplicate_id(tmp_path):
    assert "duplicate id 'pick'" in error_of(tmp_path, bad('id = "angle"', 'id = "pick"'))


@pytest.mark.parametrize(
    ("placeholder", "words"),
    [
        ("{{ tammes_degrees(10, 3) }}", "names no known number"),
        ("{{ tammes_deg(10) }}", "gives 1 argument(s) but tammes_deg(C, d) takes 2"),
        ("{{ tammes_deg(ten, 3) }}", "ten is not a whole number"),
        ("{{ max_margin(hingeface, 10) }}", "hingeface is not a loss"),
        ("{{ import os }}", "is not a placeholder"),
    ],
)
def test_bad_placeholder(tmp_path, placeholder, words):
    message = error_of(tmp_path, bad("Prose about {{ separation_deg(10) }}", f"Prose about {placeholder}"))
    assert "body line" in message and words in message


def test_bad_placeholder_in_a_question_names_the_field(tmp_path):
    message = error_of(tmp_path, bad('prompt = "Which one?"', 'prompt = "Which {{ min_scale(10, 3) }}?"'))
    assert ": questions.pick.prompt: " in message and "takes 3" in message


def test_choice_answer_out_of_range(tmp_path):
    message = error_of(tmp_path, bad("answer = 1", "answer = 2"))
    assert ": questions.pick.answer: 2 is out of range (0 to 1, 0-based)." in message


def test_number_question_without_tolerance(tmp_path):
    message = error_of(tmp_path, bad("tolerance = 1.0\n", ""))
    assert ": questions.angle.tolerance: missing" in message


def test_check_unknown_metric(tmp_path):
    message = error_of(tmp_path, bad("reach = { inter_deg = 20 }", "reach = { spread_deg = 20 }"))
    assert ": checks.spread.reach.spread_deg: unknown metric" in message


def test_check_unknown_setting(tmp_path):
    message = error_of(tmp_path, bad('settings = { loss = "arcface" }', 'settings = { margn = 0.3 }'))
    assert ": checks.spread.settings.margn: not a setting" in message
    message = error_of(tmp_path, bad("at_least = { m = 0.3 }", "at_least = { margn = 0.3 }"))
    assert ": checks.spread.at_least.margn: not a setting" in message


def test_solution_continue_with_a_cold_value(tmp_path):
    steps = "[[solution]]\nm = 0.4\nepochs = 5\n\n[[solution]]\ndim = 2\nepochs = 5\ncontinue = true\n"
    message = error_of(tmp_path, bad("[solution]\nm = 0.4\nepochs = 5\n", steps))
    assert ": solution[2].dim: continue = true keeps the previous model" in message
    assert "Embedding dim is cold" in message


def test_solution_continue_with_hot_values_only_is_fine(tmp_path):
    steps = "[[solution]]\nm = 0.4\nepochs = 5\n\n[[solution]]\nm = 0.2\nlr = 0.01\nepochs = 3\ncontinue = true\n"
    lesson = load_lesson(write(tmp_path, bad("[solution]\nm = 0.4\nepochs = 5\n", steps)))
    first, second = lesson.solution
    assert not first.continue_run
    assert second.continue_run and second.values == {"loss": "arcface", "dim": 3, "m": 0.2, "lr": 0.01}


def test_compare_preset_keeps_member_values_in_member_tables(tmp_path):
    text = GOOD.replace('unit = "live"', 'unit = "compare"').replace(
        '[preset]\nloss = "arcface"\ndim = 3\nm = 0.1', '[preset]\ndim = 3\nm = 0.1')
    assert ": preset.m: unknown key; a compare lesson shares only" in error_of(tmp_path, text)


def test_folder_problems_and_cli(tmp_path, capsys):
    write(tmp_path, GOOD, "03-tiny.md")
    write(tmp_path, GOOD.replace('number = 3', 'number = 4'), "04-copy.md")  # the same id twice
    problems = lesson_problems(tmp_path)
    assert problems == [f"{tmp_path / '04-copy.md'}: id: 'tiny' is also the id of {tmp_path / '03-tiny.md'}."]
    with pytest.raises(LessonError):
        load_lessons(tmp_path)
    assert cli.main(["check", str(tmp_path)]) == 1
    assert "is also the id" in capsys.readouterr().out
    (tmp_path / "04-copy.md").unlink()
    (tmp_path / "README.md").write_text("# not a lesson\n")
    assert cli.main(["check", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 1 lessons"
    assert [lesson.id for lesson in load_lessons(tmp_path)] == ["tiny"]


def test_authors_guide_example_validates_and_lists_everything(tmp_path):
    from app.lessons.format import COMPARE_VIEWS, LIVE_VIEWS, METRICS, REPO
    from app.lessons.numbers import CATALOGUE

    guide = (REPO / "lessons" / "README.md").read_text(encoding="utf-8")
    example = guide.split("<!-- example -->\n```\n", 1)[1].split("\n```", 1)[0] + "\n"
    lesson = load_lesson(write(tmp_path, example, "42-margin-basics.md"))
    assert lesson.id == "margin-basics" and len(lesson.questions) == 2
    for name in (*LIVE_VIEWS, *COMPARE_VIEWS, *METRICS, *CATALOGUE):
        assert f"`{name}" in guide, name


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('settings = { loss = "arcface" }', 'settings = { dim = 4 }', ": checks.spread.settings.dim: "),
        ('settings = { loss = "arcface" }', 'settings = { form = "original" }', "ArcFace has no setting form"),
        ("at_least = { m = 0.3 }", 'at_least = { grad = 1 }', "is a choice, not a number"),
    ],
)
def test_check_constraints_must_fit_the_schema(tmp_path, old, new, words):
    assert words in error_of(tmp_path, bad(old, new))


def test_compare_lesson_without_losses_compares_the_default_four(tmp_path):
    changes = [
        ('unit = "live"', 'unit = "compare"'),
        ('locked = ["loss"]', 'locked = ["losses"]'),
        ('[preset]\nloss = "arcface"\ndim = 3\nm = 0.1', '[preset]\ndim = 3\n[preset.members.arcface]\nm = 0.1'),
        ('[solution]\nm = 0.4\nepochs = 5', '[solution]\nepochs = 5\n[solution.members.arcface]\nm = 0.4'),
        ('settings = { loss = "arcface" }', 'member = "arcface"'),
        ("[view: sphere]", "[view: compare]"),
        ('view = "sphere"', 'view = "compare"'),
    ]
    text = GOOD
    for old, new in changes:
        text = text.replace(old, new)
    lesson = load_lesson(write(tmp_path, text))
    assert lesson.locked == frozenset({"losses"}) and lesson.check("spread").member == "arcface"
    assert lesson.solution[0].values == {"dim": 3, "members": {"arcface": {"m": 0.4}}}
    message = error_of(tmp_path, text.replace('member = "arcface"', 'member = "combined"'))
    assert ": checks.spread.member: 'combined' is not one of the compared losses" in message


def test_preset_pace_is_read_apart_from_the_settings(tmp_path):
    assert load_lesson(write(tmp_path, GOOD)).pace is None  # no pace: the unit's own default
    for name in PACES:
        lesson = load_lesson(write(tmp_path, bad("[preset]\n", f'[preset]\npace = "{name}"\n')))
        assert lesson.pace == name
        assert "pace" not in lesson.preset and lesson.unit_preset == {**lesson.preset, "pace": name}
        assert "pace" not in lesson.solution[0].values  # a solution step is settings only


@pytest.mark.parametrize("value", ['"slow"', "3", '"Watch"'])
def test_a_bad_pace_is_one_sentence_naming_the_paces(tmp_path, value):
    message = error_of(tmp_path, bad("[preset]\n", f"[preset]\npace = {value}\n"))
    assert ": preset.pace: " in message and "is not a pace; the paces are watch, steady, fast, max." in message


def test_check_about_and_fresh_run(tmp_path):
    lesson = load_lesson(write(tmp_path, bad('feedback = "Raise m."', 'feedback = "Raise m."\nabout = ["lr", "s"]')))
    assert lesson.check("spread").about == ("lr", "s") and not lesson.check("spread").fresh_run
    fresh = 'feedback = "Press Reset, then raise m."\nfresh_run = true'
    assert load_lesson(write(tmp_path, bad('feedback = "Raise m."', fresh))).check("spread").fresh_run


@pytest.mark.parametrize(
    ("new", "words"),
    [
        ('feedback = "Raise m."\nabout = ["colour"]', ": checks.spread.about: 'colour' is not a setting"),
        ('feedback = "Raise m."\nabout = ["form"]', ": checks.spread.about: ArcFace has no setting form."),
        ('feedback = "Raise m."\nfresh_run = "yes"', ": checks.spread.fresh_run: expected true or false"),
        ('feedback = "Raise m."\nfresh_run = true',
         ': checks.spread.feedback: a fresh_run check\'s feedback starts with "Press Reset, then ...".'),
    ],
)
def test_bad_about_or_fresh_run_is_one_sentence(tmp_path, new, words):
    assert words in error_of(tmp_path, bad('feedback = "Raise m."', new))
