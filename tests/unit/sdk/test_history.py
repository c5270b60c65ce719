"""``kuberun.resource.history``: a status's attempts and the archive's, merged into the whole history."""

from __future__ import annotations

import copy

from kuberun.resource.history import merge_attempts, omitted


def _status(attempts: list[dict], **task_extra: object) -> dict:
    return {"phase": "Succeeded", "tasks": [{"name": "t", "phase": "Succeeded", "attempt": 3, "attempts": attempts,
                                             **task_extra}, {"name": "u", "phase": "Succeeded", "attempt": 1}]}


def test_dropped_attempts_come_back_in_order_and_the_omitted_counts_shrink_to_nothing():
    status = _status([{"attempt": 3, "phase": "Succeeded"}], attemptsOmitted=2, failuresOmitted=2)
    before = copy.deepcopy(status)
    merged, restored = merge_attempts(status, [("t", {"attempt": 2, "phase": "Failed", "exitCode": 2}),
                                               ("t", {"attempt": 1, "phase": "Failed", "exitCode": 1})])
    assert restored == 2 and status == before
    task = merged["tasks"][0]
    assert [(a["attempt"], a.get("exitCode")) for a in task["attempts"]] == [(1, 1), (2, 2), (3, None)]
    assert "attemptsOmitted" not in task and "failuresOmitted" not in task
    assert merged["tasks"][1] == status["tasks"][1]


def test_the_status_copy_of_an_attempt_wins_and_a_partial_history_leaves_the_rest_counted():
    status = _status([{"attempt": 3, "phase": "Succeeded", "archivedLog": {"url": "file:///new"}}],
                     attemptsOmitted=2, failuresOmitted=1)
    merged, restored = merge_attempts(status, [("t", {"attempt": 3, "phase": "Running"}),
                                               ("t", {"attempt": 2, "phase": "Cancelled"})])
    task = merged["tasks"][0]
    assert restored == 1 and [a["phase"] for a in task["attempts"]] == ["Cancelled", "Succeeded"]
    assert task["attempts"][1]["archivedLog"] == {"url": "file:///new"}
    assert task["attemptsOmitted"] == 1 and task["failuresOmitted"] == 1  # a Cancelled attempt is no failure
    assert omitted(merged) == 1 and omitted(status) == 2


def test_malformed_history_and_unknown_tasks_are_skipped_and_odd_statuses_pass_through():
    status = _status([{"attempt": 3, "phase": "Succeeded"}], attemptsOmitted=1)
    merged, restored = merge_attempts(status, [("gone", {"attempt": 0, "phase": "Failed"}), ("t", {"attempt": "x"}),
                                               ("t", "junk"), (None, {"attempt": 0})])  # type: ignore[list-item]
    assert restored == 0 and merged == status
    assert merge_attempts(None, [("t", {"attempt": 0})]) == (None, 0)
    assert merge_attempts({"phase": "Pending"}, [("t", {"attempt": 0})]) == ({"phase": "Pending"}, 0)
    assert omitted(None) == 0 and omitted({"tasks": [{"attemptsOmitted": "many"}, "junk"]}) == 0
