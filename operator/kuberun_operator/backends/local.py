"""The local backend: an attempt is a ``python -m kuberun.runner`` subprocess of the operator.

Off by default: it runs user code inside the operator's pod. The sandbox turns it on. Each
attempt has a directory named by its idempotency key holding the task document, the log, the
pid and, once the process ends, its exit code — so an operator restart finds the attempt
again (and never starts it twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from kuberun.resource import BackendRef, ExperimentResource, LogRef, TaskSpec, results
from kuberun.resource.times import format_time, parse_time, utcnow
from kuberun.runner import task_document
from kuberun_operator.actions import Observed
from kuberun_operator.backends.base import BackendError, Submitted, active_attempts
from kuberun_operator.settings import Settings


class LocalBackend:
    name = "local"
    poll_interval = 0.5  # Polled: processes send no watch events: the controller looks again this often

    def __init__(self, settings: Settings) -> None:
        self.root = settings.local_workdir
        self._waiters: dict[str, asyncio.Task[None]] = {}

    def _dir(self, key: str) -> Path:
        return self.root / key

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted:
        where = self._dir(ref.idempotency_key)
        log = LogRef(kind="file", path=str(where / "output.log"))
        if (where / "pid").exists():
            return Submitted(id=(where / "pid").read_text().strip(), log_ref=log)  # submitted before a restart
        if task.fiddle is not None and task.fiddle.data is None:
            raise BackendError("UnsupportedConfig", "the local executor needs inline configs (this one is in ConfigMaps)", permanent=True)
        from kuberun_operator.backends.code import refuse_code

        refuse_code(task, "local")
        where.mkdir(parents=True, exist_ok=True)
        (where / "task.json").write_text(json.dumps(task_document(task)))
        env = {**os.environ, "KUBERUN_EXPERIMENT": exp.metadata.name or "", "KUBERUN_TASK": task.name,
               "KUBERUN_ATTEMPT": str(attempt), **outputs_env(where),
               **(task.executor.local.env if task.executor.local else {})}
        with open(where / "output.log", "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "kuberun.runner", "--config", str(where / "task.json")],
                                    stdout=out, stderr=subprocess.STDOUT, cwd=where, env=env, start_new_session=True)
        (where / "pid").write_text(str(proc.pid))
        (where / "started").write_text(_now())
        self._waiters[ref.idempotency_key] = asyncio.create_task(self._wait(proc, where))
        return Submitted(id=str(proc.pid), log_ref=log)

    async def _wait(self, proc: subprocess.Popen[bytes], where: Path) -> None:
        code = await asyncio.to_thread(proc.wait)
        (where / "exit").write_text(f"{code}\n{_now()}")

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        seen: dict[tuple[str, int], Observed] = {}
        for task_name, attempt in active_attempts(exp, self.name):
            assert attempt.backend_ref is not None  # active_attempts yields only attempts with one
            key = attempt.backend_ref.idempotency_key
            waiter = self._waiters.get(key)
            # Ours and still waited on: between the process's exit and its exit file, not lost.
            observed = self._observe_dir(self._dir(key), assume_alive=waiter is not None and not waiter.done())
            if observed is not None:
                seen[(task_name, attempt.attempt)] = observed
        return seen

    def _observe_dir(self, where: Path, assume_alive: bool = False) -> Observed | None:
        if not (where / "pid").exists():
            return None
        pid = (where / "pid").read_text().strip()
        log = LogRef(kind="file", path=str(where / "output.log"))
        started = _parse((where / "started").read_text()) if (where / "started").exists() else None
        if (where / "exit").exists():
            code_text, _, finished = (where / "exit").read_text().partition("\n")
            code = int(code_text)
            return Observed("succeeded" if code == 0 else "failed", backend_id=pid, start_time=started,
                            finish_time=_parse(finished), exit_code=code, reason="Completed" if code == 0 else "Error",
                            message=None if code == 0 else _tail(where / "output.log"), log_ref=log,
                            summary=read_summary(where))
        if assume_alive or _alive(int(pid)):
            return Observed("running", backend_id=pid, start_time=started, log_ref=log)
        return Observed("failed", backend_id=pid, start_time=started, reason="ProcessLost",
                        message="the process ended while the operator was not watching it", log_ref=log)

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None:
        pid_file = self._dir(ref.idempotency_key) / "pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)


def outputs_env(where: Path) -> dict[str, str]:
    """Where the runner leaves the run summary, the metric series and the artifacts: the attempt's directory."""
    return {results.SUMMARY_ENV: str(where / results.SUMMARY_FILE), results.METRICS_ENV: str(where / results.METRICS_FILE),
            "KUBERUN_ARTIFACTS_DIR": str(where / "artifacts")}


def read_summary(where: Path) -> results.RunSummary | None:
    try:
        with open(where / results.SUMMARY_FILE, "rb") as handle:
            return results.parse_summary(handle.read(results.FILE_SUMMARY_BYTES))
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, limit: int = 512) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - limit, 0))
            return handle.read().decode("utf-8", "replace").strip() or None
    except OSError:
        return None


def _now() -> str:
    return format_time(utcnow())


def _parse(text: str) -> datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None
