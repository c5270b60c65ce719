"""Migrations on open: from empty, a no-op when current, once when several processes open together,
the same schema as the models, and a clear refusal of a database migrated by a newer version."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kuberun_operator.archive import Archive, ArchiveError, migrate, schema
from kuberun_operator.archive import engine as engines

from .builders import experiment

REPO = Path(__file__).resolve().parents[2]
TABLES = {"archive_experiments", "archive_labels", "archive_metrics", "archive_locations", "archive_attempts",
          "archive_config_maps", "archive_blobs", schema.VERSION_TABLE}
ALL_REVISIONS = ["0001", "0002", "0003"]  # every revision shipped, oldest first: a fresh database gets them all

_OPENER = """
import json, os, sys
from kuberun_operator.archive import Archive
print("opening", flush=True)
with Archive.open(os.environ["ARCHIVE_URL"]) as archive:
    print(json.dumps(archive.applied_migrations), flush=True)
"""


def _tables(url: str) -> set[str]:
    engine = engines.create(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_open_migrates_an_empty_database_to_head(archive_url: str) -> None:
    assert not _tables(archive_url) & TABLES
    with Archive.open(archive_url) as archive:
        assert archive.applied_migrations == ALL_REVISIONS
    assert _tables(archive_url) >= TABLES


def test_reopen_is_a_no_op_and_keeps_the_data(archive_url: str) -> None:
    obj = experiment()
    with Archive.open(archive_url) as archive:
        archive.record(obj)
    with Archive.open(archive_url) as again:
        assert again.applied_migrations == []
        found = again.get_uid(obj["metadata"]["uid"])
        assert found is not None and found.spec == obj["spec"]


def test_migrated_schema_is_exactly_the_models(archive_url: str) -> None:
    Archive.open(archive_url).close()
    engine = engines.create(archive_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": schema.VERSION_TABLE})
            assert compare_metadata(context, schema.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_the_schema_and_upgrade_restores_it(archive_url: str) -> None:
    Archive.open(archive_url).close()
    engine = engines.create(archive_url)
    try:
        with engines.writer(engine).begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "base")
    finally:
        engine.dispose()
    assert not _tables(archive_url) & (TABLES - {schema.VERSION_TABLE})
    with Archive.open(archive_url) as archive:
        assert archive.applied_migrations == ALL_REVISIONS


def test_a_database_of_the_first_schema_is_upgraded_keeping_its_records(archive_url: str) -> None:
    """An operator of the first schema archived an experiment; this version adds the attempts table
    on open and the record is still there, unchanged."""
    obj = experiment()
    engine = engines.create(archive_url)
    try:
        with engines.writer(engine).begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "0001")
            assert "archive_attempts" not in sa.inspect(conn).get_table_names()
            conn.execute(sa.insert(schema.experiments).values(
                uid=obj["metadata"]["uid"], namespace="default", name=obj["metadata"]["name"], api_version="kuberun.dev/v1alpha1",
                title="old", title_key="old", created=sa.func.now(), archived_at=sa.func.now(), labels={},
                metadata=obj["metadata"], spec=obj["spec"], status=obj.get("status"), events=[]))
    finally:
        engine.dispose()
    with Archive.open(archive_url) as archive:
        assert archive.applied_migrations == ["0002", "0003"]
        found = archive.get_uid(obj["metadata"]["uid"])
        assert found is not None and found.spec == obj["spec"]
        assert archive.attempts(obj["metadata"]["uid"]) == []


def test_a_database_from_a_newer_version_is_refused_untouched(archive_url: str) -> None:
    Archive.open(archive_url).close()
    engine = engines.create(archive_url)
    try:
        with engines.writer(engine).begin() as conn:
            conn.execute(sa.text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'from_the_future'"))
    finally:
        engine.dispose()
    with pytest.raises(ArchiveError, match=r"from_the_future.*newer version"):
        Archive.open(archive_url)


def test_unsupported_or_malformed_urls_are_refused_clearly() -> None:
    with pytest.raises(ArchiveError, match="unsupported archive database 'mysql'"):
        Archive.open("mysql://root:hunter2@127.0.0.1/archive")
    with pytest.raises(ArchiveError, match="invalid archive URL"):
        Archive.open("not a url")


def test_a_refused_connection_names_the_database_but_not_the_password() -> None:
    from tests.harness.postgres import free_port

    url = f"postgresql://kuberun:s3cret-pw@127.0.0.1:{free_port()}/archive"
    with pytest.raises(ArchiveError, match="cannot open the archive at postgresql") as caught:
        Archive.open(url, connect_args={"connect_timeout": 5})
    assert "s3cret-pw" not in str(caught.value)


@contextlib.contextmanager
def _migration_lock_held(url: str) -> Iterator[object]:
    """Hold the lock Archive.open migrates under, from outside the archive code."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = engines.create(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": migrate.ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.ADVISORY_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def _waiting_for_advisory_lock(conn: sa.Connection) -> int:
    return conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar_one()


@pytest.mark.slow
def test_concurrent_opens_of_an_empty_database_migrate_exactly_once(archive_url: str) -> None:
    """Four processes open a fresh database while the migration lock is held, so all four are at the
    lock when it is released: exactly one applies the migration, the others find it done."""
    n = 4
    env = {**os.environ, "ARCHIVE_URL": archive_url, "PYTHONPATH": str(REPO)}
    with _migration_lock_held(archive_url) as holder:
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(n)]
        try:
            for proc in procs:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "opening"
            if archive_url.startswith("postgresql"):
                # Deterministic: PostgreSQL shows each opener queued on the advisory lock.
                deadline = time.monotonic() + 60
                while _waiting_for_advisory_lock(holder) < n:  # type: ignore[arg-type]
                    assert time.monotonic() < deadline, "openers never queued on the migration lock"
                    assert all(p.poll() is None for p in procs), "an opener exited while the lock was held"
                    time.sleep(0.05)
            assert all(p.poll() is None for p in procs), "an opener finished while the lock was held"
        except BaseException:
            for proc in procs:
                proc.kill()
            raise
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(results) == [[]] * (n - 1) + [ALL_REVISIONS]
    with Archive.open(archive_url) as archive:
        assert archive.applied_migrations == []
