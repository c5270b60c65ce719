"""The pod dry run's yes is reused per namespace and pod shape for ``ttl`` seconds; a no never is."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kuberun.resource import ExperimentResource
from kuberun_operator.backends.kubernetes import podtemplate
from kuberun_operator.backends.kubernetes.admission import AdmissionCache, shape
from kuberun_operator.backends.kubernetes.backend import experiment_ref
from kuberun_operator.backends.kubernetes.manifests import build_job
from kuberun_operator.kube import ApiError
from kuberun_operator.settings import Settings

REFUSAL = ApiError(403, "Forbidden", 'violates PodSecurity "restricted:latest": privileged')


def pod(experiment: str = "b-1", task: str = "t", **executor: Any) -> dict[str, Any]:
    """The dry-run pod of a one-task experiment, as the backend builds it."""
    exp = ExperimentResource.model_validate({
        "apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment",
        "metadata": {"name": experiment, "namespace": "ns", "uid": f"uid-{experiment}"},
        "spec": {"title": "bench", "tasks": [{"name": task, "script": {"command": ["true"]},
                                              "executor": {"kubernetes": executor}}]}})
    return podtemplate.dry_run_pod(build_job(experiment_ref(exp), exp.spec.tasks[0], 1, Settings()))


class DryRuns:
    """Records each dry run; answers with the next queued refusal, else admits."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.refusals: list[ApiError] = []

    async def __call__(self, namespace: str, body: dict[str, Any]) -> None:
        self.asked.append((namespace, body["metadata"]["generateName"]))
        if self.refusals:
            raise self.refusals.pop(0)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def cache(ttl: float = 5.0) -> tuple[AdmissionCache, DryRuns, Clock]:
    runs, clock = DryRuns(), Clock()
    return AdmissionCache(runs, ttl, clock), runs, clock


def test_the_shape_ignores_only_what_names_the_experiment():
    assert shape(pod("b-1")) == shape(pod("b-2")) == shape(pod("another-name"))
    assert shape(pod(task="u")) != shape(pod())  # the task's name is in its labels, document and paths
    assert shape(pod(image="busybox:1")) != shape(pod())
    assert shape(pod(pod_labels={"team": "a"})) != shape(pod())  # policies read labels: they count
    privileged = copy.deepcopy(pod())
    privileged["spec"]["containers"][0]["securityContext"]["privileged"] = True
    assert shape(privileged) != shape(pod())


def test_the_shape_does_not_change_the_pod_it_digests():
    body = pod()
    before = copy.deepcopy(body)
    shape(body)
    assert body == before


async def test_a_yes_is_reused_for_the_same_namespace_and_shape_within_ttl_then_asked_again():
    admission, runs, clock = cache(ttl=5)
    await admission.check("ns", pod("b-1"))
    clock.t += 4.9
    await admission.check("ns", pod("b-2"))  # another experiment, the same pods: not asked
    assert runs.asked == [("ns", "b-1-t-1-")]
    clock.t += 0.1  # five seconds after the question
    await admission.check("ns", pod("b-3"))
    assert runs.asked == [("ns", "b-1-t-1-"), ("ns", "b-3-t-1-")]


async def test_another_namespace_or_shape_is_asked():
    admission, runs, _ = cache()
    await admission.check("ns", pod("b-1"))
    await admission.check("other", pod("b-2"))
    await admission.check("ns", pod("b-3", image="busybox:1"))
    assert [g for _, g in runs.asked] == ["b-1-t-1-", "b-2-t-1-", "b-3-t-1-"]


async def test_a_refusal_is_never_reused():
    admission, runs, _ = cache()
    runs.refusals = [REFUSAL, REFUSAL]
    for name in ("b-1", "b-2"):
        with pytest.raises(ApiError) as refused:
            await admission.check("ns", pod(name))
        assert refused.value.status == 403
    await admission.check("ns", pod("b-3"))  # the namespace admits now: asked, and so learnt
    await admission.check("ns", pod("b-4"))
    assert [g for _, g in runs.asked] == ["b-1-t-1-", "b-2-t-1-", "b-3-t-1-"]


async def test_a_yes_does_not_hide_a_no_for_pods_of_another_shape():
    admission, runs, _ = cache()
    await admission.check("ns", pod("b-1"))
    runs.refusals = [REFUSAL]
    with pytest.raises(ApiError):
        await admission.check("ns", pod("b-2", pod_labels={"privileged": "yes"}))


async def test_ttl_zero_asks_every_time():
    admission, runs, _ = cache(ttl=0)
    for name in ("b-1", "b-2", "b-3"):
        await admission.check("ns", pod(name))
    assert len(runs.asked) == 3


async def test_a_slow_answer_is_as_old_as_its_question():
    runs, clock = DryRuns(), Clock()

    async def slow(namespace: str, body: dict[str, Any]) -> None:
        clock.t += 4  # the dry run took four of the five seconds
        await runs(namespace, body)

    admission = AdmissionCache(slow, 5, clock)
    await admission.check("ns", pod("b-1"))
    clock.t += 1.5
    await admission.check("ns", pod("b-2"))
    assert len(runs.asked) == 2
