"""An attempt's identity at a backend, computed from the Experiment's UID and never read back.

Why: ``status`` is writable by anyone allowed to patch ``experiments/status``, so a key, id or
cluster read from it is a claim, not a fact. Remote actions (observe, cancel, suspend) use the
key recomputed here, and the bridges check the backend's own record of a job (a Slurm job's
name is this key) before acting on an id taken from status.
"""

from __future__ import annotations

from kuberun.resource import AttemptStatus, BackendRef, ExperimentResource


def idempotency_key(uid: str, task: str, attempt: int) -> str:
    """The one formula: experiment UID + task + attempt (also the Slurm job name, the Lepton job id's source)."""
    return f"{uid}-{task}-{attempt}"


def verified_ref(exp: ExperimentResource, task: str, attempt: int, ref: BackendRef) -> BackendRef:
    """``ref`` with its idempotency key recomputed from the Experiment's UID (what a tampered status cannot change)."""
    key = idempotency_key(exp.metadata.uid or "", task, attempt)
    return ref if ref.idempotency_key == key else ref.model_copy(update={"idempotency_key": key})


def verified_attempt(exp: ExperimentResource, task: str, attempt: AttemptStatus) -> AttemptStatus:
    if attempt.backend_ref is None:
        return attempt
    ref = verified_ref(exp, task, attempt.attempt, attempt.backend_ref)
    return attempt if ref is attempt.backend_ref else attempt.model_copy(update={"backend_ref": ref})
