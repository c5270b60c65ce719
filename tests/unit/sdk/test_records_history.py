"""``kuberun.manage.records.with_history``: a live record whose status dropped attempts gets them back
through the record server — or, when none can be reached, a note that says what is missing."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.errors import ObjectNotFoundError
from kuberun.manage import records


class NoEndpoints:
    """A cluster that publishes no record server."""

    namespace = "team-a"

    def get(self, path: str, op: Any, **query: Any) -> Any:
        raise ObjectNotFoundError(404, f"{path} not found", "NotFound")


def _live(omitted: int) -> dict[str, Any]:
    task: dict[str, Any] = {"name": "t", "phase": "Succeeded", "attempt": 3, "attempts": [{"attempt": 3, "phase": "Succeeded"}]}
    if omitted:
        task["attemptsOmitted"] = omitted
    return {"metadata": {"name": "e", "namespace": "team-a", "uid": "u"}, "status": {"phase": "Succeeded", "tasks": [task]}}


def test_nothing_omitted_asks_nobody():
    obj = _live(0)
    assert records.with_history(NoEndpoints(), obj) == (obj, None)  # type: ignore[arg-type]


def test_without_a_record_server_the_record_is_unchanged_and_the_note_counts_what_is_missing(monkeypatch):
    monkeypatch.delenv("KUBERUN_SERVER", raising=False)
    obj = _live(2)
    got, note = records.with_history(NoEndpoints(), obj)  # type: ignore[arg-type]
    assert got is obj and note is not None and note.startswith("2 earlier attempt(s) are not in status")


@pytest.mark.parametrize("history, left", [([("t", {"attempt": 1, "phase": "Failed"}), ("t", {"attempt": 2, "phase": "Failed"})], None),
                                            ([("t", {"attempt": 2, "phase": "Failed"})], "1 earlier attempt(s)")])
def test_the_archived_history_is_merged_and_what_it_lacks_is_said(monkeypatch, history, left):
    class Client:
        def __init__(self, kube: Any) -> None:
            pass

        def attempts(self, namespace: str, name: str, uid: str | None = None) -> list[Any]:
            assert (namespace, name, uid) == ("team-a", "e", "u")
            return history

    monkeypatch.setattr(records, "RecordClient", Client)
    got, note = records.with_history(NoEndpoints(), _live(2))  # type: ignore[arg-type]
    assert [a["attempt"] for a in got["status"]["tasks"][0]["attempts"]] == sorted([h[1]["attempt"] for h in history] + [3])
    assert (note is None) if left is None else (note or "").startswith(left)
