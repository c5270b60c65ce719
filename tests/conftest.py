"""Shared fixtures: the API emulator (one per session), a kubeconfig for it, a kubernetes client."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("KUBECONFIG") and os.environ.get("KUBERUN_TEST_CLUSTER") == "1":
        return
    skip = pytest.mark.skip(reason="real-cluster test: set KUBECONFIG and KUBERUN_TEST_CLUSTER=1 to run it")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


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
