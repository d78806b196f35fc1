"""A throwaway PostgreSQL server from Debian's binaries, through pytest-postgresql's executor.

    with running_postgres() as url:      # postgresql+psycopg://postgres@127.0.0.1:<port>/postgres
        ...
    server.start()                       # after a stop: returns once the server accepts a connection

initdb and postgres refuse to run as root; as root (CI containers) pg_ctl is run as the `postgres` user
through runuser, in a temporary folder that user owns. `pg_ctl_path()` is None where PostgreSQL is not
installed (the tests then skip, or fail under CI=true: .ci/run installs the `postgresql` package).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def pg_ctl_path() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return candidates[-1] if candidates else None


def require_postgres() -> None:
    """Skip the calling test where PostgreSQL is not installed; under CI=true fail instead (.ci/run installs it)."""
    import pytest

    if pg_ctl_path() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: .ci/run installs the postgresql package")
        pytest.skip("PostgreSQL binaries (pg_ctl) are not installed")


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    with controlled_postgres() as (url, _executor):
        yield url


@contextlib.contextmanager
def controlled_postgres() -> Iterator[tuple[str, object]]:
    """As running_postgres, with the server too: .stop() and .start() take it down and back up (the same
    data folder), as a database restarting mid-class does."""
    from port_for import get_port
    from pytest_postgresql.executors import PostgreSQLExecutor

    pg_ctl = pg_ctl_path()
    if pg_ctl is None:
        raise RuntimeError("PostgreSQL is not installed (no pg_ctl): apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="margin-lab-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        wrapper = base / "pg_ctl_as_postgres"
        wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
        wrapper.chmod(0o755)
        executable = str(wrapper)
    port = get_port(None)
    executor = PostgreSQLExecutor(
        executable=executable, host="127.0.0.1", port=port, datadir=str(base / "data"),
        unixsocketdir=str(base), logfile=str(base / "postgresql.log"), startparams="-w", dbname="postgres",
        user="postgres", postgres_options="-c max_connections=60",
    )
    server = _Server(executor, port)
    server.start()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", server
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


class _Server:
    """The executor, whose start() also waits until the server accepts connections: pg_ctl reports a server as
    running while it is still starting up, and on a busy machine (tests in parallel) a first connection then
    failed with "the database system is starting up"."""

    def __init__(self, executor: object, port: int, ready_timeout_s: float = 60.0):
        self.executor, self.port, self.ready_timeout_s = executor, port, ready_timeout_s

    def start(self) -> None:
        import psycopg

        self.executor.start()
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                     connect_timeout=2):  # fmt: skip
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # a poll with a deadline

    def stop(self) -> None:
        self.executor.stop()
