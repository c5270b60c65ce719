"""The emulator's validation and defaulting tests, run against a real cluster (opt-in: KUBECONFIG + KUBERUN_TEST_CLUSTER=1)."""

from __future__ import annotations

import pytest

from tests.cluster.test_api_semantics import k8s_api_client  # noqa: F401  (the real cluster's client)
from tests.integration.test_apiserver_validation import *  # noqa: F403  (the same test functions)

pytestmark = pytest.mark.cluster
