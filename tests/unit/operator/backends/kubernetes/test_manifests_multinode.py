"""Multi-node tasks: an Indexed Job whose pods find index 0 for torchrun through a headless Service
that publishes only this attempt's pods.
"""

from __future__ import annotations

from kuberun_operator.backends.kubernetes.manifests import (
    build_headless_service,
)
from kuberun_operator.backends.kubernetes.objectnames import job_name
from tests.helpers.builders import make_experiment, make_task
from tests.helpers.manifests import EXP, container, env, job, pod_spec, valid


# --- multi-node ---------------------------------------------------------------------------------
def test_multi_node_job_wires_torchrun_to_index_zero_pod():
    built = job(make_task("train").nodes(4).torchrun(procs=8).gpus(8).obj(), attempt=2)
    name = "hello-x7k2p-train-2"
    assert built["spec"]["completionMode"] == "Indexed"
    assert built["spec"]["completions"] == built["spec"]["parallelism"] == 4
    assert pod_spec(built)["subdomain"] == name
    e = env(built)
    assert e["MASTER_ADDR"] == f"{name}-0.{name}"  # index 0's hostname '<job>-0' in the headless Service
    assert e["MASTER_PORT"] == "29400" and e["NNODES"] == "4" and e["NPROC_PER_NODE"] == "8"
    assert e["NODE_RANK"] == {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    assert container(built)["command"] == [
        "torchrun", "--nnodes", "4", "--nproc-per-node", "8", "--node-rank", "$(NODE_RANK)",
        "--master-addr", "$(MASTER_ADDR)", "--master-port", "$(MASTER_PORT)",
        "-m", "kuberun.runner", "--config", "/etc/kuberun/task/train.json"]


def test_multi_node_without_a_launcher_still_gets_the_wiring_env():
    built = job(make_task().nodes(2).obj())
    assert container(built)["command"][:3] == ["python", "-m", "kuberun.runner"]
    assert {"MASTER_ADDR", "MASTER_PORT", "NNODES", "NODE_RANK", "NPROC_PER_NODE"} <= set(env(built))


def test_single_node_torchrun_is_standalone():
    built = job(make_task("train").torchrun(procs=4).obj())
    assert container(built)["command"] == ["torchrun", "--standalone", "--nproc-per-node", "4",
                                           "-m", "kuberun.runner", "--config", "/etc/kuberun/task/train.json"]
    assert "MASTER_ADDR" not in env(built)


def test_headless_service_publishes_only_this_attempts_pods_before_they_are_ready():
    service = valid(build_headless_service(EXP, make_task("train").nodes(2).obj(), 2))
    assert service["metadata"]["name"] == job_name(EXP, "train", 2)
    assert service["metadata"]["ownerReferences"][0]["uid"] == EXP.uid
    assert service["spec"] == {
        "clusterIP": "None", "publishNotReadyAddresses": True,
        "selector": {"kuberun.dev/experiment": "hello-x7k2p", "kuberun.dev/task": "train", "kuberun.dev/attempt": "2"}}
    pod_labels = job(make_task("train").nodes(2).obj(), attempt=2)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_single_node_tasks_need_no_service():
    assert build_headless_service(EXP, make_task().obj(), 1) is None


def test_service_name_starts_with_a_letter_even_when_the_job_name_does_not():
    exp = make_experiment("2026-sweep-abcde").obj()
    task = make_task("train").nodes(2).obj()
    service = valid(build_headless_service(exp, task, 1))
    assert service["metadata"]["name"][0].isalpha()
    built = job(task, exp=exp)
    assert pod_spec(built)["subdomain"] == service["metadata"]["name"]
    assert env(built)["MASTER_ADDR"] == f"2026-sweep-abcde-train-1-0.{service['metadata']['name']}"
