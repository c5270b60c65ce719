"""The sandbox's Job planner (``kuberun_sandbox.jobs``): which pods a Job gets and what its status becomes.

Table-driven, as Kueue and JobSet test their controllers: each case is a Job spec, the pods that
exist and (optionally) the Job's prior status, and what the planner must decide. The clock is a
fixed instant, so no case depends on when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kuberun_sandbox import jobs

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
STAMP = "2026-01-02T03:04:05Z"


def job(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "j", "namespace": "ns"}, "spec": spec, "status": status or {}}


def pod(name: str, phase: str = "Running", index: int | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if index is not None:
        meta["annotations"] = {jobs.INDEX_KEY: str(index)}
    if deleting:
        meta["deletionTimestamp"] = STAMP
    return {"metadata": meta, "status": {"phase": phase}}


def started(seconds_ago: int) -> dict[str, Any]:
    return {"startTime": jobs.now_iso(AT - timedelta(seconds=seconds_ago))}


SUSPENDED = {"startTime": STAMP, "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended",
                                                 "message": "Job suspended", "lastProbeTime": STAMP, "lastTransitionTime": STAMP}]}
COMPLETE = {"conditions": [{"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "done"}]}


@dataclass
class Case:
    job: dict[str, Any]
    pods: list[dict[str, Any]] = field(default_factory=list)
    create: list[int | None] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    condition: tuple[str, str, str] | None = None   # (type, status, reason) that must be set
    counts: dict[str, Any] = field(default_factory=dict)  # status fields that must hold these values


CASES = {
    # The pod about to be created counts as active (as manageJob counts it): one status write, not two.
    "one pod by default": Case(job(), create=[None], counts={"active": 1, "succeeded": 0, "startTime": STAMP}),
    "completions 3, parallelism 2: two pods": Case(job(completions=3, parallelism=2), create=[None, None]),
    "completions 3, parallelism 2, one done, one running: one more": Case(
        job(completions=3, parallelism=2), [pod("a", "Succeeded"), pod("b")], create=[None],
        counts={"active": 2, "ready": 1, "succeeded": 1}),  # the one it creates counts as active
    "completions reached: Complete": Case(
        job(completions=2, parallelism=2), [pod("a", "Succeeded"), pod("b", "Succeeded")],
        condition=("Complete", "True", "CompletionsReached"), counts={"succeeded": 2, "completionTime": STAMP}),
    "no completions: the first success with none active completes": Case(
        job(), [pod("a", "Succeeded")], condition=("Complete", "True", "CompletionsReached")),
    "no completions: a success while others run starts nothing": Case(
        job(parallelism=2), [pod("a", "Succeeded"), pod("b")], counts={"active": 1}),
    "failures within backoffLimit: replaced": Case(
        job(backoffLimit=1), [pod("a", "Failed")], create=[None], counts={"failed": 1}),
    "failures over backoffLimit: Failed, active pods deleted": Case(
        job(backoffLimit=1, parallelism=2), [pod("a", "Failed"), pod("b", "Failed"), pod("c")], delete=["c"],
        condition=("Failed", "True", "BackoffLimitExceeded"), counts={"active": 0}),
    "backoffLimit 0: the first failure fails the Job": Case(
        job(backoffLimit=0), [pod("a", "Failed")], condition=("Failed", "True", "BackoffLimitExceeded")),
    "indexed: missing indexes are created": Case(
        job(completionMode="Indexed", completions=3, parallelism=3), [pod("p1", "Succeeded", index=1)],
        create=[0, 2], counts={"completedIndexes": "1", "succeeded": 1}),
    "indexed: running indexes are not duplicated, parallelism caps": Case(
        job(completionMode="Indexed", completions=4, parallelism=2), [pod("p0", index=0)], create=[1]),
    "indexed: a second success of the same index counts once": Case(
        job(completionMode="Indexed", completions=2, parallelism=2),
        [pod("a", "Succeeded", index=0), pod("b", "Succeeded", index=0)], create=[1], counts={"succeeded": 1}),
    "indexed: every index done completes": Case(
        job(completionMode="Indexed", completions=3, parallelism=1),
        [pod(f"p{i}", "Succeeded", index=i) for i in range(3)], condition=("Complete", "True", "CompletionsReached"),
        counts={"completedIndexes": "0-2"}),
    "suspend: active pods deleted, nothing created, clock stopped": Case(
        job(started(30), suspend=True, parallelism=2), [pod("a"), pod("b", "Succeeded")], delete=["a"],
        condition=("Suspended", "True", "JobSuspended"), counts={"active": 0, "startTime": None}),
    "resume: Suspended False and the deadline clock restarts": Case(
        job(SUSPENDED, activeDeadlineSeconds=60), create=[None],
        condition=("Suspended", "False", "JobResumed"), counts={"startTime": STAMP}),
    "deadline passed: Failed, active pods deleted": Case(
        job(started(120), activeDeadlineSeconds=60), [pod("a")], delete=["a"],
        condition=("Failed", "True", "DeadlineExceeded")),
    "deleting pods are not active: replaced": Case(job(), [pod("a", deleting=True)], create=[None], counts={"active": 1}),
    "finished Job: leftover active pods deleted, nothing created": Case(
        job(COMPLETE), [pod("late")], delete=["late"]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_planner_decides_pods_and_status(case: Case):
    before = repr(case.job)
    plan = jobs.plan(case.job, case.pods, AT)
    assert (plan.create, plan.delete) == (case.create, case.delete)
    for key, value in case.counts.items():
        assert plan.status.get(key) == value, key
    if case.condition is not None:
        ctype, status, reason = case.condition
        found = [c for c in plan.status.get("conditions") or [] if c["type"] == ctype]
        assert [(c["status"], c["reason"]) for c in found] == [(status, reason)]
    else:  # no case without an expected condition may set a new one
        assert [c for c in plan.status.get("conditions") or [] if c not in (case.job["status"].get("conditions") or [])] == []
    assert repr(case.job) == before  # the planner decides; it never edits the Job it was given


def test_a_running_deadline_is_returned_to_reconcile_again_then():
    plan = jobs.plan(job(started(10), activeDeadlineSeconds=60), [pod("a")], AT)
    assert plan.deadline == AT + timedelta(seconds=50) and plan.create == [] and plan.delete == []


def test_unchanged_conditions_keep_their_times_so_status_is_not_rewritten():
    status = {"conditions": []}
    jobs.set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", "2026-01-01T00:00:00Z")
    jobs.set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", STAMP)
    assert status["conditions"][0]["lastProbeTime"] == "2026-01-01T00:00:00Z"
    jobs.set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", STAMP)
    assert status["conditions"][0]["lastTransitionTime"] == STAMP and len(status["conditions"]) == 1


@pytest.mark.parametrize(("indexes", "text"), [(set(), ""), ({3}, "3"), ({0, 1, 2, 5, 7, 8}, "0-2,5,7,8")])
def test_completed_indexes_use_kubernetes_range_format(indexes, text):
    assert jobs.compress_indexes(indexes) == text


def test_benchmark_mode_completes_without_pods_but_not_a_suspended_job():
    plan = jobs.complete_immediately(job(completions=4), AT)
    assert plan.create == [] and plan.status["succeeded"] == 4 and jobs.finished(plan.status)
    assert not jobs.finished(jobs.complete_immediately(job(suspend=True), AT).status)
