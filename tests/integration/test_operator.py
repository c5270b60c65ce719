"""The operator against the API emulator over HTTP: Experiments become Jobs; status is the record.

The tests play the Job controller (tests/helpers/jobs.py) so each outcome is chosen, not hoped for.
"""

from __future__ import annotations

from typing import Any

import pytest

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs, start_job
from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")


def _submit(kubeconfig: Any, namespace: str, build) -> str:
    exp = kr.Experiment("it", namespace=namespace)
    build(exp)
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


def _jobs(api: Any, ns: str, name: str) -> dict[str, dict[str, Any]]:
    return {j["metadata"]["name"]: j for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}")}


def _task_jobs(api: Any, ns: str, name: str, task: str) -> list[str]:
    return sorted(n for n, j in _jobs(api, ns, name).items() if j["metadata"]["labels"]["kuberun.dev/task"] == task)


def test_dag_runs_in_order_to_succeeded_with_one_job_per_task(operator, kubeconfig, k8s_api_client, namespace):
    def build(exp):
        a = exp.add(kr.Partial(tasks.add, a=1), name="a")
        b = exp.add(kr.Partial(tasks.add, a=2), name="b")
        exp.add(kr.Script(command=["true"]), name="c", dependencies=[a, b])

    name = _submit(kubeconfig, namespace, build)
    wait_for(lambda: len(_jobs(k8s_api_client, namespace, name)) == 2, what="jobs for a and b")
    assert _task_jobs(k8s_api_client, namespace, name, "c") == []
    for job in list(_jobs(k8s_api_client, namespace, name)):
        start_job(k8s_api_client, namespace, job)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running")
    for job in list(_jobs(k8s_api_client, namespace, name)):
        finish_job(k8s_api_client, namespace, job)
    (c_job,) = wait_for(lambda: _task_jobs(k8s_api_client, namespace, name, "c"), what="job for c")
    assert c_job == f"{name}-c-1"
    finish_job(k8s_api_client, namespace, c_job)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    status = get_experiment(k8s_api_client, namespace, name)["status"]
    assert status["progress"] == "3/3" and len(_jobs(k8s_api_client, namespace, name)) == 3
    a = next(t for t in status["tasks"] if t["name"] == "a")
    assert a["attempts"][0]["backendRef"]["id"] == f"{name}-a-1" and a["exitCode"] == 0
    assert status["conditions"][0]["observedGeneration"] == 1


def test_failed_attempt_is_retried_as_a_new_job_and_all_attempts_are_recorded(operator, kubeconfig, k8s_api_client, namespace):
    name = _submit(kubeconfig, namespace, lambda exp: exp.add(kr.Partial(tasks.add, a=1), name="t", retries=1, backoff_seconds=0))
    (first,) = wait_for(lambda: _task_jobs(k8s_api_client, namespace, name, "t"))
    finish_job(k8s_api_client, namespace, first, exit_code=3)
    second = wait_for(lambda: f"{name}-t-2" in _task_jobs(k8s_api_client, namespace, name, "t"), what="attempt 2")
    assert second
    finish_job(k8s_api_client, namespace, f"{name}-t-2", exit_code=0)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
    (task,) = get_experiment(k8s_api_client, namespace, name)["status"]["tasks"]
    assert [(a["attempt"], a["phase"], a.get("exitCode")) for a in task["attempts"]] == [(1, "Failed", 3), (2, "Succeeded", 0)]


def test_permanent_failure_fails_experiment_and_skips_dependents(operator, kubeconfig, k8s_api_client, namespace):
    def build(exp):
        exp.add(kr.Partial(tasks.fail), name="a")
        exp.add(kr.Partial(tasks.add, a=1), name="b", dependencies=["a"])

    name = _submit(kubeconfig, namespace, build)
    (job,) = wait_for(lambda: _task_jobs(k8s_api_client, namespace, name, "a"))
    finish_job(k8s_api_client, namespace, job, exit_code=1)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed")
    status = get_experiment(k8s_api_client, namespace, name)["status"]
    b = next(t for t in status["tasks"] if t["name"] == "b")
    assert b["phase"] == "Skipped" and b["reason"] == "DependencyFailed"
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and "task 'a' failed" in failed["message"]


