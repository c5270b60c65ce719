"""The emulator's durable state: restarts keep the counter, a legacy snapshot migrates once, failures are clear.

Emulator-only (a real cluster's etcd is not restarted here); the SIGKILL test is test_apiserver_crash.py.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sqlite3
import time
from typing import Any

import aiohttp
import pytest

from kuberun_sandbox.apiserver import ApiServer, ServerStartError, run_in_thread
from kuberun_sandbox.apiserver.errors import ApiError
from tests.helpers.auth import admin_session

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the same loop as the fixtures (pyproject)

CMS = "/api/v1/namespaces/default/configmaps"


async def _started(data_dir: pathlib.Path, **kwargs: Any) -> ApiServer:
    server = ApiServer(data_dir=data_dir, **kwargs)
    await server.start()
    return server


async def _create(http: aiohttp.ClientSession, name: str, **data: str) -> dict[str, Any]:
    resp = await http.post(CMS, json={"metadata": {"name": name}, "data": data})
    assert resp.status == 201, await resp.text()
    return await resp.json()


@pytest.mark.parametrize("sync", ["normal", "full"])
async def test_restart_keeps_objects_deletions_and_the_resource_version_counter(
        tmp_path: pathlib.Path, sync: str) -> None:
    first = await _started(tmp_path, sync=sync)
    async with admin_session(first) as http:
        kept = await _create(http, "kept", v="1")
        await _create(http, "gone")
        resp = await http.delete(f"{CMS}/gone")
        assert resp.status == 200
        last = first.store.resource_version
    await first.stop()
    second = await _started(tmp_path, sync=sync)
    try:
        async with admin_session(second) as http:
            listed = await (await http.get(CMS)).json()
            new = await _create(http, "after")
        assert [o["metadata"]["name"] for o in listed["items"]] == ["kept"]
        assert listed["items"][0] == kept
        assert int(listed["metadata"]["resourceVersion"]) == last  # the delete's bump is kept too
        assert int(new["metadata"]["resourceVersion"]) == last + 1
    finally:
        await second.stop()


async def test_a_watch_from_before_the_restart_is_told_to_relist(tmp_path: pathlib.Path) -> None:
    first = await _started(tmp_path)
    async with admin_session(first) as http:
        created = await _create(http, "w")
        await _create(http, "w2")
    await first.stop()
    second = await _started(tmp_path)
    try:
        async with admin_session(second) as http:
            rv = created["metadata"]["resourceVersion"]
            resp = await http.get(CMS, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "5"})
            first_line = json.loads(await resp.content.readline())
        assert first_line["type"] == "ERROR" and first_line["object"]["code"] == 410
    finally:
        await second.stop()


async def test_a_legacy_json_snapshot_is_migrated_once(tmp_path: pathlib.Path) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"v": "old"},
           "metadata": {"name": "legacy", "namespace": "default", "uid": "u-1", "resourceVersion": "480",
                        "creationTimestamp": "2026-01-01T00:00:00Z"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
          "metadata": {"name": "default", "uid": "u-0", "resourceVersion": "2", "creationTimestamp": "2026-01-01T00:00:00Z"}}
    (tmp_path / "apiserver-state.json").write_text(json.dumps({"resourceVersion": 500, "objects": [
        {"key": ["", "namespaces", "", "default"], "object": ns},
        {"key": ["", "configmaps", "default", "legacy"], "object": obj}]}))
    first = await _started(tmp_path)
    async with admin_session(first) as http:
        got = await (await http.get(f"{CMS}/legacy")).json()
        new = await _create(http, "new")
        assert (await http.delete(f"{CMS}/legacy")).status == 200
    await first.stop()
    assert got == obj
    assert int(new["metadata"]["resourceVersion"]) > 500
    assert not (tmp_path / "apiserver-state.json").exists()
    assert (tmp_path / "apiserver-state.json.migrated").exists()
    (tmp_path / "apiserver-state.json.migrated").rename(tmp_path / "apiserver-state.json")  # a stray old file
    second = await _started(tmp_path)
    try:
        async with admin_session(second) as http:
            assert (await http.get(f"{CMS}/legacy")).status == 404  # the database wins: not imported again
    finally:
        await second.stop()


async def test_a_corrupt_legacy_snapshot_is_a_clear_start_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "apiserver-state.json").write_text('{"resourceVersion": 5, "objects": [{"key"')
    with pytest.raises(ServerStartError, match=r"cannot migrate .*apiserver-state\.json.*move it away"):
        await _started(tmp_path)


async def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: pathlib.Path) -> None:
    first = await _started(tmp_path)
    try:
        with pytest.raises(ServerStartError, match="another API server is using"):
            await _started(tmp_path)
    finally:
        await first.stop()
    again = await _started(tmp_path)  # the lock goes with the server
    await again.stop()


async def test_a_write_that_cannot_be_stored_is_a_500_and_changes_nothing(tmp_path: pathlib.Path) -> None:
    server = await _started(tmp_path)
    try:
        async with admin_session(server) as http:
            await _create(http, "small")
            before = server.store.resource_version
            # The disk is "full": the database may not grow by another page.
            conn = sqlite3.connect(tmp_path / "apiserver.sqlite3")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.close()
            server.store._durable._conn.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[union-attr]
            resp = await http.post(CMS, json={"metadata": {"name": "big"}, "data": {"v": "x" * 200_000}})
            body = await resp.json()
            missing = await http.get(f"{CMS}/big")
            assert resp.status == 500 and body["reason"] == "InternalError", body
            assert "could not be stored" in body["message"]
            assert missing.status == 404
            assert server.store.resource_version == before
            server.store._durable._conn.execute("PRAGMA max_page_count = 1073741823")  # type: ignore[union-attr]
            stored = await _create(http, "big", v="x" * 200_000)
            assert int(stored["metadata"]["resourceVersion"]) == before + 1
    finally:
        await server.stop()


async def test_concurrent_writes_share_commits_and_each_is_answered_after_its_commit(tmp_path: pathlib.Path) -> None:
    commits: list[int] = []  # the resourceVersion covered by each commit, in the server's thread

    with run_in_thread(data_dir=tmp_path) as server:
        durable = server.store._durable
        assert durable is not None
        real_commit = durable.commit

        def slow_commit() -> None:
            time.sleep(0.02)  # a slow disk: an answer sent before the commit would arrive first
            real_commit()
            commits.append(server.store.resource_version)

        durable.commit = slow_commit  # type: ignore[method-assign]
        async with admin_session(server) as http:
            async def create(i: int) -> int:
                created = await _create(http, f"c-{i}")
                rv = int(created["metadata"]["resourceVersion"])
                assert commits and max(commits) >= rv, "answered before its write was committed"
                return rv

            rvs = await asyncio.gather(*(create(i) for i in range(40)))
    assert sorted(rvs) == list(range(min(rvs), min(rvs) + 40))
    assert 0 < len(commits) < 40  # group commit: fewer commits than writes


async def test_a_group_whose_commit_fails_is_undone_and_each_of_its_requests_answers_500(
        tmp_path: pathlib.Path) -> None:
    server = await _started(tmp_path)
    durable = server.store._durable
    assert durable is not None
    real_commit = durable.commit
    failures = [ApiError(500, "InternalError", "the write could not be stored: disk I/O error")]

    def failing_once() -> None:
        if failures:
            durable._conn.execute("ROLLBACK")  # type: ignore[union-attr]  # as SQLite does on an I/O error
            raise failures.pop()
        real_commit()

    try:
        async with admin_session(server) as http:
            await _create(http, "before")
            before = server.store.resource_version
            durable.commit = failing_once  # type: ignore[method-assign]
            answers = await asyncio.gather(*(http.post(CMS, json={"metadata": {"name": f"g-{i}"}}) for i in range(5)))
            codes = [a.status for a in answers]
            listed = await (await http.get(CMS)).json()
            after = await _create(http, "after")
        names = {o["metadata"]["name"] for o in listed["items"]}
        ok = {f"g-{i}" for i, code in enumerate(codes) if code == 201}
        assert 500 in codes and set(codes) <= {201, 500}
        assert names == {"before"} | ok  # nothing of the failed group stayed, the rest did
        assert int(after["metadata"]["resourceVersion"]) == before + len(ok) + 1
    finally:
        await server.stop()
    reopened = await _started(tmp_path)
    try:
        assert {k[3] for k, _ in reopened.store.items() if k[1] == "configmaps"} == {"before", "after"} | ok
    finally:
        await reopened.stop()


async def test_a_crd_whose_commit_fails_is_not_served(tmp_path: pathlib.Path) -> None:
    from tests.helpers.widgets import GROUP, PLURAL, VERSION, WIDGET_CRD

    server = await _started(tmp_path)
    durable = server.store._durable
    assert durable is not None
    real_commit = durable.commit

    def failing() -> None:
        durable._conn.execute("ROLLBACK")  # type: ignore[union-attr]
        raise ApiError(500, "InternalError", "the write could not be stored: disk I/O error")

    widgets = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
    try:
        async with admin_session(server) as http:
            durable.commit = failing  # type: ignore[method-assign]
            refused = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=WIDGET_CRD)
            durable.commit = real_commit  # type: ignore[method-assign]
            served = await http.get(widgets)
            again = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=WIDGET_CRD)
            now = await http.get(widgets)
        assert refused.status == 500
        assert served.status == 404
        assert again.status == 201 and now.status == 200
    finally:
        await server.stop()


async def test_a_transaction_sqlite_rolled_back_on_its_own_fails_the_commit(tmp_path: pathlib.Path) -> None:
    from kuberun_sandbox.apiserver.durable import DurableState, encode

    state = DurableState(tmp_path)
    state.open()
    try:
        state.stage(2, ("", "configmaps", "default", "a"), encode({"metadata": {"name": "a"}}))
        state._conn.execute("ROLLBACK")  # type: ignore[union-attr]  # what SQLite does on some I/O errors
        with pytest.raises(ApiError, match="could not be stored"):
            state.commit()
        state.stage(3, ("", "configmaps", "default", "b"), encode({"metadata": {"name": "b"}}))
        state.commit()
    finally:
        state.close()
    reopened = DurableState(tmp_path)
    rv, objects = reopened.open()
    reopened.close()
    assert (rv, [k[3] for k in objects]) == (3, ["b"])
