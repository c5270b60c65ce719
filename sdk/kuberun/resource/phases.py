"""The phases of an Experiment and of a task: plain enums, so code that only reads the record needs no pydantic.

``kuberun list --phase`` checks its value against these on every call; importing the pydantic
models of ``status.py`` for that would cost more than the rest of the command (issue 18).
``kuberun.resource.status`` re-exports both, as the status models use them.
"""

from __future__ import annotations

from enum import Enum


class ExperimentPhase(str, Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in (ExperimentPhase.SUCCEEDED, ExperimentPhase.FAILED, ExperimentPhase.CANCELLED)


class TaskPhase(str, Enum):
    PENDING = "Pending"        # waiting for dependencies or a retry's backoff
    SUBMITTED = "Submitted"    # handed to the backend, not yet running
    RUNNING = "Running"
    SUSPENDED = "Suspended"    # started, and paused by spec.suspend (its Job is suspended)
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"        # a dependency failed for good

    @property
    def finished(self) -> bool:
        return self in (TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED, TaskPhase.SKIPPED)
