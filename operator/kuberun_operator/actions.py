"""What a reconcile decides: actions for the backends, Events for people, when to look again.

Plain data: the reconcile function produces these without I/O, the runtime performs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kuberun.resource import BackendRef, ExperimentStatus, LogRef
from kuberun.resource.results import RunSummary

# "lost": the backend confirmed that the attempt's recorded child no longer exists (or is another one).
ObservedState = Literal["pending", "running", "succeeded", "failed", "suspended", "lost"]


@dataclass(frozen=True)
class IndexObserved:
    """One index of a job array, as its backend reports it."""

    index: int
    state: ObservedState
    exit_code: int | None = None


@dataclass(frozen=True)
class Observed:
    """What a backend reports about one attempt."""

    state: ObservedState
    backend_id: str | None = None
    backend_uid: str | None = None  # the child's own identity (a Job's metadata.uid)
    start_time: datetime | None = None
    finish_time: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    log_ref: LogRef | None = None
    summary: RunSummary | None = None  # result and final metrics, read when the attempt ended (policy/results.py)
    indices: tuple[IndexObserved, ...] = ()  # a job array's indices; the state above sums them up
    components: tuple[str, ...] = ()  # a Slurm het job's components ("123+0", "123+1"); the state is the leader's


@dataclass(frozen=True)
class Parent:
    """An attempt of another task that a submission queues behind at the backend (policy/early.py)."""

    task: str
    attempt: int
    backend_id: str  # from status: the backend checks it is that attempt's job before relying on it


@dataclass(frozen=True)
class Submit:
    """Start attempt ``attempt`` of ``task``; idempotent under ``ref.idempotency_key``.

    ``after``: parents still running; the backend holds the job until they succeed (Slurm afterok).
    """

    task: str
    attempt: int
    ref: BackendRef
    after: tuple[Parent, ...] = ()


@dataclass(frozen=True)
class Cancel:
    """Stop a running attempt (delete its Job, scancel, ...)."""

    task: str
    attempt: int
    ref: BackendRef


@dataclass(frozen=True)
class Suspend:
    """Suspend (or resume) a running attempt."""

    task: str
    attempt: int
    ref: BackendRef
    suspended: bool


@dataclass(frozen=True)
class DeleteExperiment:
    """``ttlSecondsAfterFinished`` elapsed."""


Action = Submit | Cancel | Suspend | DeleteExperiment


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the Experiment, for transitions only."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    count: int = 1  # > 1: similar Events of one reconcile combined into this one (eventbatch.py)


@dataclass
class Decision:
    """The outcome of one reconcile: the new status and what to do to make it true."""

    status: ExperimentStatus
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
