"""Per-task cancel from the SDK side (``manage/lifecycle.cancel_task``): what is written, when nothing is,
and a lost race read again — against a stand-in API that applies JSON patches with their ``test`` ops."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from kuberun.errors import InvalidError, NotFoundError
from kuberun.manage.lifecycle import cancel_task, cancel_task_noop
from kuberun.manage.render import header_lines


class StubApi:
    """GET and JSON-PATCH of one Experiment; ``race`` writers change it between a read and the next patch."""

    namespace, user = "ns", "alice"

    def __init__(self, obj: dict[str, Any], race: list[dict[str, Any]] | None = None) -> None:
        self.obj, self.race, self.patches = obj, list(race or []), []

    def get(self, path: str, op: Any) -> Any:
        return copy.deepcopy(self.obj)

    def request(self, method: str, path: str, op: Any, **kw: Any) -> Any:
        assert (method, kw["content_type"]) == ("PATCH", "application/json-patch+json")
        self.patches.append(kw["body"])
        if self.race:  # someone else wrote first: their change lands, our resourceVersion test fails
            self.obj["spec"]["cancelTasks"] = [*self.obj["spec"].get("cancelTasks", []), self.race.pop(0)]
            self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
        try:
            self.obj = jsonpatch.apply_patch(self.obj, kw["body"])
        except jsonpatch.JsonPatchTestFailed:
            raise InvalidError(422, "the test of the JSON patch failed") from None
        self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(self.obj)


def _obj(phases: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "exp-1", "namespace": "ns", "resourceVersion": "7"},
            "spec": {"title": "t", "tasks": [{"name": n} for n in ("a", "b", "c")], **spec},
            "status": {"phase": "Running", "tasks": [{"name": n, "phase": p} for n, p in (phases or {}).items()]}}


def test_the_first_request_creates_the_list_and_names_the_kubeconfig_user():
    api = StubApi(_obj({"a": "Running"}))
    assert cancel_task(api, "exp-1", "a")["spec"]["cancelTasks"] == [{"task": "a", "by": "alice"}]
    (ops,) = api.patches
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}


def test_a_concurrent_cancel_of_another_task_is_kept_and_ours_is_appended_after_reading_again():
    api = StubApi(_obj({"a": "Running", "b": "Running"}, cancelTasks=[]), race=[{"task": "b", "by": "bob"}])
    done = cancel_task(api, "exp-1", "a")
    assert done["spec"]["cancelTasks"] == [{"task": "b", "by": "bob"}, {"task": "a", "by": "alice"}]
    assert len(api.patches) == 2  # the first lost its resourceVersion test


def test_nothing_is_written_for_a_finished_task_or_one_already_asked_for():
    finished = StubApi(_obj({"a": "Succeeded"}))
    assert cancel_task(finished, "exp-1", "a") == finished.obj and finished.patches == []
    assert cancel_task_noop(finished.obj, "a") == "task a has already finished (Succeeded): nothing to cancel"
    asked = StubApi(_obj({"a": "Running"}, cancelTasks=[{"task": "a", "by": "bob"}]))
    assert cancel_task(asked, "exp-1", "a") == asked.obj and asked.patches == []
    assert cancel_task_noop(asked.obj, "a") == "task a is already being cancelled"


def test_a_task_the_experiment_does_not_have_is_refused_listing_its_tasks():
    with pytest.raises(NotFoundError, match=r"experiment 'exp-1' has no task 'z' \(tasks: a, b, c\)"):
        cancel_task(StubApi(_obj()), "exp-1", "z")


def test_describe_s_header_shows_the_requests_and_who_made_them():
    lines = header_lines(_obj(cancelTasks=[{"task": "a", "by": "alice"}, {"task": "c"}]), [])
    assert any(line.split() == ["Cancel", "tasks:", "a", "(by", "alice),", "c", "(by", "-)"] for line in lines), lines
