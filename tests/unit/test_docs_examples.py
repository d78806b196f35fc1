"""The docs' examples work as written: the course file in docs/courses.md validates against the shipped lessons,
the output `python -m app.course ids` prints there is what it prints, and the hosted config in docs/deploy.md
loads. A docs example that drifts from the code fails here, in CI, instead of in front of an instructor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.course import cli
from app.course.course import load_course

REPO = Path(__file__).resolve().parents[2]


def fenced(path: Path, language: str) -> list[str]:
    """The text of every ```<language> block of a Markdown file."""
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def indented_after(path: Path, prompt: str) -> list[str]:
    """The lines of the indented block that starts with `    $ <prompt>`, without the prompt and indent."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"    $ {prompt}")
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return block


def test_the_course_file_example_in_the_docs_validates(tmp_path):
    """Before: "the lesson has no question 'wedge'" (and no largest-m, no spread-3d)."""
    [example] = [block for block in fenced(REPO / "docs" / "courses.md", "toml") if "[course]" in block]
    path = tmp_path / "example.toml"
    path.write_text(example, encoding="utf-8")
    course = load_course(path)
    arcface = course.lesson("arcface")
    assert arcface.questions == {"width": 1.0, "largest": 2.0} and arcface.checks == {"spread": 5.0}
    assert course.lesson("cosface").questions  # without a table: every question counts
    assert cli.main(["validate", str(path)]) == 0


def test_the_ids_output_in_the_docs_is_what_the_command_prints(capsys):
    assert cli.main(["ids", "arcface"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == indented_after(REPO / "docs" / "courses.md", "python -m app.course ids arcface")


@pytest.mark.parametrize("lesson_id", ["softmax", "arcface", "side-by-side", "gradient"])
def test_the_lines_ids_prints_paste_into_a_course_file_that_validates(lesson_id, tmp_path, capsys):
    assert cli.main(["ids", lesson_id]) == 0
    pasted = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("questions =", "checks ="))]
    assert len(pasted) == 2
    path = tmp_path / "c.toml"
    path.write_text('[course]\nid = "c"\ntitle = "C"\nversion = 1\n\n[[lessons]]\nid = "' + lesson_id + '"\n'
                    + "\n".join(pasted) + "\n", encoding="utf-8")
    entry = load_course(path).lesson(lesson_id)
    assert list(entry.questions) == [q.id for q in entry.lesson.questions]
    assert list(entry.checks) == [c.id for c in entry.lesson.checks]


def test_ids_of_an_unknown_lesson_is_one_sentence(capsys):
    assert cli.main(["ids", "arcfase"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arcfase" in err[0] and "arcface" in err[0]


def test_the_hosted_config_example_in_the_deploy_docs_loads(tmp_path):
    from app import hosted

    [example] = [block for block in fenced(REPO / "docs" / "deploy.md", "toml") if "[margin_lab]" in block]
    path = tmp_path / "margin_lab.toml"
    path.write_text(example, encoding="utf-8")
    settings = hosted.load_settings(path, environ={})
    assert settings.hosted and settings.folder_for("mnist") == "/srv/margin-lab/data"
