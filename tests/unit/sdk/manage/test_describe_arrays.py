"""``kuberun describe`` on a Slurm array attempt: its indices in one compact line (``-o json`` keeps each one)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from kuberun.manage.render import describe, indices_line, restarts_line, spans


def test_spans_write_indices_as_slurm_does():
    assert spans([]) == ""
    assert spans([3]) == "3"
    assert spans([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert spans([8, 7, 0, 2, 1, 5, 5]) == "0-2,5,7-8"


def _attempt(indices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"attempt": 1, "phase": "Running", "backendRef": {"backend": "slurm", "id": "812"}, "indices": indices, **extra}


def test_indices_are_grouped_by_phase_and_exit_code_in_index_order():
    indices = ([{"index": i, "phase": "Succeeded", "exitCode": 0} for i in range(0, 4)]
               + [{"index": 4, "phase": "Failed", "exitCode": 7}, {"index": 6, "phase": "Failed", "exitCode": 7},
                  {"index": 5, "phase": "Failed", "exitCode": 1}]
               + [{"index": i, "phase": "Running"} for i in range(7, 10)])
    assert indices_line(_attempt(indices)) == (
        "attempt 1 array, 10 indices: Succeeded 0-3; Failed (exit 7) 4,6; Failed (exit 1) 5; Running 7-9")
    assert indices_line({"attempt": 1, "phase": "Running"}) is None


def test_restarts_are_said_only_when_there_were_some():
    assert restarts_line({"attempt": 2, "restarts": 3}) == "attempt 2: 3 in-job restarts (FaultTolerance)"
    assert restarts_line({"attempt": 1, "restarts": 1}) == "attempt 1: 1 in-job restart (FaultTolerance)"
    assert restarts_line({"attempt": 1, "restarts": 0}) is None and restarts_line({"attempt": 1}) is None


def test_describe_shows_a_256_index_array_in_one_line_under_its_attempts():
    indices = [{"index": i, "phase": "Succeeded" if i % 64 else "Failed", "exitCode": 0 if i % 64 else 2} for i in range(256)]
    obj = {"metadata": {"name": "arr-1", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"title": "arr", "tasks": [{"name": "sweep", "script": {"command": ["true"]},
                                                "executor": {"slurm": {"cluster": "c", "array": "0-255"}}}]},
           "status": {"phase": "Failed", "tasks": [{"name": "sweep", "phase": "Failed", "attempt": 1,
                                                     "attempts": [_attempt(indices, phase="Failed")]}]}}
    out = io.StringIO()
    describe(Console(file=out, width=160), obj, [], [], {})
    lines = [line for line in out.getvalue().splitlines() if "indices" in line]
    assert lines == ["    attempt 1 array, 256 indices: Failed (exit 2) 0,64,128,192; Succeeded 1-63,65-127,129-191,193-255"]


def test_a_het_attempt_names_its_components_and_a_plain_one_says_nothing():
    from kuberun.manage.render import components_line

    assert components_line({"attempt": 2, "hetComponents": ["7+0", "7+1"]}) == (
        "attempt 2 het job, 2 components: 7+0, 7+1 (logs of each under het-<i>/)")
    assert components_line({"attempt": 1}) is None
