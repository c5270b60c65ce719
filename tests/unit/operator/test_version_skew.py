"""Version skew loses nothing: a status written by a newer operator and a spec written by a newer SDK
go through this operator's (older-shaped) models with every unknown field kept, and written back
untouched; a spec it cannot handle gets a condition and an Event while its status keeps every task
and attempt (docs/operator.md, "Version skew")."""

from __future__ import annotations

import copy

from kuberun_operator.decode import carry_unknown, decode
from tests.helpers.builders import make_job_status
from tests.helpers.controller import KEY, harness, job_named, k8s_task

NEWER_STATUS_FIELDS = {
    ("newTopField",): {"nested": [1, 2]},
    ("tasks", 0, "newTaskField"): "kept",
    ("tasks", 0, "attempts", 0, "placement"): {"zone": "a"},
}


def _set(doc: dict, path: tuple, value: object) -> None:
    for seg in path[:-1]:
        doc = doc[seg]
    doc[path[-1]] = value


def _get(doc: dict, path: tuple) -> object:
    for seg in path:
        doc = doc[seg]
    return doc


def _finish_job(h, name: str = "exp-t-1") -> None:
    done = make_job_status(name).condition("Complete").obj()
    created = job_named(h, name)["metadata"]
    done["metadata"].update(namespace="ns", resourceVersion="999", ownerReferences=created["ownerReferences"],
                            labels=created["labels"])
    h.jobs.put(done)


def test_decoding_sets_aside_unknown_fields_at_every_depth_and_leaves_the_body_alone():
    body = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": "e", "namespace": "ns"},
            "spec": {"title": "t", "futureSpec": 1, "tasks": [{**k8s_task(), "futureTask": {"a": 1}}]},
            "status": {"phase": "Running", "futureStatus": True,
                       "tasks": [{"name": "t", "phase": "Running", "attempt": 1, "futureTask": 2,
                                  "attempts": [{"attempt": 1, "phase": "Running", "futureAttempt": "x"}]}]}}
    before = copy.deepcopy(body)
    decoded = decode(body)
    assert decoded.resource is not None and decoded.error is None
    assert sorted(decoded.unknown_under("spec"), key=str) == sorted([("futureSpec",), ("tasks", 0, "futureTask")], key=str)
    assert sorted(decoded.unknown_under("status"), key=str) == sorted(
        [("futureStatus",), ("tasks", 0, "futureTask"), ("tasks", 0, "attempts", 0, "futureAttempt")], key=str)
    assert body == before
    assert decoded.resource.status is not None and decoded.resource.status.tasks[0].attempts[0].attempt == 1


def test_unknown_status_fields_follow_their_task_and_attempt_by_identity_not_position():
    old = {"tasks": [{"name": "a", "x": 1, "attempts": [{"attempt": 1, "y": 2}, {"attempt": 2, "y": 3}]},
                     {"name": "b", "x": 4}]}
    new = {"tasks": [{"name": "b"}, {"name": "a", "attempts": [{"attempt": 2}, {"attempt": 1}]}]}
    paths = [("tasks", 0, "x"), ("tasks", 1, "x"), ("tasks", 0, "attempts", 0, "y"), ("tasks", 0, "attempts", 1, "y")]
    carry_unknown(old, new, paths)
    assert new == {"tasks": [{"name": "b", "x": 4},
                             {"name": "a", "x": 1, "attempts": [{"attempt": 2, "y": 3}, {"attempt": 1, "y": 2}]}]}


async def test_a_newer_operator_s_status_fields_survive_this_operator_s_status_writes():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    stored = h.kube.experiments[KEY]
    for path, value in NEWER_STATUS_FIELDS.items():
        _set(stored["status"], path, value)
    writes = len(h.kube.status_writes)
    await h.reconcile()
    assert len(h.kube.status_writes) == writes  # nothing changed: the unknown fields are not a difference
    _finish_job(h)
    h.clock.advance(5)
    await h.reconcile()
    status = h.status()
    assert len(h.kube.status_writes) == writes + 1 and status["phase"] == "Succeeded"
    for path, value in NEWER_STATUS_FIELDS.items():
        assert _get(status, path) == value, path
    assert h.task()["attempts"][0]["phase"] == "Succeeded"
    assert not [e for e in h.events if e.reason == "InvalidSpec"]


async def test_a_newer_sdk_s_spec_field_is_ignored_with_a_warning_and_left_in_the_spec():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task(futureKnob={"level": 3})])
    await h.reconcile()
    assert h.kube.created("Job") == ["exp-t-1"] and h.status()["phase"] == "Running"
    warnings = [e for e in h.events if e.reason == "UnknownSpecFields"]
    assert len(warnings) == 1 and "spec.tasks[0].futureKnob" in warnings[0].message
    assert h.kube.experiments[KEY]["spec"]["tasks"][0]["futureKnob"] == {"level": 3}


async def test_a_spec_this_operator_cannot_handle_keeps_every_task_and_attempt_and_says_why_once():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    before = copy.deepcopy(h.status())
    # A newer operator wrote a backend kind this one does not have (and a field it does not know).
    h.kube.experiments[KEY]["spec"]["tasks"][0]["executor"] = {"futureCloud": {"size": "xl"}}
    h.kube.experiments[KEY]["status"]["newTopField"] = 1
    await h.reconcile()
    status = h.status()
    assert status["tasks"] == before["tasks"] and status["phase"] == before["phase"] == "Running"
    assert status["newTopField"] == 1
    condition = next(c for c in status["conditions"] if c["type"] == "SpecUnderstood")
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert "executor" in condition["message"]
    assert [e.reason for e in h.events if e.type == "Warning"] == ["InvalidSpec"]
    writes = len(h.kube.status_writes)
    await h.reconcile()
    assert len(h.kube.status_writes) == writes and len([e for e in h.events if e.reason == "InvalidSpec"]) == 1
    # An operator that understands the spec again (here: the spec as this one knows it) lifts the condition.
    h.kube.experiments[KEY]["spec"]["tasks"][0]["executor"] = {"kubernetes": {}}
    await h.reconcile()
    assert not [c for c in h.status()["conditions"] if c["type"] == "SpecUnderstood"]
    assert h.status()["tasks"][0]["attempts"] == before["tasks"][0]["attempts"] and h.status()["newTopField"] == 1
