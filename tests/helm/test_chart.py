"""The Helm chart, rendered by the real helm binary: lint, Kubernetes schemas, RBAC, security."""

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
    one,
    operator_workload,
    render,
    values_args,
)
from tests.helm.rbac import granted, granted_by_scope

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")

KUBERNETES_VERSION = "1.32.0"
# Kinds that kubernetes-validate cannot know: they come from CRDs (Prometheus Operator, kopf).
CRD_GROUPS = {"monitoring.coreos.com", "kopf.dev"}
NAMESPACED_RESOURCES = {"experiments", "experiments/status", "jobs", "configmaps", "services", "pods",
                        "pods/log", "events", "kopfpeerings"}
TEAMS = ["team-a", "team-b"]


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (c,) = operator_workload(objs)["spec"]["template"]["spec"]["containers"]
    return c


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


# The one Role that is not the operator's: every authenticated user may read the endpoints ConfigMap.
ENDPOINTS_READER = "kuberun-endpoints-reader"


def _operator_namespaced(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in of_kind(objs, kind) if o["metadata"]["name"] != ENDPOINTS_READER]


def test_cluster_wide_mode_grants_the_operator_rules_through_one_cluster_role() -> None:
    objs = render()
    assert not _operator_namespaced(objs, "Role") and not _operator_namespaced(objs, "RoleBinding")
    assert list(granted_by_scope()) == [None]
    grants = granted()
    for needed in [("kuberun.dev", "experiments", "watch"), ("kuberun.dev", "experiments/status", "patch"),
                   ("batch", "jobs", "create"), ("", "pods", "list"), ("", "events", "create"),
                   ("apiextensions.k8s.io", "customresourcedefinitions", "watch")]:
        assert needed in grants
    assert not any("*" in grant for grant in grants)


def test_namespaced_mode_grants_roles_only_in_the_listed_namespaces() -> None:
    objs = render(values={"watchNamespaces": TEAMS})
    assert sorted(r["metadata"]["namespace"] for r in _operator_namespaced(objs, "Role")) == TEAMS
    assert sorted(b["metadata"]["namespace"] for b in _operator_namespaced(objs, "RoleBinding")) == TEAMS
    scopes = granted_by_scope(values={"watchNamespaces": TEAMS})
    assert set(scopes) == {None, *TEAMS}
    assert ("batch", "jobs", "create") in scopes["team-a"]
    assert ("batch", "jobs", "create") not in scopes[None]


@pytest.mark.parametrize("variant", ["namespaced", "ha-namespaced"])
def test_namespaced_mode_has_no_cluster_role_on_namespaced_resources(variant: str) -> None:
    for role in of_kind(render(variant), "ClusterRole"):
        if any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in role["metadata"]["labels"]):
            continue  # the users' roles, bound per namespace through edit/view (test_user_rbac.py)
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert not resources & NAMESPACED_RESOURCES, f"ClusterRole grants namespaced {resources & NAMESPACED_RESOURCES}"
        assert resources <= {"customresourcedefinitions", "namespaces"}


def test_both_modes_grant_the_same_namespaced_rules() -> None:
    cluster = granted_by_scope()[None]
    namespaced = granted_by_scope(values={"watchNamespaces": TEAMS})
    # Cluster-scoped in both modes: kopf's CRD watch, and the record server's reviews (non-namespaced kinds).
    cluster_only = {g for g in cluster if g[1] in ("customresourcedefinitions", "tokenreviews", "subjectaccessreviews")}
    assert namespaced["team-a"] == namespaced["team-b"] == cluster - cluster_only


