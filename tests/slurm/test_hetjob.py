"""Heterogeneous Slurm jobs on the real two-node harness: each component on its own node with its
own resources, a failing component failing the task, cancel ending every component.

The operator here is bridged to ``two_node_cluster`` (tests/slurm/twonode.py; ``two_node_operator``), not the one-node
cluster the other modules share: on one node Slurm never starts a het job (docs/slurm.md).
"""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from kuberun_operator.backends.base import BackendError
from tests.helpers.operator import final_phase, get_experiment, wait_for

from .bridge import attempts, create_experiment, kuberun_cli, patch_spec, slurm_task

pytestmark = pytest.mark.usefixtures("crd")

# Each component prints what Slurm gave it, from inside its own step (a step inherits the batch
# script's SLURM_MEM_PER_NODE, component 0's; Slurm names each component's own _HET_GROUP_<i>).
REPORT = ('m=SLURM_MEM_PER_NODE_HET_GROUP_$KUBERUN_HET_INDEX; echo "index=$KUBERUN_HET_INDEX size=$SLURM_HET_SIZE '
          'node=$SLURMD_NODENAME host=$(hostname -s) mem=${!m} role=$ROLE"')


def het_task(name: str, inline: str, memories: tuple[str, str] = ("100M", "200M")) -> dict[str, Any]:
    return slurm_task(name, inline=inline, heterogeneous=True,
                      resource_group=[{"memory": memories[0]}, {"memory": memories[1], "env": {"ROLE": "second"}}])


def _attempt(api: Any, namespace: str, name: str) -> dict[str, Any]:
    (attempt,) = attempts(get_experiment(api, namespace, name), "t")
    return attempt


def _field(line: str, name: str) -> str:
    return next(word.split("=", 1)[1] for word in line.split() if word.startswith(f"{name}="))


def _logs(config: Path, api: Any, namespace: str, name: str, component: int | None, follow: bool = False) -> str:
    """What `kuberun logs [-f] --backend-config FILE` does, client side: a backend of its own."""
    from kuberun.resource import ExperimentResource
    from kuberun_operator.backend_config import BackendConfig
    from kuberun_operator.backends.slurm import SlurmBackend
    from kuberun_operator.settings import Settings

    async def read() -> bytes:
        backend = SlurmBackend(BackendConfig.load(config).slurm, Settings())
        try:
            exp = ExperimentResource.model_validate(get_experiment(api, namespace, name))
            return b"".join([c async for c in backend.logs(exp, "t", 1, follow, component=component)])
        finally:
            await backend.stop()

    return asyncio.run(read()).decode()


def test_a_het_job_runs_each_component_on_its_own_node_with_its_own_resources(
        two_node_operator, k8s_api_client, namespace, two_node_cluster, two_node_config):
    name = create_experiment(k8s_api_client, namespace, [het_task("t", REPORT)])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 60) == "Succeeded"
    attempt = _attempt(k8s_api_client, namespace, name)
    leader = attempt["backendRef"]["id"]
    assert attempt["hetComponents"] == [f"{leader}+0", f"{leader}+1"]
    directory = two_node_cluster.workdir / namespace / name / "t" / "1"
    first, second = ((directory / f"het-{i}" / "output.log").read_text() for i in (0, 1))
    node0, node1 = two_node_cluster.nodes
    host = node0  # both nodes are this machine (NodeHostname), told apart by SLURMD_NODENAME
    assert f"index=0 size=2 node={node0} host={host} mem=100 role=" in first.splitlines()
    assert f"index=1 size=2 node={node1} host={host} mem=200 role=second" in second.splitlines()
    # And as Slurm's controller records the allocation: one line per component.
    shown = two_node_cluster.run(["scontrol", "-o", "show", "job", leader]).stdout.splitlines()
    placed = sorted((_field(line, "HetJobOffset"), _field(line, "NodeList"), _field(line, "MinMemoryNode"))
                    for line in shown)
    assert placed == [("0", node0, "100M"), ("1", node1, "200M")]
    # Logs: every component's, each line labelled with its component, or the one asked for as written.
    every = _logs(two_node_config, k8s_api_client, namespace, name, None).splitlines()
    assert f"[het-0] index=0 size=2 node={node0} host={host} mem=100 role=" in every
    assert f"[het-1] index=1 size=2 node={node1} host={host} mem=200 role=second" in every
    assert all(line.startswith(("[job] ", "[het-0] ", "[het-1] ")) for line in every)
    assert _logs(two_node_config, k8s_api_client, namespace, name, 1) == second
    with pytest.raises(BackendError, match="has no het component 2: its components are 0-1"):
        _logs(two_node_config, k8s_api_client, namespace, name, 2)


