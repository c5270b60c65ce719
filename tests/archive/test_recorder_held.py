"""An operator that dies while the archive is down loses no attempt: the status budget keeps every
ended attempt whose archive row is not confirmed written, so the next operator finds them in the
object and writes them once the archive is back — on SQLite and a real PostgreSQL (the tests/archive
fixtures; PostgreSQL refuses the operator's logins, SQLite's URL cannot be opened).

Driven through the controller harness against the in-memory API; "killing" the operator is dropping
its controller and recorder without draining (their queued writes go with them, as in a crash) and
starting new ones on the same API objects and the same backend."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timezone
from typing import Any

import pytest

from kuberun_operator import controller as controller_module
from kuberun_operator.actions import Observed
from kuberun_operator.archive import Archive, ArchiveUnavailable
from kuberun_operator.controller import Controller
from kuberun_operator.policy import budget
from tests.helpers.controller import KEY, SETTINGS, Harness, Recording, harness
from tests.helpers.recording import UID, recorder_for

BUDGET = 1500  # bytes: two ended attempts with their messages are over it
FAILURES = 4   # attempts 1..4 fail (exit 11..14), attempt 5 succeeds
MESSAGE = "out of memory at step 1234; " * 30
T = datetime(2026, 1, 1, 12, 0, 5, tzinfo=timezone.utc)


class Flaky(Recording):
    """A bridge whose attempts fail until the fifth; it outlives operator restarts, as a cluster does."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[int] = []

    async def submit(self, exp: Any, task: Any, attempt: int, ref: Any) -> Any:
        self.attempts.append(attempt)
        return await super().submit(exp, task, attempt, ref)

    async def observe(self, exp: Any) -> dict[tuple[str, int], Observed]:
        return {("t", n): (Observed("failed", backend_id=f"job-{n}", exit_code=10 + n, reason="Error", message=MESSAGE,
                                    start_time=T, finish_time=T) if n <= FAILURES else
                           Observed("succeeded", backend_id=f"job-{n}", exit_code=0, start_time=T, finish_time=T))
                for n in self.attempts}


class Outage:
    """The archive refusing the operator: PostgreSQL by refusing its role's logins, SQLite by a URL it cannot open."""

    def __init__(self, url: str, server: Any) -> None:
        self._url, self._server, self.down = url, server, False

    def url(self) -> str:
        if self.down and self._server is None:
            raise ArchiveUnavailable("the archive is unavailable (test outage)")
        return self._url

    def set(self, down: bool) -> None:
        self.down = down
        if self._server is not None:
            from psycopg import sql

            from tests.harness.postgres import APP_ROLE
            with self._server.admin() as conn:
                conn.execute(sql.SQL("ALTER ROLE {} " + ("NOLOGIN" if down else "LOGIN")).format(sql.Identifier(APP_ROLE)))
                if down:
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (APP_ROLE,))


@pytest.fixture
def outage(archive_url: str, request: pytest.FixtureRequest):
    with Archive.open(archive_url):
        pass  # migrated while reachable, as a running operator's archive would be
    server = request.getfixturevalue("postgres_server") if archive_url.startswith("postgresql") else None
    gate = Outage(archive_url, server)
    yield gate
    gate.set(False)


def _restarted(h: Harness) -> Harness:
    """A new operator on the same API objects and backends: nothing of the old one's memory."""
    backends = dict(h.controller.backends)
    controller = Controller(SETTINGS, h.kube, backends, h.controller.post_event, clock=h.clock)  # type: ignore[arg-type]
    h.kube.on_write = controller.experiment_seen
    return Harness(h.kube, controller, h.clock, h.jobs, h.events)


async def _reconcile_until(h: Harness, done: Any, what: str, rounds: int = 40) -> None:
    for _ in range(rounds):
        await h.reconcile()
        if done():
            return
        h.clock.advance(1)
        await asyncio.sleep(0.01)
    raise AssertionError(f"not {what} after {rounds} reconciles: {h.status()}")


def _retried_while_the_archive_is_down(outage: Outage) -> tuple[Harness, Flaky]:
    """A Slurm task whose attempts fail until the sixth retry, with the archive unreachable from the start."""
    flaky = Flaky()
    h = harness({"slurm": flaky})
    h.kube.add_experiment("exp", [{"name": "t", "script": {"command": ["true"]}, "executor": {"slurm": {"cluster": "c"}},
                                   "retries": {"limit": 6, "backoffSeconds": 0}}])
    h.kube.experiments[KEY]["metadata"].update(uid=UID, creationTimestamp="2026-01-01T11:59:00Z")
    outage.set(True)
    return h, flaky


def _kept(h: Harness) -> list[int]:
    return [a["attempt"] for a in h.task().get("attempts") or []]


