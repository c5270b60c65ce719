"""What a task's pod gets from its executor: resources, env (ours reserved, the user's verbatim despite
the kubelet's expansion), Secrets, volumes and scheduling fields.
"""

from __future__ import annotations

import pytest

from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.kubernetes.manifests import (
    ManifestError,
    build_job,
)
from tests.helpers.builders import make_task
from tests.helpers.manifests import EXP, SETTINGS, container, env, job, pod_spec


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
