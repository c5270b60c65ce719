"""The status of an Experiment whose spec this operator cannot handle: a condition, never a wipe.

A spec can fail to decode after it was admitted: the CRD is newer than this operator (a value it
does not know, e.g. a new executor kind), or the operator was rolled back under running work.
Replacing the whole status (as once done) erased every task and attempt — the record — and
orphaned running work. Instead the status keeps everything it had and gains the condition
``SpecUnderstood=False`` (reason ``InvalidSpec``) naming the problem. An experiment that never
started anything is marked Failed instead (condition ``Failed``, reason ``InvalidSpec``): nothing is
lost, and nothing will run. Pure, so tested
without an API.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberun.resource import ExperimentPhase, ExperimentStatus

CONDITION = "SpecUnderstood"
REASON = "InvalidSpec"
MAX_CONDITION_MESSAGE = 32768


def rejected_status(old: dict[str, Any] | None, spec: Any, generation: int | None, message: str,
                    now: str) -> dict[str, Any] | None:
    """The status to write, or None when ``old`` already says exactly this."""
    old = old or {}
    message = message[:MAX_CONDITION_MESSAGE]
    conditions = [c for c in old.get("conditions") or [] if isinstance(c, dict)]
    started = any(isinstance(t, dict) and t.get("attempts") for t in old.get("tasks") or [])
    fail = not started and old.get("phase") not in (ExperimentPhase.SUCCEEDED.value, ExperimentPhase.CANCELLED.value)
    # Nothing ran: Failed (the condition a user and `kubectl wait` look for). Work ran: SpecUnderstood=False.
    kind, truth = ("Failed", "True") if fail else (CONDITION, "False")
    current = next((c for c in conditions if c.get("type") == kind), None)
    if (current is not None and current.get("status") == truth and current.get("reason") == REASON
            and current.get("message") == message and current.get("observedGeneration") == generation):
        return None
    status = copy.deepcopy(old)
    status["conditions"] = [c for c in conditions if c.get("type") != kind] + [
        {"type": kind, "status": truth, "reason": REASON, "message": message, "lastTransitionTime": now,
         "observedGeneration": generation}]
    if fail:
        tasks = (spec or {}).get("tasks") if isinstance(spec, dict) else None
        total = len(tasks) if isinstance(tasks, list) else 0
        # progress: `kubectl get exp` shows TASKS 0/N, not a blank column, for a spec nothing ran from.
        status.update(phase=ExperimentPhase.FAILED.value, observedGeneration=generation, progress=f"0/{total}")
        status.setdefault("completionTime", now)
    return status


def understood(status: ExperimentStatus) -> None:
    """This operator decoded the spec: a ``SpecUnderstood=False`` left by an earlier one no longer holds."""
    if any(c.type == CONDITION for c in status.conditions):
        status.conditions = [c for c in status.conditions if c.type != CONDITION]
