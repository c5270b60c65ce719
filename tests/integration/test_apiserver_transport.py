"""Emulator-only transport behaviour over raw HTTP (issue 12, item 3): media types, JSON shape, discovery, watch-list."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kuberun_sandbox.apiserver import ApiServer
from tests.helpers.auth import admin_session

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def http() -> Any:
    srv = ApiServer()
    await srv.start()
    async with admin_session(srv) as session:
        yield session
    await srv.stop()


@pytest.mark.parametrize("media_type", ["application/vnd.kubernetes.protobuf", "application/cbor"])
async def test_binary_bodies_are_415_naming_the_json_way(http: Any, media_type: str) -> None:
    resp = await http.post(CONFIGMAPS, data=b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap", headers={"Content-Type": media_type})
    body = await resp.json()
    assert resp.status == 415 and body["reason"] == "UnsupportedMediaType"
    assert "speaks JSON" in body["message"] and "kubectl apply -f" in body["message"]


async def test_status_bodies_are_compact_json(http: Any) -> None:
    resp = await http.get(f"{CONFIGMAPS}/missing")
    text = await resp.text()
    assert resp.status == 404 and json.loads(text)["reason"] == "NotFound"
    assert ", " not in text.replace(json.loads(text)["message"], "") and '": ' not in text


async def test_discovery_lists_exactly_the_kinds_the_sandbox_implements(http: Any) -> None:
    core = await (await http.get("/api/v1")).json()
    assert {r["name"] for r in core["resources"]} == {
        "configmaps", "events", "namespaces", "namespaces/status", "pods", "pods/log", "pods/status", "secrets",
        "serviceaccounts", "serviceaccounts/token", "services", "services/status"}  # token: TokenRequest, as a real server
    groups = {g["name"] for g in (await (await http.get("/apis")).json())["groups"]}
    assert groups == {"batch", "events.k8s.io", "apiextensions.k8s.io", "rbac.authorization.k8s.io",
                      "coordination.k8s.io", "admissionregistration.k8s.io",  # the policies it enforces
                      "authentication.k8s.io", "authorization.k8s.io"}  # TokenReview, SelfSubject/SubjectAccessReview
    resp = await http.post("/apis/apps/v1/namespaces/default/deployments", json={"metadata": {"name": "d"}})
    assert resp.status == 404  # refused, not stored and never rolled out


async def test_watch_list_sends_current_objects_then_the_initial_events_end_bookmark(http: Any) -> None:
    for name in ("a", "b"):
        assert (await http.post(CONFIGMAPS, json={"metadata": {"name": name}})).status == 201
    resp = await http.get(CONFIGMAPS, params={"watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                                              "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "1"})
    lines = [json.loads(line) for line in (await asyncio.wait_for(resp.read(), timeout=10)).splitlines()]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in lines[:2]] == [("ADDED", "a"), ("ADDED", "b")]
    end = lines[2]
    assert end["type"] == "BOOKMARK"
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_graceful_pod_deletion_is_seen_as_modified_then_deleted(http: Any) -> None:
    pods = "/api/v1/namespaces/default/pods"
    body = {"metadata": {"name": "g"}, "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i"}]}}
    created = await (await http.post(pods, json=body)).json()
    await http.delete(f"{pods}/g")
    await http.delete(f"{pods}/g", params={"gracePeriodSeconds": "0"})
    resp = await http.get(pods, params={"watch": "1", "resourceVersion": created["metadata"]["resourceVersion"],
                                        "timeoutSeconds": "1"})
    events = [json.loads(line) for line in (await asyncio.wait_for(resp.read(), timeout=10)).splitlines()]
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["deletionGracePeriodSeconds"] == 30


async def test_apply_needs_a_field_manager(http: Any) -> None:
    resp = await http.patch(f"{CONFIGMAPS}/x", data="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                            headers={"Content-Type": "application/apply-patch+yaml"})
    body = await resp.json()  # kube-apiserver 1.35's answer, seen against the real control plane
    assert resp.status == 422 and body["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                                                      'value: is required for apply patch')
