"""The task graph: cycles are found as a path, order puts dependencies first."""

from __future__ import annotations

from kuberun.resource.graph import find_cycle, topological_order


def test_cycle_detection_and_topological_order():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": [], "b": ["a"]}) is None
    assert topological_order({"c": ["a", "b"], "a": [], "b": ["a"]}) == ["a", "b", "c"]
