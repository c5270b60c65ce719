"""Checks of the task graph: unique names, known dependencies, no cycles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


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
