"""What happened: the Experiment's status, the shared record anyone can read months later.

Status stays O(tasks): per task a bounded list of attempts with times, exit codes, backend
references and where the logs are, never the logs themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from kuberun.resource import slurmhet
from kuberun.resource.base import KubeModel
from kuberun.resource.constants import (
    MAX_ATTEMPTS,
    MAX_CONDITIONS,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_RESTARTS,
    MAX_TASKS,
)
from kuberun.resource.phases import ExperimentPhase, TaskPhase
from kuberun.resource.results import (
    MAX_METRICS,
    MAX_NOTE,
    MAX_RESULT_BYTES,
    ArtifactsRecord,
    MetricValue,
    SeriesRecord,
)
from kuberun.resource.slurmarray import MAX_ARRAY_INDICES


class Condition(KubeModel):
    """A metav1.Condition."""

    type: str = Field(..., max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(..., max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field("", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(None, ge=0)


class BackendRef(KubeModel):
    """Where an attempt runs: enough to find it again after any restart."""

    backend: Literal["kubernetes", "slurm", "skypilot", "lepton", "local"]
    idempotency_key: str = Field(..., max_length=253, description="experiment UID + task + attempt; recorded before submission.")
    id: str | None = Field(None, max_length=253, description="The backend's id: Job name, Slurm job id, SkyPilot job id, Lepton job id, pid.")
    cluster: str | None = Field(None, max_length=MAX_NAME, description="Slurm cluster, SkyPilot cluster or Lepton workspace.")
    uid: str | None = Field(None, max_length=253, description=(
        "The child's own identity (a Job's metadata.uid), recorded as soon as it exists: a child that disappears "
        "after that ends its attempt Failed/JobLost and is never re-created under the same attempt."))


class LogRef(KubeModel):
    """Where an attempt's logs are; `kuberun logs` follows it to the backend."""

    kind: Literal["pod", "file", "slurm", "skypilot", "lepton"]
    pod: str | None = Field(None, max_length=253)
    container: str | None = Field(None, max_length=MAX_NAME)
    path: str | None = Field(None, max_length=4096)


class ArchivedLog(KubeModel):
    """Where the operator copied an attempt's log when it ended: it outlives the pod, node or cluster."""

    url: str = Field(..., max_length=2048, description="The log store's URL of the copy (file:// or s3://).")
    size: int = Field(..., ge=0)
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    truncated: bool = Field(False, description="The log was longer than the store's limit; the rest was dropped.")


class ArrayIndexStatus(KubeModel):
    """One index of a job array (a Slurm ``--array`` task): its state and exit code."""

    index: int = Field(..., ge=0)
    phase: TaskPhase
    exit_code: int | None = None


class AttemptStatus(KubeModel):
    """One try of a task."""

    attempt: int = Field(..., ge=0)
    phase: TaskPhase
    backend_ref: BackendRef | None = None
    submit_time: datetime | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    exit_code: int | None = None
    reason: str | None = Field(None, max_length=128)
    message: str | None = Field(None, max_length=MAX_MESSAGE)
    log_ref: LogRef | None = None
    archived_log: ArchivedLog | None = None
    # What the attempt produced (kuberun.resource.results): bounded here, complete in the log store/archive.
    result: str | None = Field(None, max_length=MAX_RESULT_BYTES, description="The task's return value as compact JSON.")
    result_note: str | None = Field(None, max_length=MAX_NOTE, description="Why the return value is not recorded.")
    metrics: dict[str, MetricValue] = Field(default_factory=dict, max_length=MAX_METRICS,
                                            description="Last reported value of each metric (kr.log_metrics).")
    metrics_note: str | None = Field(None, max_length=MAX_NOTE)
    artifacts: ArtifactsRecord | None = None
    series: SeriesRecord | None = None
    restarts: int | None = Field(None, ge=0, le=MAX_RESTARTS, description=(
        "How often the task was restarted inside this attempt (FaultTolerance's in-job restarts)."))
    indices: list[ArrayIndexStatus] = Field(default_factory=list, max_length=MAX_ARRAY_INDICES, description=(
        "A job array's indices, each with its state and exit code; the attempt succeeds when all of them do."))
    het_components: list[str] = Field(default_factory=list, max_length=slurmhet.MAX_COMPONENTS, description=(
        "A heterogeneous Slurm job's components as Slurm names them (123+0, 123+1); its state is component 0's."))


class TaskStatus(KubeModel):
    """A task's record: its current phase and every attempt made."""

    name: str = Field(..., max_length=MAX_NAME)
    phase: TaskPhase
    attempt: int = Field(..., ge=0, description="The current (latest) attempt number.")
    start_time: datetime | None = None
    finish_time: datetime | None = None
    exit_code: int | None = None
    reason: str | None = Field(None, max_length=128)
    message: str | None = Field(None, max_length=MAX_MESSAGE)
    next_retry_time: datetime | None = None
    config_sha256: str | None = Field(None, max_length=64)
    attempts: list[AttemptStatus] = Field(default_factory=list, max_length=MAX_ATTEMPTS)
    attempts_omitted: int | None = Field(None, ge=0, description=(
        "Earlier attempts dropped from `attempts` to keep status under its size budget; their logs are in the archive."))
    failures_omitted: int | None = Field(None, ge=0, description="How many of the omitted attempts failed (retries count them).")


MAX_LINEAGE = 50  # reproductions named in status.lineage.recent; `count` keeps the total


class ReproductionRef(KubeModel):
    """One Experiment reproduced from this one (``kr.Experiment.reproduce``), as the operator first saw it."""

    name: str = Field(..., max_length=253)
    uid: str = Field(..., max_length=253)
    created: datetime | None = None


class Lineage(KubeModel):
    """This Experiment's reproductions, kept by the operator so `kuberun describe` reads them in its one GET.

    Present from the Experiment's first reconcile (``{count: 0}``); absent on Experiments first reconciled
    before this field, whose reproductions readers find with the reproduced-from label instead.
    """

    count: int = Field(..., ge=0, description="Every reproduction recorded, including those dropped from `recent`.")
    recent: list[ReproductionRef] = Field(default_factory=list, max_length=MAX_LINEAGE,
                                          description="The latest reproductions, oldest first.")


class ExperimentStatus(KubeModel):
    """The shared record of an Experiment."""

    phase: ExperimentPhase
    observed_generation: int | None = Field(None, ge=0)
    progress: str | None = Field(None, max_length=16, description="'done/total' tasks, for `kubectl get`.")
    start_time: datetime | None = None
    completion_time: datetime | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    tasks: list[TaskStatus] = Field(default_factory=list, max_length=MAX_TASKS)
    lineage: Lineage | None = Field(None, description="Reproductions of this Experiment (operator-written).")

    def task(self, name: str) -> TaskStatus | None:
        for task in self.tasks:
            if task.name == name:
                return task
        return None

    def condition(self, type_: str) -> Condition | None:
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None
