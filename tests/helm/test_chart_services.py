"""What the chart exposes: the metrics Service, ServiceMonitor and NetworkPolicy, and the record
server's Service, endpoints ConfigMap, certificate and review rights.
"""

from __future__ import annotations

import pytest

from tests.helm.chart import (
    ENDPOINTS_READER,
    HELM,
    NAMESPACE,
    of_kind,
    one,
    operator_container,
    operator_workload,
    render,
)
from tests.helm.rbac import granted

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")


def test_metrics_service_and_service_monitor_scrape_the_metrics_port() -> None:
    objs = render("metrics")
    (svc,) = [s for s in of_kind(objs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in operator_container(objs)["ports"]
    monitor = one(objs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert not of_kind(render(), "ServiceMonitor")


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
