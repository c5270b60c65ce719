"""RBAC evaluated as kube-apiserver's RBAC authorizer does, over the objects stored in the emulator.

Roles, ClusterRoles, RoleBindings and ClusterRoleBindings are ordinary stored objects, read on
every decision (so a binding created by ``kubectl`` takes effect on the next request, as on a
cluster). The rules follow ``k8s.io/kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go``:

- a ClusterRoleBinding grants its role everywhere; a RoleBinding grants its Role or ClusterRole
  inside its own namespace only (so cluster-scoped requests see only ClusterRoleBindings);
- subjects: ``User`` by name, ``Group`` by membership, ``ServiceAccount`` as the user
  ``system:serviceaccount:<ns>:<name>`` (a subject without namespace takes the binding's);
- verbs/apiGroups/resources match exactly or by ``*``; ``*/status`` matches any resource's status
  subresource and ``*`` matches subresources too; non-empty ``resourceNames`` need a named request;
  ``nonResourceURLs`` match exactly or by a trailing ``*`` prefix;
- an aggregated ClusterRole (``aggregationRule``) has the rules of every ClusterRole its selectors
  match — evaluated at read time instead of by a controller writing them back, with the same result.

Only allow rules exist in RBAC, so "denied" means "no rule allowed it".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..store import Store
from . import selectors
from .attributes import Attributes
from .authn import UserInfo

G = "rbac.authorization.k8s.io"
Rule = dict[str, Any]


def _has(values: Iterable[str] | None, wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def _resource_matches(rule: Rule, attrs: Attributes) -> bool:
    combined = attrs.combined_resource
    for r in rule.get("resources") or []:
        if r in ("*", combined):
            return True
        if attrs.subresource and r == f"*/{attrs.subresource}":
            return True
    return False


def _url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    names = rule.get("resourceNames") or []
    return (_has(rule.get("apiGroups"), attrs.group) and _resource_matches(rule, attrs)
            and (not names or attrs.name in names))


def applies_to(subject: dict[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.username)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.username == f"system:serviceaccount:{namespace}:{name}"
    return False


class RBACAuthorizer:
    """Decides on ``Attributes`` for a ``UserInfo`` from the RBAC objects in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache_rv: int | None = None
        self._aggregated: dict[str, list[Rule]] = {}
        self._bound: dict[tuple[str, tuple[str, ...], str], list[tuple[dict[str, Any], str]]] = {}

    # --- role resolution -------------------------------------------------------------------
    def _cluster_role(self, name: str) -> dict[str, Any] | None:
        return self.store.get((G, "clusterroles", "", name))

    def cluster_role_rules(self, name: str) -> list[Rule]:
        """The rules of a ClusterRole with its aggregation resolved; memoised until the next write."""
        self._fresh()
        if name not in self._aggregated:
            self._aggregated[name] = self._resolve(name, frozenset())
        return self._aggregated[name]

    def _fresh(self) -> None:
        # Decisions read the stored objects; memos live until the next write of anything.
        rv = self.store.resource_version
        if rv != self._cache_rv:
            self._cache_rv, self._aggregated, self._bound = rv, {}, {}

    def _resolve(self, name: str, _seen: frozenset[str]) -> list[Rule]:
        role = self._cluster_role(name)
        if role is None or name in _seen:
            return []
        rules = list(role.get("rules") or [])
        aggregation = role.get("aggregationRule") or {}
        for selector in aggregation.get("clusterRoleSelectors") or []:
            for other in self.store.list_refs(G, "clusterroles", None):
                other_name = other["metadata"]["name"]
                if other_name != name and selectors.matches(selector, other["metadata"].get("labels")):
                    rules += [r for r in self._resolve(other_name, _seen | {name}) if r not in rules]
        return rules

    def _role_ref_rules(self, ref: dict[str, Any], namespace: str) -> list[Rule]:
        if ref.get("kind") == "ClusterRole":
            return self.cluster_role_rules(ref.get("name", ""))
        role = self.store.get((G, "roles", namespace, ref.get("name", "")))
        return list((role or {}).get("rules") or [])

    def _bindings(self, user: UserInfo, namespace: str) -> list[tuple[dict[str, Any], str]]:
        """(roleRef, where) of every binding naming ``user``: where is '' for cluster-wide."""
        self._fresh()
        key = (user.username, user.groups, namespace)
        if key not in self._bound:
            self._bound[key] = list(self._scan_bindings(user, namespace))
        return self._bound[key]

    def _scan_bindings(self, user: UserInfo, namespace: str) -> Iterator[tuple[dict[str, Any], str]]:
        for b in self.store.list_refs(G, "clusterrolebindings", None):
            if any(applies_to(s, user, "") for s in b.get("subjects") or []):
                yield b.get("roleRef") or {}, ""
        if namespace:
            for b in self.store.list_refs(G, "rolebindings", namespace):
                if any(applies_to(s, user, namespace) for s in b.get("subjects") or []):
                    yield b.get("roleRef") or {}, namespace

    # --- decisions -------------------------------------------------------------------------
    def authorize(self, user: UserInfo, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason) — the reason names the binding that allowed it, as the real one does."""
        namespace = attrs.namespace if attrs.resource_request else ""
        for ref, where in self._bindings(user, namespace):
            if any(rule_allows(r, attrs) for r in self._role_ref_rules(ref, where)):
                scope = f' in namespace "{where}"' if where else ""
                return True, f'RBAC: allowed by {"RoleBinding" if where else "ClusterRoleBinding"} of {ref.get("kind")} "{ref.get("name")}"{scope}'
        return False, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[Rule]]:
        """(resourceRules, nonResourceRules) the user has in ``namespace`` — SelfSubjectRulesReview."""
        resource: list[Rule] = []
        non_resource: list[Rule] = []
        for ref, where in self._bindings(user, namespace):
            for rule in self._role_ref_rules(ref, where):
                if rule.get("nonResourceURLs"):
                    entry = {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
                    if entry not in non_resource:
                        non_resource.append(entry)
                else:
                    entry = {k: rule[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if rule.get(k)}
                    if entry not in resource:
                        resource.append(entry)
        return resource, non_resource
