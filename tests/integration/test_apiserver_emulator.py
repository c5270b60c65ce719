"""Emulator-only behaviour: request log, fault injection, persistence, pod logs, Tables, watch edges."""

from __future__ import annotations

import asyncio
import json
import pathlib
from typing import Any

import pytest

from kuberun_sandbox.apiserver import ApiServer, ServerStartError
from tests.helpers.auth import admin_session
from tests.helpers.widgets import GROUP, PLURAL, VERSION, WIDGET_CRD, unique, widget

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the same loop as the fixtures (pyproject)

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
WIDGETS = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"



async def test_request_log_records_rbac_verbs_and_codes(server: Any) -> None:
    srv, http = server
    await http.post(WIDGETS, json=widget("logged"))
    await http.get(f"{WIDGETS}/logged")
    await http.patch(f"{WIDGETS}/logged/status", json={"status": {"phase": "x"}},
                     headers={"Content-Type": "application/merge-patch+json"})
    await http.get(f"{WIDGETS}/missing")
    seen = [(r.verb, r.group, r.resource, r.subresource, r.namespace, r.name, r.code) for r in srv.request_log[-4:]]
    assert seen == [("create", GROUP, PLURAL, None, "default", None, 201),
                    ("get", GROUP, PLURAL, None, "default", "logged", 200),
                    ("patch", GROUP, PLURAL, "status", "default", "logged", 200),
                    ("get", GROUP, PLURAL, None, "default", "missing", 404)]


async def test_injected_fault_answers_status_then_recovers(server: Any) -> None:
    srv, http = server
    srv.inject(status=500, times=2, verb="create", resource=PLURAL)
    codes = [(await http.post(WIDGETS, json=widget("flaky"))).status for _ in range(3)]
    assert codes == [500, 500, 201]


async def test_watch_streams_json_and_honours_timeout(server: Any) -> None:
    _, http = server
    await http.post(WIDGETS, json=widget("streamed"))
    resp = await http.get(WIDGETS, params={"watch": "1", "timeoutSeconds": "1"})
    lines = (await asyncio.wait_for(resp.read(), timeout=5)).splitlines()
    assert resp.headers["Content-Type"].startswith("application/json")
    assert [json.loads(line)["type"] for line in lines] == ["ADDED"]


async def test_watch_sends_bookmarks_when_allowed(server: Any) -> None:
    srv, http = server
    srv.bookmark_interval = 0.1
    resp = await http.get(WIDGETS, params={"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "1"})
    events = [json.loads(line) for line in (await resp.read()).splitlines()]
    assert events and all(e["type"] == "BOOKMARK" and e["object"]["metadata"]["resourceVersion"] for e in events)


async def test_watch_from_compacted_resource_version_gets_410_expired() -> None:
    srv = ApiServer(history_size=3)
    await srv.start()
    try:
        async with admin_session(srv) as http:
            for i in range(5):
                await http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": f"c{i}"}})
            resp = await http.get("/api/v1/namespaces/default/configmaps", params={"watch": "1", "resourceVersion": "1"})
            event = json.loads((await resp.read()).splitlines()[0])
        assert event["type"] == "ERROR" and event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    finally:
        await srv.stop()


async def test_watch_loses_no_event_created_while_it_starts(server: Any) -> None:
    _, http = server
    watch = asyncio.ensure_future(http.get(WIDGETS, params={"watch": "1", "timeoutSeconds": "2"}))
    names = [unique() for _ in range(20)]
    for name in names:
        await http.post(WIDGETS, json=widget(name))
    resp = await watch
    seen = {json.loads(line)["object"]["metadata"]["name"] for line in (await resp.read()).splitlines()}
    assert set(names) <= seen


async def test_table_has_printer_columns_name_and_age(server: Any) -> None:
    _, http = server
    await http.post(WIDGETS, json=widget("tabled", size=3))
    await http.patch(f"{WIDGETS}/tabled/status", json={"status": {"phase": "Running"}},
                     headers={"Content-Type": "application/merge-patch+json"})
    table = await (await http.get(WIDGETS, headers={"Accept": TABLE})).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Phase", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "tabled")
    assert row["cells"][1:3] == [3, "Running"] and row["cells"][3].endswith("s")
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_openapi_v3_advertises_field_validation_for_crds(server: Any) -> None:
    _, http = server
    root = await (await http.get("/openapi/v3")).json()
    url = root["paths"][f"apis/{GROUP}/{VERSION}"]["serverRelativeURL"]
    doc = await (await http.get(url)).json()
    patch = doc["paths"][f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}/{{name}}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert f"dev.kuberun.test.{VERSION}.Widget" in doc["components"]["schemas"]


async def test_crd_gets_established_and_names_accepted(server: Any) -> None:
    _, http = server
    crd = await (await http.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{GROUP}")).json()
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}


async def test_deleting_crd_stops_serving_its_resources(server: Any) -> None:
    _, http = server
    await http.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{GROUP}")
    assert (await http.get(WIDGETS)).status == 404
    groups = await (await http.get("/apis")).json()
    assert GROUP not in {g["name"] for g in groups["groups"]}


async def test_server_side_apply_creates_merges_across_managers_and_prunes_what_one_dropped(server: Any) -> None:
    _, http = server
    headers = {"Content-Type": "application/apply-patch+yaml"}
    url = "/api/v1/namespaces/default/configmaps/applied"

    async def apply(manager: str, data: str) -> Any:
        return await http.patch(url, data=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: applied}}\ndata: {data}\n",
                                params={"fieldManager": manager}, headers=headers)

    first, second = await apply("t", "{a: '1'}"), await apply("u", "{b: '2'}")
    assert first.status == 201 and second.status == 200
    assert (await second.json())["data"] == {"a": "1", "b": "2"}
    third = await apply("t", "{c: '3'}")  # t dropped a: nobody else owns it, so it goes
    assert (await third.json())["data"] == {"b": "2", "c": "3"}


async def test_pod_log_served_by_pluggable_provider(server: Any) -> None:
    srv, http = server
    pod = {"metadata": {"name": "logged"}, "spec": {"containers": [{"name": "main", "image": "x"}]}}
    await http.post("/api/v1/namespaces/default/pods", json=pod)
    assert (await http.get("/api/v1/namespaces/default/pods/logged/log")).status == 404

    async def provider(namespace: str, name: str, container: str | None, follow: bool) -> bytes:
        return f"{namespace}/{name} says hi\n".encode()

    srv.set_log_provider(provider)
    resp = await http.get("/api/v1/namespaces/default/pods/logged/log")
    assert await resp.text() == "default/logged says hi\n"


async def test_busy_port_gives_clear_oserror(server: Any) -> None:
    srv, _ = server
    other = ApiServer()
    with pytest.raises(ServerStartError, match="already in use") as err:
        await other.start(port=srv.port)
    assert isinstance(err.value, OSError)


async def test_state_survives_restart_with_data_dir(tmp_path: pathlib.Path) -> None:
    first = ApiServer(data_dir=tmp_path)
    await first.start()
    async with admin_session(first) as http:
        await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=WIDGET_CRD)
        created = await (await http.post(WIDGETS, json=widget("kept"))).json()
    await first.stop()
    second = ApiServer(data_dir=tmp_path)
    await second.start()
    try:
        async with admin_session(second) as http:
            got = await (await http.get(f"{WIDGETS}/kept")).json()
            new = await (await http.post(WIDGETS, json=widget("after"))).json()
        assert got["metadata"]["uid"] == created["metadata"]["uid"]
        assert int(new["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    finally:
        await second.stop()

