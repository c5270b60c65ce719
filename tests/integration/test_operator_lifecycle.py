"""The operator's lifecycle and fault handling: suspend, deletion, API faults, multi-node, Kueue, local tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")


@pytest.fixture(scope="module")
def operator(kubeconfig: Any, crd: None, tmp_path_factory: Any) -> Any:
    workdir = tmp_path_factory.mktemp("local")
    with running_operator(kubeconfig, enable_local_executor=True, local_workdir=workdir) as metrics:
        yield metrics


def _submit(kubeconfig: Any, namespace: str, *adds: tuple[Any, dict[str, Any]]) -> str:
    exp = kr.Experiment("life", namespace=namespace)
    for task, kwargs in adds:
        exp.add(task, **kwargs)
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


def _patch_spec(api: Any, ns: str, name: str, spec: dict[str, Any]) -> None:
    from kubernetes import client

    client.CustomObjectsApi(api).patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": spec})


def _job(api: Any, ns: str, name: str) -> dict[str, Any] | None:
    jobs = list_jobs(api, ns, f"kuberun.dev/experiment={name}")
    return jobs[0] if jobs else None


def test_suspend_suspends_the_running_job_and_resume_unsuspends_it(operator, kubeconfig, k8s_api_client, namespace):
    name = _submit(kubeconfig, namespace, (kr.Partial(tasks.add, a=1), {"name": "t"}))
    wait_for(lambda: _job(k8s_api_client, namespace, name))
    _patch_spec(k8s_api_client, namespace, name, {"suspend": True})
    wait_for(lambda: _job(k8s_api_client, namespace, name)["spec"].get("suspend") is True, what="job suspended")
    suspended = wait_for(lambda: next((c for c in get_experiment(k8s_api_client, namespace, name)["status"]["conditions"]
                                       if c["type"] == "Suspended" and c["status"] == "True"), None))
    assert suspended["reason"] == "SpecSuspended"
    _patch_spec(k8s_api_client, namespace, name, {"suspend": False})
    wait_for(lambda: _job(k8s_api_client, namespace, name)["spec"].get("suspend") is False, what="job resumed")


def test_deleting_an_experiment_collects_its_jobs(operator, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    name = _submit(kubeconfig, namespace, (kr.Partial(tasks.add, a=1), {"name": "t"}))
    wait_for(lambda: _job(k8s_api_client, namespace, name))
    client.CustomObjectsApi(k8s_api_client).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    wait_for(lambda: _job(k8s_api_client, namespace, name) is None, what="jobs garbage-collected")
    cms = client.CoreV1Api(k8s_api_client).list_namespaced_config_map(namespace).items
    assert [c.metadata.name for c in cms if c.metadata.name.startswith(name)] == []


def test_transient_api_errors_are_retried_without_duplicates(operator, apiserver, kubeconfig, k8s_api_client, namespace):
    apiserver.inject(status=500, times=2, verb="create", resource="jobs", namespace=namespace)
    apiserver.inject(status=409, times=1, verb="patch", resource="experiments", namespace=namespace)
    name = _submit(kubeconfig, namespace, (kr.Partial(tasks.add, a=1), {"name": "t"}))
    job = wait_for(lambda: _job(k8s_api_client, namespace, name), timeout=30, what="job after injected 500s")
    finish_job(k8s_api_client, namespace, job["metadata"]["name"])
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", timeout=30)
    assert len(list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}")) == 1


def test_multi_node_task_is_an_indexed_job_with_headless_service(operator, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    executor = kr.KubernetesExecutor(nodes=2, procs_per_node=4, launcher="torchrun", gpus=8)
    name = _submit(kubeconfig, namespace, (kr.Partial(tasks.add, a=1), {"name": "train", "executor": executor}))
    job = wait_for(lambda: _job(k8s_api_client, namespace, name))
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 2 and spec["parallelism"] == 2
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["NNODES"]["value"] == "2" and env["NPROC_PER_NODE"]["value"] == "4"
    assert env["MASTER_ADDR"]["value"].startswith(f"{job['metadata']['name']}-0.")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert container["command"][0] == "torchrun"
    services = client.CoreV1Api(k8s_api_client).list_namespaced_service(namespace).items
    assert any(s.spec.cluster_ip == "None" for s in services)


def test_kueue_queue_labels_the_job_and_leaves_suspend_to_kueue(operator, kubeconfig, k8s_api_client, namespace):
    name = _submit(kubeconfig, namespace, (kr.Partial(tasks.add, a=1), {"name": "t", "executor": kr.KubernetesExecutor(queue="team-a")}))
    job = wait_for(lambda: _job(k8s_api_client, namespace, name))
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["spec"]["suspend"] is True
    _patch_spec(k8s_api_client, namespace, name, {"suspend": True})  # maybe before the operator's first status write
    wait_for(lambda: any(c["type"] == "Suspended" and c["status"] == "True"
                         for c in (get_experiment(k8s_api_client, namespace, name).get("status") or {}).get("conditions", [])))
    _patch_spec(k8s_api_client, namespace, name, {"suspend": False})
    wait_for(lambda: any(c["type"] == "Suspended" and c["status"] == "False"
                         for c in (get_experiment(k8s_api_client, namespace, name).get("status") or {}).get("conditions", [])))
    assert _job(k8s_api_client, namespace, name)["spec"]["suspend"] is True  # never unsuspended by us


def test_local_task_runs_as_a_real_process_with_its_log_and_exit_code(operator, kubeconfig, k8s_api_client, namespace, tmp_path):
    import pathlib

    marker = tmp_path / "marker"
    # The runner imports task callables; the repository root makes tests.fixtures importable.
    here = kr.LocalExecutor(env={"PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[2])})
    name = _submit(kubeconfig, namespace,
                   (kr.Partial(tasks.write_marker, path=str(marker), text="local"), {"name": "ok", "executor": here}),
                   (kr.Script(command=["sh", "-c", "echo nope >&2; exit 4"]), {"name": "bad", "executor": kr.LocalExecutor()}))
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", timeout=30)
    status = get_experiment(k8s_api_client, namespace, name)["status"]
    ok, bad = status["tasks"]
    assert ok["phase"] == "Succeeded" and marker.read_text() == "localok"
    assert bad["exitCode"] == 4 and "nope" in bad["message"]
    log_path = bad["attempts"][0]["logRef"]["path"]
    assert "nope" in Path(log_path).read_text()


@pytest.mark.parametrize(("reason", "message"), [
    ("ImagePullBackOff", 'Back-off pulling image "registry.invalid/nope:1"'),
    ("CreateContainerConfigError", 'secret "wandb-key" not found'),
])
def test_stuck_pod_fails_the_task_with_its_reason_without_retrying(operator, kubeconfig, k8s_api_client, namespace, reason, message):
    from kubernetes import client

    executor = kr.KubernetesExecutor(image="registry.invalid/nope:1", env_from_secrets=["wandb-key"])
    name = _submit(kubeconfig, namespace, (kr.Partial(tasks.add, a=1), {"name": "t", "executor": executor, "retries": 2}))
    job = wait_for(lambda: _job(k8s_api_client, namespace, name))
    core = client.CoreV1Api(k8s_api_client)
    labels = dict(job["spec"]["template"]["metadata"]["labels"], **{"job-name": job["metadata"]["name"]})
    pod = f"{job['metadata']['name']}-x"
    core.create_namespaced_pod(namespace, {"metadata": {"name": pod, "labels": labels}, "spec": job["spec"]["template"]["spec"]})
    core.patch_namespaced_pod_status(pod, namespace, {"status": {"phase": "Pending", "containerStatuses": [
        {"name": "task", "ready": False, "restartCount": 0, "image": "registry.invalid/nope:1", "imageID": "",
         "state": {"waiting": {"reason": reason, "message": message}}}]}})
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed")
    (task,) = get_experiment(k8s_api_client, namespace, name)["status"]["tasks"]
    assert task["reason"] == reason and message in task["message"] and len(task["attempts"]) == 1
    wait_for(lambda: _job(k8s_api_client, namespace, name) is None, what="the stuck Job deleted")
    failed = next(c for c in get_experiment(k8s_api_client, namespace, name)["status"]["conditions"] if c["type"] == "Failed")
    assert reason in failed["message"]
