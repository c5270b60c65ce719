"""Shared fixtures: the API emulator (one per session), a kubeconfig for it, a kubernetes client."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

# The real control plane's fixtures, the `cluster` marker's rule, and the fidelity ledger.
pytest_plugins = ["tests.realcluster.plugin", "tests.realcluster.ledger",
                  "tests.harness.taskdump"]  # asyncio tasks' stacks before a test times out


@pytest.fixture(scope="session")
def apiserver() -> Iterator[Any]:
    from kuberun_sandbox.apiserver import run_in_thread

    with run_in_thread() as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(apiserver: Any, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    return write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", apiserver.url)


@pytest.fixture(scope="session")
def k8s_api_client(kubeconfig: pathlib.Path) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()