def test_a_followed_het_job_interleaves_its_components_lines_until_it_ends(
        two_node_operator, k8s_api_client, namespace, two_node_cluster, two_node_config):
    # Component 1 starts writing after component 0 and ends before it: a reader that took the components
    # one after another would print all of 0's lines first.
    inline = ('if [ "$KUBERUN_HET_INDEX" = 0 ]; then for i in 1 2 3 4; do echo "tick $i"; sleep 1; done; '
              'else sleep 1.5; echo "middle"; fi')
    name = create_experiment(k8s_api_client, namespace, [het_task("t", inline)])["metadata"]["name"]
    wait_for(lambda: [a for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")
                      if a["phase"] == "Running"], 60, "Running")
    followed = _logs(two_node_config, k8s_api_client, namespace, name, None, follow=True).splitlines()
    assert final_phase(k8s_api_client, namespace, name) in (None, "Succeeded")  # the stream ended with the job
    ours = [line for line in followed if "tick" in line or "middle" in line]
    assert ours[-1] == "[het-0] tick 4" and "[het-1] middle" in ours, followed
    assert ours.index("[het-1] middle") < ours.index("[het-0] tick 4"), followed


def test_an_ended_het_jobs_archived_log_keeps_every_component_and_serves_one(
        two_node_operator, kubeconfig, k8s_api_client, namespace):
    """The copy the operator archives when the attempt ends holds both components' lines, labelled; the
    record server serves it to the CLI whole or one component of it, as the user (no backend config)."""
    inline = 'echo "from $KUBERUN_HET_INDEX"; echo "again $KUBERUN_HET_INDEX"'
    name = create_experiment(k8s_api_client, namespace, [het_task("t", inline)])["metadata"]["name"]
    (attempt,) = wait_for(lambda: [a for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")
                                   if a.get("archivedLog")], 60, "the het attempt's archived log")
    assert attempt["phase"] == "Succeeded"
    copy = Path(urllib.parse.urlsplit(attempt["archivedLog"]["url"]).path)
    assert copy.is_relative_to(two_node_operator.records / "logs")
    lines = copy.read_text().splitlines()
    assert lines == [line for line in lines if line.startswith("[job] ")] + [  # the job's own lines, if any, first
        "[het-0] from 0", "[het-0] again 0", "[het-1] from 1", "[het-1] again 1"]
    server, cli = two_node_operator.server, functools.partial(kuberun_cli, kubeconfig)
    one = cli(server, "logs", name, "t", "--component", "1", "-n", namespace)
    assert (one.returncode, one.stdout) == (0, "from 1\nagain 1\n"), one.stderr
    every = cli(server, "logs", name, "t", "--tail", "1", "-n", namespace)
    assert every.returncode == 0 and every.stdout.splitlines()[-2:] == ["[het-0] again 0", "[het-1] again 1"], every
    refused = cli(server, "logs", name, "t", "--component", "2", "-n", namespace)
    assert refused.returncode == 1 and "its components are 0-1" in refused.stderr


def test_a_failing_component_fails_the_task_saying_so(two_node_operator, k8s_api_client, namespace, two_node_cluster):
    inline = '[ "$KUBERUN_HET_INDEX" != 1 ] || exit 5'
    name = create_experiment(k8s_api_client, namespace, [het_task("t", inline)])["metadata"]["name"]

    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 60) == "Failed"
    attempt = _attempt(k8s_api_client, namespace, name)
    assert (attempt["exitCode"], attempt["reason"]) == (5, "Error")
    assert "a component of the het job" in attempt["message"]
    log = (two_node_cluster.workdir / namespace / name / "t" / "1" / "het-1" / "output.log").read_text()
    assert "kuberun: het component 1 of 2 exited with code 5" in log


def test_cancel_cancels_every_component(two_node_operator, k8s_api_client, namespace, two_node_cluster):
    name = create_experiment(k8s_api_client, namespace, [het_task("t", "sleep 120")])["metadata"]["name"]
    wait_for(lambda: [a for a in attempts(get_experiment(k8s_api_client, namespace, name), "t")
                      if a["phase"] == "Running"], 60, "Running")
    key = _attempt(k8s_api_client, namespace, name)["backendRef"]["idempotencyKey"]

    patch_spec(k8s_api_client, namespace, name, {"shutdown": "Terminate"})
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 30) == "Cancelled"

    def states() -> list[str]:
        rows = two_node_cluster.run(["squeue", "-h", "-t", "all", "-o", "%i|%j|%T"]).stdout.split()
        return [row.split("|")[2] for row in rows if row.split("|")[1] == key]

    assert wait_for(lambda: states() == ["CANCELLED", "CANCELLED"] and states(), 20, "both components cancelled")
