"""The local backend: an attempt is a ``python -m kuberun.runner`` subprocess of the operator.

Off by default: it runs user code inside the operator's pod. The sandbox turns it on. Each
attempt has a directory named by its idempotency key holding the task document, the log, the
pid and, once the process ends, its exit code — so an operator restart finds the attempt
again (and never starts it twice).

At most once, across operator deaths: ``launched`` is created (exclusively) before the process
is started, so a second submit under the same key never starts another; the process is
``local_child``, which writes the task's exit status itself, so a task that ends while the
operator is down is recorded with its real code. The child's identity (pid and kernel start
time) is recorded as the attempt's uid: a process that is gone without an exit status, a pid
now held by another process, or an attempt directory that vanished, ends the attempt ``JobLost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from kuberun.resource import BackendRef, ExperimentResource, LogRef, TaskSpec, results
from kuberun.resource.times import format_time, parse_time, utcnow
from kuberun.runner import task_document
from kuberun_operator.actions import Observed
from kuberun_operator.backends.base import BackendError, Submitted, active_attempts
from kuberun_operator.backends.local_child import write_atomic
from kuberun_operator.codestore import CodeReader
from kuberun_operator.settings import Settings

CODE_FILE = "code.tar.gz"  # a task's code package, beside task.json (the runner unpacks it into code/)
UNCONFIRMED_AFTER = 10.0  # seconds a launch may go without its pid file before it counts as lost


class LocalBackend:
    name = "local"
    poll_interval = 0.5  # Polled: processes send no watch events: the controller looks again this often

    def __init__(self, settings: Settings, code_reader: CodeReader | None = None) -> None:
        self.root = settings.local_workdir
        # (namespace, CodeRef) -> the package's bytes (kuberun_operator.codestore); None: packaged tasks are refused
        self.code_reader = code_reader
        self._waiters: dict[str, asyncio.Task[None]] = {}

    def _dir(self, key: str) -> Path:
        return self.root / key

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted:
        where = self._dir(ref.idempotency_key)
        log = LogRef(kind="file", path=str(where / "output.log"))
        if (where / "pid").exists():
            pid = (where / "pid").read_text().strip()  # submitted before a restart
            return Submitted(id=pid, log_ref=log, uid=_identity(where))
        if (where / "launched").exists():
            # Started (or about to be) by an operator that died before the pid was written: never
            # start a second one. observe reports it lost if its pid never appears.
            raise BackendError("LaunchUnconfirmed", f"attempt {ref.idempotency_key} was launched before a restart "
                               "and has not confirmed its pid yet", permanent=False)
        if task.fiddle is not None and task.fiddle.data is None:
            raise BackendError("UnsupportedConfig", "the local executor needs inline configs (this one is in ConfigMaps)", permanent=True)
        code = await self._code(exp, task)  # before anything is written: a missing package starts nothing
        where.mkdir(parents=True, exist_ok=True)
        if code:
            (where / CODE_FILE).write_bytes(code)  # rewritten whole by a resubmit; the runner checks its sha256
        code_files = [str(where / CODE_FILE)] if code else None
        (where / "task.json").write_text(json.dumps(task_document(task, code_files=code_files)))
        env = {**os.environ, "KUBERUN_EXPERIMENT": exp.metadata.name or "", "KUBERUN_TASK": task.name,
               "KUBERUN_ATTEMPT": str(attempt), **outputs_env(where),
               # The runner unpacks (after verifying its sha256) into the attempt's own directory.
               **({"KUBERUN_CODE_DIR": str(where / "code")} if code else {}),
               **(task.executor.local.env if task.executor.local else {})}
        try:
            os.close(os.open(where / "launched", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise BackendError("LaunchUnconfirmed", f"attempt {ref.idempotency_key} is being launched already",
                               permanent=False) from None
        command = [sys.executable, "-m", "kuberun_operator.backends.local_child", str(where), "--",
                   sys.executable, "-m", "kuberun.runner", "--config", str(where / "task.json")]
        with open(where / "output.log", "ab") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=where, env=env,
                                    start_new_session=True)
        write_atomic(where / "pid", str(proc.pid))
        (where / "started").write_text(_now())
        self._waiters[ref.idempotency_key] = asyncio.create_task(self._wait(proc))
        return Submitted(id=str(proc.pid), log_ref=log, uid=_identity(where))

    async def _code(self, exp: ExperimentResource, task: TaskSpec) -> bytes:
        """The task's code package read from its ConfigMaps (size and sha256 checked), or b"" when it ships none."""
        from kuberun_operator.backends.code import refuse_code

        if task.code is None:
            return b""
        if self.code_reader is None:
            refuse_code(task, "local (this operator has no API access to read the package)")
        assert self.code_reader is not None  # refuse_code raised otherwise
        return await self.code_reader(exp.metadata.namespace or "default", task.code)

    async def _wait(self, proc: subprocess.Popen[bytes]) -> None:
        await asyncio.to_thread(proc.wait)  # reaps it; the process writes its own exit file (local_child)

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        seen: dict[tuple[str, int], Observed] = {}
        for task_name, attempt in active_attempts(exp, self.name):
            assert attempt.backend_ref is not None  # active_attempts yields only attempts with one
            key = attempt.backend_ref.idempotency_key
            waiter = self._waiters.get(key)
            # Ours and still waited on: between the process's exit and its exit file, not lost.
            observed = self._observe_dir(self._dir(key), assume_alive=waiter is not None and not waiter.done(),
                                         recorded=attempt.backend_ref.uid)
            if observed is not None:
                seen[(task_name, attempt.attempt)] = observed
        return seen

    def _observe_dir(self, where: Path, assume_alive: bool = False, recorded: str | None = None) -> Observed | None:
        log = LogRef(kind="file", path=str(where / "output.log"))
        if not (where / "pid").exists():
            if recorded:
                return _lost(recorded, f"its attempt directory {where} is gone", log)
            launched = where / "launched"
            if launched.exists() and _age(launched) > UNCONFIRMED_AFTER:
                return _lost(None, "it was launched before an operator restart and never wrote its pid", log)
            return None
        pid = (where / "pid").read_text().strip()
        identity = _identity(where)
        started = _parse((where / "started").read_text()) if (where / "started").exists() else None
        if (where / "exit").exists():
            code_text, _, finished = (where / "exit").read_text().partition("\n")
            code = int(code_text)
            return Observed("succeeded" if code == 0 else "failed", backend_id=pid, backend_uid=identity,
                            start_time=started, finish_time=_parse(finished), exit_code=code,
                            reason="Completed" if code == 0 else "Error",
                            message=None if code == 0 else _tail(where / "output.log"), log_ref=log,
                            summary=read_summary(where))
        if assume_alive or _alive(int(pid), identity):
            return Observed("running", backend_id=pid, backend_uid=identity, start_time=started, log_ref=log)
        return _lost(pid, "ended without recording an exit status (killed, or its machine restarted)", log)

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


def _lost(pid: str | None, how: str, log: LogRef) -> Observed:
    what = f"process {pid}" if pid else "the process"
    return Observed("lost", backend_id=pid, reason="JobLost", log_ref=log,
                    message=f"{what} {how}; its attempt is not run again under the same number")


def _start_ticks(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot; Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22; the command name may hold spaces


def _identity(where: Path) -> str | None:
    """The attempt's process as ``PID@START``: a pid reused by another process has another start time."""
    try:
        pid = int((where / "pid").read_text().strip())
    except (OSError, ValueError):
        return None
    ticks = (where / "ticks").read_text().strip() if (where / "ticks").exists() else _start_ticks(pid)
    if ticks and not (where / "ticks").exists():
        write_atomic(where / "ticks", ticks)
    return f"{pid}@{ticks}" if ticks else str(pid)


def _alive(pid: int, identity: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if identity and "@" in identity:
        return _start_ticks(pid) == identity.partition("@")[2]  # the same process, not a reuse of its pid
    return True


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


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
