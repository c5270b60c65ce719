"""Pure parsing of squeue/sacct output and the mapping of Slurm job states to ``Observed``.

Times are parsed as UTC because every remote command runs with ``TZ=UTC`` (Slurm prints
local time without an offset).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from kuberun.resource import LogRef
from kuberun.resource.times import parse_time
from kuberun_operator.actions import IndexObserved, Observed
from kuberun_operator.backends.slurm import arrays
from kuberun_operator.backends.slurm.script import SACCT_FIELDS, SQUEUE_FIELDS

PENDING = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
RUNNING = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"})
SUSPENDED = frozenset({"SUSPENDED", "STOPPED"})
# Terminal states other than COMPLETED, with the reason a user reads in the task's status.
FAILED_REASONS = {
    "FAILED": "Error",
    "CANCELLED": "Cancelled",
    "TIMEOUT": "Timeout",
    "NODE_FAIL": "NodeFail",
    "OUT_OF_MEMORY": "OutOfMemory",
    "PREEMPTED": "Preempted",
    "BOOT_FAIL": "BootFail",
    "DEADLINE": "Deadline",
    "REVOKED": "Revoked",
    "SPECIAL_EXIT": "SpecialExit",
}
_MESSAGES = {
    "Timeout": "the job reached its time limit",
    "OutOfMemory": "the job ran out of memory",
    "NodeFail": "a node of the job failed",
    "Preempted": "the job was preempted",
    "Cancelled": "the job was cancelled outside kuberun (scancel)",
}


@dataclass(frozen=True)
class SlurmJob:
    """What squeue or sacct says about one job."""

    id: str
    name: str
    state: str
    reason: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    exit_code: int | None = None
    members: tuple[tuple[int, SlurmJob], ...] = ()  # a job array's indices; the fields above sum them up
    components: tuple[str, ...] = ()  # a het leader's components as Slurm names them: ("123+0", "123+1")


def parse_squeue(text: str) -> dict[str, SlurmJob]:
    """``squeue -O JobID:|,Name:|,...,exit_code:|,ArrayJobID:|,ArrayTaskID:|`` -> jobs by id.

    exit_code is a raw wait status. An array's rows (one per index, one per pending range) become
    one job under the array's id, with each index as a member (arrays.py).
    """
    jobs: dict[str, SlurmJob] = {}
    elements: dict[str, dict[int, SlurmJob]] = {}
    het: dict[str, set[int]] = {}  # leader id -> component offsets
    core = SQUEUE_FIELDS.index("exit_code") + 1
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < core:
            continue  # noise
        job_id, name, state, reason, start, end, status = cells[:core]
        array_id, task_id, het_id, het_offset = [*cells[core:core + 4], "", "", "", ""][:4]
        if het_id.isdigit() and het_offset.isdigit():
            het.setdefault(het_id, set()).add(int(het_offset))
        job = SlurmJob(job_id, name, _state(state), None if reason in ("", "None") else reason,
                       _time(start), _time(end), _wait_status(status))
        indices = arrays.index_range(task_id)
        if indices and array_id.isdigit():
            elements.setdefault(array_id, {}).update(dict.fromkeys(indices, job))
        elif job_id.isdigit():
            jobs[job_id] = job  # a het component is a job of its own id too; its leader's state is the job's
    jobs.update(_arrays(elements))
    for leader, offsets in het.items():
        if leader in jobs:  # the leader's row carries the het job's state (the batch script runs there)
            jobs[leader] = dataclasses.replace(jobs[leader], components=tuple(f"{leader}+{o}" for o in sorted(offsets)))
    return jobs


def parse_sacct(text: str) -> dict[str, SlurmJob]:
    """``sacct -n -P -o JobID,JobName,State,ExitCode,Start,End`` -> jobs by id (steps skipped, arrays summed)."""
    jobs: dict[str, SlurmJob] = {}
    elements: dict[str, dict[int, SlurmJob]] = {}
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < len(SACCT_FIELDS):
            continue
        job_id, name, state, exit_code, start, end = cells[: len(SACCT_FIELDS)]
        job = SlurmJob(job_id, name, _state(state), None, _time(start), _time(end), _exit_pair(exit_code))
        split = arrays.split_array_id(job_id)
        if split is not None:
            elements.setdefault(split[0], {}).update(dict.fromkeys(arrays.index_range(split[1]), job))
        elif job_id.isdigit():
            jobs[job_id] = job  # "123.batch" steps, headers, noise are skipped
    jobs.update(_arrays(elements))
    return jobs


def _arrays(elements: dict[str, dict[int, SlurmJob]]) -> dict[str, SlurmJob]:
    return {array_id: SlurmJob(**arrays.summed(array_id, members), members=tuple(sorted(members.items())))
            for array_id, members in elements.items() if members}


def observed_from(job: SlurmJob, log_ref: LogRef | None) -> Observed:
    """A Slurm job as the ``Observed`` that reconcile understands (an array's, with its indices)."""
    indices = tuple(IndexObserved(i, observed_from(m, None).state, m.exit_code if m.state in arrays.ENDED else None)
                    for i, m in job.members)
    common = {"backend_id": job.id, "backend_uid": job.id, "log_ref": log_ref, "indices": indices,
              "components": job.components}
    if job.state in PENDING:
        return Observed("pending", message=job.reason, **common)  # type: ignore[arg-type]
    if job.state in RUNNING:
        return Observed("running", start_time=job.start, **common)  # type: ignore[arg-type]
    if job.state in SUSPENDED:
        return Observed("suspended", start_time=job.start, **common)  # type: ignore[arg-type]
    if job.state == "COMPLETED":
        return Observed("succeeded", start_time=job.start, finish_time=job.end, exit_code=job.exit_code or 0,
                        reason="Completed", **common)  # type: ignore[arg-type]
    reason = FAILED_REASONS.get(job.state, "Failed")
    message = _MESSAGES.get(reason) or f"Slurm job {job.id} ended {job.state}"
    if job.exit_code:
        message += f" (exit code {job.exit_code})"
    if job.components and reason == "Error":
        message += (f"; a component of the het job ({', '.join(job.components)}) failed: the first failing one "
                    "is named in its het-<i>/output.log")
    return Observed("failed", start_time=job.start, finish_time=job.end, exit_code=job.exit_code,
                    reason=reason, message=message, **common)  # type: ignore[arg-type]


def lost(job_id: str, log_ref: LogRef | None, message: str | None = None) -> Observed:
    """A job whose id was recorded but that neither squeue nor accounting knows any more (or is another job)."""
    return Observed("lost", backend_id=job_id, reason="JobLost", log_ref=log_ref,
                    message=message or f"Slurm no longer knows job {job_id} (purged before kuberun saw it finish)")


def _state(text: str) -> str:
    # sacct prints "CANCELLED by 0"; squeue may print "CANCELLED+".
    return text.strip().split(" ")[0].rstrip("+").upper()


def _time(text: str) -> datetime | None:
    text = text.strip()
    if not text or text in ("N/A", "None", "Unknown"):
        return None
    try:
        return parse_time(text)  # Slurm prints its local time without a zone: taken as UTC
    except ValueError:
        return None


def _wait_status(text: str) -> int | None:
    """squeue's exit_code is the raw wait(2) status: exit code in the high byte, signal below."""
    if not text.isdigit():
        return _exit_pair(text)
    status = int(text)
    signal = status & 0x7F
    return 128 + signal if signal else status >> 8


def _exit_pair(text: str) -> int | None:
    """sacct/scontrol's ``N:M`` (exit code, signal) as one shell-style code: N, or 128+M if signalled."""
    code, _, signal = text.strip().partition(":")
    if not code.isdigit():
        return None
    if signal.isdigit() and int(signal):
        return 128 + int(signal)
    return int(code)
