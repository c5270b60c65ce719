"""The task graph: checks (unique names, known dependencies, no cycles) and the one readiness rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kuberun.resource.status import TaskPhase


class _Task(Protocol):
    name: str
    depends_on: list[str]


def check_task_graph(tasks: Sequence[_Task]) -> None:
    """Raise ValueError naming the offending task when names repeat, a dependency is unknown or cyclic."""
    seen: set[str] = set()
    for task in tasks:
        if task.name in seen:
            raise ValueError(f"duplicate task name {task.name!r}")
        seen.add(task.name)
    for task in tasks:
        for dep in task.depends_on:
            if dep not in seen:
                raise ValueError(f"task {task.name!r} depends on unknown task {dep!r}")
    cycle = find_cycle({t.name: list(t.depends_on) for t in tasks})
    if cycle:
        raise ValueError("dependency cycle: " + " -> ".join(cycle))


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle in the dependency graph as a path (first node repeated at the end), or None."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(edges, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for dep in edges.get(node, []):
            if color.get(dep) == grey:
                return [*stack[stack.index(dep):], dep]
            if color.get(dep) == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for node in edges:
        if color[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(edges: dict[str, list[str]]) -> list[str]:
    """Task names, dependencies first, ties kept in declaration order."""
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(edges):
        ready = [n for n in edges if n not in placed and all(d in placed for d in edges[n])]
        if not ready:
            raise ValueError("dependency cycle")
        done.extend(ready)
        placed.update(ready)
    return done


# Dependency outcomes after which a dependent can never run.
BAD_DEPENDENCY = frozenset({TaskPhase.FAILED, TaskPhase.SKIPPED, TaskPhase.CANCELLED})


@dataclass(frozen=True)
class Readiness:
    """Which pending tasks may start now, and which never can."""

    ready: list[str] = field(default_factory=list)              # pending; every dependency succeeded
    blocked: dict[str, str] = field(default_factory=dict)       # pending -> a dependency that did not succeed


def ready_tasks(tasks: Sequence[_Task], phases: Mapping[str, TaskPhase]) -> Readiness:
    """The one DAG-readiness rule, for the operator's reconcile and the SDK's local runner alike.

    A pending task is ready when all its dependencies succeeded, and blocked when one of them
    failed, was skipped or cancelled — also through a chain of blocked tasks (they will be
    skipped), so one call settles a whole failed branch whatever the declaration order.
    Both lists keep declaration order.
    """
    effective = dict(phases)
    blocked: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for task in tasks:
            if task.name in blocked or effective.get(task.name) is not TaskPhase.PENDING:
                continue
            bad = next((d for d in task.depends_on if effective.get(d) in BAD_DEPENDENCY), None)
            if bad is not None:
                blocked[task.name], effective[task.name], changed = bad, TaskPhase.SKIPPED, True
    ready = [t.name for t in tasks if t.name not in blocked and effective.get(t.name) is TaskPhase.PENDING
             and all(effective.get(d) is TaskPhase.SUCCEEDED for d in t.depends_on)]
    return Readiness(ready=ready, blocked={t.name: blocked[t.name] for t in tasks if t.name in blocked})
