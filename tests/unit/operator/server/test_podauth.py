"""``PodAuthenticator``: every link of the chain token → pod → Job → Experiment → attempt, broken one at a time.

The integration tests (tests/integration/test_pod_upload_attacks.py) run the whole route with real
pods and tokens; here each check is isolated, so a check that is removed fails a named case.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from kuberun.resource.constants import API_VERSION, KIND, LABEL_ATTEMPT, LABEL_TASK
from kuberun.resource.upload import AUDIENCE, POD_NAME_EXTRA, POD_UID_EXTRA
from kuberun_operator.backends.kubernetes.objectnames import ExperimentRef, job_name
from kuberun_operator.server.auth import Forbidden, ReviewUnavailable, Unauthorized
from kuberun_operator.server.podauth import PodAttempt, PodAuthenticator

NS, EXP, EXP_UID, TASK, ATTEMPT = "team-a", "sweep", "0f0e0d0c-0000-4000-8000-000000000001", "train", 2
JOB = job_name(ExperimentRef(EXP, NS, EXP_UID, "t"), TASK, ATTEMPT)


def _world() -> dict[str, Any]:
    review = {"authenticated": True, "audiences": [AUDIENCE],
              "user": {"username": f"system:serviceaccount:{NS}:default", "uid": "sa-uid",
                       "extra": {POD_NAME_EXTRA: ["p-1"], POD_UID_EXTRA: ["pod-uid"]}}}
    pod = {"metadata": {"name": "p-1", "uid": "pod-uid", "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": "job-uid", "controller": True}]}}
    job = {"metadata": {"name": JOB, "uid": "job-uid", "labels": {LABEL_TASK: TASK, LABEL_ATTEMPT: str(ATTEMPT)},
                        "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": EXP, "uid": EXP_UID,
                                             "controller": True}]}}
    exp = {"metadata": {"name": EXP, "uid": EXP_UID}, "spec": {"title": "t"}}
    return {"review": review, "pod": pod, "job": job, "exp": exp}


class Lookups:
    def __init__(self, world: dict[str, Any]) -> None:
        self.world, self.calls = world, 0

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls += 1
        pod = self.world["pod"]
        return pod if pod is not None and pod["metadata"]["name"] == name and namespace == NS else None

    async def job(self, namespace: str, name: str) -> dict[str, Any] | None:
        job = self.world["job"]
        return job if job is not None and job["metadata"]["name"] == name and namespace == NS else None

    async def experiment(self, namespace: str, name: str) -> dict[str, Any] | None:
        exp = self.world["exp"]
        return exp if exp is not None and exp["metadata"]["name"] == name and namespace == NS else None


def _check(world: dict[str, Any], target: tuple[str, str, str, int] = (NS, EXP, TASK, ATTEMPT),
           header: str = "Bearer tok", **kwargs: Any) -> PodAttempt:
    asked: list[dict[str, Any]] = []

    async def review(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body)
        return {"status": world["review"]}
    pods = PodAuthenticator(review, Lookups(world), **kwargs)
    found = asyncio.run(pods.attempt(header, *target))
    assert asked[0]["spec"] == {"token": "tok", "audiences": [AUDIENCE]}  # reviewed for our audience only
    return found


def test_the_pods_own_attempt_is_found():
    assert _check(_world()) == PodAttempt(NS, EXP, EXP_UID, TASK, ATTEMPT, "p-1")


def _break(path: str, value: Any) -> dict[str, Any]:
    world = copy.deepcopy(_world())
    *parents, last = path.split("|")
    node: Any = world
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return world


def _hand_made_job() -> dict[str, Any]:
    world = _break("job|metadata|name", "hand-made")  # same owner and labels, but not the attempt's Job name
    world["pod"]["metadata"]["ownerReferences"][0]["name"] = "hand-made"
    return world


UNAUTHORIZED = {
    "not authenticated": _break("review|authenticated", False),
    "audience not confirmed": _break("review|audiences", ["https://kubernetes.default.svc.cluster.local"]),
    "not a service account": _break("review|user|username", "alice"),
    "no pod bound": _break("review|user|extra", {}),
    "two pods named": _break("review|user|extra", {POD_NAME_EXTRA: ["p-1", "p-2"], POD_UID_EXTRA: ["pod-uid"]}),
    "pod gone": _break("pod", None),
    "pod replaced": _break("pod|metadata|uid", "another-uid"),
}
FORBIDDEN = {
    "pod without a Job": _break("pod|metadata|ownerReferences", []),
    "Job not the controller": _break("pod|metadata|ownerReferences|0|controller", False),
    "Job gone": _break("job", None),
    "Job replaced": _break("job|metadata|uid", "other-job"),
    "Job of another experiment": _break("job|metadata|ownerReferences|0|name", "other"),
    "experiment gone": _break("exp", None),
    "experiment recreated": _break("exp|metadata|uid", "0f0e0d0c-0000-4000-8000-000000000002"),
    "another task's Job": _break(f"job|metadata|labels|{LABEL_TASK}", "eval"),
    "another attempt's Job": _break(f"job|metadata|labels|{LABEL_ATTEMPT}", "1"),
    "a Job not named as the operator names it": _hand_made_job(),
}


@pytest.mark.parametrize("case", sorted(UNAUTHORIZED))
def test_no_valid_pod_token_is_unauthorized(case):
    world = UNAUTHORIZED[case]
    with pytest.raises(Unauthorized):
        _check(world)


@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_a_pod_that_does_not_run_the_attempt_is_forbidden(case):
    world = FORBIDDEN[case]
    with pytest.raises(Forbidden):
        _check(world)


@pytest.mark.parametrize("target", [("team-b", EXP, TASK, ATTEMPT), (NS, "other", TASK, ATTEMPT),
                                    (NS, EXP, "eval", ATTEMPT), (NS, EXP, TASK, ATTEMPT + 1)],
                         ids=["other-namespace", "other-experiment", "other-task", "other-attempt"])
def test_a_target_other_than_the_pods_attempt_is_forbidden(target):
    with pytest.raises(Forbidden):
        _check(_world(), target)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Bearer " + "x" * 20000, "Bearer a\x00b"])
def test_malformed_headers_are_unauthorized_without_a_review(header):
    async def review(body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no review for a malformed header")
    with pytest.raises(Unauthorized):
        asyncio.run(PodAuthenticator(review, Lookups(_world())).attempt(header, NS, EXP, TASK, ATTEMPT))


def test_answers_are_cached_until_the_ttl_then_the_pod_is_looked_up_again():
    now = [0.0]
    world = _world()
    lookups = Lookups(world)

    async def review(body: dict[str, Any]) -> dict[str, Any]:
        return {"status": world["review"]}
    pods = PodAuthenticator(review, lookups, ttl=10, timer=lambda: now[0])

    async def twice() -> None:
        await pods.attempt("Bearer tok", NS, EXP, TASK, ATTEMPT)
        await pods.attempt("Bearer tok", NS, EXP, TASK, ATTEMPT)
        assert lookups.calls == 1
        world["pod"] = None  # deleted
        now[0] = 11.0
        with pytest.raises(Unauthorized):
            await pods.attempt("Bearer tok", NS, EXP, TASK, ATTEMPT)
    asyncio.run(twice())


def test_a_review_the_api_server_cannot_answer_is_unavailable_not_an_answer():
    async def review(body: dict[str, Any]) -> dict[str, Any]:
        raise ReviewUnavailable("down")
    with pytest.raises(ReviewUnavailable):
        asyncio.run(PodAuthenticator(review, Lookups(_world())).attempt("Bearer tok", NS, EXP, TASK, ATTEMPT))
