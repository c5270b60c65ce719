"""API semantics the project relies on. Written against the ``kubernetes`` client only, so the same
tests run against a real cluster (tests/cluster/test_api_semantics.py re-uses them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.helpers.widgets import (
    GROUP,
    NAME_PATTERN,
    PLURAL,
    VERSION,
    eventually,
    install_crd,
    make_namespace,
    unique,
    widget,
)


@pytest.fixture(scope="module")
def ns(k8s_api_client: Any) -> Iterator[str]:
    install_crd(k8s_api_client)
    name = make_namespace(k8s_api_client)
    yield name
    client.CoreV1Api(k8s_api_client).delete_namespace(name)


@pytest.fixture(scope="module")
def co(k8s_api_client: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_api_client)


@pytest.fixture(scope="module")
def core(k8s_api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_api_client)


def create(co: client.CustomObjectsApi, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    return co.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def status_of(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body)
    return body


def test_create_answers_201_with_uid_timestamp_generation_and_namespace(co: Any, ns: str) -> None:
    name = unique()
    _, code, _ = co.create_namespaced_custom_object_with_http_info(GROUP, VERSION, ns, PLURAL, widget(name))
    got = co.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    meta = got["metadata"]
    assert code == 201
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert meta["namespace"] == ns and meta["resourceVersion"].isdigit()


def test_resource_version_grows_across_resources(co: Any, core: Any, ns: str) -> None:
    a = create(co, ns, widget(unique()))
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": unique("cm")}})
    b = create(co, ns, widget(unique()))
    rvs = [int(a["metadata"]["resourceVersion"]), int(cm.metadata.resource_version), int(b["metadata"]["resourceVersion"])]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


def test_stale_resource_version_update_gets_409(co: Any, ns: str) -> None:
    obj = create(co, ns, widget(unique()))
    name = obj["metadata"]["name"]
    co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": {"size": 2}})
    obj["spec"]["size"] = 3
    with pytest.raises(ApiException) as err:
        co.replace_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, obj)
    assert err.value.status == 409 and status_of(err.value)["reason"] == "Conflict"


def test_stale_resource_version_in_merge_patch_gets_409(co: Any, ns: str) -> None:
    obj = create(co, ns, widget(unique()))
    name = obj["metadata"]["name"]
    co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": {"size": 2}})
    stale = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": {"size": 3}}
    with pytest.raises(ApiException) as err:
        co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, stale)
    assert err.value.status == 409


def test_replace_with_current_resource_version_succeeds(co: Any, ns: str) -> None:
    obj = create(co, ns, widget(unique()))
    obj["spec"]["size"] = 5
    _, code, _ = co.replace_namespaced_custom_object_with_http_info(GROUP, VERSION, ns, PLURAL, obj["metadata"]["name"], obj)
    assert code == 200


def test_generation_bumps_on_spec_change_only(co: Any, ns: str) -> None:
    name = create(co, ns, widget(unique()))["metadata"]["name"]
    labelled = co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"metadata": {"labels": {"a": "b"}}})
    status = co.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, name, {"status": {"phase": "Running"}})
    changed = co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": {"size": 4}})
    assert [labelled["metadata"]["generation"], status["metadata"]["generation"], changed["metadata"]["generation"]] == [1, 1, 2]


def test_status_subresource_separates_status_from_spec(co: Any, ns: str) -> None:
    name = create(co, ns, widget(unique()))["metadata"]["name"]
    main = co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"status": {"phase": "Ignored"}})
    sub = co.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, name,
                                                   {"spec": {"size": 9}, "status": {"phase": "Running"}})
    assert "status" not in main
    assert sub["status"] == {"phase": "Running"} and sub["spec"]["size"] == 1


def test_failed_json_patch_test_op_gets_422(co: Any, ns: str) -> None:
    name = create(co, ns, widget(unique()))["metadata"]["name"]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
           {"op": "replace", "path": "/spec/size", "value": 2}]
    with pytest.raises(ApiException) as err:
        co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, ops,
                                          _content_type="application/json-patch+json")
    assert err.value.status == 422


def test_namespace_in_body_different_from_url_gets_400(co: Any, ns: str) -> None:
    body = widget(unique())
    body["metadata"]["namespace"] = "default"
    with pytest.raises(ApiException) as err:
        create(co, ns, body)
    assert err.value.status == 400 and status_of(err.value)["reason"] == "BadRequest"


def test_missing_object_gets_404_status_with_details(co: Any, ns: str) -> None:
    with pytest.raises(ApiException) as err:
        co.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "nope")
    body = status_of(err.value)
    assert err.value.status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["details"]["name"] == "nope" and body["details"]["group"] == GROUP


def test_duplicate_create_gets_409_already_exists(co: Any, ns: str) -> None:
    body = widget(unique())
    create(co, ns, body)
    with pytest.raises(ApiException) as err:
        create(co, ns, body)
    assert err.value.status == 409 and status_of(err.value)["reason"] == "AlreadyExists"


def test_schema_violation_gets_422_invalid_with_field_path(co: Any, ns: str) -> None:
    with pytest.raises(ApiException) as err:
        create(co, ns, widget("bad", tasks=[{"name": "Bad_Name"}]))
    body = status_of(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.tasks[0].name"
    assert body["message"] == (f'Widget.{GROUP} "bad" is invalid: spec.tasks[0].name: Invalid value: "Bad_Name": '
                               f"spec.tasks[0].name in body should match '{NAME_PATTERN}'")


def test_missing_required_field_is_reported(co: Any, ns: str) -> None:
    body = widget("nosize")
    del body["spec"]["size"]
    with pytest.raises(ApiException) as err:
        create(co, ns, body)
    assert "spec.size: Required value" in status_of(err.value)["message"]


def test_cel_rule_rejects_object_with_its_message(co: Any, ns: str) -> None:
    with pytest.raises(ApiException) as err:
        create(co, ns, widget(unique(), size=11))
    assert err.value.status == 422 and "size must not exceed maxSize" in status_of(err.value)["message"]


def test_cel_transition_rule_makes_color_immutable(co: Any, ns: str) -> None:
    name = create(co, ns, widget(unique(), color="red"))["metadata"]["name"]
    with pytest.raises(ApiException) as err:
        co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": {"color": "green"}})
    body = status_of(err.value)
    assert err.value.status == 422 and body["details"]["causes"][0]["field"] == "spec.color"
    assert "color is immutable" in body["message"]


def test_defaults_applied_and_unknown_fields_pruned(co: Any, ns: str) -> None:
    obj = create(co, ns, widget(unique(), bogus=1, extra={"kept": {"deep": True}}))
    assert obj["spec"]["maxSize"] == 10 and obj["spec"]["color"] == "blue"
    assert "bogus" not in obj["spec"] and obj["spec"]["extra"] == {"kept": {"deep": True}}


def test_dry_run_create_validates_without_persisting(co: Any, ns: str) -> None:
    name = unique()
    co.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, widget(name), dry_run="All")
    with pytest.raises(ApiException) as err:
        co.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert err.value.status == 404


def test_generate_name_gives_unique_names(core: Any, ns: str) -> None:
    made = [core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}}) for _ in range(3)]
    names = {cm.metadata.name for cm in made}
    assert len(names) == 3 and all(n.startswith("gen-") and len(n) > 4 for n in names)


def test_list_has_kind_api_version_and_resource_version(co: Any, ns: str) -> None:
    create(co, ns, widget(unique()))
    listed = co.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
    assert listed["kind"] == "WidgetList" and listed["apiVersion"] == f"{GROUP}/{VERSION}"
    assert listed["metadata"]["resourceVersion"].isdigit()


def test_label_selector_operators(core: Any, k8s_api_client: Any) -> None:
    ns = make_namespace(k8s_api_client)
    for name, labels in {"a": {"tier": "web", "env": "prod"}, "b": {"tier": "db"}, "c": {}}.items():
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        return sorted(cm.metadata.name for cm in core.list_namespaced_config_map(ns, label_selector=selector).items
                      if cm.metadata.name in "abc")

    assert names("tier=web") == ["a"] and names("tier==db") == ["b"]
    assert names("tier!=web") == ["b", "c"] and names("tier in (web,db)") == ["a", "b"]
    assert names("tier notin (web)") == ["b", "c"] and names("env") == ["a"] and names("!env") == ["b", "c"]
    assert names("tier,env=prod") == ["a"]


def test_field_selector_on_name_and_cross_namespace_list(co: Any, ns: str) -> None:
    name = unique()
    create(co, ns, widget(name))
    found = co.list_cluster_custom_object(GROUP, VERSION, PLURAL, field_selector=f"metadata.name={name}")["items"]
    assert [(w["metadata"]["namespace"], w["metadata"]["name"]) for w in found] == [(ns, name)]


def test_limit_and_continue_paginate_consistently(core: Any, k8s_api_client: Any) -> None:
    ns = make_namespace(k8s_api_client)
    for i in range(5):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"p{i}"}})
    first = core.list_namespaced_config_map(ns, limit=2)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "p9-late"}})  # not in the snapshot
    names = [cm.metadata.name for cm in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(ns, limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [cm.metadata.name for cm in page.items]
        token = page.metadata._continue
    assert [n for n in names if n.startswith("p")] == ["p0", "p1", "p2", "p3", "p4"]


def test_finalizer_holds_deletion_until_removed(co: Any, ns: str) -> None:
    body = widget(unique())
    body["metadata"]["finalizers"] = ["test.kuberun.dev/hold"]
    obj = create(co, ns, body)
    name = obj["metadata"]["name"]
    co.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    held = co.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert held["metadata"]["deletionTimestamp"]
    assert int(held["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])
    co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        co.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert err.value.status == 404


def test_delete_of_configmap_answers_success_status(core: Any, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "gone"}})
    result = core.delete_namespaced_config_map("gone", ns)
    result = result if isinstance(result, dict) else result.to_dict()
    assert result["kind"] == "Status" and result["status"] == "Success" and result["details"]["name"] == "gone"


def _owned_config_map(core: Any, ns: str, owner: dict[str, Any]) -> str:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    name = unique("child")
    core.create_namespaced_config_map(ns, {"metadata": {"name": name, "ownerReferences": [ref]}})
    return name


def _exists(core: Any, ns: str, name: str) -> bool:
    try:
        core.read_namespaced_config_map(name, ns)
        return True
    except ApiException as e:
        assert e.status == 404
        return False


def test_background_deletion_collects_dependents(co: Any, core: Any, ns: str) -> None:
    owner = create(co, ns, widget(unique()))
    child = _owned_config_map(core, ns, owner)
    co.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, owner["metadata"]["name"])
    # A real garbage collector watches a new CRD's kind only after its next discovery resync (every
    # 30 s in kube-controller-manager), so against a real control plane this takes up to ~45 s.
    eventually(lambda: not _exists(core, ns, child), timeout=75)


def test_orphan_deletion_keeps_dependents_without_owner_reference(co: Any, core: Any, ns: str) -> None:
    owner = create(co, ns, widget(unique()))
    child = _owned_config_map(core, ns, owner)
    co.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, owner["metadata"]["name"], propagation_policy="Orphan")
    eventually(lambda: not core.read_namespaced_config_map(child, ns).metadata.owner_references, timeout=30)
    assert _exists(core, ns, child)


def test_strategic_merge_patch_merges_containers_by_name(core: Any, ns: str) -> None:
    containers = [{"name": "a", "image": "busybox:1"}, {"name": "b", "image": "busybox:1"}]
    core.create_namespaced_pod(ns, {"metadata": {"name": "smp"}, "spec": {"containers": containers}})
    patched = core.patch_namespaced_pod("smp", ns, {"spec": {"containers": [{"name": "b", "image": "busybox:2"}]}})
    assert [(c.name, c.image) for c in patched.spec.containers] == [("a", "busybox:1"), ("b", "busybox:2")]


def test_watch_without_resource_version_starts_with_synthetic_added(co: Any, ns: str) -> None:
    name = unique()
    create(co, ns, widget(name))
    events = list(watch.Watch().stream(co.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL,
                                       field_selector=f"metadata.name={name}", timeout_seconds=1))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", name)]


def test_watch_resumes_from_resource_version_without_losing_events(co: Any, ns: str) -> None:
    name = unique()
    rv = co.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["metadata"]["resourceVersion"]
    create(co, ns, widget(name))
    co.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": {"size": 2}})
    co.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    events = watch.Watch().stream(co.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL,
                                  resource_version=rv, timeout_seconds=1)
    mine = [e["type"] for e in events if e["object"]["metadata"]["name"] == name]
    assert mine == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_honours_label_selector(core: Any, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": unique("sel"), "labels": {"pick": "yes"}}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": unique("sel"), "labels": {"pick": "no"}}})
    events = watch.Watch().stream(core.list_namespaced_config_map, ns, label_selector="pick=yes",
                                  resource_version=rv, timeout_seconds=1)
    assert [e["object"].metadata.labels["pick"] for e in events] == ["yes"]


def test_discovery_serves_crd_group_with_status_subresource(k8s_api_client: Any) -> None:
    groups = client.ApisApi(k8s_api_client).get_api_versions().groups
    assert GROUP in {g.name for g in groups}
    resources = client.CustomObjectsApi(k8s_api_client).get_api_resources(GROUP, VERSION).resources
    by_name = {r.name: r for r in resources}
    assert by_name[PLURAL].kind == "Widget" and by_name[PLURAL].namespaced and "wd" in by_name[PLURAL].short_names
    assert "widgets/status" in by_name and "watch" in by_name[PLURAL].verbs


def test_core_discovery_has_pods_log_and_cluster_scoped_namespaces(k8s_api_client: Any) -> None:
    resources = {r.name: r for r in client.CoreV1Api(k8s_api_client).get_api_resources().resources}
    assert "pods/log" in resources and not resources["namespaces"].namespaced and resources["configmaps"].namespaced


def test_default_namespaces_exist(core: Any) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system"} <= names
