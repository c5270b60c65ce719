"""The chart's tenancy values (docs/tenancy.md): per-namespace Slurm identities and namespace selectors.

Rendered with the real ``helm template``; the config is loaded by the operator's own model, and
the RBAC is read back as the grants bound to the operator's ServiceAccount.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from kuberun_operator.backend_config import BackendConfig
from tests.helm.chart import HELM, HelmError, of_kind, operator_workload, render
from tests.helm.rbac import granted_by_scope

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm is installed by .ci/install-helm.sh")

CLUSTER = {"name": "dgx", "host": "login", "user": "svc", "workdir": "/w", "sshSecretName": "dgx-ssh",
           "allowedNamespaces": ["team-a", "team-b"]}


def config_of(objs: list[dict[str, Any]]) -> BackendConfig:
    (config_map,) = [c for c in of_kind(objs, "ConfigMap") if "config.yaml" in (c.get("data") or {})]
    return BackendConfig.model_validate(yaml.safe_load(config_map["data"]["config.yaml"]) or {})


def pod_spec(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return operator_workload(objs)["spec"]["template"]["spec"]


def test_each_identity_gets_its_key_secret_mounted_read_only_0400_at_the_path_the_config_names():
    objs = render("backends")
    (dgx, eos) = config_of(objs).slurm.clusters
    assert set(dgx.identities) == {"team-a", "lab-vision-with-a-long-namespace-name-that-still-fits-in-sixty3"}
    team_a = dgx.identities["team-a"]
    assert (team_a.user, team_a.workdir) == ("team-a-svc", "/lustre/team-a/kuberun")
    assert dgx.identities["lab-vision-with-a-long-namespace-name-that-still-fits-in-sixty3"].workdir is None
    assert eos.identities == {}

    spec = pod_spec(objs)
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    secrets = {"team-a": "dgx-team-a-ssh", "lab-vision-with-a-long-namespace-name-that-still-fits-in-sixty3": "dgx-vision-ssh"}
    for namespace, identity in dgx.identities.items():
        mount = mounts[os.path.dirname(str(identity.ssh_key_file))]
        assert mount["readOnly"] is True and os.path.basename(str(identity.ssh_key_file)) == "id_ed25519"
        volume = volumes[mount["name"]]["secret"]
        assert volume["secretName"] == secrets[namespace]
        assert volume["defaultMode"] == 0o400 and volume["items"] == [{"key": "id_ed25519", "path": "id_ed25519"}]
        assert len(mount["name"]) <= 63
    # Every key lives in its own mount, none shared with the cluster's own key or another namespace's.
    keys = [str(i.ssh_key_file) for i in dgx.identities.values()] + [str(dgx.ssh_key_file)]
    assert len({os.path.dirname(k) for k in keys}) == 3
    assert len({m["name"] for m in container["volumeMounts"]}) == len(container["volumeMounts"])


BAD_IDENTITIES = {
    "namespace not a DNS label": ({"Team_A": {"user": "u", "sshSecretName": "s"}}, "invalid propertyName 'Team_A'"),
    "no key Secret": ({"team-a": {"user": "u"}}, "missing property 'sshSecretName'"),
    "a key as a value": ({"team-a": {"user": "u", "sshSecretName": "s", "privateKey": "x"}}, "additional properties 'privateKey'"),
    "relative workdir": ({"team-a": {"user": "u", "sshSecretName": "s", "workdir": "jobs"}}, "/identities/team-a/workdir"),
}


@pytest.mark.parametrize(("identities", "message"), BAD_IDENTITIES.values(), ids=BAD_IDENTITIES.keys())
def test_identity_values_are_checked_by_the_schema(identities, message):
    with pytest.raises(HelmError, match="values don't meet the specifications of the schema") as caught:
        render(values={"slurm": {"clusters": [{**CLUSTER, "identities": identities}]}})
    assert message in str(caught.value)


def namespace_verbs(values: dict[str, Any], variant: str | None = None) -> set[str]:
    grants = granted_by_scope(variant, values)
    return {verb for scope in grants.values() for (group, resource, verb) in scope if (group, resource) == ("", "namespaces")}


SELECTOR = {"matchLabels": {"kuberun.dev/dgx": "granted"}}
NAMESPACE_GRANTS = {
    "no backends": ({}, set()),
    "names only": ({"slurm": {"clusters": [CLUSTER]}}, set()),
    "slurm selector": ({"slurm": {"clusters": [{**CLUSTER, "allowedNamespaceSelector": SELECTOR}]}}, {"get"}),
    "lepton selector": ({"lepton": {"workspaces": [{"name": "p", "url": "https://l", "tokenSecretName": "t",
                                                   "allowedNamespaceSelector": SELECTOR}]}}, {"get"}),
    "skypilot selector": ({"skypilot": {"endpoint": "http://s", "allowedNamespaceSelector": SELECTOR}}, {"get"}),
    "skypilot selector, no endpoint": ({"skypilot": {"endpoint": "", "allowedNamespaceSelector": SELECTOR}}, set()),
    "namespaced mode, names only": ({"watchNamespaces": ["team-a"], "slurm": {"clusters": [CLUSTER]}}, {"list", "watch"}),
    "namespaced mode, selector": ({"watchNamespaces": ["team-a"],
                                   "slurm": {"clusters": [{**CLUSTER, "allowedNamespaceSelector": SELECTOR}]}},
                                  {"get", "list", "watch"}),
}


@pytest.mark.parametrize(("values", "verbs"), NAMESPACE_GRANTS.values(), ids=NAMESPACE_GRANTS.keys())
def test_the_operator_may_read_namespaces_only_when_a_backend_grants_by_selector(values, verbs):
    assert namespace_verbs(values) == verbs


def test_the_selector_reaches_the_operator_config_as_written():
    config = config_of(render("backends"))
    eos = config.slurm.clusters[1]
    assert eos.allowed_namespace_selector is not None and eos.allowed_namespaces == []
    assert eos.allowed_namespace_selector.matches({"kuberun.dev/eos": "granted", "tier": "prod"})
    assert not eos.allowed_namespace_selector.matches({"kuberun.dev/eos": "granted", "tier": "sandbox"})
    sky = config_of(render(values={"skypilot": {"endpoint": "http://s", "allowedNamespaceSelector": SELECTOR}})).skypilot
    assert sky is not None and sky.allowed_namespace_selector is not None
    assert sky.allowed_namespace_selector.match_labels == {"kuberun.dev/dgx": "granted"}


def test_the_label_cache_time_reaches_the_operator_config_and_is_bounded_by_the_schema():
    assert config_of(render()).namespace_label_cache_seconds == 5.0  # unset: the operator's default
    assert config_of(render(values={"namespaceLabelCacheSeconds": 0})).namespace_label_cache_seconds == 0
    assert config_of(render(values={"namespaceLabelCacheSeconds": 30})).namespace_label_cache_seconds == 30
    for wrong in (-1, 301, "5s"):
        with pytest.raises(HelmError, match="values don't meet the specifications of the schema"):
            render(values={"namespaceLabelCacheSeconds": wrong})


def test_the_admission_cache_time_reaches_the_operator_and_is_bounded_by_the_schema():
    from kuberun_operator.__main__ import parse_args

    def seconds(**values: Any) -> float:
        args = operator_workload(render(values=values))["spec"]["template"]["spec"]["containers"][0]["args"]
        return parse_args([a for a in args if "$(" not in a]).admission_cache_seconds

    assert seconds() == 5.0 and seconds(admissionCacheSeconds=0) == 0 and seconds(admissionCacheSeconds=30) == 30
    for wrong in (-1, 301, "5s"):
        with pytest.raises(HelmError, match="values don't meet the specifications of the schema"):
            render(values={"admissionCacheSeconds": wrong})


@pytest.mark.parametrize("selector", [{}, {"matchExpressions": [{"key": "k", "operator": "Gt"}]}, {"matchLabel": {"a": "b"}}],
                         ids=["empty-grants-all", "unknown-operator", "typo"])
def test_a_selector_that_would_grant_everyone_or_is_malformed_is_refused(selector):
    with pytest.raises(HelmError, match="values don't meet the specifications of the schema"):
        render(values={"slurm": {"clusters": [{**CLUSTER, "allowedNamespaceSelector": selector}]}})
