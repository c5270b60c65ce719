"""Fixtures for the archive tests: each test runs against SQLite and against a real PostgreSQL.

The PostgreSQL server (tests/harness/postgres.py) is started once per session and each test gets
a schema of its own (the URL's ``search_path``), dropped afterwards. Without the server binaries (or psycopg) the
PostgreSQL half is skipped with the reason; the SQLite half always runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberun_operator.archive import Archive
from tests.harness import postgres

DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    problem = postgres.environment_problem()
    if problem:
        pytest.skip(f"real PostgreSQL unavailable: {problem}")
    with postgres.PostgresServer() as server:
        yield server


@pytest.fixture(params=DIALECTS)
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/archive.db"
        return
    server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
    name = f"archive_{uuid.uuid4().hex[:12]}"
    url = server.create_schema(name)
    yield url
    server.drop_schema(name)


@pytest.fixture
def archive(archive_url: str) -> Iterator[Archive]:
    with Archive.open(archive_url) as opened:
        yield opened
