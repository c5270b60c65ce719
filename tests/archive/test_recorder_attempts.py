"""The recorder archives every attempt as it ends — before the status budget can drop it from the
object — on SQLite and a real PostgreSQL (the tests/archive fixtures), driven through the controller
harness against the in-memory API."""

from __future__ import annotations

from kuberun_operator.archive import Archive
from tests.helpers.controller import harness
from tests.helpers.recording import UID, Bridge, recorder_for


async def test_attempts_the_budget_drops_in_the_write_they_end_in_are_archived_with_their_exit_codes(archive_url: str):
    """The recorder sees the status before compaction: an attempt that ends and is dropped from status
    in the same reconcile still reaches the archive; each attempt is written once, in one batch."""
    from kuberun.resource import ExperimentStatus, TaskPhase
    from kuberun_operator.policy.budget import compact

    h = harness({"slurm": Bridge()})
    url = archive_url
    recorder = recorder_for(h, lambda: url, None)
    body = {"metadata": {"namespace": "ns", "name": "exp", "uid": UID}}
    attempts = [{"attempt": n, "phase": "Failed", "exitCode": 10 + n, "reason": "Error",
                 "startTime": "2026-01-01T12:00:00Z", "finishTime": "2026-01-01T12:00:05Z", "message": "m" * 900}
                for n in range(1, 10)] + [{"attempt": 10, "phase": "Running"}]
    status = ExperimentStatus.model_validate({"phase": "Running", "tasks": [
        {"name": "t", "phase": "Running", "attempt": 10, "attempts": attempts}]})
    await recorder.start()
    try:
        recorder.attempts_ended(body, status)
        compact(status, budget=1200)
        assert status.tasks[0].attempts_omitted == 9 and [a.attempt for a in status.tasks[0].attempts] == [10]
        recorder.attempts_ended(body, status)  # nothing new: nothing queued again
        assert await recorder.queue.drain(10)
        status.tasks[0].attempts[0].phase = TaskPhase.SUCCEEDED
        status.tasks[0].attempts[0].exit_code = 0
        recorder.attempts_ended(body, status)
        assert await recorder.queue.drain(10)
        with Archive.open(url) as archive:
            rows = archive.attempts(UID)
        assert [(r.attempt, r.phase, r.exit_code) for r in rows] == [
            *((n, "Failed", 10 + n) for n in range(1, 10)), (10, "Succeeded", 0)]
        assert all(r.reason == "Error" and r.finish_time is not None for r in rows[:-1])
    finally:
        await recorder.stop()
