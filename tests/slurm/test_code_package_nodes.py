"""A packaged task's code is read and unpacked once per node, not once per rank, on the real two-node Slurm.

Two nodes with two ranks each (``--overcommit``: each harness node has one CPU): every rank runs the
runner, and the runner says ``code package ... unpacked for node N`` each time it reads and unpacks
the package (``kuberun.packaging.nodecache``), so counting those lines in the job's log counts the
downloads. Each rank prints its node and working directory from inside its step: the two ranks of a
node share the one tree under the attempt's ``code-cache/<node>/``. A het job of two such components
does the same, one tree per node across the components.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.packaging import PatternPackager
from tests.helpers.operator import final_phase, get_experiment, wait_for

from .bridge import attempts

pytestmark = pytest.mark.usefixtures("crd")

LIB = '''\
import os


def where() -> str:
    line = (f"rank={os.environ['SLURM_PROCID']} node={os.environ['SLURMD_NODENAME']} cwd={os.getcwd()} "
            f"data={open('origin.txt').read().strip()}")
    print(line, flush=True)
    return line
'''


def _run(kubeconfig: Path, api: Any, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         executor: kr.SlurmExecutor) -> tuple[str, Path]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "nodes_lib.py").write_text(LIB)
    (project / "origin.txt").write_text("the-package\n")
    monkeypatch.syspath_prepend(str(project))
    import nodes_lib

    executor.packager = PatternPackager(include_pattern=["*.py", "*.txt"], relative_path=str(project))
    exp = kr.Experiment("slurm-code-nodes", namespace=namespace, executor=executor)
    exp.add(kr.Partial(nodes_lib.where), name="t")
    name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    sys.modules.pop("nodes_lib", None)
    assert wait_for(lambda: final_phase(api, namespace, name), 90, "the packaged task") == "Succeeded", \
        [(a.get("reason"), a.get("message")) for a in attempts(get_experiment(api, namespace, name), "t")]
    (attempt,) = attempts(get_experiment(api, namespace, name), "t")
    return get_experiment(api, namespace, name)["spec"]["tasks"][0]["code"]["sha256"], Path(attempt["logRef"]["path"]).parent


def _ranks(text: str) -> list[tuple[str, str]]:
    """(node, cwd) of every rank, from the ranks' own lines."""
    rows = [dict(word.split("=", 1) for word in line.split()) for line in text.splitlines() if line.startswith("rank=")]
    assert all(row["data"] == "the-package" for row in rows)  # read from the unpacked tree
    return [(row["node"], row["cwd"]) for row in rows]


def _check(text: str, sha256: str, directory: Path, nodes: tuple[str, str], ranks: int) -> None:
    seen = _ranks(text)
    assert len(seen) == ranks, text
    assert {node for node, _ in seen} == set(nodes)
    for node in nodes:  # every rank of a node runs in that node's one tree
        assert {cwd for n, cwd in seen if n == node} == {str(directory / "code-cache" / node / sha256)}
    unpacked = [line for line in text.splitlines() if f"code package {sha256[:12]} unpacked for node" in line]
    assert sorted(line.split(" for node ")[1].split()[0] for line in unpacked) == sorted(nodes), text


def test_two_ranks_on_each_of_two_nodes_unpack_the_package_once_per_node(
        two_node_operator, kubeconfig, k8s_api_client, namespace, two_node_cluster, tmp_path, monkeypatch):
    executor = kr.SlurmExecutor(cluster="main", nodes=2, ntasks_per_node=2, sbatch_args=["--overcommit"])
    sha256, directory = _run(kubeconfig, k8s_api_client, namespace, tmp_path, monkeypatch, executor)
    _check((directory / "output.log").read_text(), sha256, directory, two_node_cluster.nodes, 4)


def test_a_het_jobs_components_share_each_nodes_copy_too(
        two_node_operator, kubeconfig, k8s_api_client, namespace, two_node_cluster, tmp_path, monkeypatch):
    component = kr.SlurmHetComponent(ntasks_per_node=2, sbatch_args=["--overcommit"])
    executor = kr.SlurmExecutor(cluster="main", heterogeneous=True, resource_group=[component, component])
    sha256, directory = _run(kubeconfig, k8s_api_client, namespace, tmp_path, monkeypatch, executor)
    text = "".join((directory / f"het-{i}" / "output.log").read_text() for i in (0, 1))
    _check(text, sha256, directory, two_node_cluster.nodes, 4)
