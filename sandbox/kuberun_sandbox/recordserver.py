"""The sandbox's record server: the operator's log and archive endpoint, set up as the chart sets it up.

A sandbox has an archive (SQLite in the data directory) and a directory log store, and serves them
through the operator's record server (``kuberun_operator.server``) on 127.0.0.1 with TLS from a CA
of its own. As in the chart: the operator's ServiceAccount is bound to ``system:auth-delegator``
(TokenReview/SubjectAccessReview), and the server's URL and CA are published in the ConfigMap
``kuberun-system/kuberun-endpoints``, which a Role lets every authenticated user read — so the CLI
finds the server with nothing but a kubeconfig.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

from kuberun.resource import recordserver as contract

from .rest import KubeError

log = logging.getLogger("kuberun_sandbox")

RBAC = "rbac.authorization.k8s.io"
READER = "kuberun-endpoints-reader"
DELEGATOR_BINDING = "kuberun-record-server-auth-delegator"


async def grant(admin: Any, namespace: str, account: str) -> None:
    """The chart's record-server RBAC: auth-delegator for the operator, the endpoints ConfigMap for everyone."""
    await _apply(admin, f"/apis/{RBAC}/v1/clusterrolebindings", DELEGATOR_BINDING, {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": DELEGATOR_BINDING},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})
    await _ensure_namespace(admin, contract.ENDPOINTS_NAMESPACE)
    base = f"/apis/{RBAC}/v1/namespaces/{contract.ENDPOINTS_NAMESPACE}"
    await _apply(admin, f"{base}/roles", READER, {
        "apiVersion": f"{RBAC}/v1", "kind": "Role",
        "metadata": {"name": READER, "namespace": contract.ENDPOINTS_NAMESPACE},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [contract.ENDPOINTS_CONFIGMAP],
                   "verbs": ["get"]}]})
    await _apply(admin, f"{base}/rolebindings", READER, {
        "apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
        "metadata": {"name": READER, "namespace": contract.ENDPOINTS_NAMESPACE},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": READER},
        "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"}]})


async def publish(admin: Any, url: str, ca_pem: str | None) -> None:
    """Write the server's URL (and CA) into the endpoints ConfigMap."""
    data = {contract.KEY_URL: url, **({contract.KEY_CA: ca_pem} if ca_pem else {})}
    await _apply(admin, f"/api/v1/namespaces/{contract.ENDPOINTS_NAMESPACE}/configmaps", contract.ENDPOINTS_CONFIGMAP, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": contract.ENDPOINTS_CONFIGMAP, "namespace": contract.ENDPOINTS_NAMESPACE},
        "data": data}, replace=True)


async def start(admin: Any, operator_kubeconfig: pathlib.Path, data_dir: pathlib.Path, host: str,
                local_workdir: pathlib.Path, namespace: str, account: str, archive_url: str,
                store_dir: pathlib.Path) -> Any:
    """Grant, start the record server as the operator, publish it; returns the ``RecordServer``."""
    from kuberun_operator.connection import api_client
    from kuberun_operator.server import RecordServer, ServerConfig
    from kuberun_operator.settings import Settings

    from .apiserver.auth.tls import ServingCertificate

    await grant(admin, namespace, account)
    tls = ServingCertificate(data_dir / "record-server", host)
    store_dir.mkdir(parents=True, exist_ok=True)
    config = ServerConfig(host=host, port=0, tls_cert=tls.cert_file, tls_key=tls.key_file, archive_url=archive_url,
                          logstore_url=str(store_dir), local_workdir=local_workdir)
    server = await RecordServer.start(config, api_client(Settings(kubeconfig=operator_kubeconfig)))
    try:
        await publish(admin, server.url, tls.ca_pem)
    except BaseException:
        await server.stop()
        raise
    return server


async def _ensure_namespace(admin: Any, name: str) -> None:
    try:
        await admin.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except KubeError as exc:
        if exc.code != 409:
            raise


async def _apply(admin: Any, collection: str, name: str, obj: dict[str, Any], replace: bool = False) -> None:
    try:
        await admin.request("POST", collection, obj)
    except KubeError as exc:
        if exc.code != 409:
            raise
        if replace:
            await admin.request("PATCH", f"{collection}/{name}", {"data": obj["data"]},
                                content_type="application/merge-patch+json")
