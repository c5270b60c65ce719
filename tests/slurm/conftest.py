"""Fixtures for tests against the real single-node Slurm (see README.md here).

Run under the loopback-only namespace::

    tests/slurm/netns-run python -m pytest -m slurm tests/slurm

Outside it (or without root or the Slurm packages) every test here is
skipped with the reason, so a plain `pytest` run stays green.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.operator import running_operator
from tests.integration.conftest import crd, namespace  # noqa: F401  (the emulator's CRD, a namespace per test)

from .bridge import write_backend_config
from .harness import SlurmCluster, _free_port, environment_problem
from .twonode import TwoNodeCluster

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items; mark only the ones in this folder.
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.slurm)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running munged + slurmctld + slurmd + sshd, shared by the session.

    Tests that stop the controller must start it again before returning.
    """
    problem = environment_problem()
    if problem:
        pytest.skip(problem)
    with SlurmCluster() as cluster:
        yield cluster


# -- the operator bridged to this cluster (tests/slurm/test_bridge_*.py) ---------------------------


@pytest.fixture(scope="session")
def slurm_config_file(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's --config: cluster `main` (the harness over SSH), `down` (nothing listens) and
    `stranger` (a client key sshd does not accept)."""
    return write_backend_config(slurm_cluster, tmp_path_factory.mktemp("slurm-config"))


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, crd: None, slurm_config_file: Path) -> Iterator[object]:  # noqa: F811  (crd: the fixture above)
    """The operator bridged to this cluster with the harness's config, one per test module (a module that needs
    other settings, e.g. a log store, defines its own ``operator``)."""
    with running_operator(kubeconfig, config_file=slurm_config_file) as metrics:
        yield metrics


# -- two nodes, for heterogeneous and multi-node jobs (test_hetjob.py, test_code_package_nodes.py) ----


@pytest.fixture(scope="session")
def two_node_cluster() -> Iterator[TwoNodeCluster]:
    """A second Slurm cluster of two nodes (the second slurmd on 127.0.0.2): a het job's components
    need a node each. Started only when a het test asks; every other test keeps ``slurm_cluster``."""
    problem = environment_problem()
    if problem:
        pytest.skip(problem)
    with TwoNodeCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def two_node_config(two_node_cluster: TwoNodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's backend config for ``two_node_cluster`` (cluster ``main``)."""
    return write_backend_config(two_node_cluster, tmp_path_factory.mktemp("two-node-config"))


@dataclass(frozen=True)
class RecordingOperator:
    metrics: object
    server: str    # its record server, http on loopback
    records: Path  # its archive (archive.db) and log store (logs/)


@pytest.fixture(scope="module")
def two_node_operator(kubeconfig: Path, crd: None, two_node_config: Path,  # noqa: F811
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingOperator]:
    """The operator bridged to ``two_node_cluster``, one per test module, recording (an archive and a log
    store) and serving logs (a record server)."""
    records, port = tmp_path_factory.mktemp("two-node-records"), _free_port()
    with running_operator(kubeconfig, config_file=two_node_config, archive_url=f"sqlite:///{records}/archive.db",
                          log_store_url=str(records / "logs"), record_server_port=port,
                          record_server_host="127.0.0.1") as metrics:
        yield RecordingOperator(metrics, f"http://127.0.0.1:{port}", records)
