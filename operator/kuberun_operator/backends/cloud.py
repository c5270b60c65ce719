"""What the cloud bridges (Lepton, SkyPilot) share: names from keys, the task in an env var, the log route back.

Neither service can mount a file the operator writes, so the task document travels in an
environment variable (``python -m kuberun.runner --config-env KUBERUN_TASK_B64``). Linux
limits one environment string to 128 KiB, so larger documents are refused with advice instead
of failing at exec time on a rented GPU.

Nor can the operator read a file the task leaves, but both serve the task's log: the bridges set
``LOG_MARKS_ENV`` so the runner prints its summary (and a bounded series) as marked lines, and
``LogSummaries`` reads the summary from the log's tail once, when the attempt is seen ended
(``kuberun.resource.summary``; the log copy extracts the series, ``recording/logmarks.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import datetime, timezone
from typing import Any

from kuberun.resource import ExperimentResource, TaskSpec, results
from kuberun.runner import BadTaskError, encode_task_env, task_document
from kuberun_operator import identity
from kuberun_operator.actions import Observed
from kuberun_operator.backends.base import BackendError

log = logging.getLogger("kuberun.operator")
LOG_TAIL_LINES = 200  # the summary is the runner's last line; the service may add a few of its own after it

TASK_ENV = "KUBERUN_TASK_B64"
MAX_TASK_ENV = 96 * 1024  # below MAX_ARG_STRLEN (128 KiB) with room for the other variables
RUNNER = ["python", "-m", "kuberun.runner", "--config-env", TASK_ENV]


def remote_name(key: str) -> str:
    """A short deterministic name for an attempt (Lepton job ids: <= 36 chars, [a-z][a-z0-9-]*)."""
    return f"kr-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def task_env(task: TaskSpec, code_files: list[str] | None = None) -> str:
    """The encoded task document, or a permanent error a user can act on.

    ``code_files``: where the bridge delivered the task's code package on the node (None: it did not).
    """
    from kuberun_operator.backends.code import refuse_code

    if not code_files:
        refuse_code(task, "SkyPilot or Lepton (this operator cannot read code packages)")
    try:
        encoded = encode_task_env(task_document(task, code_files=code_files if task.code is not None else None))
    except BadTaskError:
        raise BackendError("UnsupportedConfig", f"task {task.name!r}: its config is split over ConfigMaps, which a "
                           "cloud backend cannot mount; keep it under 128 KiB", permanent=True) from None
    if len(encoded) > MAX_TASK_ENV:
        raise BackendError("ConfigTooLarge", f"task {task.name!r}: the encoded config is {len(encoded)} bytes; a cloud "
                           f"backend carries at most {MAX_TASK_ENV} in an environment variable", permanent=True)
    return encoded


def attempt_env(exp: ExperimentResource, task: TaskSpec, attempt: int, code_files: list[str] | None = None) -> dict[str, str]:
    return {"KUBERUN_EXPERIMENT": exp.metadata.name or "", "KUBERUN_NAMESPACE": exp.metadata.namespace or "",
            "KUBERUN_TASK": task.name, "KUBERUN_ATTEMPT": str(attempt), TASK_ENV: task_env(task, code_files),
            results.LOG_MARKS_ENV: "1"}


class LogSummaries:
    """Each ended attempt's run summary, read once from its log's tail (bounded: ended attempts are not observed again)."""

    def __init__(self, source: Any, limit: int = 10_000) -> None:
        self.source, self.limit = source, limit  # source: the bridge (LogSource)
        self._found: dict[str, results.RunSummary | None] = {}

    async def with_summary(self, found: Observed, exp: ExperimentResource, task: str, attempt: int) -> Observed:
        """``found`` with the summary of its log, when it has ended (a log that cannot be read: none).

        The log is read as every log is (``logs(exp, task, attempt)``: located from the Experiment,
        never from status), and cached under the key recomputed from the UID."""
        if found.state not in ("succeeded", "failed") or found.log_ref is None or found.summary is not None:
            return found
        key = identity.idempotency_key(exp.metadata.uid or "", task, attempt)
        if key not in self._found:
            summary = await self._read(exp, task, attempt, key)
            if summary is None:
                return found  # not cached: the next observation of an ended attempt tries again
            if len(self._found) >= self.limit:
                self._found.clear()
            self._found[key] = summary
        return dataclasses.replace(found, summary=self._found[key])

    async def _read(self, exp: ExperimentResource, task: str, attempt: int, key: str) -> results.RunSummary | None:
        try:
            tail = b"".join([chunk async for chunk in self.source.logs(exp, task, attempt, False, LOG_TAIL_LINES)])
        except (BackendError, OSError) as exc:
            log.warning("the log of %s cannot be read for its run summary: %s", key, exc)
            return None
        text = results.summary_in_log(tail.decode("utf-8", "replace").splitlines())
        return results.parse_summary(text) if text is not None else None


def code_file(sha256: str) -> str:
    """Where a bridge puts a task's code package on the node (the runner expands ``~``)."""
    return f"~/.kuberun/code/{sha256}.tar.gz"


def epoch(value: object) -> datetime | None:
    """A timestamp from seconds or milliseconds since the epoch (the services use both)."""
    if not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 1e11 else value
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
