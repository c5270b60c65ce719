"""Integration fixtures: the CRD installed in the emulator, a fresh namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.operator import ensure_crd


@pytest.fixture(scope="session")
def crd(k8s_api_client: Any) -> None:
    ensure_crd(k8s_api_client)


@pytest.fixture()
def namespace(k8s_api_client: Any) -> Iterator[str]:
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": name}})
    yield name
