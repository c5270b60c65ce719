"""A database that drops connections or goes away: the archive reconnects, or says it is unavailable.

PostgreSQL only: these are about a server over the network (SQLite is a file in the process).
"""

from __future__ import annotations

import uuid

import pytest

from kuberun_operator.archive import Archive, ArchiveUnavailable
from tests.harness import postgres

from .builders import experiment


def test_connections_killed_by_the_server_are_replaced_transparently(postgres_server: postgres.PostgresServer) -> None:
    schema = f"avail_{uuid.uuid4().hex[:8]}"
    with Archive.open(postgres_server.create_schema(schema)) as archive:
        first = experiment("before")
        archive.record(first)
        with postgres_server.admin() as admin:
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE usename = %s AND pid <> pg_backend_pid()", (postgres.APP_ROLE,)).fetchone()
        assert killed is not None and killed[0] >= 1, "the archive's pooled connection was there to kill"
        archive.record(experiment("after"))
        assert archive.get("team-a", "before") is not None and archive.get("team-a", "after") is not None
    postgres_server.drop_schema(schema)


@pytest.mark.slow
def test_a_stopped_server_is_reported_unavailable_without_the_password() -> None:
    problem = postgres.environment_problem()
    if problem:
        pytest.skip(f"real PostgreSQL unavailable: {problem}")
    with postgres.PostgresServer() as server:
        archive = Archive.open(server.create_schema("gone"), connect_args={"connect_timeout": 5})
        archive.record(experiment("kept"))
        password = server.password
        server.stop()
        try:
            with pytest.raises(ArchiveUnavailable, match="unavailable") as caught:
                archive.record(experiment("lost"))
            assert password not in str(caught.value)
            with pytest.raises(ArchiveUnavailable):
                archive.query()
        finally:
            archive.close()
