"""Suite-wide rules for running in parallel: one thread per worker, browser tests share a worker per module.

- Under pytest-xdist (`-n`, in pyproject.toml) every worker computes on one thread: OMP_NUM_THREADS and the BLAS
  thread counts are set to 1 before the workers start (a user's own setting wins). The workers are the
  parallelism; a torch or BLAS pool per worker on top would put several spinning threads on each core (a 0.2 s
  test took 14 s that way), and the app trains on one thread anyway.
- Browser tests (tests/e2e) are run in parallel by module: every test of a module goes to the same
  pytest-xdist worker (xdist_group, with `--dist loadgroup` in pyproject.toml), so the module's Streamlit
  server is started once, not once per worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pytest_configure(config: pytest.Config) -> None:
    workers = getattr(config.option, "numprocesses", None)  # xdist's -n; None without xdist, 0 with -n 0
    if workers and not os.environ.get("PYTEST_XDIST_WORKER"):
        for name in THREAD_VARIABLES:  # inherited by the workers, read by torch and numpy as they load
            os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        if E2E in path.parents:
            item.add_marker(pytest.mark.xdist_group(name=f"e2e-{path.stem}"))
