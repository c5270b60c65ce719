"""How the chart runs more than one operator: a Recreate Deployment for one, a StatefulSet with
peering priorities, leader election or shards for more; unsafe combinations refused at render.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helm.chart import (
    HELM,
    NAMESPACE,
    TEAMS,
    VARIANTS,
    HelmError,
    of_kind,
    one,
    operator_container,
    operator_workload,
    render,
)
from tests.helm.rbac import granted, granted_by_scope

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} is missing: run .ci/install-helm.sh (CI does)")


def test_single_replica_is_a_recreate_deployment_so_two_operators_never_overlap() -> None:
    workload = operator_workload(render())
    assert workload["kind"] == "Deployment" and workload["spec"]["replicas"] == 1
    assert workload["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(a.startswith(("--peering", "--priority", "--namespace")) for a in operator_container(render())["args"])


def test_ha_gives_every_replica_a_unique_priority_from_its_ordinal() -> None:
    objs = render("ha")
    workload = operator_workload(objs)
    assert workload["kind"] == "StatefulSet" and workload["spec"]["replicas"] == 2
    c = operator_container(objs)
    assert "--peering=kuberun" in c["args"] and "--priority=-$(POD_INDEX)" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert one(objs, "ClusterKopfPeering")["metadata"]["name"] == "kuberun"


def test_namespaced_ha_creates_a_peering_object_in_each_namespace() -> None:
    objs = render("ha-namespaced")
    assert sorted(p["metadata"]["namespace"] for p in of_kind(objs, "KopfPeering")) == TEAMS
    assert not of_kind(objs, "ClusterKopfPeering")
    assert [a for a in operator_container(objs)["args"] if a.startswith("--namespace")] == [f"--namespace={t}" for t in TEAMS]


def _expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in container args."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_args_are_accepted_by_the_operator_cli(variant: str) -> None:
    main = pytest.importorskip("kuberun_operator.__main__", reason="the operator CLI is not importable")
    c = operator_container(render(variant))
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
    args = operator_container(objs)["args"]
    assert "--leader-elect" in args and f"--lease-namespace={NAMESPACE}" in args
    assert not any(a.startswith(("--peering", "--shards")) for a in args)
    scopes = granted_by_scope("leader")
    assert scopes[NAMESPACE] == {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    assert not any(g[1] == "leases" for g in scopes[None]), "Leases only in the operator's own namespace"
    assert not any(g[1] == "leases" for g in granted()), "one replica needs no Lease"


def test_shards_give_each_pod_the_shard_of_its_ordinal() -> None:
    main = pytest.importorskip("kuberun_operator.__main__", reason="the operator CLI is not importable")
    c = operator_container(render("shards"))
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
