"""What the chart's RBAC grants the operator, in a form to compare with observed API requests.

``granted()`` renders the chart and returns every (apiGroup, resource, verb) triple bound to the
operator's ServiceAccount; ``granted_by_scope()`` keeps where each grant applies (``None`` for
cluster-wide, else the namespace). Wildcards are kept literally ("*") so that a test comparing
with observed requests notices them instead of silently matching everything.

    >>> ("batch", "jobs", "create") in granted()
    True
"""

from __future__ import annotations

from typing import Any

from tests.helm.chart import NAMESPACE, operator_workload, render

Grant = tuple[str, str, str]  # (apiGroup, resource, verb); core group is ""


def _rules(role: dict[str, Any]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in role.get("rules") or []
        for group in rule.get("apiGroups", [""])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def _binds_operator(binding: dict[str, Any], service_account: str) -> bool:
    return any(
        s["kind"] == "ServiceAccount" and s["name"] == service_account and s.get("namespace") == NAMESPACE
        for s in binding.get("subjects") or []
    )


# Built-in ClusterRoles the chart binds instead of rendering (their rules as every cluster bootstraps them).
BUILTIN_CLUSTER_ROLES = {
    "system:auth-delegator": {"rules": [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}]},
}


def granted_by_scope(variant: str | None = None, values: dict[str, Any] | None = None,
                     account: str | None = None) -> dict[str | None, set[Grant]]:
    """Grants per scope: ``None`` for ClusterRoles (every namespace), else the Role's namespace.

    ``account``: another of the chart's ServiceAccounts (in the release namespace) than the operator's.
    """
    objs = render(variant, values)
    account = account or operator_workload(objs)["spec"]["template"]["spec"]["serviceAccountName"]
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objs if o["kind"] in ("Role", "ClusterRole")}
    roles.update({("ClusterRole", None, name): role for name, role in BUILTIN_CLUSTER_ROLES.items()})
    scopes: dict[str | None, set[Grant]] = {}
    for binding in objs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding") or not _binds_operator(binding, account):
            continue
        ref = binding["roleRef"]
        ns = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles[(ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"])]
        scopes.setdefault(ns, set()).update(_rules(role))
    return scopes


def granted(variant: str | None = None, values: dict[str, Any] | None = None) -> set[Grant]:
    """Every (apiGroup, resource, verb) the operator may use somewhere."""
    return set().union(*granted_by_scope(variant, values).values())
