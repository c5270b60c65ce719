"""Fixtures of the recorder's real-backend tests: a real PostgreSQL server (tests/harness/postgres.py)
and moto's S3 server (tests/harness/s3.py), each once per session, started and stopped by the harness;
either half skips with the reason when its binaries or packages are missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import postgres, s3


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    problem = postgres.environment_problem()
    if problem:
        pytest.skip(f"real PostgreSQL unavailable: {problem}")
    with postgres.PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3.S3Server]:
    yield from s3.session_server()
