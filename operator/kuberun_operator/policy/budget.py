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
recorder can still copy them. Attempts in ``held`` — those whose archive row is not confirmed
written — are not touched by any tier (not dropped, their messages not cut): until the archive has
them, the status is their only durable copy. A status that cannot get under the budget without
them grows past it, up to ``STATUS_CEILING``; only beyond that (the archive unreachable for long,
retries going on) are held attempts compacted too, as the last resort that keeps status writes
within what etcd accepts. Pure: a status in, the same status compacted in place.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from kuberun.resource import AttemptStatus, ExperimentStatus, TaskStatus
from kuberun.resource.constants import STATUS_BUDGET

SHORT_MESSAGE = 256
STATUS_CEILING = 1 << 20  # etcd refuses objects over 1.5 MiB; the spec may take up to ~600 KiB of it
Held = Collection[tuple[str, int]]  # (task, attempt) whose archive row is not confirmed written


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


def _older_attempts(task: TaskStatus, archived_only: bool, held: Held) -> None:
    """Keep the last attempt, every unfinished and every held one; drop the rest (archived logs only, if asked)."""
    last = task.attempts[-1] if task.attempts else None
    _drop(task, [a for a in task.attempts if a is last or not a.phase.finished or (task.name, a.attempt) in held
                 or (archived_only and a.archived_log is None and a.backend_ref is not None)])


def _short(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if limit else None


def _messages(status: ExperimentStatus, limit: int, held: Held) -> None:
    for task in status.tasks:
        # a finished task keeps at least the gist of why; a running one's message is transient
        task.message = _short(task.message, max(limit, 64) if task.phase.finished else limit)
        for attempt in task.attempts:
            if (task.name, attempt.attempt) not in held:
                attempt.message = _short(attempt.message, limit)


def _archived(task: TaskStatus) -> bool:
    return all(a.archived_log is not None or a.backend_ref is None for a in task.attempts)


def _tier(status: ExperimentStatus, tier: int, held: Held) -> None:
    """Apply compaction tier ``tier`` (0..TIERS-1), in the order of the module docstring."""
    finished = [t for t in status.tasks if t.phase.finished]
    running = [t for t in status.tasks if not t.phase.finished]
    if tier < 4:  # older attempts: of finished tasks, then of running ones; archived logs first
        for task in finished if tier < 2 else running:
            _older_attempts(task, tier % 2 == 0, held)
    elif tier < 7:
        _messages(status, (SHORT_MESSAGE, 64, 0)[tier - 4], held)
    else:
        for task in finished:
            if any((task.name, a.attempt) in held for a in task.attempts):
                _drop(task, [a for a in task.attempts if (task.name, a.attempt) in held])
            elif tier == 8 or _archived(task):
                _drop(task, [])


TIERS = 9


def compact(status: ExperimentStatus, budget: int = STATUS_BUDGET, *, held: Held = (),
            ceiling: int = STATUS_CEILING) -> int:
    """Compact ``status`` in place until it is at most ``budget`` bytes (or nothing is left to drop)
    without touching ``held`` attempts; if it is then still over ``ceiling``, compact the held ones
    too. Returns its size. A status under budget is not touched."""
    size = size_of(status)
    if size <= budget:
        return size
    for tier in range(TIERS):
        _tier(status, tier, held)
        size = size_of(status)
        if size <= budget:
            return size
    if held and size > ceiling:
        return compact(status, max(budget, ceiling))
    return size
