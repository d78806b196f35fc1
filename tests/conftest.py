"""Suite-wide collection rules: canary tests run only when asked, browser tests share a worker per module.

- `canary`: a test that watches a bug in Streamlit which the app works around (it fails when Streamlit fixes or
  changes the bug, not when the app breaks). It is skipped, with that reason, unless `--run-canary` is given
  or MARGIN_LAB_RUN_CANARY=1 is set. A hook rather than `-m "not canary"` in addopts, because a user's own
  `-m` would replace that expression and quietly bring the canaries back.
- Under pytest-xdist (`-n`, in pyproject.toml) every worker computes on one thread: OMP_NUM_THREADS and the BLAS
  thread counts are set to 1 before the workers start (a user's own setting wins). The workers are the
  parallelism; a torch or BLAS pool per worker on top would put several spinning threads on each core (a 0.2 s
  test took 14 s that way), and the app trains on one thread anyway.
- Every test process (each worker, and the Streamlit servers the browser tests start, which inherit it) stores
  submissions in an SQLite file of its own: MARGIN_LAB_HOME points into a temporary folder, removed at the end.
  Otherwise the app's default, ~/.margin-lab/submissions.db, was shared by the workers and by every checkout
  on the machine (a newer checkout's schema there made the lesson pages warn, and a test fail).
- Browser tests (tests/e2e) are run in parallel by module: every test of a module goes to the same
  pytest-xdist worker (xdist_group, with `--dist loadgroup` in pyproject.toml), so the module's Streamlit
  server is started once, not once per worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"
CANARY_ENV = "MARGIN_LAB_RUN_CANARY"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-canary", action="store_true", default=False,
        help=f"also run the tests marked canary (they watch Streamlit bugs the app works around); or {CANARY_ENV}=1",
    )  # fmt: skip


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


HOME_ENV = "MARGIN_LAB_HOME"  # app.course.store.HOME_ENV (not imported: this runs before the workers load the app)


def pytest_configure(config: pytest.Config) -> None:
    workers = getattr(config.option, "numprocesses", None)  # xdist's -n; None without xdist, 0 with -n 0
    if workers and not os.environ.get("PYTEST_XDIST_WORKER"):
        for name in THREAD_VARIABLES:  # inherited by the workers, read by torch and numpy as they load
            os.environ.setdefault(name, "1")
    folder = tempfile.mkdtemp(prefix="margin-lab-tests-")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    # Margin Lab's own folder (the default SQLite store, the glyph cache): each worker runs this again, so each has
    # one of its own. Not MARGIN_LAB_DB: it would win over a test's own db_url in secrets.toml.
    os.environ[HOME_ENV] = folder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_canary = config.getoption("--run-canary") or os.environ.get(CANARY_ENV) == "1"
    skip_canary = pytest.mark.skip(
        reason=f"canary (watches a Streamlit bug, not the app): run with --run-canary or {CANARY_ENV}=1"
    )
    for item in items:
        if item.get_closest_marker("canary") and not run_canary:
            item.add_marker(skip_canary)
        path = Path(item.path)
        if E2E in path.parents:
            item.add_marker(pytest.mark.xdist_group(name=f"e2e-{path.stem}"))