def test_terminate_deletes_running_jobs_and_cancels(operator, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    name = _submit(kubeconfig, namespace, lambda exp: exp.add(kr.Partial(tasks.add, a=1), name="t"))
    (job,) = wait_for(lambda: _task_jobs(k8s_api_client, namespace, name, "t"))
    start_job(k8s_api_client, namespace, job)
    client.CustomObjectsApi(k8s_api_client).patch_namespaced_custom_object(
        "kuberun.dev", "v1alpha1", namespace, "experiments", name, {"spec": {"shutdown": "Terminate"}})
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Cancelled")
    wait_for(lambda: not _task_jobs(k8s_api_client, namespace, name, "t"), what="job deleted")


def test_operator_restarted_mid_run_creates_no_duplicate_job(kubeconfig, k8s_api_client, namespace, crd):
    with running_operator(kubeconfig):
        name = _submit(kubeconfig, namespace, lambda exp: exp.add(kr.Partial(tasks.add, a=1), name="t"))
        wait_for(lambda: _task_jobs(k8s_api_client, namespace, name, "t"))
    with running_operator(kubeconfig):
        (job,) = _task_jobs(k8s_api_client, namespace, name, "t")
        finish_job(k8s_api_client, namespace, job)
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
        assert _task_jobs(k8s_api_client, namespace, name, "t") == [job]


def test_invalid_spec_ends_failed_with_reason_and_no_retry_loop(operator, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    # A cycle passes the CRD's CEL rules (they cannot see cycles) but not the operator.
    body = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": "cyclic"},
            "spec": {"title": "cyclic", "tasks": [
                {"name": "a", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, "dependsOn": ["b"]},
                {"name": "b", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, "dependsOn": ["a"]}]}}
    client.CustomObjectsApi(k8s_api_client).create_namespaced_custom_object("kuberun.dev", "v1alpha1", namespace, "experiments", body)
    wait_for(lambda: phase(k8s_api_client, namespace, "cyclic") == "Failed")
    exp = get_experiment(k8s_api_client, namespace, "cyclic")
    (condition,) = exp["status"]["conditions"]
    assert condition["reason"] == "InvalidSpec" and "dependency cycle: a -> b -> a" in condition["message"]
    rv = exp["metadata"]["resourceVersion"]
    import time

    time.sleep(1.0)
    assert get_experiment(k8s_api_client, namespace, "cyclic")["metadata"]["resourceVersion"] == rv  # no hot loop
    assert list_jobs(k8s_api_client, namespace) == []


def test_one_mib_config_leaves_no_kopf_annotation_and_mounts_its_config_maps(operator, kubeconfig, k8s_api_client, namespace):
    import random
    import string

    rng = random.Random(7)
    blob = "".join(rng.choice(string.ascii_letters) for _ in range(1024 * 1024))
    name = _submit(kubeconfig, namespace, lambda exp: exp.add(kr.Partial(tasks.take_blob, blob=blob), name="big"))
    (job,) = wait_for(lambda: _task_jobs(k8s_api_client, namespace, name, "big"))
    exp = get_experiment(k8s_api_client, namespace, name)
    annotations = exp["metadata"].get("annotations") or {}
    assert not [k for k in annotations if "kopf" in k], annotations
    volumes = _jobs(k8s_api_client, namespace, name)[job]["spec"]["template"]["spec"]["volumes"]
    refs = exp["spec"]["tasks"][0]["fiddle"]["configMapRefs"]
    mounted = {v["configMap"]["name"] for v in volumes if "configMap" in v}
    assert {r["name"] for r in refs} <= mounted and len(refs) >= 2
