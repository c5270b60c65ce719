"""The recorder against a real PostgreSQL archive and an S3-protocol log store (both on loopback):
the finished experiment's row with its spec, status and Events, the attempt's log streamed into the
bucket as a multipart upload and named in status and in the archive's locations; the row marked
deleted when the object goes; and a database that refuses connections when the experiment finishes
costs nothing but time — the write is retried and lands once it is back."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from kuberun_operator.archive import Archive
from kuberun_operator.logstore import LogStore, StoreOptions, paths
from kuberun_operator.metrics import Metrics
from tests.helpers.controller import KEY, harness
from tests.helpers.recording import LOG, UID, Bridge, add_event, add_experiment, recorder_for, run_to_the_end

PART = 5 << 20  # S3's smallest part: the ~3.3 MiB test log is one part; bigger logs are tested in tests/logstore


def _schema(server) -> tuple[str, str]:
    name = f"rec_{uuid.uuid4().hex[:12]}"
    return name, server.create_schema(name)


def _bucket(server) -> LogStore:
    bucket = f"kuberun-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    return LogStore.from_url(f"s3://{bucket}/records", StoreOptions(environ=server.environ(), part_size=PART))


async def _read(store: LogStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in await store.open_log(key)])


async def test_postgresql_and_s3_keep_the_record_and_the_log(postgres_server, s3_server):
    schema, url = _schema(postgres_server)
    store = _bucket(s3_server)
    h = harness({"slurm": Bridge()})
    recorder = recorder_for(h, lambda: url, store)
    await recorder.start()
    try:
        add_experiment(h)
        add_event(h, "Created")
        await run_to_the_end(h, recorder)
        archived = h.task()["attempts"][0]["archivedLog"]
        key = paths.log_key("ns", "exp", UID, "t", 1)
        assert archived["url"] == store.url_for(key) and archived["url"].startswith("s3://")
        assert archived["sha256"] == hashlib.sha256(LOG).hexdigest() and archived["size"] == len(LOG)
        assert await _read(store, key) == LOG
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
            assert row is not None and row.phase == "Succeeded" and row.status == h.status()
            assert row.spec == h.kube.experiments[KEY]["spec"] and [e["reason"] for e in row.events] == ["Created"]
            assert [loc.url for loc in archive.locations(UID)] == [archived["url"]]

        add_event(h, "Deleted")
        h.controller.experiment_seen(h.kube.experiments.pop(KEY), deleted=True)
        assert await recorder.queue.drain(20)
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
            assert row is not None and row.deleted is not None
            assert sorted(e["reason"] for e in row.events) == ["Created", "Deleted"]
    finally:
        await recorder.stop()
        postgres_server.drop_schema(schema)


async def test_a_postgresql_that_refuses_connections_at_the_finish_gets_the_record_when_it_is_back(postgres_server):
    from psycopg import sql

    from tests.harness.postgres import APP_ROLE

    schema, url = _schema(postgres_server)
    with Archive.open(url):
        pass  # migrated while reachable, as a running operator's archive would be
    h = harness({"slurm": Bridge()})
    metrics = Metrics()
    recorder = recorder_for(h, lambda: url, None, metrics)

    def logins(allowed: bool) -> None:
        with postgres_server.admin() as conn:
            conn.execute(sql.SQL("ALTER ROLE {} " + ("LOGIN" if allowed else "NOLOGIN")).format(sql.Identifier(APP_ROLE)))
            if not allowed:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (APP_ROLE,))

    await recorder.start()
    logins(False)
    try:
        add_experiment(h)
        await h.reconcile()
        await h.reconcile()
        assert h.status()["phase"] == "Succeeded"  # reconciles do not wait for the archive
        # Two writes wait: the finished experiment's record and its ended attempt's row.
        for _ in range(500):  # bounded: the first failures come within a few seconds
            if recorder.queue.failing == 2:
                break
            await asyncio.sleep(0.02)
        assert recorder.queue.failing == recorder.queue.pending() == 2
        assert metrics.record_failing._value.get() == 2
        logins(True)
        assert await recorder.queue.drain(30)
        assert metrics.record_failing._value.get() == 0
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
            assert row is not None and row.phase == "Succeeded"
            assert [(a.task, a.attempt, a.exit_code) for a in archive.attempts(UID)] == [("t", 1, 0)]
    finally:
        logins(True)
        await recorder.stop()
        postgres_server.drop_schema(schema)
