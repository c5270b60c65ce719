"""Restricted-by-default task pods and the podTemplate merge (#13.6), checked against Pod Security itself.

The restricted checks come from the sandbox's Pod Security admission (a port of
k8s.io/pod-security-admission's checks), so "passes restricted" is asserted by the enforcer,
not by a copy of its rules here.
"""

from __future__ import annotations

from typing import Any

from kuberun_operator.backends.kubernetes import podtemplate
from kuberun_operator.backends.kubernetes.manifests import build_job
from kuberun_operator.settings import Settings
from kuberun_sandbox.apiserver.auth import podsecurity
from tests.helpers.builders import make_experiment, make_task
from tests.helpers.manifests import valid

EXP = make_experiment().obj()


def job(**executor: Any) -> dict[str, Any]:
    return valid(build_job(EXP, make_task().executor(**executor).obj(), 1, Settings()))


def restricted_violations(built: dict[str, Any]) -> list[str]:
    return podsecurity.violations("restricted", podtemplate.dry_run_pod(built))


def test_generated_pods_pass_restricted_with_no_securitycontext_written_by_the_user():
    for executor in ({}, {"nodes": 2, "launcher": "torchrun", "procs_per_node": 2}, {"gpus": 1, "env": {"A": "1"}}):
        built = job(**executor)
        assert restricted_violations(built) == []
        spec = built["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def test_a_named_service_account_gets_its_token_and_the_template_can_say_otherwise():
    assert job(service_account_name="trainer")["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    off = job(service_account_name="trainer", pod_template={"spec": {"automountServiceAccountToken": False}})
    assert off["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_first_class_pod_fields_land_on_the_pod_and_kuberun_labels_win():
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["h100"]}]}]}}}
    built = job(image_pull_secrets=["regcred"], affinity=affinity, pod_labels={"team": "a", "kuberun.dev/task": "spoof"},
                pod_annotations={"sidecar.istio.io/inject": "false"})
    template = built["spec"]["template"]
    assert template["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert template["spec"]["affinity"] == affinity
    assert template["metadata"]["labels"]["team"] == "a"
    assert template["metadata"]["labels"]["kuberun.dev/task"] == "train"  # selectors depend on ours
    annotations = dict(template["metadata"]["annotations"])
    annotations.pop("kuberun.dev/task-document")  # the runner document travels in the Job (documents.py)
    assert annotations == {"sidecar.istio.io/inject": "false"}


def test_pod_template_merges_maps_and_named_lists_and_replaces_the_rest():
    built = job(env={"A": "1"}, tolerations=[{"key": "x", "operator": "Exists"}], pod_template={
        "metadata": {"labels": {"kuberun.dev/experiment": "other", "extra": "yes"}},
        "spec": {"securityContext": {"runAsUser": 1000, "fsGroup": 2000},
                 "tolerations": [{"key": "y", "operator": "Exists"}],
                 "containers": [{"name": "task", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
                                 "securityContext": {"readOnlyRootFilesystem": True}},
                                {"name": "sidecar", "image": "busybox"}]}})
    template = built["spec"]["template"]
    spec = template["spec"]
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                       "runAsUser": 1000, "fsGroup": 2000}
    assert spec["tolerations"] == [{"key": "y", "operator": "Exists"}]  # unnamed items: replaced
    task, sidecar = spec["containers"]
    assert (task["name"], sidecar["name"]) == ("task", "sidecar")
    assert task["command"][:3] == ["python", "-m", "kuberun.runner"]  # kept from the generated container
    env = {e["name"]: e.get("value") for e in task["env"]}
    assert env["A"] == "2" and env["B"] == "3" and env["KUBERUN_TASK"] == "train"
    assert task["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                       "readOnlyRootFilesystem": True}
    assert template["metadata"]["labels"]["kuberun.dev/experiment"] == "hello-x7k2p"
    assert template["metadata"]["labels"]["extra"] == "yes"
    # The sidecar the template added is not restricted by kuberun: the namespace decides.
    assert restricted_violations(built) and all("sidecar" in v for v in restricted_violations(built))


def test_a_template_that_loosens_the_defaults_is_what_the_namespace_then_judges():
    built = job(pod_template={"spec": {"containers": [{"name": "task", "securityContext": {
        "allowPrivilegeEscalation": True, "capabilities": {"add": ["NET_ADMIN"], "drop": []}}}]}})
    found = " ".join(restricted_violations(built))
    assert "allowPrivilegeEscalation != false" in found and "NET_ADMIN" in found


def test_merge_leaves_its_inputs_alone():
    base, override = {"a": {"b": [1]}, "l": [{"name": "x", "v": 1}]}, {"a": {"c": 2}, "l": [{"name": "x", "v": 2}]}
    merged = podtemplate.merge(base, override)
    assert merged == {"a": {"b": [1], "c": 2}, "l": [{"name": "x", "v": 2}]}
    assert base == {"a": {"b": [1]}, "l": [{"name": "x", "v": 1}]} and override["l"] == [{"name": "x", "v": 2}]
