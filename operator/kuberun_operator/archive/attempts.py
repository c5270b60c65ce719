"""Archived attempts: every try of every task as it ended, kept whatever status dropped.

The status budget (``policy/budget.py``) drops old attempts from the object, so the archived
status alone does not hold an experiment's whole history. Each attempt is therefore archived as a
row of its own when it ends (the recorder) and again with the experiment's record (every attempt
the status still has). A row is keyed by (uid, task, attempt); the later recording wins. The
document is the attempt's status entry as written, copied as JSON (not through the models, so a
newer operator's fields survive); phase, exit code, reason and times are read out of it leniently
for the columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kuberun.resource import TaskPhase
from kuberun_operator.archive import limits
from kuberun_operator.archive.errors import InvalidRecord
from kuberun_operator.archive.record import check_size, parse_time
from kuberun_operator.archive.series import check_key


@dataclass(frozen=True)
class ArchivedAttempt:
    """One attempt of one task, as it was last recorded."""

    task: str
    attempt: int
    phase: str
    exit_code: int | None
    reason: str | None
    start_time: datetime | None
    finish_time: datetime | None
    document: dict[str, Any]
    recorded_at: datetime | None = None


def checked(uid: str, items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[ArchivedAttempt]:
    """Attempts ``(task, status entry)`` ready to store; the last of a (task, attempt) wins. Raises InvalidRecord."""
    out: dict[tuple[str, int], ArchivedAttempt] = {}
    for n, (task, entry) in enumerate(items):
        if n >= limits.MAX_ATTEMPTS_PER_CALL:
            raise InvalidRecord(f"more than {limits.MAX_ATTEMPTS_PER_CALL} attempts in one call: send them in batches")
        if not isinstance(entry, Mapping):
            raise InvalidRecord(f"attempt {n} of task {task!r} must be a mapping, got {type(entry).__name__}")
        number, phase = entry.get("attempt"), entry.get("phase")
        check_key(uid, task, number)  # type: ignore[arg-type]
        if not isinstance(phase, str) or not phase or len(phase) > 32:
            raise InvalidRecord(f"attempt {number} of task {task!r}: phase must be a short non-empty string, got {phase!r}")
        check_size(f"attempt {number} of task {task!r}", entry, limits.MAX_ATTEMPT_BYTES)
        exit_code = entry.get("exitCode")
        reason = entry.get("reason")
        out[(task, number)] = ArchivedAttempt(
            task=task, attempt=number, phase=phase,
            exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
            reason=reason[:128] if isinstance(reason, str) else None,
            start_time=parse_time(entry.get("startTime")), finish_time=parse_time(entry.get("finishTime")),
            document=dict(entry))
    return list(out.values())


def from_status(status: Mapping[str, Any] | None) -> list[tuple[str, Mapping[str, Any]]]:
    """The finished attempts a status holds, as ``(task, entry)``; malformed entries are left out
    (the record itself keeps them as written)."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    if not isinstance(status, Mapping):
        return found
    for task in status.get("tasks") or []:
        if not isinstance(task, Mapping) or not isinstance(task.get("name"), str):
            continue
        for entry in task.get("attempts") or []:
            if (isinstance(entry, Mapping) and isinstance(entry.get("attempt"), int)
                    and entry.get("phase") in FINISHED and check_quietly(entry)):
                found.append((task["name"], entry))
    return found


# The final phases of an attempt, spelled as the JSON has them.
FINISHED = frozenset(p.value for p in TaskPhase if p.finished)


def check_quietly(entry: Mapping[str, Any]) -> bool:
    try:
        check_size("attempt", entry, limits.MAX_ATTEMPT_BYTES)
    except InvalidRecord:
        return False
    return True
