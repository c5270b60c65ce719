"""``recording.artifacts.ArtifactSync``: when syncs run, what the attempt records, and that it never blocks.

A real directory store under tmp_path and real files; time is an injected monotonic clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kuberun.resource import (
    AttemptStatus,
    BackendRef,
    ExperimentResource,
    ExperimentStatus,
    TaskPhase,
    TaskStatus,
)
from kuberun_operator.logstore import LogStore
from kuberun_operator.recording.artifacts import MAX_FAILURES, ArtifactSync, local_dirs
from tests.helpers.builders import make_resource

UID = "0b6c1e4e-0000-4000-8000-000000000001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _exp(status: ExperimentStatus | None = None):
    exp = make_resource("exp").task("train", backend="local").obj()
    exp.metadata.uid = UID
    exp.status = status
    return exp


def _status(phase: TaskPhase) -> ExperimentStatus:
    ref = BackendRef(backend="local", idempotency_key=f"{UID}-train-1")
    attempt = AttemptStatus(attempt=1, phase=phase, backend_ref=ref)
    return ExperimentStatus(phase="Running", tasks=[TaskStatus(name="train", phase=phase, attempt=1, attempts=[attempt])])


@pytest.fixture
def setup(tmp_path: Path):
    workdir = tmp_path / "local"
    out = workdir / f"{UID}-train-1" / "artifacts"  # the key is the UID-derived one (status cannot move it)
    out.mkdir(parents=True)
    queued: list[tuple[str, str]] = []
    clock = Clock()
    sync = ArtifactSync(LogStore.from_url(str(tmp_path / "store")), local_dirs(workdir), queued.append,
                        period=60.0, monotonic=clock)
    return sync, out, queued, clock


async def _settle(sync: ArtifactSync) -> None:
    for _ in range(200):  # bounded: a directory store's sync of a few files takes milliseconds
        if not sync._running:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("sync did not finish")


async def test_a_running_attempt_is_synced_every_period_and_the_record_says_partial(setup):
    sync, out, queued, clock = setup
    (out / "step-1.ckpt").write_text("one")
    status = _status(TaskPhase.RUNNING)
    sync.apply(_exp(), status)
    await _settle(sync)
    assert queued == [("ns", "exp")]
    status = _status(TaskPhase.RUNNING)
    sync.apply(_exp(), status)
    record = status.tasks[0].attempts[0].artifacts
    assert record is not None and record.count == 1 and not record.complete
    (out / "step-2.ckpt").write_text("two")
    clock.now += 30  # before the period: no new sync
    sync.apply(_exp(), _status(TaskPhase.RUNNING))
    assert not sync._running
    clock.now += 31
    sync.apply(_exp(), _status(TaskPhase.RUNNING))
    await _settle(sync)
    status = _status(TaskPhase.RUNNING)
    sync.apply(_exp(), status)
    assert status.tasks[0].attempts[0].artifacts.count == 2


async def test_an_ended_attempt_gets_a_final_sync_at_once_and_then_is_done(setup):
    sync, out, queued, _ = setup
    (out / "model.bin").write_bytes(b"\0" * 100)
    sync.apply(_exp(), _status(TaskPhase.SUCCEEDED))
    await _settle(sync)
    status = _status(TaskPhase.SUCCEEDED)
    sync.apply(_exp(), status)
    record = status.tasks[0].attempts[0].artifacts
    assert record.complete and record.total_bytes == 100 and record.files[0].path == "model.bin"
    assert record.location.endswith("/ns/exp-0b6c1e4e/train/1/artifacts")
    # Once the written status carries the record, the attempt is done: no further syncs or records.
    sync.apply(_exp(status), _status(TaskPhase.SUCCEEDED))
    (out / "late.txt").write_text("after the end")
    again = _status(TaskPhase.SUCCEEDED)
    sync.apply(_exp(status), again)
    assert not sync._running and again.tasks[0].attempts[0].artifacts is None and len(queued) == 1


async def test_an_attempt_without_an_artifacts_directory_records_nothing(setup):
    sync, out, queued, _ = setup
    out.rmdir()
    status = _status(TaskPhase.SUCCEEDED)
    sync.apply(_exp(), status)
    assert not sync._running and status.tasks[0].attempts[0].artifacts is None and not queued


async def test_attempts_on_other_backends_are_not_touched(setup):
    sync, _, _, _ = setup
    status = _status(TaskPhase.SUCCEEDED)
    status.tasks[0].attempts[0].backend_ref = BackendRef(backend="lepton", idempotency_key=f"{UID}-train-1")
    sync.apply(_exp(), status)
    assert not sync._running


def _on_kubernetes(phase: TaskPhase) -> ExperimentStatus:
    status = _status(phase)
    status.tasks[0].attempts[0].backend_ref = BackendRef(backend="kubernetes", id="exp-train-1",
                                                         idempotency_key="key-train-1")
    return status


async def test_a_kubernetes_attempt_records_the_manifest_its_pod_uploaded(setup):
    from kuberun_operator.logstore import Manifest, ManifestEntry, paths

    sync, _, queued, clock = setup
    status = _on_kubernetes(TaskPhase.RUNNING)
    sync.apply(_exp(), status)  # nothing uploaded yet: no record, and nothing finished
    await _settle(sync)
    assert status.tasks[0].attempts[0].artifacts is None and not queued
    # The record server keeps the manifest of what the pod uploaded (server/uploads.py).
    prefix = paths.artifacts_prefix("ns", "exp", UID, "train", 1)
    manifest = Manifest(entries=[ManifestEntry(path="ckpt/1.pt", size=3, sha256="a" * 64)])
    await sync.store.put_bytes(paths.manifest_key(prefix), manifest.model_dump_json().encode())
    clock.now += 61
    sync.apply(_exp(), _on_kubernetes(TaskPhase.RUNNING))
    await _settle(sync)
    running = _on_kubernetes(TaskPhase.RUNNING)
    sync.apply(_exp(), running)
    record = running.tasks[0].attempts[0].artifacts
    assert record is not None and record.count == 1 and not record.complete and queued == [("ns", "exp")]
    ended = _on_kubernetes(TaskPhase.SUCCEEDED)
    sync.apply(_exp(), ended)  # the attempt ended: read once more, at once, and complete
    await _settle(sync)
    final = _on_kubernetes(TaskPhase.SUCCEEDED)
    sync.apply(_exp(), final)
    assert final.tasks[0].attempts[0].artifacts.complete
    assert final.tasks[0].attempts[0].artifacts.files[0].path == "ckpt/1.pt"


async def test_a_failing_store_is_tried_a_bounded_number_of_times(setup, tmp_path):
    sync, out, queued, _ = setup
    (out / "a").write_text("a")
    blocker = tmp_path / "store"
    blocker.rmdir() if blocker.is_dir() else None
    blocker.write_text("a file where the store's directory should be")
    for _ in range(MAX_FAILURES + 2):
        sync.apply(_exp(), _status(TaskPhase.FAILED))
        await _settle(sync)
    assert sync._failures[(UID, "train", 1)] == MAX_FAILURES and not queued


async def test_the_metric_series_is_copied_beside_the_attempt_when_it_ends_and_only_then(setup, tmp_path):
    sync, out, _, _ = setup
    series = out.parent / "metrics.jsonl"
    series.write_text('{"name": "loss", "step": 1, "value": 0.5}\n')
    stored = tmp_path / "store" / "ns" / "exp-0b6c1e4e" / "train" / "1" / "metrics.jsonl"
    sync.apply(_exp(), _status(TaskPhase.RUNNING))
    await _settle(sync)
    assert not stored.exists()  # still running: the series is not final
    running = _exp(_status(TaskPhase.RUNNING))
    sync.apply(running, _status(TaskPhase.SUCCEEDED))  # the round in which the attempt ended
    for _ in range(200):
        if not sync._series and not sync._running:
            break
        await asyncio.sleep(0.01)
    assert stored.read_text() == series.read_text()
    stored.unlink()
    sync.apply(_exp(_status(TaskPhase.SUCCEEDED)), _status(TaskPhase.SUCCEEDED))  # seen again: not copied again
    await asyncio.sleep(0.05)
    assert not stored.exists()


async def _settle_series(sync: ArtifactSync) -> None:
    for _ in range(200):  # bounded: copying a small file into a directory store takes milliseconds
        if not sync._series and not sync._running:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("series copy did not finish")


async def test_an_ended_attempt_without_a_series_record_is_copied_by_the_next_operator_and_then_recorded(setup, tmp_path):
    """The operator died between the attempt's end and the series copy: the stored status holds the attempt
    finished and no ``series``. A new operator copies it, records the copy on the attempt, and one that
    then sees the record does not copy again."""
    from kuberun.resource.results import SeriesRecord

    sync, out, queued, _ = setup
    series = out.parent / "metrics.jsonl"
    series.write_text("".join(f'{{"name": "loss", "step": {i}, "value": {1 / (i + 1)}}}\n' for i in range(50)))
    stored = tmp_path / "store" / "ns" / "exp-0b6c1e4e" / "train" / "1" / "metrics.jsonl"
    before_crash = _exp(_status(TaskPhase.SUCCEEDED))  # ended in a round whose copy never ran
    sync.apply(before_crash, _status(TaskPhase.SUCCEEDED))
    await _settle_series(sync)
    assert stored.read_text() == series.read_text()
    assert ("ns", "exp") in queued  # the record goes into the next status write
    written = _status(TaskPhase.SUCCEEDED)
    sync.apply(before_crash, written)
    assert written.tasks[0].attempts[0].series == SeriesRecord(
        location=sync.store.url_for("ns/exp-0b6c1e4e/train/1/metrics.jsonl"), size=series.stat().st_size)

    stored.unlink()
    restarted = ArtifactSync(sync.store, sync.locate, queued.append, period=60.0)
    again = written.model_copy(deep=True)
    restarted.apply(_exp(written), again)
    await _settle_series(restarted)
    assert not stored.exists() and again.tasks[0].attempts[0].series == written.tasks[0].attempts[0].series


async def test_an_attempt_that_reported_no_points_is_recorded_as_copied_with_nothing_stored(setup, tmp_path):
    from kuberun.resource.results import SeriesRecord

    sync, _, _, _ = setup
    sync.apply(_exp(_status(TaskPhase.RUNNING)), _status(TaskPhase.FAILED))
    await _settle_series(sync)
    assert not (tmp_path / "store" / "ns" / "exp-0b6c1e4e" / "train" / "1" / "metrics.jsonl").exists()
    nxt = _status(TaskPhase.FAILED)
    sync.apply(_exp(_status(TaskPhase.FAILED)), nxt)
    assert nxt.tasks[0].attempts[0].series == SeriesRecord()


def test_a_local_attempt_key_rewritten_in_status_cannot_point_the_sync_at_another_directory(tmp_path):
    elsewhere = tmp_path / "work" / "someone-elses-key" / "artifacts"
    elsewhere.mkdir(parents=True)
    exp = ExperimentResource.model_validate({"metadata": {"namespace": "ns", "name": "exp", "uid": UID}, "spec": {
        "title": "t", "tasks": [{"name": "train", "script": {"command": ["true"]}, "executor": {"local": {}}}]}})
    attempt = AttemptStatus.model_validate({"attempt": 1, "phase": "Running", "backendRef": {
        "backend": "local", "idempotencyKey": "someone-elses-key"}})
    where = local_dirs(tmp_path / "work")(exp, "train", attempt)
    assert where == tmp_path / "work" / f"{UID}-train-1" / "artifacts"
