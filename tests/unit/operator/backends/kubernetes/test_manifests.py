"""The Kubernetes backend's pure manifest builders: Job, headless Service and task ConfigMap from a spec.

Every built object is also checked against the real Kubernetes 1.32 JSON schemas (strict: no
unknown fields), so a typo in a field name fails here instead of on a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from kuberun import runner
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.kubernetes.manifests import (
    ExperimentRef,
    ManifestError,
    build_headless_service,
    build_job,
    job_name,
    task_config_map,
)
from kuberun_operator.settings import Settings
from tests.helpers.builders import make_experiment, make_task

SETTINGS = Settings(default_image="registry.example/kuberun-task:1", image_pull_policy="Always", torchrun_port=29400)
EXP = make_experiment().obj()
K8S_VERSION = "1.32.0"


def valid(obj: dict[str, Any]) -> dict[str, Any]:
    """The object, after checking it against the Kubernetes schema for its kind."""
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return obj


def job(task=None, exp: ExperimentRef = EXP, attempt: int = 1, **kw: Any) -> dict[str, Any]:
    return valid(build_job(exp, task or make_task().obj(), attempt, SETTINGS, **kw))


def pod_spec(built: dict[str, Any]) -> dict[str, Any]:
    return built["spec"]["template"]["spec"]


def container(built: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(built)["containers"]
    return only


def env(built: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(built)["env"]}


def kubelet_expand(text: str, variables: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion), to prove escaping."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(" and (end := text.find(")", i + 2)) != -1:
                name = text[i + 2:end]
                out.append(variables.get(name, f"$({name})"))
                i = end + 1
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


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


# --- resources, env, volumes, scheduling --------------------------------------------------------


def test_resources_request_what_they_limit_and_gpus_are_nvidia_gpus():
    c = container(job(make_task().executor(cpu=4, memory="16Gi").gpus(8).obj()))
    expected = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "8"}
    assert c["resources"] == {"requests": expected, "limits": expected}


def test_no_resources_are_set_when_none_are_asked_for():
    assert "resources" not in container(job())
    assert container(job(make_task().executor(memory="1Gi").obj()))["resources"]["limits"] == {"memory": "1Gi"}


def test_user_env_follows_ours_sorted_by_name():
    names = [e["name"] for e in container(job(make_task().env(ZETA="1", ALPHA="2", MID="3").obj()))["env"]]
    assert names == ["KUBERUN_EXPERIMENT", "KUBERUN_TASK", "KUBERUN_ATTEMPT", "KUBERUN_TASK_FILE", "KUBERUN_SUMMARY_FILE",
                     "KUBERUN_SUMMARY_LIMIT", "KUBERUN_METRICS_FILE", "KUBERUN_ARTIFACTS_DIR", "ALPHA", "MID", "ZETA"]


@pytest.mark.parametrize("name", ["KUBERUN_TASK", "KUBERUN_TASK_FILE", "KUBERUN_ANYTHING"])
def test_user_env_may_not_override_kuberun_variables(name: str):
    with pytest.raises(ManifestError) as caught:
        build_job(EXP, make_task().env(**{name: "mine"}).obj(), 1, SETTINGS)
    assert isinstance(caught.value, BackendError) and caught.value.permanent
    assert caught.value.reason == "ReservedEnvironmentVariable" and name in caught.value.message


def test_torchrun_variables_are_reserved_only_where_kuberun_sets_them():
    with pytest.raises(ManifestError, match="MASTER_ADDR"):
        build_job(EXP, make_task().nodes(2).env(MASTER_ADDR="elsewhere").obj(), 1, SETTINGS)
    assert env(job(make_task().env(MASTER_ADDR="elsewhere").obj()))["MASTER_ADDR"] == "elsewhere"


def test_user_strings_reach_the_container_verbatim_despite_kubelet_expansion():
    tricky = "pa$$word-$(HOME)-$x-$"
    built = job(make_task().env(SECRET=tricky).command("echo", tricky).obj())
    variables = {"HOME": "/root", **{k: v for k, v in env(built).items() if isinstance(v, str)}}
    assert kubelet_expand(env(built)["SECRET"], variables) == tricky
    assert [kubelet_expand(part, variables) for part in container(built)["command"]] == ["echo", tricky]


def test_secrets_become_env_from_secret_refs():
    c = container(job(make_task().executor(env_from_secrets=["wandb", "hf-token"]).obj()))
    assert c["envFrom"] == [{"secretRef": {"name": "wandb"}}, {"secretRef": {"name": "hf-token"}}]
    assert "envFrom" not in container(job())


def test_user_volumes_and_scheduling_fields_pass_through():
    built = job(make_task().executor(
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}}],
        volume_mounts=[{"name": "data", "mountPath": "/data", "readOnly": True}],
        node_selector={"nvidia.com/gpu.product": "H100"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        service_account_name="trainer", priority_class_name="high",
    ).obj())
    spec = pod_spec(built)
    assert spec["volumes"][-1] == {"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}}
    assert container(built)["volumeMounts"][-1] == {"name": "data", "mountPath": "/data", "readOnly": True}
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "H100"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["serviceAccountName"] == "trainer" and spec["priorityClassName"] == "high"
    assert not {"nodeSelector", "tolerations", "serviceAccountName", "priorityClassName"} & set(pod_spec(job()))


def test_pods_get_no_service_link_env_from_the_namespace():
    assert pod_spec(job())["enableServiceLinks"] is False


def test_a_task_without_a_kubernetes_executor_is_refused():
    with pytest.raises(ManifestError, match="no kubernetes executor"):
        build_job(EXP, make_task().backend("local").obj(), 1, SETTINGS)


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


# --- the task ConfigMap -------------------------------------------------------------------------


def test_task_config_map_holds_one_runner_document_per_task_owned_by_the_experiment():
    tasks = [make_task("prep").script(inline="echo hi", env={"A": "1"}).obj(), make_task("train").fiddle_inline().obj()]
    cm = valid(task_config_map(EXP, tasks))
    assert cm["metadata"]["name"] == "hello-x7k2p-tasks" and cm["immutable"] is True
    assert cm["metadata"]["ownerReferences"][0]["controller"] is True
    assert cm["metadata"]["labels"]["kuberun.dev/experiment"] == "hello-x7k2p"
    assert set(cm["data"]) == {"prep.json", "train.json"}
    assert json.loads(cm["data"]["prep.json"])["script"]["env"] == {"A": "1"}
    assert json.loads(cm["data"]["train.json"])["fiddle"]["data"] == tasks[1].fiddle.data


def test_task_document_in_the_config_map_is_what_the_runner_loads(tmp_path: Path):
    cm = task_config_map(EXP, [make_task("prep").script(command=["echo", "$(HOME) stays"]).obj()])
    path = tmp_path / "prep.json"
    path.write_text(cm["data"]["prep.json"])
    assert runner.load_task(path)["script"]["command"] == ["echo", "$(HOME) stays"]


def test_task_documents_too_large_for_one_config_map_fail_with_a_reason():
    tasks = [make_task(f"t{i}").script(inline="x" * 128 * 1024).obj() for i in range(9)]
    with pytest.raises(ManifestError) as caught:
        task_config_map(EXP, tasks)
    assert caught.value.reason == "TaskDocumentsTooLarge" and caught.value.permanent
    valid(task_config_map(EXP, tasks[:7]))


def test_chunked_configs_are_mounted_in_order_where_the_task_document_says():
    task = make_task("train").fiddle_chunks("hello-x7k2p-train-cfg-0", "hello-x7k2p-train-cfg-1").obj()
    document = json.loads(valid(task_config_map(EXP, [task]))["data"]["train.json"])
    built = job(task)
    mounts = {m["name"]: m["mountPath"] for m in container(built)["volumeMounts"]}
    volumes = {v["name"]: v.get("configMap") for v in pod_spec(built)["volumes"]}
    for i, cm_name in enumerate(["hello-x7k2p-train-cfg-0", "hello-x7k2p-train-cfg-1"]):
        assert volumes[f"kuberun-config-{i}"] == {"name": cm_name, "items": [{"key": "config", "path": "config"}]}
        assert document["fiddle"]["dataFiles"][i] == f"{mounts[f'kuberun-config-{i}']}/config"
    assert all(m["readOnly"] for m in container(built)["volumeMounts"] if m["name"] != "kuberun-outputs")


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
