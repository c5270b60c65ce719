"""Reads from a resourceVersion not reached yet, against a real cluster (opt-in: KUBECONFIG + KUBERUN_TEST_CLUSTER=1).

The same test functions as tests/integration/test_api_resource_versions.py, so the emulator's
"Too large resource version" answers are held to what kube-apiserver does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_api_resource_versions import *  # noqa: F403  (the same test functions)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def k8s_api_client() -> Iterator[Any]:
    from kubernetes import config

    api = config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))
    yield api
    api.close()