async def test_attempts_pushed_past_the_budget_while_the_archive_is_down_survive_an_operator_crash(
        outage: Outage, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(controller_module, "compact", functools.partial(budget.compact, budget=BUDGET))
    h, flaky = _retried_while_the_archive_is_down(outage)
    first = recorder_for(h, outage.url, None)
    await first.start()
    await _reconcile_until(h, lambda: len(flaky.attempts) >= 3, "on attempt 3")
    assert _kept(h)[:2] == [1, 2] and not h.task().get("attemptsOmitted"), h.task()
    assert budget.size_of(_status(h)) > BUDGET  # past the budget, and kept
    assert first.queue.pending() >= 1  # the rows of attempts 1 and 2 wait, in this operator's memory only
    await first.queue.stop()  # the operator dies: its queued writes are gone

    h = _restarted(h)
    second = recorder_for(h, outage.url, None)
    await second.start()
    try:
        await _reconcile_until(h, lambda: h.status().get("phase") == "Succeeded", "Succeeded")
        assert _kept(h) == [1, 2, 3, 4, 5] and not h.task().get("attemptsOmitted")
        assert [a.get("message") for a in h.task()["attempts"][:FAILURES]] == [MESSAGE] * FAILURES  # not cut either
        assert "ArchiveUnavailable" in [e.reason for e in h.events]

        outage.set(False)
        assert await second.queue.drain(30)
        await _reconcile_until(h, lambda: bool(h.task().get("attemptsOmitted")), "compacted once archived")
        assert _kept(h) == [5] and h.task()["attemptsOmitted"] == FAILURES
        with Archive.open(outage.url()) as archive:
            rows = archive.attempts(UID)
        assert [(r.attempt, r.phase, r.exit_code) for r in rows] == [
            *((n, "Failed", 10 + n) for n in range(1, FAILURES + 1)), (5, "Succeeded", 0)]
        assert all(r.document.get("message") == MESSAGE for r in rows[:FAILURES])
    finally:
        await second.stop()


def _status(h: Harness) -> Any:
    from kuberun.resource import ExperimentStatus

    return ExperimentStatus.model_validate(h.status())


async def test_the_configmaps_a_spec_points_at_are_kept_once_when_the_experiment_is_first_seen(archive_url: str):
    """A spilled config and a code chunk, read through the API when the recorder first sees the experiment;
    after a restart the archive already has them: nothing is read again. A ConfigMap already gone is skipped."""
    import base64

    h = harness({"slurm": Flaky()})
    h.kube.add_experiment("exp", [{"name": "t", "executor": {"slurm": {"cluster": "c"}},
                                   "fiddle": {"encoding": "fiddle-json+zlib+base64", "sha256": "0" * 64, "size": 10,
                                              "configMapRefs": [{"name": "exp-t-config-0"}, {"name": "exp-t-config-1"}]},
                                   "code": {"encoding": "tar+gzip", "sha256": "ab" * 32, "size": 3, "files": 1,
                                            "storage": {"configMaps": [f"kuberun-code-{'ab' * 32}-0"]}}}])
    h.kube.experiments[KEY]["metadata"].update(uid=UID, creationTimestamp="2026-01-01T11:59:00Z")
    await h.kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "exp-t-config-0", "namespace": "ns"},
                         "data": {"config": "eJz" + "Q" * 50_000}})
    await h.kube.create({"apiVersion": "v1", "kind": "ConfigMap", "immutable": True,
                         "metadata": {"name": f"kuberun-code-{'ab' * 32}-0", "namespace": "ns",
                                      "labels": {"kuberun.dev/code-digest": ("ab" * 32)[:63]}},
                         "binaryData": {"chunk": base64.b64encode(b"\x00\x01\x02").decode()}})
    expected = [["exp-t-config-0", "exp-t-config-1", f"kuberun-code-{'ab' * 32}-0"],
                ["exp-t-config-0", "exp-t-config-1", f"kuberun-code-{'ab' * 32}-0", "exp-t-config-1"]]
    for reads_so_far in expected:
        recorder = recorder_for(h, lambda: archive_url, None)
        await recorder.start()
        try:
            await h.reconcile()
            assert await recorder.queue.drain(20)
        finally:
            await recorder.stop()
        # the second operator reads only the one the archive lacks (it never existed)
        assert [c[2] for c in h.kube.calls if c[:2] == ("get", "ConfigMap")] == reads_so_far
        h = _restarted(h)
    with Archive.open(archive_url) as archive:
        kept = {cm["metadata"]["name"]: cm for cm in archive.config_maps(UID, "ns")}
    assert set(kept) == {"exp-t-config-0", f"kuberun-code-{'ab' * 32}-0"}  # config-1 never existed: skipped
    assert kept["exp-t-config-0"]["data"]["config"] == "eJz" + "Q" * 50_000
    assert base64.b64decode(kept[f"kuberun-code-{'ab' * 32}-0"]["binaryData"]["chunk"]) == b"\x00\x01\x02"


async def test_past_the_ceiling_held_attempts_leave_status_with_a_warning_and_still_reach_the_archive(
        outage: Outage, monkeypatch: pytest.MonkeyPatch):
    """The archive down for long: at the ceiling the budget compacts held attempts too (status writes must
    fit etcd), says so with an ArchiveBehind Event, and the rows — kept in memory — land when it is back."""
    monkeypatch.setattr(controller_module, "compact", functools.partial(budget.compact, budget=BUDGET, ceiling=2 * BUDGET))
    h, _ = _retried_while_the_archive_is_down(outage)
    recorder = recorder_for(h, outage.url, None)
    await recorder.start()
    try:
        await _reconcile_until(h, lambda: h.status().get("phase") == "Succeeded", "Succeeded")
        assert budget.size_of(_status(h)) <= 2 * BUDGET and h.task().get("attemptsOmitted")
        assert "ArchiveBehind" in [e.reason for e in h.events]
        outage.set(False)
        assert await recorder.queue.drain(30)
        with Archive.open(outage.url()) as archive:
            rows = archive.attempts(UID)
        assert [(r.attempt, r.exit_code) for r in rows] == [*((n, 10 + n) for n in range(1, FAILURES + 1)), (5, 0)]
    finally:
        await recorder.stop()
