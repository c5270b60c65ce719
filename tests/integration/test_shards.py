"""Two shards: each replica reconciles only the Experiments whose UID hashes to its shard; when one
replica dies (SIGKILL), the other takes its shard's Lease over and reconciles those too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun_operator.leadership import shard_of
from tests.fixtures import tasks
from tests.helpers.jobs import list_jobs
from tests.helpers.operator import running_operator, wait_for
from tests.helpers.operator_process import operator_process
from tests.integration.test_leader_election import LEASE, LEASE_ARGS, holder

pytestmark = pytest.mark.usefixtures("crd")


def _submit(kubeconfig: Any, namespace: str) -> tuple[str, int]:
    exp = kr.Experiment("shard", namespace=namespace)
    exp.add(kr.Partial(tasks.add, a=1), name="t")
    created = exp.run(kubeconfig=str(kubeconfig))
    return created["metadata"]["name"], shard_of(created["metadata"]["uid"], 2)


def _submit_until(kubeconfig: Any, namespace: str, wanted: set[int], limit: int = 24) -> dict[str, int]:
    """Experiments until every shard in ``wanted`` has one (UIDs are random: bounded tries)."""
    made: dict[str, int] = {}
    while wanted - set(made.values()) and len(made) < limit:
        name, shard = _submit(kubeconfig, namespace)
        made[name] = shard
    assert not wanted - set(made.values()), f"no experiment hashed to {wanted} in {limit} tries"
    return made


def _writers(apiserver: Any, namespace: str, name: str) -> set[str]:
    """The replicas that wrote this Experiment's status."""
    return {r.user_agent.rsplit("(", 1)[-1].rstrip(")") for r in apiserver.request_log
            if r.namespace == namespace and r.name == name and r.resource == "experiments" and r.subresource == "status"
            and r.verb == "patch" and r.code == 200}


def test_two_shards_split_the_work_and_a_dead_shard_is_taken_over(kubeconfig, k8s_api_client, apiserver, namespace,
                                                                 tmp_path: Path):
    owner = {0: "shard-a", 1: "shard-b"}
    settings = dict(LEASE, leader_election=True, lease_namespace=namespace, shards=2)
    with running_operator(kubeconfig, identity="shard-a", shard_index=0, **settings):
        args = [*LEASE_ARGS, "--lease-namespace", namespace, "--shards", "2", "--shard-index", "1"]
        with operator_process(kubeconfig, tmp_path / "b.log", *args, "--identity", "shard-b") as b:
            for shard, who in owner.items():
                wait_for(lambda s=shard, w=who: holder(k8s_api_client, namespace, f"kuberun-operator-shard-{s}") == w,
                         60, f"{who} to own shard {shard}")
            made = _submit_until(kubeconfig, namespace, {0, 1})
            for name in made:
                wait_for(lambda n=name: _writers(apiserver, namespace, n), 30, f"a status for {name}")
            for name, shard in made.items():
                assert _writers(apiserver, namespace, name) == {owner[shard]}, f"{name} (shard {shard})"
                assert len(list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}")) == 1
            b.kill()
            b.wait(10)
        # shard-a is shard 1's fallback: it waits the lease duration and one more before taking it
        wait_for(lambda: holder(k8s_api_client, namespace, "kuberun-operator-shard-1") == "shard-a", 60,
                 "shard-a to take shard 1 over")
        later = _submit_until(kubeconfig, namespace, {1})
        orphan = next(n for n, s in later.items() if s == 1)
        wait_for(lambda: list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={orphan}"), 30,
                 "the surviving replica to run the dead shard's new experiment")
        wait_for(lambda: _writers(apiserver, namespace, orphan) == {"shard-a"}, 30, "its status by shard-a")
