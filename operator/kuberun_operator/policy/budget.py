"""Status under a fixed budget, whatever the number of tasks and retries: compaction in tiers.

etcd refuses objects over 1.5 MiB; a status that grew past it would make every status write fail
and the controller retry forever. So before a write the status is measured, and when it is over
``STATUS_BUDGET`` it is compacted, least useful first, until it fits:

1. attempts of finished tasks before their last one (history: the archive and log store have it);
2. finished attempts before the current one of tasks still running (``failuresOmitted`` keeps
   the count retries are decided by);
3. long messages of tasks and attempts, cut to ``SHORT_MESSAGE``, then 64 characters, then
   dropped (a finished task keeps 64 characters of why it ended);
4. the last attempt of finished tasks (the task's own fields keep its phase, times, exit code,
   reason and message).

Attempts whose log was not yet archived are dropped only in the last resort of each tier, so the
recorder can still copy them. Pure: a status in, the same status compacted in place.
"""

from __future__ import annotations

import json

from kuberun.resource import AttemptStatus, ExperimentStatus, TaskStatus
from kuberun.resource.constants import STATUS_BUDGET

SHORT_MESSAGE = 256


def size_of(status: ExperimentStatus) -> int:
    """Bytes of the status as the API server stores it (compact JSON)."""
    return len(json.dumps(status.to_dict(), separators=(",", ":")).encode())


def _drop(task: TaskStatus, keep: list[AttemptStatus]) -> None:
    dropped = [a for a in task.attempts if a not in keep]
    if not dropped:
        return
    task.attempts_omitted = (task.attempts_omitted or 0) + len(dropped)
    failures = sum(a.phase.value == "Failed" for a in dropped)
    if failures:
        task.failures_omitted = (task.failures_omitted or 0) + failures
    task.attempts = keep


def _older_attempts(task: TaskStatus, archived_only: bool) -> None:
    """Keep the last attempt and every unfinished one; drop the rest (archived ones only, if asked)."""
    last = task.attempts[-1] if task.attempts else None
    _drop(task, [a for a in task.attempts if a is last or not a.phase.finished
                 or (archived_only and a.archived_log is None and a.backend_ref is not None)])


def _short(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if limit else None


def _messages(status: ExperimentStatus, limit: int) -> None:
    for task in status.tasks:
        # a finished task keeps at least the gist of why; a running one's message is transient
        task.message = _short(task.message, max(limit, 64) if task.phase.finished else limit)
        for attempt in task.attempts:
            attempt.message = _short(attempt.message, limit)


def _archived(task: TaskStatus) -> bool:
    return all(a.archived_log is not None or a.backend_ref is None for a in task.attempts)


def _tier(status: ExperimentStatus, tier: int) -> None:
    """Apply compaction tier ``tier`` (0..TIERS-1), in the order of the module docstring."""
    finished = [t for t in status.tasks if t.phase.finished]
    running = [t for t in status.tasks if not t.phase.finished]
    if tier < 4:  # older attempts: of finished tasks, then of running ones; archived logs first
        for task in finished if tier < 2 else running:
            _older_attempts(task, archived_only=tier % 2 == 0)
    elif tier < 7:
        _messages(status, (SHORT_MESSAGE, 64, 0)[tier - 4])
    else:
        for task in finished:
            if tier == 8 or _archived(task):
                _drop(task, [])


TIERS = 9


def compact(status: ExperimentStatus, budget: int = STATUS_BUDGET) -> int:
    """Compact ``status`` in place until it is at most ``budget`` bytes (or nothing is left to drop);
    returns its size. A status under budget is not touched."""
    size = size_of(status)
    if size <= budget:
        return size
    for tier in range(TIERS):
        _tier(status, tier)
        size = size_of(status)
        if size <= budget:
            break
    return size
