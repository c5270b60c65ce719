"""What the cloud bridges (Lepton, SkyPilot) share: names from keys, the task in an env var.

Neither service can mount a file the operator writes, so the task document travels in an
environment variable (``python -m kuberun.runner --config-env KUBERUN_TASK_B64``). Linux
limits one environment string to 128 KiB, so larger documents are refused with advice instead
of failing at exec time on a rented GPU.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from kuberun.resource import ExperimentResource, TaskSpec
from kuberun.runner import BadTaskError, encode_task_env, task_document
from kuberun_operator.backends.base import BackendError

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
            "KUBERUN_TASK": task.name, "KUBERUN_ATTEMPT": str(attempt), TASK_ENV: task_env(task, code_files)}


def code_file(sha256: str) -> str:
    """Where a bridge puts a task's code package on the node (the runner expands ``~``)."""
    return f"~/.kuberun/code/{sha256}.tar.gz"


def epoch(value: object) -> datetime | None:
    """A timestamp from seconds or milliseconds since the epoch (the services use both)."""
    if not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 1e11 else value
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
