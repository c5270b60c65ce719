"""What the chart grants the operator in each mode (cluster-wide, namespaced, peering), rendered by
the real helm binary: rules only where they are needed, and the same rules in either mode.
"""

from __future__ import annotations

import pytest

from tests.helm.chart import ENDPOINTS_READER, HELM, TEAMS, of_kind, render
from tests.helm.rbac import granted, granted_by_scope

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")


NAMESPACED_RESOURCES = {"experiments", "experiments/status", "jobs", "configmaps", "services", "pods",
                        "pods/log", "events", "kopfpeerings"}


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
