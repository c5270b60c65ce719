"""The one small protocol every backend implements: submit, observe, cancel, suspend, logs.

Modelled on Kueue's jobframework: one generic reconciler drives any job kind through this
interface. Every call is keyed by the attempt's idempotency key (experiment UID + task +
attempt), which reconcile records in status before the first submission, so a backend can
always find what an earlier, interrupted submission created instead of creating it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kuberun.resource import BackendRef, ExperimentResource, LogRef, TaskSpec
from kuberun_operator.actions import Observed


@dataclass(frozen=True)
class Submitted:
    """What a submission returns: the backend's id and where logs will be."""

    id: str
    log_ref: LogRef | None = None
    cluster: str | None = None  # Slurm cluster, SkyPilot cluster, Lepton workspace


class BackendError(Exception):
    """A backend call failed. ``permanent`` errors fail the attempt; others are retried later.

    ``reason`` becomes a condition/attempt reason (CamelCase), so it must name the problem in
    terms a user can act on: ``InvalidJob``, ``BackendUnavailable``, ``SubmissionRejected``...
    """

    def __init__(self, reason: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.reason, self.message, self.permanent = reason, message, permanent


class Backend(Protocol):
    name: str

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted: ...

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]: ...

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None: ...

    async def suspend(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef, suspended: bool) -> None: ...
