"""A real kopf operator, in-process, against the emulator: create → child + status, delete → finalizer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.helpers.widgets import GROUP, PLURAL, VERSION, eventually, install_crd, unique, widget


def _registry(server: Any, deleted: list[str], api: client.ApiClient) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    token = server.auth.mint("kopf-smoke", ("system:masters",))

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server.url, ca_data=(server.auth.ca_pem or "").encode() or None,
                                   scheme="Bearer", token=token)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.watching.server_timeout = 10

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def create(body: Any, name: str, namespace: str, patch: Any, **_: Any) -> None:
        child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-child"}, "data": {"x": "1"}}
        kopf.adopt(child, owner=body)
        client.CoreV1Api(api).create_namespaced_config_map(namespace, child)
        patch.status["phase"] = "Ready"

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def delete(name: str, **_: Any) -> None:
        deleted.append(name)

    return registry


@pytest.fixture
def operator(apiserver: Any, k8s_api_client: Any) -> Iterator[list[str]]:
    install_crd(k8s_api_client)
    deleted: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()  # created on, and set from, the operator's loop
    registry = _registry(apiserver, deleted, k8s_api_client)

    async def run() -> None:
        await kopf.operator(registry=registry, clusterwide=True, standalone=True, stop_flag=stop)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    yield deleted
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=20)


def test_kopf_operator_reconciles_creates_child_and_finalizes(operator: list[str], k8s_api_client: Any) -> None:
    co, core, name = client.CustomObjectsApi(k8s_api_client), client.CoreV1Api(k8s_api_client), unique("kopf")
    co.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget(name))

    def ready() -> dict[str, Any] | None:
        obj = co.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
        return obj if (obj.get("status") or {}).get("phase") == "Ready" else None

    obj = eventually(ready, timeout=20)
    assert obj["metadata"]["finalizers"]
    child = core.read_namespaced_config_map(f"{name}-child", "default")
    assert child.metadata.owner_references[0].uid == obj["metadata"]["uid"]

    co.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)
    eventually(lambda: name in operator, timeout=20)

    def gone(read: Any, *args: Any) -> bool:
        try:
            read(*args)
            return False
        except ApiException as e:
            return e.status == 404

    eventually(lambda: gone(co.get_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, name), timeout=20)
    eventually(lambda: gone(core.read_namespaced_config_map, f"{name}-child", "default"), timeout=20)
