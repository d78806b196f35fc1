"""The README's two commands are the ones CI and newcomers use: keep them in sync with .ci/run."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_has_exactly_one_run_and_one_test_command():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert "streamlit run streamlit_app.py" in run and "requirements.txt" in run
    assert "pytest" in test and "requirements-dev.txt" in test


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _readme_commands()[1]
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert any(line.startswith(test_command) for line in ci_script.splitlines())


def test_torch_is_pinned_to_the_cpu_build_version():
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", requirements, flags=re.M)


def test_package_exports_the_public_api():
    import toy_models

    for name in ("margin_logits", "build_head", "load_dataset", "build_backbone", "Trainer", "MultiTrainer"):
        assert callable(getattr(toy_models, name))
    import inspect

    params = list(inspect.signature(toy_models.margin_logits).parameters)
    assert params[:5] == ["cosine", "labels", "loss", "scale", "margin"]


# --------------------------------------------------------------------------------------------------------
# The repository cites only what it contains: a path to a Markdown file must exist in the repository, and a
# section cited as `<file>.md §N` must be a heading numbered N in that file. Users get only the repository,
# so a comment that sends them to notes outside it (or to a section that was renumbered) sends them nowhere.

SCANNED_SUFFIXES = (".py", ".md", ".toml", ".js")
SCANNED_HIDDEN_DIRS = {".ci", ".github", ".streamlit"}
SKIPPED_DIRS = {"__pycache__", "artifacts", "build", "dist", "node_modules", "venv"}
_PATH_CHARS = r"[\w.-]"
# A path with at least one folder, ending in .md; not the tail of a URL or of a longer path.
MD_PATH = re.compile(rf"(?<![\w./<>{{}}-])((?:\.\.?/)*(?:{_PATH_CHARS}+/)+{_PATH_CHARS}+\.md)\b")
# The design notes by their bare name (they were never in the repository).
DESIGN_NOTES = re.compile(r"(?<![\w./-])DESIGN\.md\b")
# `<file>.md §7.2`, `<file>.md §7.1–7.2`, `<file>.md §2.2, §7.2`: a file (with or without folders) and sections.
SECTION_CITATION = re.compile(
    rf"(?<![\w./<>{{}}-])((?:{_PATH_CHARS}+/)*{_PATH_CHARS}+\.md)((?:(?:\s+|,\s*|\s+and\s+)§\d+(?:\.\d+)*"
    r"(?:[–-]\d+(?:\.\d+)*)?)+)"
)
SECTION = re.compile(r"§(\d+(?:\.\d+)*)(?:[–-](\d+(?:\.\d+)*))?")
# A Markdown link to a .md file, in a Markdown file: [text](docs/losses.md#anchor).
MD_LINK = re.compile(r"\]\(([^)\s#]+\.md)(?:#[^)]*)?\)")
HEADING_NUMBER = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s")


def _scanned_files() -> list[Path]:
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = sorted(
            d for d in subfolders
            if d not in SKIPPED_DIRS and (not d.startswith(".") or d in SCANNED_HIDDEN_DIRS)
        )  # fmt: skip
        files += [Path(folder) / name for name in sorted(names) if name.endswith(SCANNED_SUFFIXES)]
    return files


def _in_repository(cited: str, citing: Path) -> Path | None:
    """The file a citation names: relative to the repository root, the citing file's folder or docs/; None when
    it is none of these, or lies outside the repository."""
    bases = [ROOT, citing.parent] if "/" in cited.lstrip("./") else [ROOT, citing.parent, ROOT / "docs"]
    for base in bases:
        path = (base / cited).resolve()
        if path.is_file() and path.is_relative_to(ROOT):
            return path
    return None


def _heading_numbers(document: Path) -> set[str]:
    """The section numbers of a Markdown file's headings ("## 7. Limits" -> "7", "### 7.2 Scale" -> "7.2"),
    outside fenced code blocks."""
    numbers, fenced = set(), False
    for line in document.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING_NUMBER.match(line)):
            numbers.add(match.group(1))
    return numbers


def dangling_citations(text: str, citing: Path) -> list[str]:
    """One sentence per citation in `text` (the contents of `citing`) of a document or section not in the
    repository."""
    where = citing.relative_to(ROOT) if citing.is_relative_to(ROOT) else citing
    problems = []

    def line_of(index: int) -> int:
        return text.count("\n", 0, index) + 1

    mentions = [(m.group(1), m.start()) for m in MD_PATH.finditer(text)]
    mentions += [(m.group(0), m.start()) for m in DESIGN_NOTES.finditer(text)]
    if citing.suffix == ".md":
        mentions += [(m.group(1), m.start()) for m in MD_LINK.finditer(text) if "://" not in m.group(1)]
    for cited, index in mentions:
        if _in_repository(cited, citing) is None:
            problems.append(f"{where}:{line_of(index)} cites {cited}, which is not in the repository.")
    for match in SECTION_CITATION.finditer(text):
        cited, document = match.group(1), _in_repository(match.group(1), citing)
        if document is None:
            if not any(cited == c for c, _ in mentions):  # a bare name, not reported above
                problems.append(f"{where}:{line_of(match.start())} cites {cited}, which is not in the repository.")
            continue
        numbers = _heading_numbers(document)
        for section in SECTION.finditer(match.group(2)):
            for number in filter(None, section.groups()):
                if number not in numbers:
                    problems.append(f"{where}:{line_of(match.start())} cites {cited} §{number}, but it has no "
                                    f"heading numbered {number}.")
    return problems


def test_every_cited_document_and_section_is_in_the_repository():
    this_file = Path(__file__).resolve()  # its own tests below hold dangling citations on purpose
    problems = [
        problem
        for path in _scanned_files()
        if path.resolve() != this_file
        for problem in dangling_citations(path.read_text(encoding="utf-8"), path.resolve())
    ]
    assert not problems, "\n".join(problems)


def test_the_scan_covers_code_docs_and_config():
    scanned = {path.relative_to(ROOT).as_posix() for path in _scanned_files()}
    for expected in ("toy_models/heads.py", "docs/losses.md", "app/plots/paper_captions.toml", "README.md",
                     "app/components/live_plotly.js", ".streamlit/config.toml"):
        assert expected in scanned, expected


HERE = ROOT / "app" / "example.py"  # a citing file for the checks below (it need not exist)


@pytest.mark.parametrize(
    "text",
    [
        "formulas in research/losses.md §1",  # notes outside the repository
        "as DESIGN.md says",
        "see docs/nowhere.md",
        "the md5 list (shared/data/README.md)",
        "the loader (../outside/README.md)",  # out of the repository, whether or not it exists
        "see classroom.md §6.13",  # a bare name that is neither at the root nor in docs/
    ],
)
def test_a_missing_document_is_reported(text):
    problems = dangling_citations(text, HERE)
    assert len(problems) == 1 and "not in the repository" in problems[0], problems


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("docs/losses.md §99", "99"),
        ("docs/losses.md §7.9: the scale", "7.9"),
        ("docs/losses.md §7.1–7.9", "7.9"),  # both ends of a range
        ("docs/losses.md §2.2, §70.2", "70.2"),  # every section of a list
        ("losses.md §42", "42"),  # a bare name resolves to docs/
    ],
)
def test_a_missing_section_is_reported(text, missing):
    problems = dangling_citations(text, HERE)
    assert len(problems) == 1 and f"heading numbered {missing}." in problems[0], problems


@pytest.mark.parametrize(
    "text",
    [
        "docs/losses.md §1",  # the top section, a subsection, a range, a list, the end of a sentence
        "(docs/losses.md §7.2)",
        "docs/losses.md §7.1–7.2: the bounds",
        "docs/losses.md §2.2, §7.2 and §3",
        "as docs/teaching.md §2.",
        "st.caption(views.md(line))",  # normal code and prose that mention .md
        "a README.md in each folder; lessons/*.md; NN-<id>.md; f'{name}.md'",
        "https://example.org/some/where/README.md",
        "the CosFace paper, §3.3",
        "lessons/05-arcface.md and benchmarks/README.md",  # files that exist
    ],
)
def test_a_present_document_and_normal_prose_pass(text):
    assert dangling_citations(text, HERE) == []


def test_markdown_links_resolve_from_the_linking_file():
    docs_file = ROOT / "docs" / "example.md"
    assert dangling_citations("[the losses](losses.md#7-geometric-limits)", docs_file) == []
    assert dangling_citations("[the README](../README.md)", docs_file) == []
    assert len(dangling_citations("[gone](notes.md)", docs_file)) == 1
    assert dangling_citations("[elsewhere](https://example.org/notes.md)", docs_file) == []


def test_section_numbers_come_from_headings_outside_code_blocks(tmp_path):
    document = tmp_path / "doc.md"
    document.write_text("# Title\n## 1. One\n### 1.2 Sub\n```\n## 9. In a code block\n```\nText 3. not a heading\n")
    assert _heading_numbers(document) == {"1", "1.2"}
