"""The Helm chart, rendered by the real helm binary: lint, Kubernetes schemas, the operator pod's
security, the values schema, and no secret ever rendered.

The chart's other concerns have modules of their own beside this one: RBAC (``test_chart_rbac``),
replicas and election (``test_chart_replicas``), Services and the record server (``test_chart_services``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helm.chart import (
    CHART,
    HELM,
    NAMESPACE,
    REPO,
    VARIANTS,
    HelmError,
    helm,
    of_kind,
    operator_container,
    operator_workload,
    render,
    values_args,
)

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")


KUBERNETES_VERSION = "1.32.0"


# Kinds that kubernetes-validate cannot know: they come from CRDs (Prometheus Operator, kopf).
CRD_GROUPS = {"monitoring.coreos.com", "kopf.dev"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint_strict_passes(variant: str) -> None:
    out = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, *values_args(variant))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_manifest_is_valid_kubernetes(variant: str) -> None:
    checked = 0
    for obj in render(variant, crds=True):
        if obj["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 8


def test_chart_crd_is_byte_identical_to_generated_crd() -> None:
    generated = (REPO / "crds" / "kuberun.dev_experiments.yaml").read_bytes()
    shipped = (CHART / "crds" / "kuberun.dev_experiments.yaml").read_bytes()
    assert shipped == generated, "helm/kuberun/crds/ drifted from crds/: run `make helm-crds`"


@pytest.mark.parametrize("variant", VARIANTS)
def test_operator_pod_runs_non_root_read_only_without_capabilities(variant: str) -> None:
    objs = render(variant)
    pod = operator_workload(objs)["spec"]["template"]["spec"]
    c = operator_container(objs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp and {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_backend_config_holds_settings_and_secret_file_paths_only() -> None:
    objs = render("backends")
    (config_map,) = [c for c in of_kind(objs, "ConfigMap") if "config.yaml" in (c.get("data") or {})]
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    dgx = config["slurm"]["clusters"][0]
    assert dgx["host"] == "login.dgx.example" and dgx["port"] == 2222
    assert dgx["sshKeyFile"] == "/etc/kuberun/secrets/slurm/dgx/id_ed25519"
    assert "sshSecretName" not in dgx
    assert config["lepton"]["workspaces"][0]["tokenFile"] == "/etc/kuberun/secrets/lepton/prod/token"
    assert config["skypilot"] == {"endpoint": "http://skypilot-api.skypilot.svc:46580",
                                  "tokenFile": "/etc/kuberun/secrets/skypilot/token",
                                  "allowedNamespaces": ["*"], "allowedClusters": ["team-a-*"],
                                  "allowedBuckets": ["s3://team-a-*"]}
    assert config["lepton"]["workspaces"][0]["allowedReservations"] == ["res-a"]
    assert set(config) == {"slurm", "lepton", "skypilot"}

    c = operator_container(objs)
    assert "--config=/etc/kuberun/config.yaml" in c["args"]
    assert "--default-image=registry.example/ml/task:2024.1" in c["args"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    files = [dgx["sshKeyFile"], dgx["knownHostsFile"], config["lepton"]["workspaces"][0]["tokenFile"],
             config["skypilot"]["tokenFile"]]
    for path in files:
        mount = mounts[path.rsplit("/", 1)[0]]
        assert mount["readOnly"] is True, path
    volumes = {v["name"]: v for v in operator_workload(objs)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["slurm-dgx"]["secret"]["secretName"] == "dgx-ssh"
    assert {i["key"] for i in volumes["slurm-dgx"]["secret"]["items"]} == {"id_ed25519", "known_hosts"}


def test_no_secret_value_is_ever_rendered() -> None:
    sentinel = "s3cr3t-must-not-appear"
    for values in ({"lepton": {"workspaces": [{"name": "p", "url": "https://x", "tokenSecretName": "t", "token": sentinel}]}},
                   {"skypilot": {"endpoint": "http://x", "token": sentinel}},
                   {"slurm": {"clusters": [{"name": "c", "host": "h", "user": "u", "workdir": "/w",
                                            "sshSecretName": "s", "privateKey": sentinel}]}}):
        with pytest.raises(HelmError, match="additional properties"):
            render(values=values)
    for variant in VARIANTS:
        objs = render(variant)
        # The chart references the admin's Secrets and never renders a value into one; the one Secret it
        # makes holds the record server's certificate and key, generated by helm itself (no value feeds it).
        made = of_kind(objs, "Secret")
        assert [(s["type"], s["metadata"]["name"].endswith("-records-tls")) for s in made] in ([], [("kubernetes.io/tls", True)])
        for cm in of_kind(objs, "ConfigMap"):
            assert not re.search(r"(?i)(BEGIN [A-Z ]*PRIVATE KEY|password|token:|secret:)", json.dumps(cm["data"]))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 2}, "at '/peering/enabled': value must be true"),
        ({"slurm": {"clusters": [{"name": "a", "user": "u", "workdir": "/w", "sshSecretName": "s"}]}},
         "at '/slurm/clusters/0': missing property 'host'"),
        ({"replicas": "two"}, "at '/replicas': got string, want integer"),
        ({"metrics": {"port": "8080"}}, "at '/metrics/port': got string, want integer"),
        ({"logLevel": "verbose"}, "at '/logLevel'"),
        ({"watchNamespaces": ["Team_A"]}, "at '/watchNamespaces/0'"),
        ({"slurm": {"clusters": [{"name": "a", "host": "h", "user": "u", "workdir": "rel", "sshSecretName": "s"}]}},
         "at '/slurm/clusters/0/workdir'"),
        ({"replica": 2}, "additional properties 'replica' not allowed"),
    ],
    ids=["replicas-without-peering", "slurm-without-host", "replicas-wrong-type", "port-wrong-type",
         "unknown-log-level", "bad-namespace", "relative-workdir", "typo-key"],
)
def test_values_schema_rejects_bad_values_with_a_readable_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError) as exc:
        render(values=values)
    assert "values don't meet the specifications of the schema" in str(exc.value)
    assert message in str(exc.value)


def test_without_schema_validation_the_templates_still_refuse_unsafe_values() -> None:
    with pytest.raises(HelmError, match=r"replicas: 2 needs peering\.enabled: true"):
        helm("template", "x", str(CHART), "--skip-schema-validation", "--set", "replicas=2")
    twice = [{"name": "a", "host": "h", "user": "u", "workdir": "/w", "sshSecretName": "s"}] * 2
    with pytest.raises(HelmError, match='the name "a" is used twice'):
        render(values={"slurm": {"clusters": twice}})


def test_notes_tell_the_user_what_to_run_next() -> None:
    out = helm("install", "kr", str(CHART), "--dry-run=client", "--namespace", NAMESPACE)
    notes = out.split("NOTES:", 1)[1]
    for step in ("kubectl get crd experiments.kuberun.dev", "kubectl apply -f", "kuberun list"):
        assert step in notes
