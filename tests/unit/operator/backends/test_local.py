"""The local backend across operator deaths: exit status written by the process itself, at most
one process per attempt, and a vanished or replaced process ending its attempt JobLost.

"The operator restarted" is a new ``LocalBackend`` over the same directory (the old one's
waiter threads gone with it). Processes are real; each test stops what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from kuberun.resource import AttemptStatus, BackendRef, ExperimentStatus, TaskPhase, TaskStatus
from kuberun_operator.backends import local
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.local import LocalBackend
from kuberun_operator.backends.local_child import exit_status
from kuberun_operator.settings import Settings
from tests.helpers.builders import make_resource

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = "uid-1-t-1"


def _exp(command: list[str], uid: str | None = None) -> Any:
    exp = make_resource().task("t", backend="local").obj()
    exp.spec.tasks[0].script.command = command  # type: ignore[union-attr]
    ref = BackendRef(backend="local", idempotency_key=KEY, uid=uid)
    exp.status = ExperimentStatus(phase="Running", tasks=[TaskStatus(name="t", phase=TaskPhase.RUNNING, attempt=1, attempts=[
        AttemptStatus(attempt=1, phase=TaskPhase.RUNNING, backend_ref=ref)])])
    return exp


def _backend(root: Path) -> LocalBackend:
    return LocalBackend(Settings(enable_local_executor=True, local_workdir=root))


async def _until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def root(tmp_path: Path) -> Any:
    yield tmp_path
    for pid_file in tmp_path.glob("*/pid"):  # stop whatever a failed test left running
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


async def _submit(backend: LocalBackend, exp: Any) -> Any:
    task = exp.spec.tasks[0]
    return await backend.submit(exp, task, 1, exp.status.tasks[0].attempts[0].backend_ref)


async def _observe_once(root: Path, exp: Any) -> Any:
    return (await _backend(root).observe(exp)).get(("t", 1))


async def test_a_task_that_ends_while_the_operator_is_down_keeps_its_real_exit_code(root: Path) -> None:
    submitted = await _submit(_backend(root), _exp(["sh", "-c", "sleep 0.3; exit 3"]))
    assert submitted.uid and submitted.uid.startswith(f"{submitted.id}@")  # pid and start time, as soon as it exists
    await _until(lambda: (root / KEY / "exit").exists(), "the exit file")  # the first "operator" never looks again
    seen = await _observe_once(root, _exp([], uid=submitted.uid))
    assert (seen.state, seen.exit_code, seen.reason) == ("failed", 3, "Error")


async def test_a_success_while_the_operator_is_down_is_recorded_succeeded(root: Path) -> None:
    await _submit(_backend(root), _exp(["sh", "-c", "sleep 0.2"]))
    await _until(lambda: (root / KEY / "exit").exists(), "the exit file")
    seen = await _observe_once(root, _exp([]))
    assert (seen.state, seen.exit_code, seen.reason) == ("succeeded", 0, "Completed")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
async def test_a_task_ended_by_a_signal_exits_128_plus_n(root: Path, sig: signal.Signals) -> None:
    await _submit(_backend(root), _exp(["sh", "-c", f"kill -{sig.name.removeprefix('SIG')} $$"]))
    await _until(lambda: (root / KEY / "exit").exists(), "the exit file")
    seen = await _observe_once(root, _exp([]))
    assert (seen.state, seen.exit_code) == ("failed", 128 + sig)


async def test_exit_status_follows_the_kubernetes_convention() -> None:
    assert [exit_status(c) for c in (0, 1, 255, -9, -15)] == [0, 1, 255, 137, 143]


async def test_a_second_submit_after_a_restart_never_starts_another_process(root: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    exp = _exp(["sh", "-c", f"echo run >> {marks}; sleep 0.5"])
    first = await _submit(_backend(root), exp)
    again = await _submit(_backend(root), exp)
    assert (again.id, again.uid) == (first.id, first.uid)
    await _until(lambda: (root / KEY / "exit").exists(), "the exit file")
    assert marks.read_text() == "run\n"


async def test_a_launch_that_never_confirmed_its_pid_is_not_started_again_and_ends_lost(root: Path, monkeypatch: Any) -> None:
    (root / KEY).mkdir()
    (root / KEY / "launched").touch()  # the operator died between marking the launch and writing the pid
    with pytest.raises(BackendError) as refused:
        await _submit(_backend(root), _exp(["true"]))
    assert refused.value.reason == "LaunchUnconfirmed" and not refused.value.permanent
    assert not (root / KEY / "pid").exists()
    assert await _observe_once(root, _exp([])) is None  # young: it may still write its pid
    monkeypatch.setattr(local, "UNCONFIRMED_AFTER", 0.0)
    seen = await _observe_once(root, _exp([]))
    assert (seen.state, seen.reason) == ("lost", "JobLost")


async def test_a_process_killed_without_an_exit_status_ends_its_attempt_lost(root: Path) -> None:
    submitted = await _submit(_backend(root), _exp(["sleep", "30"]))
    os.killpg(int(submitted.id), signal.SIGKILL)  # wrapper and task at once: nobody writes the exit file
    await _until(lambda: not Path(f"/proc/{submitted.id}").exists() or _zombie(int(submitted.id)), "the kill")
    await asyncio.sleep(0.2)  # the first backend's waiter reaps it
    seen = await _observe_once(root, _exp([], uid=submitted.uid))
    assert (seen.state, seen.reason, seen.exit_code) == ("lost", "JobLost", None)
    assert "without recording an exit status" in seen.message


async def test_a_vanished_attempt_directory_with_a_recorded_child_is_lost_not_resubmitted(root: Path) -> None:
    seen = await _observe_once(root, _exp([], uid="4242@1"))
    assert (seen.state, seen.reason) == ("lost", "JobLost")
    assert await _observe_once(root, _exp([])) is None  # nothing recorded: (re)submit is still the way


async def test_a_pid_reused_by_another_process_is_not_taken_for_the_task(root: Path) -> None:
    where = root / KEY
    where.mkdir()
    (where / "pid").write_text(str(os.getpid()))  # alive, but not the process that was started
    (where / "ticks").write_text("1")
    seen = await _observe_once(root, _exp([], uid=f"{os.getpid()}@1"))
    assert (seen.state, seen.reason) == ("lost", "JobLost")


async def test_cancel_forwards_sigterm_and_the_exit_file_records_it(root: Path) -> None:
    backend = _backend(root)
    exp = _exp(["sleep", "30"])
    submitted = await _submit(backend, exp)
    await _until(lambda: local._start_ticks(int(submitted.id)) is not None, "the start")
    await asyncio.sleep(0.3)  # the wrapper has installed its handlers
    await backend.cancel(exp, exp.spec.tasks[0], 1, exp.status.tasks[0].attempts[0].backend_ref)
    await _until(lambda: (root / KEY / "exit").exists(), "the exit file")
    seen = await _observe_once(root, _exp([]))
    assert seen.state == "failed" and seen.exit_code in (143, 128 + signal.SIGTERM)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
