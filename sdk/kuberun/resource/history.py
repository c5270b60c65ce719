"""A task's full attempt history: the status's attempts and those the archive kept, as one list.

The operator keeps status under a fixed size (``STATUS_BUDGET``) by dropping old attempts from it
(``attemptsOmitted``/``failuresOmitted`` count them); the archive keeps every attempt as it ended.
Whoever shows a record — the record server for an archived experiment, the CLI for a live one —
merges the two with this one function, on the plain JSON the API and the archive return (not the
pydantic models: a record written by another version must still merge). Pure, never raises on a
malformed entry: it is skipped.

Rules: an attempt still in status wins over the archive's copy of it (status is written later);
attempts are ordered by number; the omitted counts shrink by what was restored and disappear at 0.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

Obj = dict[str, Any]


def merge_attempts(status: Mapping[str, Any] | None,
                   history: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[Obj | None, int]:
    """``status`` with the archived attempts ``(task, attempt entry)`` put back; and how many were restored.

    The input is not changed. Attempts of tasks that status does not name are ignored.
    """
    if not isinstance(status, Mapping):
        return (None if status is None else dict(status)), 0
    by_task: dict[str, dict[int, Mapping[str, Any]]] = {}
    for task, entry in history:
        number = entry.get("attempt") if isinstance(entry, Mapping) else None
        if isinstance(task, str) and isinstance(number, int) and not isinstance(number, bool):
            by_task.setdefault(task, {})[number] = entry
    out = dict(status)
    tasks = out.get("tasks")
    if not isinstance(tasks, list) or not by_task:
        return out, 0
    restored_total = 0
    merged_tasks = []
    for task in tasks:
        archived = by_task.get(task.get("name")) if isinstance(task, Mapping) else None
        if not archived:
            merged_tasks.append(task)
            continue
        current = [a for a in task.get("attempts") or [] if isinstance(a, Mapping)]
        present = {a.get("attempt") for a in current}
        restored = [copy.deepcopy(dict(e)) for n, e in archived.items() if n not in present]
        if not restored:
            merged_tasks.append(task)
            continue
        merged = dict(task)
        merged["attempts"] = sorted([*current, *restored], key=_number)
        _shrink(merged, "attemptsOmitted", len(restored))
        _shrink(merged, "failuresOmitted", sum(e.get("phase") == "Failed" for e in restored))
        merged_tasks.append(merged)
        restored_total += len(restored)
    out["tasks"] = merged_tasks
    return out, restored_total


def omitted(status: Mapping[str, Any] | None) -> int:
    """How many attempts the status says it dropped (0 when none, or not a status)."""
    if not isinstance(status, Mapping):
        return 0
    total = 0
    for task in status.get("tasks") or []:
        value = task.get("attemptsOmitted") if isinstance(task, Mapping) else None
        total += value if isinstance(value, int) and value > 0 else 0
    return total


def _number(entry: Mapping[str, Any]) -> int:
    value = entry.get("attempt")
    return value if isinstance(value, int) else -1


def _shrink(task: Obj, key: str, by: int) -> None:
    value = task.get(key)
    if not isinstance(value, int) or by <= 0:
        return
    left = value - by
    if left > 0:
        task[key] = left
    else:
        task.pop(key, None)
