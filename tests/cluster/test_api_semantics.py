"""The emulator's semantic tests, run against a real control plane: the one ``make kube-tools`` built
(started by the ``real_control_plane`` fixture), or any cluster you name:

    KUBERUN_TEST_CLUSTER=1 KUBECONFIG=~/.kube/config pytest tests/cluster
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_api_semantics import *  # noqa: F403  (the same test functions)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def k8s_api_client(cluster_kubeconfig: pathlib.Path) -> Iterator[Any]:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(cluster_kubeconfig))
    yield api
    api.close()
