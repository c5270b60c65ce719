"""The emulator's semantic tests, run against a real cluster (opt-in: KUBECONFIG + KUBERUN_TEST_CLUSTER=1).

    kind create cluster && KUBERUN_TEST_CLUSTER=1 KUBECONFIG=~/.kube/config pytest tests/cluster
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_api_semantics import *  # noqa: F403  (the same test functions)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def k8s_api_client() -> Iterator[Any]:
    from kubernetes import config

    api = config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))
    yield api
    api.close()
