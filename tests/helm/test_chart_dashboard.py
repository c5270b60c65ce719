"""The chart's in-cluster dashboard: off by default; when on, its own ServiceAccount may only create
TokenReviews (users' tokens are forwarded, so nothing else is granted — the sandbox test in
tests/ui/test_incluster.py applies these grants and shows they suffice), its pods are apart from
the operator's, and the Deployment's command line is one the real CLI accepts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.chart import HELM, NAMESPACE, VARIANTS, helm, of_kind, render, values_args
from tests.helm.rbac import granted_by_scope

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")

ON = {"dashboard": {"enabled": True}}
ACCOUNT = "kr-kuberun-dashboard"


def _dashboard(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "dashboard"]


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "dashboard"])
def test_off_by_default_in_every_variant(variant: str) -> None:
    assert _dashboard(render(variant)) == []


def test_on_it_renders_its_own_account_rbac_deployment_and_service() -> None:
    objs = _dashboard(render(values=ON))
    assert sorted(o["kind"] for o in objs) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"]
    (deploy,) = of_kind(objs, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == ACCOUNT  # not the operator's account
    (c,) = pod["containers"]
    assert c["command"] == ["kuberun", "ui", "--in-cluster"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "dashboard"}
    assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
    assert pod["securityContext"]["runAsNonRoot"]
    # a read-only root: temporary files (the record server's CA for the user's client) go to an emptyDir
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp"}
    assert {v["name"]: "emptyDir" in v for v in pod["volumes"]} == {"tmp": True}


def test_its_command_line_is_one_the_cli_accepts_and_listens_on_the_pod_ip_and_loopback_only() -> None:
    from kuberun.ui.cli import parser

    for values, namespaced in ((ON, False), ({"dashboard": {"enabled": True, "allNamespaces": False, "namespace": "ml"}}, True)):
        (deploy,) = of_kind(_dashboard(render(values=values)), "Deployment")
        (c,) = deploy["spec"]["template"]["spec"]["containers"]
        args = parser().parse_args(c["command"][2:] + c["args"])
        assert args.in_cluster and args.host == ["$(POD_IP)", "127.0.0.1"] and args.port == 8642
        assert (args.namespace, args.all_namespaces) == (("ml", False) if namespaced else (None, True))
        env = {e["name"]: e for e in c["env"]}
        assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_its_account_may_create_tokenreviews_and_nothing_else() -> None:
    assert granted_by_scope(values=ON, account=ACCOUNT) == {None: {("authentication.k8s.io", "tokenreviews", "create")}}
    # and the operator's grants are what they were without the dashboard
    assert granted_by_scope(values=ON) == granted_by_scope()


def test_the_service_selects_dashboard_pods_only_and_no_operator_service_selects_them() -> None:
    objs = render(values={**ON, "metrics": {"service": {"enabled": True}}})
    (deploy,) = of_kind(_dashboard(objs), "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    for svc in of_kind(objs, "Service"):
        selects = all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        is_dashboards = svc["metadata"]["name"] == ACCOUNT
        assert selects == is_dashboards, svc["metadata"]["name"]


def test_the_network_policy_admits_only_the_listed_peers_on_the_dashboard_port() -> None:
    assert of_kind(_dashboard(render(values=ON)), "NetworkPolicy") == []
    (policy,) = of_kind(_dashboard(render("dashboard")), "NetworkPolicy")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "dashboard", "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    closed = render(values={"dashboard": {"enabled": True, "networkPolicy": {"enabled": True}}})
    (shut,) = of_kind(_dashboard(closed), "NetworkPolicy")
    assert shut["spec"]["ingress"] == [] and shut["spec"]["policyTypes"] == ["Ingress"]


@pytest.mark.parametrize("bad", [{"dashboard": {"enabled": True, "port": 80}}, {"dashboard": {"typo": 1}},
                                 {"dashboard": {"namespace": "Not_A_Namespace"}}])
def test_bad_values_are_refused_by_the_schema(bad: dict[str, Any]) -> None:
    from tests.helm.chart import CHART, RELEASE, HelmError

    with pytest.raises(HelmError, match=r"schema|dashboard"):
        helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values_args(values=bad))


def test_lint_strict_passes_with_the_dashboard_on() -> None:
    from tests.helm.chart import CHART

    helm("lint", "--strict", str(CHART), *values_args("dashboard"))
