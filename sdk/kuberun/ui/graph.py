"""The task DAG as positioned boxes and edges, for an inline SVG: a layered (Sugiyama-style) layout.

Why by hand: the graphs are small (at most 64 tasks, the resource's bound) and a graph library
would add a dependency and, for the drawing ones, a JavaScript bundle. Layers are the longest path
from a root (so every edge points right), and one barycenter sweep orders each layer by where its
parents sit, which untangles the common fan-out/fan-in shapes. Positions are plain numbers; the
template draws them, with ids and data attributes tests and scripts can find.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 40, 70, 24, 16


@dataclass
class Node:
    name: str
    phase: str
    layer: int
    x: float = 0.0
    y: float = 0.0
    attempts: int = 0


@dataclass
class Edge:
    source: str
    target: str
    path: str = ""


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def layers(deps: dict[str, list[str]]) -> dict[str, int]:
    """Layer of each task: 0 for roots, else one more than its deepest dependency.

    Unknown dependencies are ignored and a cycle (the API refuses them; a damaged record might not)
    is broken where it is found, so drawing never loops.
    """
    layer: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(name: str) -> int:
        if name in layer:
            return layer[name]
        if name in visiting:
            return -1
        visiting.add(name)
        below = [visit(d) for d in deps.get(name, []) if d in deps]
        visiting.discard(name)
        layer[name] = 1 + max(below, default=-1)
        return layer[name]

    for name in deps:
        visit(name)
    return layer


def layout(tasks: list[dict[str, Any]], statuses: dict[str, dict[str, Any]]) -> Graph:
    """Positions for the tasks of one Experiment (spec order breaks ties), left to right by layer."""
    deps = {t["name"]: [d for d in t.get("dependsOn") or [] if isinstance(d, str)] for t in tasks}
    layer_of = layers(deps)
    by_layer: dict[int, list[str]] = {}
    for name in deps:  # spec order
        by_layer.setdefault(layer_of[name], []).append(name)
    order: dict[str, float] = {}
    for number in sorted(by_layer):
        names = by_layer[number]
        if number > 0:
            declared = {name: i for i, name in enumerate(names)}

            def centre(name: str, declared: dict[str, int] = declared) -> tuple[float, int]:
                parents = [order[d] for d in deps[name] if d in order]
                return (sum(parents) / len(parents) if parents else float(len(order)), declared[name])
            names.sort(key=centre)
        for index, name in enumerate(names):
            order[name] = index
    tallest = max((len(v) for v in by_layer.values()), default=0)
    graph = Graph(width=PAD * 2 + len(by_layer) * NODE_W + max(len(by_layer) - 1, 0) * GAP_X,
                  height=PAD * 2 + tallest * NODE_H + max(tallest - 1, 0) * GAP_Y)
    nodes: dict[str, Node] = {}
    for number, names in sorted(by_layer.items()):
        offset = (tallest - len(names)) * (NODE_H + GAP_Y) / 2
        for index, name in enumerate(names):
            st = statuses.get(name) or {}
            node = Node(name, str(st.get("phase") or "Pending"), number, x=PAD + number * (NODE_W + GAP_X),
                        y=PAD + offset + index * (NODE_H + GAP_Y), attempts=len(st.get("attempts") or []))
            nodes[name] = node
    graph.nodes = [nodes[t["name"]] for t in tasks]
    for task in tasks:
        for dep in deps[task["name"]]:
            if dep in nodes:
                a, b = nodes[dep], nodes[task["name"]]
                x1, y1, x2, y2 = a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2
                mid = (x1 + x2) / 2
                graph.edges.append(Edge(dep, task["name"], f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2 - 6:.1f},{y2:.1f}"))
    return graph
