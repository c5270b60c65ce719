"""Fault injection as seen through the real kubernetes client (operator retry tests build on this)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.helpers.widgets import unique


def test_kubernetes_client_sees_injected_conflict(apiserver: Any, k8s_api_client: Any) -> None:
    apiserver.inject(status=409, times=1, verb="create", resource="configmaps", namespace="kube-public")
    core = client.CoreV1Api(k8s_api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("kube-public", {"metadata": {"name": unique("cm")}})
    assert err.value.status == 409
    core.create_namespaced_config_map("kube-public", {"metadata": {"name": unique("cm")}})
