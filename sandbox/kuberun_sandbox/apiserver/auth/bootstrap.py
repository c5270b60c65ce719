"""The RBAC objects a cluster starts with, and the identities of the sandbox's own components.

``data/bootstrap-rbac.yaml`` holds kube-apiserver's default roles (cluster-admin, admin/edit/view
by aggregation, system:discovery, system:public-info-viewer, system:basic-user,
system:auth-delegator) and the sandbox node's role. ``data/operator-rbac.yaml`` is the operator's
rules as the Helm chart renders them by default (generated from the chart; a test keeps the two
equal), so the in-sandbox operator has exactly what an installed one has. ``data/submitter-policy.yaml``
is the chart's submitter ValidatingAdmissionPolicy, rendered the same way.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

import yaml

from ..resources import Registry
from ..store import Store
from ..versioning import prepare_create

RBAC = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
OPERATOR_NAMESPACE, OPERATOR_ACCOUNT = "kuberun-system", "kuberun"
OPERATOR_ROLE = "kuberun-sandbox:operator"


def data(name: str) -> Any:
    return yaml.safe_load(importlib.resources.files(__package__).joinpath("data", name).read_text())


def _put(store: Store, registry: Registry, api_version: str, kind: str, obj: dict[str, Any], autoupdate: bool) -> None:
    rt = registry.by_kind(api_version, kind)
    if rt is None:
        raise RuntimeError(f"{api_version} {kind} is not served")
    obj = {"apiVersion": api_version, "kind": kind, **obj}
    if autoupdate:
        obj["metadata"].setdefault("annotations", {})[AUTOUPDATE] = "true"
    key = (rt.group, rt.plural, obj["metadata"].get("namespace", "") if rt.namespaced else "", obj["metadata"]["name"])
    existing = store.get(key)
    if existing is not None:
        if (existing["metadata"].get("annotations") or {}).get(AUTOUPDATE) != "true":
            return  # an administrator took it over (autoupdate "false" or removed): leave it
        same = all(existing.get(k) == obj.get(k) for k in ("rules", "aggregationRule", "roleRef", "subjects", "spec"))
        if same:
            return
        obj["metadata"] = {**existing["metadata"], **obj["metadata"]}
        store.put(key, {**existing, **obj}, "MODIFIED")
        return
    store.put(key, prepare_create(rt, obj, obj["metadata"].get("namespace")), "ADDED")


def install_defaults(store: Store, registry: Registry) -> None:
    """Create (or reset, where autoupdate) the default roles and bindings and the node's role."""
    for obj in data("bootstrap-rbac.yaml"):
        kind = obj.pop("kind")
        _put(store, registry, f"{RBAC}/v1", kind, obj, autoupdate=True)


def install_operator_rbac(store: Store, registry: Registry, namespace: str = OPERATOR_NAMESPACE,
                          account: str = OPERATOR_ACCOUNT) -> None:
    """The chart's operator rules in a ClusterRole bound to the operator's ServiceAccount."""
    _put(store, registry, f"{RBAC}/v1", "ClusterRole", {"metadata": {"name": OPERATOR_ROLE},
                                                        "rules": data("operator-rbac.yaml")}, autoupdate=True)
    binding = {"metadata": {"name": OPERATOR_ROLE},
               "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": OPERATOR_ROLE},
               "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]}
    _put(store, registry, f"{RBAC}/v1", "ClusterRoleBinding", binding, autoupdate=True)


def install_submitter_policy(store: Store, registry: Registry) -> None:
    """The chart's ValidatingAdmissionPolicy (and binding): spec.submittedBy is the authenticated user."""
    for obj in data("submitter-policy.yaml"):
        api_version, kind = obj.pop("apiVersion"), obj.pop("kind")
        _put(store, registry, api_version, kind, obj, autoupdate=False)
