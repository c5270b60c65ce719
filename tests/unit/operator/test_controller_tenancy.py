"""The operator verifies before acting (#13.4) and never leaves a refused pod Submitted (#13.6), per reconcile.

Attacks on the record: a squatted child name, a status rewritten to aim a cancel at someone
else's job, a namespace whose admission refuses the pods. Each must end in a clear reason with
nothing adopted, created or cancelled that is not this Experiment's own.
"""

from __future__ import annotations

import pytest

from kuberun.resource import BackendRef, ExperimentResource
from kuberun_operator.backends.base import BackendError
from tests.helpers.controller import KEY, Recording, big_k8s_task, harness, k8s_task, slurm_task

OTHER = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "name": "someone-else", "uid": "uid-other",
         "controller": True}


async def test_a_squatted_job_name_is_not_adopted_and_fails_the_task_name_conflict():
    h = harness()
    h.kube.add_experiment("exp", [k8s_task()])
    h.kube.children[("Job", "ns", "exp-t-1")] = {"kind": "Job", "metadata": {"name": "exp-t-1", "namespace": "ns",
                                                                            "uid": "job-squat", "ownerReferences": [OTHER]}}
    await h.reconcile()
    task = h.task()
    assert (task["phase"], task["reason"]) == ("Failed", "NameConflict")
    assert "Job ns/exp-t-1 already exists and is controlled by Experiment 'someone-else' (uid uid-other)" in task["message"]
    assert h.kube.children[("Job", "ns", "exp-t-1")]["metadata"]["uid"] == "job-squat"  # untouched
    assert "NameConflict" in [e.reason for e in h.events]
    h.clock.advance(60)
    await h.reconcile()  # unretryable: no second attempt meets the same squatter
    assert len(h.task()["attempts"]) == 1


async def test_a_config_map_without_an_owner_is_refused_before_any_job_exists():
    h = harness()
    h.kube.add_experiment("exp", [big_k8s_task()])  # too large for its Job: the task ConfigMap carries it
    h.kube.children[("ConfigMap", "ns", "exp-tasks")] = {"kind": "ConfigMap", "metadata": {"name": "exp-tasks", "namespace": "ns"},
                                                        "data": {"t.json": "{}"}}
    await h.reconcile()
    assert (h.task()["phase"], h.task()["reason"]) == ("Failed", "NameConflict")
    assert "has no controller ownerReference" in h.task()["message"]
    assert ("Job", "ns", "exp-t-1") not in h.kube.children


async def test_a_squatted_headless_service_of_a_multi_node_task_is_not_adopted():
    """Someone's Service under the peer-DNS name would steer rank traffic: refused, left as it was."""
    h = harness()
    h.kube.add_experiment("exp", [{"name": "t", "script": {"command": ["true"]}, "executor": {"kubernetes": {"nodes": 2}}}])
    squat = {"kind": "Service", "metadata": {"name": "exp-t-1", "namespace": "ns", "uid": "svc-squat", "ownerReferences": [OTHER]},
             "spec": {"clusterIP": "None", "selector": {"app": "attacker"}}}
    h.kube.children[("Service", "ns", "exp-t-1")] = dict(squat)
    await h.reconcile()
    assert (h.task()["phase"], h.task()["reason"]) == ("Failed", "NameConflict")
    assert "Service ns/exp-t-1 already exists and is controlled by Experiment 'someone-else'" in h.task()["message"]
    assert h.kube.children[("Service", "ns", "exp-t-1")]["spec"]["selector"] == {"app": "attacker"}  # untouched
    assert ("Job", "ns", "exp-t-1") not in h.kube.children  # nothing ran beside the squatter


