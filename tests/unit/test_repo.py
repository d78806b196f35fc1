"""The README's two commands are the ones CI and newcomers use: keep them in sync with .ci/run."""

import re
from pathlib import Path

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
