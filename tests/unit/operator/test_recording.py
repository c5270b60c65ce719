"""The recorder, driven by the controller against the in-memory API: an ended attempt's log is
copied (streamed) into a real directory store and its location folded into the attempt's status;
a finished experiment's full record lands in a real SQLite archive, and again, marked deleted, when
the object goes; while the archive is unreachable reconciles go on, the write is retried (a
Warning Event and the failing gauge say so) and nothing is lost once it is back."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from kuberun.resource import LogRef
from kuberun_operator.archive import Archive
from kuberun_operator.kube import ApiError
from kuberun_operator.logstore import LogStore, paths
from kuberun_operator.metrics import Metrics
from kuberun_operator.recording import Permanent, RetryQueue
from tests.helpers.controller import KEY, harness
from tests.helpers.recording import LOG, UID, Bridge, add_event, add_experiment, recorder_for, run_to_the_end


async def test_the_ended_attempt_s_log_and_the_finished_experiment_s_record_are_kept(tmp_path: Path):
    h = harness({"slurm": (bridge := Bridge())})
    url = f"sqlite:///{tmp_path}/archive.db"
    recorder = recorder_for(h, lambda: url, LogStore.from_url(str(tmp_path / "logs")))
    await recorder.start()
    try:
        add_experiment(h)
        add_event(h, "Created")
        await run_to_the_end(h, recorder)
        archived = h.task()["attempts"][0]["archivedLog"]
        key = paths.log_key("ns", "exp", UID, "t", 1)
        assert (tmp_path / "logs" / key).read_bytes() == LOG
        assert archived == {"url": f"file://{tmp_path / 'logs' / key}", "size": len(LOG),
                            "sha256": hashlib.sha256(LOG).hexdigest()}
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
            assert row is not None and row.phase == "Succeeded" and row.deleted is None
            assert row.status == h.status()  # the last status, archivedLog included
            assert row.spec == h.kube.experiments[KEY]["spec"]
            assert [e["reason"] for e in row.events] == ["Created"]
            assert [(loc.kind, loc.url, loc.size) for loc in archive.locations(UID)] == [("log", archived["url"], len(LOG))]
        # Reconciling again changes nothing: no second copy, no second status write.
        writes = len(h.kube.status_writes)
        await h.reconcile()
        assert await recorder.queue.drain(10)
        assert bridge.log_reads == 1 and len(h.kube.status_writes) == writes

        add_event(h, "Deleted")
        h.controller.experiment_seen(h.kube.experiments.pop(KEY), deleted=True)
        assert await recorder.queue.drain(10)
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
            assert row is not None and row.deleted is not None and row.phase == "Succeeded"
            assert sorted(e["reason"] for e in row.events) == ["Created", "Deleted"]
    finally:
        await recorder.stop()


async def test_an_unreachable_archive_is_retried_without_holding_reconciles_and_nothing_is_lost(tmp_path: Path):
    h = harness({"slurm": Bridge()})
    url, url_file = f"sqlite:///{tmp_path}/archive.db", tmp_path / "secret" / "url"
    metrics = Metrics()
    # The archive cannot be opened until its connection Secret's file is there (config.archive_url).
    recorder = recorder_for(h, url_file.read_text, None, metrics)
    await recorder.start()
    try:
        add_experiment(h)
        await h.reconcile()
        await h.reconcile()
        assert h.status()["phase"] == "Succeeded"  # reconciles finished while the archive is down
        for _ in range(200):  # bounded: a few retries happen within ~2 s
            if metrics.record_failing._value.get() == 2:
                break
            await asyncio.sleep(0.01)
        # Two writes wait: the experiment's record and its ended attempt's row.
        assert metrics.record_failing._value.get() == 2 and recorder.queue.pending() == 2
        await asyncio.sleep(0)
        assert "ArchiveUnavailable" in [e.reason for e in h.events]
        url_file.parent.mkdir()
        url_file.write_text(url)  # the archive is reachable now
        assert await recorder.queue.drain(10)
        assert metrics.record_failing._value.get() == 0
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
            assert row is not None and row.phase == "Succeeded"
            assert [(a.task, a.attempt, a.exit_code) for a in archive.attempts(UID)] == [("t", 1, 0)]
    finally:
        await recorder.stop()


async def test_the_retry_queue_keeps_the_latest_job_per_key_drops_permanent_failures_and_is_bounded():
    queue = RetryQueue(first_delay=0.01, max_delay=0.02, max_pending=2)
    ran: list[str] = []
    failures = {"flaky": 2}

    def job(name: str):
        async def run() -> None:
            if name == "bad":
                raise Permanent("no such log")
            if failures.get(name, 0):
                failures[name] -= 1
                raise OSError("down")
            ran.append(name)
        return run

    assert queue.put("k", "k", job("old")) and queue.put("k", "k", job("new"))  # replaces: one pending
    assert queue.put("f", "f", job("flaky"))
    assert not queue.put("x", "x", job("refused")) and queue.refused == 1  # full
    queue.start()
    try:
        assert await queue.drain(5)
        assert queue.put("b", "b", job("bad"))
        assert await queue.drain(5)
    finally:
        await queue.stop()
    assert sorted(ran) == ["flaky", "new"] and failures["flaky"] == 0 and queue.failing == 0


@pytest.mark.parametrize("kind", ["pod", "file"])
def test_an_attempt_without_a_backend_has_no_log_to_copy(kind: str):
    from kuberun.resource import AttemptStatus
    from kuberun_operator.recording.sources import has_log

    assert not has_log(AttemptStatus(attempt=1, phase="Failed", log_ref=LogRef(kind=kind)))


async def test_a_restarted_operator_does_not_write_again_what_the_archive_already_holds(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/archive.db"
    h = harness({"slurm": Bridge()})
    recorder = recorder_for(h, lambda: url, None)
    await recorder.start()
    try:
        add_experiment(h)
        await run_to_the_end(h, recorder)
    finally:
        await recorder.stop()
    with Archive.open(url) as archive:
        first = archive.get_uid(UID)
    # A new operator process: empty memory, the same finished object, the same archive.
    h.kube.calls.clear()
    again = recorder_for(h, lambda: url, None)
    await again.start()
    try:
        await h.reconcile()
        assert await again.queue.drain(10)
    finally:
        await again.stop()
    with Archive.open(url) as archive:
        assert archive.get_uid(UID).archived_at == first.archived_at  # not rewritten
    assert ("list", "events", UID) not in h.kube.calls


async def test_an_experiment_its_ttl_deletes_in_the_reconcile_that_finishes_it_is_archived_finished(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/archive.db"
    h = harness({"slurm": Bridge()})
    recorder = recorder_for(h, lambda: url, None)
    await recorder.start()
    try:
        add_experiment(h)
        h.kube.experiments[KEY]["spec"]["ttlSecondsAfterFinished"] = 0
        await h.reconcile()  # submits
        last_seen = dict(h.kube.experiments[KEY])
        with pytest.raises(ApiError):  # observes success, finishes and deletes in one go: Succeeded is never written
            await h.reconcile()  # (the status write answers 404; the worker drops the key)
        assert KEY not in h.kube.experiments and last_seen["status"]["phase"] == "Running"
        h.controller.experiment_seen(last_seen, deleted=True)  # what the watch delivers: the stale status
        assert await recorder.queue.drain(10)
        with Archive.open(url) as archive:
            row = archive.get_uid(UID)
        assert row is not None and row.deleted is not None
        assert row.phase == "Succeeded" and row.status["tasks"][0]["phase"] == "Succeeded"
    finally:
        await recorder.stop()