async def test_our_own_children_found_again_are_adopted_as_before():
    h = harness()
    exp = ExperimentResource.model_validate(h.kube.add_experiment("exp", [k8s_task()]))
    backend, ref = h.controller.backends["kubernetes"], BackendRef(backend="kubernetes", idempotency_key="uid-exp-t-1")
    first = await backend.submit(exp, exp.spec.tasks[0], 1, ref)
    again = await backend.submit(exp, exp.spec.tasks[0], 1, ref)  # e.g. after a status write was lost
    assert first.id == again.id == "exp-t-1" and h.kube.created("Job") == ["exp-t-1", "exp-t-1"]  # the second: 409...
    assert ("get", "Job", "exp-t-1") in h.kube.calls  # ...read back, found controlled by this UID, adopted
    assert [k for k in h.kube.children if k[0] == "Job"] == [("Job", "ns", "exp-t-1")]


async def test_pods_the_namespace_refuses_fail_the_attempt_failed_create_and_no_job_is_created():
    h = harness()
    h.kube.refuse_pods = 'pods "exp-t-1-x" is forbidden: violates PodSecurity "restricted:latest": privileged'
    h.kube.add_experiment("exp", [k8s_task()])
    await h.reconcile()
    assert (h.task()["phase"], h.task()["reason"]) == ("Failed", "FailedCreate")
    assert 'violates PodSecurity "restricted:latest": privileged' in h.task()["message"]
    assert h.kube.created("Job") == [] and ("dryrun", "pods", "exp-t-1-") in h.kube.calls


async def test_a_cancel_uses_the_key_recomputed_from_the_uid_not_the_one_status_claims():
    remote = Recording()
    h = harness({"slurm": remote})
    h.kube.add_experiment("exp", [slurm_task()])
    await h.reconcile()
    assert remote.submitted == ["uid-exp-t-1"]
    # Someone allowed to patch experiments/status points the attempt at another tenant's job...
    ref = h.kube.experiments[KEY]["status"]["tasks"][0]["attempts"][0]["backendRef"]
    ref["idempotencyKey"] = "uid-victim-train-1"
    h.kube.experiments[KEY]["spec"]["shutdown"] = "Terminate"
    await h.reconcile()
    # ...and the operator still cancels only its own attempt.
    assert remote.cancelled == ["uid-exp-t-1"]


async def test_a_remembered_yes_never_admits_pods_of_another_shape_and_a_no_is_asked_again():
    """The dry run's yes is reused for the same pods (admission.py); a refusal still fails the attempt."""
    h = harness()
    backend, ref = h.controller.backends["kubernetes"], BackendRef(backend="kubernetes", idempotency_key="k")
    plain = [ExperimentResource.model_validate(h.kube.add_experiment(f"p{i}", [k8s_task()], title="sweep")) for i in range(3)]
    labelled = ExperimentResource.model_validate(
        h.kube.add_experiment("privileged", [k8s_task(executor={"kubernetes": {"pod_labels": {"run": "privileged"}}})],
                               title="sweep"))
    await backend.submit(plain[0], plain[0].spec.tasks[0], 1, ref)
    await backend.submit(plain[1], plain[1].spec.tasks[0], 1, ref)  # the same pods: the yes is reused
    assert [c for c in h.kube.calls if c[0] == "dryrun"] == [("dryrun", "pods", "p0-t-1-")]
    h.kube.refuse_pods = 'violates PodSecurity "restricted:latest": privileged'
    for _ in range(2):  # other pods: asked, refused, and asked again (a no is never remembered)
        with pytest.raises(BackendError) as refused:
            await backend.submit(labelled, labelled.spec.tasks[0], 1, ref)
        assert refused.value.reason == "FailedCreate" and "privileged" in refused.value.message
    assert [c for c in h.kube.calls if c[0] == "dryrun"][-2:] == [("dryrun", "pods", "privileged-t-1-")] * 2
    assert h.kube.created("Job") == ["p0-t-1", "p1-t-1"]
    backend.admission.ttl = 0  # with no reuse the namespace's new no reaches the plain pods too
    with pytest.raises(BackendError):
        await backend.submit(plain[2], plain[2].spec.tasks[0], 1, ref)
