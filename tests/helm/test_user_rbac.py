"""The chart's user-facing RBAC (#13 item 4 of the tenants stream): only aggregate-to-edit/view roles.

Tenants get experiments through the default ``edit``/``view`` ClusterRoles bound per namespace;
the chart ships no other ClusterRole for people, none of them may write ``experiments/status``
(the record), and the sandbox bootstraps exactly the same roles, so what tests learn on the
sandbox holds for an installed chart.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helm.chart import HELM, render

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def _user_roles(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    bound = {o["roleRef"]["name"] for o in objs if o["kind"] in ("RoleBinding", "ClusterRoleBinding")}
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRole" and o["metadata"]["name"] not in bound}


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def test_the_only_user_cluster_roles_aggregate_into_edit_and_view_and_none_writes_the_record():
    roles = _user_roles(render())
    assert sorted(roles) == ["kuberun:aggregate-to-edit", "kuberun:aggregate-to-view"]
    for role in roles.values():
        labels = {k for k, v in role["metadata"]["labels"].items() if k.startswith(AGGREGATE) and v == "true"}
        assert labels and labels <= {f"{AGGREGATE}edit", f"{AGGREGATE}view", f"{AGGREGATE}admin"}
        writes = {v for (_, r, v) in _rules(role) if r == "experiments/status"} - {"get", "list", "watch"}
        assert writes == set(), role["metadata"]["name"]


def test_the_roles_can_be_left_out_and_the_sandbox_bootstraps_the_same_ones():
    assert _user_roles(render(values={"rbac": {"aggregateToDefaultRoles": False}})) == {}
    from importlib import resources

    text = resources.files("kuberun_sandbox.apiserver.auth").joinpath("data/bootstrap-rbac.yaml").read_text()
    sandbox = {o["metadata"]["name"]: o for o in yaml.safe_load(text) if o["metadata"]["name"].startswith("kuberun:aggregate")}
    chart = _user_roles(render())
    assert {n: _rules(r) for n, r in chart.items()} == {n: _rules(r) for n, r in sandbox.items()}
    for name, role in chart.items():
        aggregate = {k: v for k, v in role["metadata"]["labels"].items() if k.startswith(AGGREGATE)}
        assert aggregate == sandbox[name]["metadata"]["labels"]
