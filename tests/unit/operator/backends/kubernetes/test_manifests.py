"""The Kubernetes backend's pure Job builder: a task's Job, its names, labels and owner, suspension
and Kueue; every variant a valid Kubernetes object.

Every built object is checked against the real Kubernetes 1.32 JSON schemas (strict: no unknown
fields, ``tests/helpers/manifests.py``), so a typo in a field name fails here instead of on a cluster.
The pod's contents are in ``test_manifests_pod``, multi-node wiring in ``test_manifests_multinode``,
the task ConfigMap in ``test_manifests_configmap``.
"""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from kuberun import runner
from kuberun_operator.backends.kubernetes.manifests import (
    build_headless_service,
    build_job,
    task_config_map,
)
from kuberun_operator.backends.kubernetes.objectnames import job_name
from tests.helpers.builders import make_experiment, make_task
from tests.helpers.manifests import EXP, SETTINGS, container, env, job, pod_spec, valid


# --- single-node Jobs ---------------------------------------------------------------------------
def test_single_node_job_runs_the_runner_on_its_mounted_task_file():
    built = job(make_task("train").obj())
    c = container(built)
    assert c["name"] == "task"
    assert c["command"] == ["python", "-m", "kuberun.runner", "--config", "/etc/kuberun/task/train.json"]
    assert env(built)["KUBERUN_TASK_FILE"] == "/etc/kuberun/task/train.json"
    assert {"name": "kuberun-task", "mountPath": "/etc/kuberun/task", "readOnly": True} in c["volumeMounts"]
    volume, outputs = pod_spec(built)["volumes"]
    # What the task leaves (metric series, artifacts) goes to an emptyDir; its summary to the termination message.
    assert outputs == {"name": "kuberun-outputs", "emptyDir": {}}
    assert c["terminationMessagePath"] == "/dev/termination-log"
    # A small document travels in the Job: the pod's own annotation, mounted by the downward API.
    field = "metadata.annotations['kuberun.dev/task-document']"
    assert volume["downwardAPI"] == {"items": [{"path": "train.json", "fieldRef": {"fieldPath": field}}]}
    document = built["spec"]["template"]["metadata"]["annotations"]["kuberun.dev/task-document"]
    assert json.loads(document) == runner.task_document(make_task("train").obj())


def test_a_document_too_large_for_the_job_is_mounted_from_the_experiments_config_map():
    task = make_task("train").script(inline="echo " + "x" * (40 * 1024)).obj()
    built = job(task)
    volume, _outputs = pod_spec(built)["volumes"]
    assert volume["configMap"] == {"name": "hello-x7k2p-tasks", "items": [{"key": "train.json", "path": "train.json"}]}
    assert "kuberun.dev/task-document" not in (built["spec"]["template"]["metadata"].get("annotations") or {})
    assert json.loads(valid(task_config_map(EXP, [task]))["data"]["train.json"]) == runner.task_document(task)
    assert built["spec"]["completions"] == built["spec"]["parallelism"] == 1
    assert "completionMode" not in built["spec"] and "subdomain" not in pod_spec(built)


def test_job_is_named_by_attempt_and_carries_the_kuberun_env():
    built = job(make_task("eval").obj(), attempt=3)
    assert built["metadata"]["name"] == job_name(EXP, "eval", 3) == "hello-x7k2p-eval-3"
    assert built["metadata"]["namespace"] == "team-a"
    assert {k: v for k, v in env(built).items() if k.startswith("KUBERUN_")} == {
        "KUBERUN_EXPERIMENT": "hello-x7k2p", "KUBERUN_TASK": "eval", "KUBERUN_ATTEMPT": "3",
        "KUBERUN_TASK_FILE": "/etc/kuberun/task/eval.json", "KUBERUN_SUMMARY_FILE": "/dev/termination-log",
        "KUBERUN_SUMMARY_LIMIT": "4096", "KUBERUN_METRICS_FILE": "/var/run/kuberun/outputs/metrics.jsonl",
        "KUBERUN_ARTIFACTS_DIR": "/var/run/kuberun/outputs/artifacts"}


def test_job_is_owned_by_the_experiment_so_deletion_cascades():
    (owner,) = job()["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "name": "hello-x7k2p",
                     "uid": EXP.uid, "controller": True, "blockOwnerDeletion": True}


def test_job_and_its_pods_are_labelled_with_experiment_task_attempt_and_title_slug():
    exp = make_experiment("sweep-abcde").title("Llama 3: LR sweep #2 (β)").obj()
    built = job(make_task("train").obj(), exp=exp, attempt=2)
    expected = {"kuberun.dev/experiment": "sweep-abcde", "kuberun.dev/task": "train", "kuberun.dev/attempt": "2",
                "kuberun.dev/title": "llama-3-lr-sweep-2", "app.kubernetes.io/managed-by": "kuberun"}
    assert built["metadata"]["labels"] == expected
    assert built["spec"]["template"]["metadata"]["labels"] == expected


