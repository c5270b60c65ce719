"""Run the operator as the chart's ServiceAccount, with the chart's rendered RBAC applied to a sandbox
API server: a rule the chart lacks is then a 403 the operator meets (RBAC enforced, not compared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _apply(create: Any, replace: Any, obj: dict[str, Any]) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        create(obj)
    except ApiException as exc:
        if exc.status != 409:
            raise
        replace(obj["metadata"]["name"], obj)


def as_chart_service_account(server: Any, api: Any, tmp_path: Path, values: dict[str, Any] | None = None) -> Path:
    """Apply the chart's ClusterRoles and bindings (rendered with ``values``); a kubeconfig for its
    ServiceAccount (a token of its own)."""
    from kubernetes import client

    from kuberun_sandbox.apiserver.auth import service_account
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.helm.chart import NAMESPACE, operator_workload, render

    objs = render(values=values)
    rbac = client.RbacAuthorizationV1Api(api)
    for obj in objs:  # applied: the sandbox bootstraps the same aggregate roles the chart ships
        if obj["kind"] == "ClusterRole":
            _apply(rbac.create_cluster_role, rbac.replace_cluster_role, obj)
        elif obj["kind"] == "ClusterRoleBinding":
            _apply(rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding, obj)
    account = operator_workload(objs)["spec"]["template"]["spec"]["serviceAccountName"]
    user, groups = service_account(NAMESPACE, account)
    return write_kubeconfig(tmp_path / "operator", server.url, user=user, token=server.auth.mint(user, groups))
