"""Every attempt reaches the archive, whatever the status budget dropped: rows written as attempts end
and with the record, merged back into the status the record is shown with (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.resource.history import merge_attempts
from kuberun_operator.archive import Archive, InvalidRecord

from .builders import experiment


def _attempt(n: int, phase: str = "Failed", exit_code: int | None = 1, **extra: Any) -> dict[str, Any]:
    return {"attempt": n, "phase": phase, "exitCode": exit_code, "reason": "Error" if phase == "Failed" else "Completed",
            "startTime": f"2026-03-01T12:0{n}:00Z", "finishTime": f"2026-03-01T12:0{n}:30Z", **extra}


def test_attempts_recorded_as_they_end_are_kept_by_number_with_their_exit_codes(archive: Archive) -> None:
    uid = "u-1"
    assert archive.record_attempts(uid, [("train", _attempt(0, exit_code=3)), ("train", _attempt(1, exit_code=4))]) == 2
    archive.record_attempts(uid, [("train", _attempt(2, "Succeeded", 0)), ("eval", _attempt(0, "Succeeded", 0))])
    rows = archive.attempts(uid)
    assert [(r.task, r.attempt, r.phase, r.exit_code) for r in rows] == [
        ("eval", 0, "Succeeded", 0), ("train", 0, "Failed", 3), ("train", 1, "Failed", 4), ("train", 2, "Succeeded", 0)]
    assert rows[1].reason == "Error" and rows[1].start_time is not None and rows[1].finish_time is not None
    assert rows[1].start_time.isoformat() == "2026-03-01T12:00:00+00:00"
    assert [r.attempt for r in archive.attempts(uid, task="train")] == [0, 1, 2]
    assert archive.attempts("another-uid") == []


def test_recording_an_attempt_again_keeps_one_row_with_the_latest_entry(archive: Archive) -> None:
    archive.record_attempts("u", [("t", _attempt(0))])
    archive.record_attempts("u", [("t", _attempt(0, archivedLog={"url": "file:///x", "size": 3}, unknownField={"a": 1}))])
    (row,) = archive.attempts("u")
    assert row.document["archivedLog"] == {"url": "file:///x", "size": 3}
    assert row.document["unknownField"] == {"a": 1}  # a newer operator's field is kept as written


def test_the_record_also_stores_every_finished_attempt_its_status_still_holds(archive: Archive) -> None:
    obj = experiment(status_extra={"tasks": [{"name": "main", "phase": "Succeeded", "attempt": 2, "attemptsOmitted": 1,
                                              "attempts": [_attempt(1, exit_code=7), _attempt(2, "Succeeded", 0),
                                                           {"attempt": 3, "phase": "Running"}, "garbage"]}]})
    archive.record(obj)
    uid = obj["metadata"]["uid"]
    assert [(r.attempt, r.exit_code) for r in archive.attempts(uid)] == [(1, 7), (2, 0)]


@pytest.mark.parametrize("items, match", [
    ([("t", {"phase": "Failed"})], "attempt must be a non-negative integer"),
    ([("t", {"attempt": -1, "phase": "Failed"})], "non-negative"),
    ([("", _attempt(0))], "task must be"),
    ([("t", {"attempt": 0})], "phase must be"),
    ([("t", "not a mapping")], "must be a mapping"),
    ([("t", _attempt(0, message="x" * 300_000))], "too large|exceeds|bytes"),
])
def test_malformed_attempts_are_refused_with_the_reason(archive: Archive, items: Any, match: str) -> None:
    with pytest.raises(InvalidRecord, match=match):
        archive.record_attempts("u", items)
    assert archive.attempts("u") == []


def test_the_status_a_budget_compacted_gets_its_full_history_back(archive: Archive) -> None:
    """Ten attempts, eight dropped from status by the budget: every exit code comes back from the archive."""
    uid = "u-budget"
    ended = [_attempt(n, exit_code=10 + n) for n in range(9)] + [_attempt(9, "Succeeded", 0)]
    archive.record_attempts(uid, [("main", a) for a in ended])
    status = {"phase": "Succeeded", "tasks": [{"name": "main", "phase": "Succeeded", "attempt": 9, "attemptsOmitted": 8,
                                               "failuresOmitted": 8, "attempts": [ended[8], ended[9]]}]}
    merged, restored = merge_attempts(status, [(r.task, r.document) for r in archive.attempts(uid)])
    assert restored == 8
    task = merged["tasks"][0]
    assert [a["exitCode"] for a in task["attempts"]] == [10, 11, 12, 13, 14, 15, 16, 17, 18, 0]
    assert "attemptsOmitted" not in task and "failuresOmitted" not in task
    assert status["tasks"][0]["attemptsOmitted"] == 8  # the input is not changed
