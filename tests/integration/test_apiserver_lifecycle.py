"""Deletion and patch semantics a real API server has (issue 12, item 2).

Graceful pod deletion, foreground propagation, CRD deletion that waits for finalizers, no new
finalizers while terminating; strategic merge by the schemas' merge keys; server-side apply with
ownership, pruning and conflicts; ``/scale``. Written against the ``kubernetes`` client only:
tests/cluster/test_apiserver_lifecycle.py runs the same functions against a real cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.helpers.strict import (
    GADGET_CRD,
    GADGET_GROUP,
    GADGET_PLURAL,
    GADGET_VERSION,
    causes,
    gadget,
    holder_crd,
    pod,
    raw,
    refused,
)
from tests.helpers.widgets import (
    GROUP,
    PLURAL,
    VERSION,
    eventually,
    install_crd,
    make_namespace,
    unique,
    widget,
)

APPLY = "application/apply-patch+yaml"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture(scope="module")
def ns(k8s_api_client: Any) -> Iterator[str]:
    install_crd(k8s_api_client)
    install_crd(k8s_api_client, GADGET_CRD)
    name = make_namespace(k8s_api_client)
    yield name
    client.CoreV1Api(k8s_api_client).delete_namespace(name)


@pytest.fixture(scope="module")
def core(k8s_api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_api_client)


@pytest.fixture(scope="module")
def co(k8s_api_client: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_api_client)


def _gone(read: Any, *args: Any) -> bool:
    try:
        read(*args)
    except ApiException as e:
        return e.status == 404
    return False


# --- deletion ------------------------------------------------------------------------------------
def test_bound_pod_deletion_is_graceful_modified_then_deleted(core: Any, ns: str) -> None:
    name = unique("p")
    body = pod(name)
    body["spec"]["nodeName"] = "kuberun-no-such-node"  # bound, so a kubelet would have to confirm
    created = raw(core.create_namespaced_pod, ns, body)
    deleting = raw(core.delete_namespaced_pod, name, ns)
    meta = deleting["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    assert raw(core.read_namespaced_pod, name, ns)["metadata"]["deletionTimestamp"]
    core.delete_namespaced_pod(name, ns, grace_period_seconds=0)  # what the kubelet sends once stopped
    eventually(lambda: _gone(core.read_namespaced_pod, name, ns))
    seen = [(e["type"], bool(e["raw_object"]["metadata"].get("deletionTimestamp")))
            for e in watch.Watch().stream(core.list_namespaced_pod, ns, field_selector=f"metadata.name={name}",
                                          resource_version=created["metadata"]["resourceVersion"],
                                          timeout_seconds=2)]
    assert seen[0] == ("MODIFIED", True) and seen[-1][0] == "DELETED"


def test_unscheduled_pod_is_deleted_at_once(core: Any, ns: str) -> None:
    name = unique("p")
    core.create_namespaced_pod(ns, pod(name))
    core.delete_namespaced_pod(name, ns)
    eventually(lambda: _gone(core.read_namespaced_pod, name, ns))


def test_foreground_deletion_keeps_the_owner_until_blocking_dependents_are_gone(core: Any, ns: str) -> None:
    owner_name, dep_name = unique("owner"), unique("dep")
    owner = raw(core.create_namespaced_config_map, ns, {"metadata": {"name": owner_name}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": owner["metadata"]["uid"],
           "blockOwnerDeletion": True}
    core.create_namespaced_config_map(ns, {"metadata": {"name": dep_name, "ownerReferences": [ref],
                                                        "finalizers": ["test.kuberun.dev/hold"]}})
    core.delete_namespaced_config_map(owner_name, ns, propagation_policy="Foreground")
    held = raw(core.read_namespaced_config_map, owner_name, ns)
    assert held["metadata"]["deletionTimestamp"] and "foregroundDeletion" in held["metadata"]["finalizers"]
    eventually(lambda: raw(core.read_namespaced_config_map, dep_name, ns)["metadata"].get("deletionTimestamp"))
    assert raw(core.read_namespaced_config_map, owner_name, ns)["metadata"]["deletionTimestamp"]
    core.patch_namespaced_config_map(dep_name, ns, {"metadata": {"finalizers": None}})
    eventually(lambda: _gone(core.read_namespaced_config_map, owner_name, ns))


def test_no_new_finalizer_on_an_object_being_deleted(core: Any, ns: str) -> None:
    name = unique("cm")
    core.create_namespaced_config_map(ns, {"metadata": {"name": name, "finalizers": ["test.kuberun.dev/a"]}})
    core.delete_namespaced_config_map(name, ns)
    code, status = refused(core.patch_namespaced_config_map, name, ns,
                           {"metadata": {"finalizers": ["test.kuberun.dev/a", "test.kuberun.dev/b"]}})
    assert code == 422
    assert causes(status)["metadata.finalizers"].startswith("Forbidden: no new finalizers can be added")
    core.patch_namespaced_config_map(name, ns, {"metadata": {"finalizers": None}})
    eventually(lambda: _gone(core.read_namespaced_config_map, name, ns))


def test_crd_deletion_waits_for_custom_resources_finalizers(k8s_api_client: Any, co: Any, ns: str) -> None:
    plural = f"holds{uuid.uuid4().hex[:6]}"
    crd = holder_crd(plural)
    install_crd(k8s_api_client, crd)
    ext = client.ApiextensionsV1Api(k8s_api_client)
    body = {"apiVersion": f"{GADGET_GROUP}/v1", "kind": crd["spec"]["names"]["kind"],
            "metadata": {"name": "held", "finalizers": ["test.kuberun.dev/hold"]}}
    co.create_namespaced_custom_object(GADGET_GROUP, "v1", ns, plural, body)
    ext.delete_custom_resource_definition(crd["metadata"]["name"])
    eventually(lambda: co.get_namespaced_custom_object(GADGET_GROUP, "v1", ns, plural, "held")["metadata"]
               .get("deletionTimestamp"))
    assert ext.read_custom_resource_definition(crd["metadata"]["name"]).metadata.deletion_timestamp
    co.patch_namespaced_custom_object(GADGET_GROUP, "v1", ns, plural, "held", {"metadata": {"finalizers": None}})
    eventually(lambda: _gone(ext.read_custom_resource_definition, crd["metadata"]["name"]), timeout=30)


# --- strategic merge -----------------------------------------------------------------------------
def test_strategic_merge_adds_a_service_port_by_its_merge_key(core: Any, ns: str) -> None:
    name = unique("svc")
    core.create_namespaced_service(ns, {"metadata": {"name": name}, "spec": {
        "selector": {"app": "x"}, "ports": [{"name": "http", "port": 80}]}})
    got = raw(core.patch_namespaced_service, name, ns, {"spec": {"ports": [{"name": "metrics", "port": 9090}]}},
              _content_type=STRATEGIC)
    assert sorted(p["port"] for p in got["spec"]["ports"]) == [80, 9090]
    got = raw(core.patch_namespaced_service, name, ns, {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}},
              _content_type=STRATEGIC)
    assert [p["port"] for p in got["spec"]["ports"]] == [9090]


def test_strategic_merge_on_a_custom_resource_is_415(co: Any, ns: str) -> None:
    name = unique("w")
    co.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, widget(name))
    code, status = refused(co.patch_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name,
                           {"spec": {"size": 2}}, _content_type=STRATEGIC)
    assert code == 415 and status["reason"] == "UnsupportedMediaType"
    assert "application/merge-patch+json" in status["message"]


# --- server-side apply ---------------------------------------------------------------------------
def _apply(core: Any, ns: str, name: str, data: dict[str, str], manager: str | None, force: bool = False) -> Any:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    kwargs: dict[str, Any] = {"_content_type": APPLY}
    if manager is not None:
        kwargs["field_manager"] = manager
    if force:
        kwargs["force"] = True
    return raw(core.patch_namespaced_config_map, name, ns, body, **kwargs)


def test_apply_records_ownership_and_conflicts_with_another_manager(core: Any, ns: str) -> None:
    name = unique("cm")
    got = _apply(core, ns, name, {"a": "1"}, "alice")
    owners = {(m["manager"], m["operation"]) for m in got["metadata"]["managedFields"]}
    assert owners == {("alice", "Apply")}
    code, status = refused(_apply, core, ns, name, {"a": "2"}, "bob")
    assert code == 409 and status["reason"] == "Conflict"
    assert 'conflict with "alice"' in status["message"] and ".data.a" in status["message"]
    got = _apply(core, ns, name, {"a": "2"}, "bob", force=True)
    assert got["data"] == {"a": "2"}
    fields = {m["manager"]: m["fieldsV1"] for m in got["metadata"]["managedFields"]}
    assert "f:a" in fields["bob"]["f:data"] and "alice" not in fields  # bob took a over; alice owns nothing


def test_apply_prunes_fields_the_manager_dropped_but_keeps_others(core: Any, ns: str) -> None:
    name = unique("cm")
    _apply(core, ns, name, {"a": "1", "b": "2"}, "alice")
    core.patch_namespaced_config_map(name, ns, {"data": {"c": "3"}}, field_manager="editor")
    got = _apply(core, ns, name, {"a": "1"}, "alice")
    assert got["data"] == {"a": "1", "c": "3"}


def test_apply_without_field_manager_is_refused(core: Any, ns: str) -> None:
    name = unique("cm")
    code, status = refused(_apply, core, ns, name, {"a": "1"}, None)
    assert code == 422 and causes(status) == {"fieldManager": "Required value: is required for apply patch"}


def test_update_after_apply_takes_ownership_of_changed_fields(core: Any, ns: str) -> None:
    name = unique("cm")
    _apply(core, ns, name, {"a": "1"}, "alice")
    core.patch_namespaced_config_map(name, ns, {"data": {"a": "9"}}, field_manager="editor")
    code, status = refused(_apply, core, ns, name, {"a": "1"}, "alice")
    assert code == 409 and 'conflict with "editor"' in status["message"]


# --- /scale --------------------------------------------------------------------------------------
def test_scale_subresource_reads_and_writes_an_autoscaling_scale(co: Any, ns: str) -> None:
    name = unique("g")
    co.create_namespaced_custom_object(GADGET_GROUP, GADGET_VERSION, ns, GADGET_PLURAL, gadget(name, replicas=2))
    got = co.get_namespaced_custom_object_scale(GADGET_GROUP, GADGET_VERSION, ns, GADGET_PLURAL, name)
    assert got["kind"] == "Scale" and got["apiVersion"] == "autoscaling/v1" and got["spec"]["replicas"] == 2
    co.patch_namespaced_custom_object_scale(GADGET_GROUP, GADGET_VERSION, ns, GADGET_PLURAL, name,
                                            {"spec": {"replicas": 5}})
    obj = co.get_namespaced_custom_object(GADGET_GROUP, GADGET_VERSION, ns, GADGET_PLURAL, name)
    assert obj["spec"]["replicas"] == 5