def test_peering_rules_exist_only_when_peering_is_enabled() -> None:
    def peering(grants: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        return {g for g in grants if g[0] == "kopf.dev"}

    assert not peering(granted()) and not peering(granted("namespaced"))
    assert {g[1] for g in peering(granted("ha"))} == {"clusterkopfpeerings"}
    scopes = granted_by_scope("ha-namespaced")
    assert not peering(scopes[None])
    assert all({g[1] for g in peering(scopes[ns])} == {"kopfpeerings"} for ns in TEAMS)


def test_configmap_verbs_are_adjusted_in_one_value() -> None:
    grants = granted(values={"rbac": {"create": True, "configMapVerbs": ["get", "create", "patch"]}})
    assert {v for g, r, v in grants if r == "configmaps"} == {"get", "create", "patch"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_operator_pod_runs_non_root_read_only_without_capabilities(variant: str) -> None:
    objs = render(variant)
    pod = operator_workload(objs)["spec"]["template"]["spec"]
    c = container(objs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp and {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_single_replica_is_a_recreate_deployment_so_two_operators_never_overlap() -> None:
    workload = operator_workload(render())
    assert workload["kind"] == "Deployment" and workload["spec"]["replicas"] == 1
    assert workload["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(a.startswith(("--peering", "--priority", "--namespace")) for a in container(render())["args"])


def test_ha_gives_every_replica_a_unique_priority_from_its_ordinal() -> None:
    objs = render("ha")
    workload = operator_workload(objs)
    assert workload["kind"] == "StatefulSet" and workload["spec"]["replicas"] == 2
    c = container(objs)
    assert "--peering=kuberun" in c["args"] and "--priority=-$(POD_INDEX)" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert one(objs, "ClusterKopfPeering")["metadata"]["name"] == "kuberun"


def test_namespaced_ha_creates_a_peering_object_in_each_namespace() -> None:
    objs = render("ha-namespaced")
    assert sorted(p["metadata"]["namespace"] for p in of_kind(objs, "KopfPeering")) == TEAMS
    assert not of_kind(objs, "ClusterKopfPeering")
    assert [a for a in container(objs)["args"] if a.startswith("--namespace")] == [f"--namespace={t}" for t in TEAMS]


def _expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in container args."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_args_are_accepted_by_the_operator_cli(variant: str) -> None:
    main = pytest.importorskip("kuberun_operator.__main__", reason="the operator CLI is not importable")
    c = container(render(variant))
    priorities = set()
    for ordinal in range(3):
        env = {"POD_INDEX": str(ordinal), "POD_ID": f"kr-kuberun-operator-{ordinal}"}
        settings = main.parse_args([_expand(a, env) for a in c["args"]])
        priorities.add(settings.priority)
        assert str(settings.config_file) == "/etc/kuberun/config.yaml"
    if any(a.startswith("--peering=") for a in c["args"]):
        assert priorities == {0, -1, -2}


def test_leader_election_runs_replicas_on_a_lease_in_the_release_namespace() -> None:
    objs = render("leader")
    workload = operator_workload(objs)
    assert workload["kind"] == "StatefulSet" and workload["spec"]["replicas"] == 2
    args = container(objs)["args"]
    assert "--leader-elect" in args and f"--lease-namespace={NAMESPACE}" in args
    assert not any(a.startswith(("--peering", "--shards")) for a in args)
    scopes = granted_by_scope("leader")
    assert scopes[NAMESPACE] == {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    assert not any(g[1] == "leases" for g in scopes[None]), "Leases only in the operator's own namespace"
    assert not any(g[1] == "leases" for g in granted()), "one replica needs no Lease"


def test_shards_give_each_pod_the_shard_of_its_ordinal() -> None:
    main = pytest.importorskip("kuberun_operator.__main__", reason="the operator CLI is not importable")
    c = container(render("shards"))
    owned = [main.parse_args([_expand(a, {"POD_ID": f"kr-kuberun-operator-{n}"}) for a in c["args"]]).shard_index
             for n in range(4)]
    assert owned == [0, 1, 0, 1]
    assert main.parse_args([_expand(a, {"POD_ID": "kr-kuberun-operator-0"}) for a in c["args"]]).api_qps == 100


@pytest.mark.parametrize(("values", "message"), [
    ({"shards": 2}, r"shards: 2 needs leaderElection\.enabled: true"),
    ({"shards": 3, "replicas": 2, "leaderElection": {"enabled": True, "leaseDurationSeconds": 15,
                                                     "renewDeadlineSeconds": 10, "retryPeriodSeconds": 2}},
     r"shards: 3 needs replicas >= 3"),
    ({"leaderElection": {"enabled": True, "leaseDurationSeconds": 10, "renewDeadlineSeconds": 10, "retryPeriodSeconds": 2}},
     "retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds"),
    ({"replicas": 2, "peering": {"enabled": True, "name": "k"}, "leaderElection": {
        "enabled": True, "leaseDurationSeconds": 15, "renewDeadlineSeconds": 10, "retryPeriodSeconds": 2}}, "choose one"),
], ids=["shards-without-election", "fewer-replicas-than-shards", "deadline-not-below-lease", "peering-and-election"])
def test_unsafe_election_values_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=message):
        render(values=values)


def test_metrics_service_and_service_monitor_scrape_the_metrics_port() -> None:
    objs = render("metrics")
    (svc,) = [s for s in of_kind(objs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container(objs)["ports"]
    monitor = one(objs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert not of_kind(render(), "ServiceMonitor")


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

    c = container(objs)
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


def test_statefulset_governing_service_exists_even_with_the_metrics_service_disabled() -> None:
    objs = render("ha", {"metrics": {"port": 8080, "service": {"enabled": False}}})
    workload = operator_workload(objs)
    assert workload["kind"] == "StatefulSet"
    services = {s["metadata"]["name"]: s for s in of_kind(objs, "Service")}
    governing = services.get(workload["spec"]["serviceName"])
    assert governing is not None, f"serviceName {workload['spec']['serviceName']} names no rendered Service"
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"] == workload["spec"]["selector"]["matchLabels"]


def test_two_replicas_get_a_disruption_budget_and_spread_over_nodes() -> None:
    objs = render("ha")
    pdb = one(objs, "PodDisruptionBudget")
    workload = operator_workload(objs)
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
    (term,) = workload["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    # A user's affinity replaces the default; one replica has neither a PDB nor a default affinity.
    mine = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}]}}}
    assert operator_workload(render("ha", {"affinity": mine}))["spec"]["template"]["spec"]["affinity"] == mine
    single = render()
    assert not of_kind(single, "PodDisruptionBudget")
    assert "affinity" not in operator_workload(single)["spec"]["template"]["spec"]


def test_metrics_network_policy_admits_only_the_listed_peers_on_the_metrics_port() -> None:
    assert not of_kind(render(), "NetworkPolicy")
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    objs = render(None, {"metrics": {"port": 8080, "networkPolicy": {"enabled": True, "from": peers}}})
    policy = one(objs, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == operator_workload(objs)["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == peers and rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    # Enabled with no peers: no ingress rule at all, so nobody reaches the port.
    closed = one(render(None, {"metrics": {"port": 8080, "networkPolicy": {"enabled": True}}}), "NetworkPolicy")
    assert not closed["spec"].get("ingress")


def test_record_server_is_exposed_with_review_rights_and_a_readable_endpoint() -> None:
    objs = render()
    (service,) = [s for s in of_kind(objs, "Service") if s["metadata"]["name"].endswith("-records")]
    assert service["spec"]["ports"][0]["targetPort"] == "records"
    (endpoints,) = [c for c in of_kind(objs, "ConfigMap") if c["metadata"]["name"] == "kuberun-endpoints"]
    assert endpoints["metadata"]["namespace"] == "kuberun-system"
    assert endpoints["data"]["recordServer"] == f"https://{service['metadata']['name']}.{NAMESPACE}.svc:8443"
    (binding,) = [b for b in of_kind(objs, "RoleBinding") if b["metadata"]["name"] == ENDPOINTS_READER]
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]
    (reader,) = [r for r in of_kind(objs, "Role") if r["metadata"]["name"] == ENDPOINTS_READER]
    assert reader["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kuberun-endpoints"],
                                "verbs": ["get"]}]
    grants = granted()
    assert {("authentication.k8s.io", "tokenreviews", "create"), ("authorization.k8s.io", "subjectaccessreviews", "create")} <= grants
    assert "--record-server-port=8443" in operator_workload(objs)["spec"]["template"]["spec"]["containers"][0]["args"]


def test_record_server_gets_a_certificate_of_its_own_for_the_service_names_and_publishes_its_ca() -> None:
    """No secretName: the chart's CA signs a certificate for the Service's in-cluster names; the operator
    serves it, and the endpoints ConfigMap carries the CA (public) that clients and pods verify with."""
    import base64

    from cryptography import x509

    objs = render()
    (service,) = [s for s in of_kind(objs, "Service") if s["metadata"]["name"].endswith("-records")]
    (secret,) = [s for s in of_kind(objs, "Secret") if s["metadata"]["name"].endswith("-records-tls")]
    assert secret["type"] == "kubernetes.io/tls" and secret["metadata"]["namespace"] == NAMESPACE
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    cert.verify_directly_issued_by(ca)  # raises unless the CA signed it
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert f"{service['metadata']['name']}.{NAMESPACE}.svc" in names
    (endpoints,) = [c for c in of_kind(objs, "ConfigMap") if c["metadata"]["name"] == "kuberun-endpoints"]
    assert endpoints["data"]["recordServerCA"] == base64.b64decode(secret["data"]["ca.crt"]).decode()
    pod = operator_workload(objs)["spec"]["template"]["spec"]
    assert "--record-server-tls-dir=/etc/kuberun/record-server-tls" in pod["containers"][0]["args"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "record-server-tls"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]


def test_record_server_tls_from_the_admins_secret_or_plain_http_when_asked() -> None:
    mine = render(values={"recordServer": {"tls": {"secretName": "records-cert", "caBundle": "PEM"}}})
    assert not [s for s in of_kind(mine, "Secret") if s["metadata"]["name"].endswith("-records-tls")]
    (volume,) = [v for v in operator_workload(mine)["spec"]["template"]["spec"]["volumes"] if v["name"] == "record-server-tls"]
    assert volume["secret"]["secretName"] == "records-cert"
    (endpoints,) = [c for c in of_kind(mine, "ConfigMap") if c["metadata"]["name"] == "kuberun-endpoints"]
    assert endpoints["data"]["recordServer"].startswith("https://") and endpoints["data"]["recordServerCA"] == "PEM"
    plain = render(values={"recordServer": {"tls": {"generate": False}}})
    assert not [s for s in of_kind(plain, "Secret") if "records" in s["metadata"]["name"]]
    (endpoints,) = [c for c in of_kind(plain, "ConfigMap") if c["metadata"]["name"] == "kuberun-endpoints"]
    assert endpoints["data"]["recordServer"].startswith("http://") and "recordServerCA" not in endpoints["data"]
    assert not [a for a in operator_workload(plain)["spec"]["template"]["spec"]["containers"][0]["args"] if "tls-dir" in a]


def test_record_server_off_renders_none_of_it() -> None:
    objs = render(values={"recordServer": {"enabled": False}})
    assert not [o for o in objs if "record" in o["metadata"]["name"] or o["metadata"]["name"] == "kuberun-endpoints"]
    assert ("authentication.k8s.io", "tokenreviews", "create") not in granted(values={"recordServer": {"enabled": False}})
