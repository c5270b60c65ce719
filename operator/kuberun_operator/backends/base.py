"""The backend contract: one small required protocol and named optional ones, checked explicitly.

Modelled on Kueue's jobframework (`GenericJob` beside `JobWithSkip`, `JobWithFinalize`, ...):
every backend implements ``Backend`` (submit, observe, cancel); what only some can do or need
is a separate ``@runtime_checkable`` protocol that the controller tests with ``isinstance`` —
never ``hasattr`` — so a capability is declared where it is implemented and nowhere else.

Every call is keyed by the attempt's idempotency key (experiment UID + task + attempt), which
reconcile records in status before the first submission, so a backend can always find what an
earlier, interrupted submission created instead of creating it twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kuberun.resource import AttemptStatus, BackendRef, ExperimentResource, LogRef, TaskPhase, TaskSpec
from kuberun.resource.logsource import (
    LogSource as LogSource,  # optional too: streams logs (shared with the SDK)
)
from kuberun_operator.actions import Observed, Parent
from kuberun_operator.identity import verified_attempt

# On Experiments with work outside the cluster: deletion waits until that work is cancelled.
REMOTE_FINALIZER = "kuberun.dev/cancel-remote"


@dataclass(frozen=True)
class Submitted:
    """What a submission returns: the backend's id and where logs will be."""

    id: str
    log_ref: LogRef | None = None
    cluster: str | None = None  # Slurm cluster, SkyPilot cluster, Lepton workspace
    uid: str | None = None      # the child's own identity when the backend has one (a Job's metadata.uid)


class BackendError(Exception):
    """A backend call failed. ``permanent`` errors fail the attempt; others are retried later.

    ``reason`` becomes a condition/attempt reason (CamelCase), so it must name the problem in
    terms a user can act on: ``InvalidJob``, ``BackendUnavailable``, ``SubmissionRejected``...
    """

    def __init__(self, reason: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.reason, self.message, self.permanent = reason, message, permanent


class BackendNotConfigured(BackendError):
    """An attempt names a backend this operator has not been configured with (permanent)."""

    def __init__(self, backend: str) -> None:
        super().__init__("BackendNotConfigured", f"this operator has no {backend!r} backend configured", permanent=True)


# -- required -----------------------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """What every backend does: run an attempt, report what it sees, stop an attempt."""

    name: str

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted: ...

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]: ...

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None: ...


# -- optional -----------------------------------------------------------------------------------


@runtime_checkable
class Lifecycle(Protocol):
    """Holds connections or background pollers: started with the operator, stopped with it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Polled(Protocol):
    """Sends no watch events: the controller looks again every ``poll_interval`` seconds while an attempt runs."""

    poll_interval: float


@runtime_checkable
class Suspendable(Protocol):
    """Can pause a running attempt and resume it (``spec.suspend``)."""

    async def suspend(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef,
                      suspended: bool) -> None: ...


@runtime_checkable
class OwnsSuspend(Protocol):
    """Some of its attempts have their ``suspend`` owned by someone else (Kueue, for queued Jobs).

    ``suspend_owner`` names that owner for a task, or None when kuberun owns it; reconcile never
    fights the owner.
    """

    def suspend_owner(self, task: TaskSpec) -> str | None: ...


@runtime_checkable
class CancelOnDelete(Protocol):
    """Runs work outside the cluster, which no owner reference collects.

    Experiments with such tasks carry ``finalizer`` before anything is submitted, and deletion
    waits until every unfinished attempt is cancelled. Because a crash between "submitted" and
    "recorded" would leak that work, reconcile records each attempt's key in status one write
    before it submits (the two-phase submit).
    """

    finalizer: str


@runtime_checkable
class QueuesDependencies(Protocol):
    """Can hold a job in its own queue until other jobs of the same queue succeed (Slurm's afterok).

    ``dependency_scope`` names the queue a task's jobs go to (one cluster and login), or None; a
    task whose unfinished parents are all in its scope is submitted early with ``submit_after``
    (reconcile decides when: policy/early.py). The backend verifies that each parent id is the
    parent attempt's own job before it relies on it (ids come from status, which others can write).
    """

    def dependency_scope(self, exp: ExperimentResource, task: TaskSpec) -> str | None: ...

    async def submit_after(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef,
                           after: Sequence[Parent]) -> Submitted: ...


@runtime_checkable
class DeclaresUnretryable(Protocol):
    """Knows attempt failure reasons that no retry can fix (an image that cannot be pulled)."""

    unretryable_reasons: frozenset[str]


# -- helpers for implementations ----------------------------------------------------------------


def active_attempts(exp: ExperimentResource, backend: str) -> Iterator[tuple[str, AttemptStatus]]:
    """(task name, attempt) for each attempt on ``backend`` that may still be running.

    The attempt's idempotency key is the one recomputed from the Experiment's UID, not the one
    status claims (see ``identity``): observing follows the real identity of the work.
    """
    for record in exp.status.tasks if exp.status else []:
        for attempt in record.attempts:
            ref = attempt.backend_ref
            if ref is not None and ref.backend == backend and attempt.phase in (TaskPhase.SUBMITTED, TaskPhase.RUNNING,
                                                                                 TaskPhase.SUSPENDED):
                yield record.name, verified_attempt(exp, record.name, attempt)

