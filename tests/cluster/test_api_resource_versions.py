"""Reads from a resourceVersion not reached yet, against the real control plane (or any cluster you name).

The same test functions as tests/integration/test_api_resource_versions.py, so the emulator's
"Too large resource version" answers are held to what kube-apiserver does.
"""

from __future__ import annotations

import pytest

from tests.cluster.test_api_semantics import k8s_api_client  # noqa: F401  (the real control plane's client)
from tests.integration.test_api_resource_versions import *  # noqa: F403  (the same test functions)

pytestmark = pytest.mark.cluster
