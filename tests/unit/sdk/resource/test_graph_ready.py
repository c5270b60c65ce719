"""The one DAG-readiness rule shared by the operator's reconcile and the SDK's local runner."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kuberun.resource import TaskPhase
from kuberun.resource.graph import Readiness, ready_tasks

P, S, F, C, K, R = (TaskPhase.PENDING, TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED,
                    TaskPhase.SKIPPED, TaskPhase.RUNNING)


@dataclass
class T:
    name: str
    depends_on: list[str] = field(default_factory=list)


DIAMOND = [T("a"), T("b", ["a"]), T("c", ["a"]), T("d", ["b", "c"])]

# (tasks, phases, expected readiness)
CASES = {
    "roots-start": (DIAMOND, {"a": P, "b": P, "c": P, "d": P}, Readiness(ready=["a"])),
    "fan-out": (DIAMOND, {"a": S, "b": P, "c": P, "d": P}, Readiness(ready=["b", "c"])),
    "join-waits": (DIAMOND, {"a": S, "b": S, "c": R, "d": P}, Readiness()),
    "join-ready": (DIAMOND, {"a": S, "b": S, "c": S, "d": P}, Readiness(ready=["d"])),
    "failure-blocks-branch": (DIAMOND, {"a": F, "b": P, "c": P, "d": P},
                              Readiness(blocked={"b": "a", "c": "a", "d": "b"})),
    "cancelled-blocks": (DIAMOND, {"a": S, "b": C, "c": P, "d": P}, Readiness(ready=["c"], blocked={"d": "b"})),
    "skipped-blocks": (DIAMOND, {"a": S, "b": K, "c": S, "d": P}, Readiness(blocked={"d": "b"})),
    "reverse-declaration-order": ([T("z", ["y"]), T("y", ["x"]), T("x")], {"x": F, "y": P, "z": P},
                                  Readiness(blocked={"z": "y", "y": "x"})),
    "not-pending-is-neither": (DIAMOND, {"a": R, "b": S, "c": F, "d": S}, Readiness()),
}


@pytest.mark.parametrize(("tasks", "phases", "expected"), CASES.values(), ids=CASES.keys())
def test_ready_tasks(tasks, phases, expected):
    assert ready_tasks(tasks, phases) == expected
