"""The kubectl flows of tests/integration/test_kubectl.py, against the real control plane (no node:
the Job's pods stay Pending, as they may there)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_kubectl import *  # noqa: F403  (the same test functions and the kubectl fixture)


@pytest.fixture(scope="module")
def kubeconfig(real_control_plane: Any) -> pathlib.Path:
    return pathlib.Path(real_control_plane.admin_kubeconfig)


@pytest.fixture(scope="module")
def k8s_api_client(kubeconfig: pathlib.Path) -> Iterator[Any]:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()
