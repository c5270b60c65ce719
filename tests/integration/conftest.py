"""Integration fixtures: the CRD installed in the emulator, a fresh namespace per test, the operator, pod logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.operator import ensure_crd, running_operator


@pytest.fixture(scope="session")
def crd(k8s_api_client: Any) -> None:
    ensure_crd(k8s_api_client)


@pytest.fixture()
def namespace(k8s_api_client: Any) -> Iterator[str]:
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": name}})
    yield name


@pytest.fixture(scope="module")
def operator(kubeconfig: Any, crd: None) -> Iterator[Any]:
    """The operator with default settings, one per test module (modules needing others override it)."""
    with running_operator(kubeconfig) as metrics:
        yield metrics


@pytest.fixture()
def logserver(apiserver: Any) -> Iterator[Any]:
    """Pod logs served by the API emulator from a test-controlled source."""
    from tests.helpers.manage import LogServer

    server = LogServer()
    apiserver.set_log_provider(server)
    yield server
    apiserver.set_log_provider(None)


@pytest.fixture
async def server() -> Any:
    """An emulator API server serving the widget CRD, and an admin HTTP session to it."""
    from kuberun_sandbox.apiserver import ApiServer
    from tests.helpers.auth import admin_session
    from tests.helpers.widgets import WIDGET_CRD

    srv = ApiServer()
    await srv.start()
    async with admin_session(srv) as http:
        resp = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=WIDGET_CRD)
        assert resp.status == 201
        yield srv, http
    await srv.stop()