def test_job_leaves_its_lifecycle_to_the_experiment():
    built = job(make_task().executor(backoff_limit=2, active_deadline_seconds=3600).obj())
    spec = built["spec"]
    assert "ttlSecondsAfterFinished" not in spec
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 3600
    assert pod_spec(built)["restartPolicy"] == "Never"
    assert "activeDeadlineSeconds" not in job()["spec"] and job()["spec"]["backoffLimit"] == 0


def test_image_and_pull_policy_default_to_the_operator_settings():
    assert container(job())["image"] == "registry.example/kuberun-task:1"
    assert container(job())["imagePullPolicy"] == "Always"
    assert container(job(make_task().image("nvcr.io/nvidia/pytorch:24.05-py3").obj()))["image"] == \
        "nvcr.io/nvidia/pytorch:24.05-py3"


def test_user_command_replaces_the_runner_and_still_gets_the_task_file_env():
    built = job(make_task().command("python", "train.py", "--fast").obj())
    assert container(built)["command"] == ["python", "train.py", "--fast"]
    assert env(built)["KUBERUN_TASK_FILE"] == "/etc/kuberun/task/train.json"


# --- names --------------------------------------------------------------------------------------
def test_long_names_are_shortened_with_a_hash_and_stay_unique():
    exp = make_experiment("a-very-long-experiment-name-that-someone-typed-by-hand-xyz12").obj()
    names = {job_name(exp, task, 1) for task in ("pretrain-with-a-long-task-name-a", "pretrain-with-a-long-task-name-b")}
    assert len(names) == 2
    for name in names:
        # the index-0 pod's hostname '<job>-1023' must remain a DNS label
        assert len(name) <= 58 and len(f"{name}-1023") <= 63
        assert name[0].isalnum() and name[-1].isalnum()
    assert job_name(exp, "pretrain-with-a-long-task-name-a", 1) in names  # deterministic
    assert job_name(exp, "t", 1) != job_name(exp, "t", 2)


def test_multi_node_pod_hostnames_fit_in_a_dns_label_even_for_long_names():
    exp = make_experiment("x" * 63).obj()
    built = job(make_task("t" * 63).nodes(1024).obj(), exp=exp)
    assert len(built["metadata"]["name"]) + len("-1023") <= 63
    assert len(env(built)["MASTER_ADDR"].split(".")[0]) <= 63


def test_experiment_names_longer_than_a_label_value_are_hashed_into_the_label():
    exp = make_experiment("e" * 200).obj()
    built = job(exp=exp)
    label = built["metadata"]["labels"]["kuberun.dev/experiment"]
    sibling = job(exp=make_experiment("e" * 199).obj())["metadata"]["labels"]["kuberun.dev/experiment"]
    assert len(label) <= 63 and label != sibling  # hashed, so names sharing a prefix stay apart
    assert env(built)["KUBERUN_EXPERIMENT"] == "e" * 200  # env has no length limit: the full name
    assert len(valid(task_config_map(exp, [make_task().obj()]))["metadata"]["name"]) <= 253


# --- suspension and Kueue ----------------------------------------------------------------------
def test_jobs_start_unsuspended_unless_asked():
    assert job()["spec"]["suspend"] is False
    assert job(suspend=True)["spec"]["suspend"] is True


def test_kueue_queue_sets_label_and_creates_suspended():
    built = job(make_task().queue("team-a-gpus").obj())
    assert built["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a-gpus"
    assert built["spec"]["suspend"] is True  # Kueue unsuspends it on admission
    assert "kueue.x-k8s.io/queue-name" not in built["spec"]["template"]["metadata"]["labels"]
    assert "kueue.x-k8s.io/queue-name" not in job()["metadata"]["labels"]


# --- every variant is a valid Kubernetes object --------------------------------------------------
VARIANTS = {
    "plain": make_task(),
    "everything": make_task().image("img:1").env(A="x").gpus(2).queue("q").executor(
        cpu="500m", memory="2Gi", env_from_secrets=["s"], node_selector={"k": "v"},
        tolerations=[{"key": "k", "operator": "Exists"}], service_account_name="sa",
        priority_class_name="p", active_deadline_seconds=60, backoff_limit=3),
    "multi-node-torchrun": make_task().nodes(8).torchrun(procs=8).gpus(8),
    "chunked-fiddle": make_task().fiddle_chunks("cfg-0", "cfg-1", "cfg-2"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_built_object_is_valid_against_the_kubernetes_schema(variant: str):
    task = VARIANTS[variant].obj()
    valid(build_job(EXP, task, 1, SETTINGS))
    valid(build_job(EXP, task, 1, SETTINGS, suspend=True))
    valid(task_config_map(EXP, [task]))
    service = build_headless_service(EXP, task, 1)
    if service is not None:
        valid(service)


def test_the_schema_check_catches_a_misspelled_field():
    broken = build_job(EXP, make_task().obj(), 1, SETTINGS)
    broken["spec"]["backofLimit"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        valid(broken)
