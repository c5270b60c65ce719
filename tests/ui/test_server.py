"""The dashboard over HTTP against the sandbox's API server: pages, paging, escaping, live ETags, guards, RBAC refusals."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.helpers import Client, DashboardThread, get_experiment, patch_experiment

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def _create(kubeconfig: Path, title: str, tasks: int = 1) -> str:
    import kuberun as kr

    with kr.Experiment(title) as exp:
        previous = None
        for i in range(tasks):
            previous = exp.add(kr.Script(inline=f"echo {i}"), name=f"t{i}", dependencies=[previous] if previous else None)
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


@pytest.fixture(scope="module")
def world(bare_sandbox) -> Iterator[dict]:
    kubeconfig = bare_sandbox.kubeconfig
    names = {"alpha": [_create(kubeconfig, "alpha", tasks=2) for _ in range(3)],
             "beta": [_create(kubeconfig, "beta") for _ in range(22)], "xss": [_create(kubeconfig, XSS)]}
    with DashboardThread(kubeconfig) as dashboard:
        yield {"kubeconfig": kubeconfig, "names": names, "dashboard": dashboard}


@pytest.fixture
def client(world) -> Client:
    return Client(world["dashboard"])


def _row_names(body: str) -> list[str]:
    return re.findall(r'<tr data-name="([^"]+)"', body)


def test_the_list_filters_by_title_on_the_server(world, client):
    status, headers, body = client.get("/?title=alpha")
    assert status == 200 and sorted(_row_names(body)) == sorted(world["names"]["alpha"])
    assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"


def test_the_list_pages_on_the_server_without_overlap(world, client):
    status, _, first = client.get("/?limit=20")
    assert status == 200 and len(_row_names(first)) == 20
    next_link = re.search(r'href="([^"]+)" id="next-page"', first).group(1).replace("&amp;", "&")
    assert "continue=" in next_link
    status, _, second = client.get(next_link)
    rest = _row_names(second)
    everything = [n for group in world["names"].values() for n in group]
    assert status == 200 and len(rest) == len(everything) - 20
    assert sorted(_row_names(first) + rest) == sorted(everything)
    assert 'id="next-page"' not in second and 'id="first-page"' in second


def test_sorting_orders_the_page_by_the_chosen_column(client):
    _, _, body = client.get("/?title=alpha&sort=name&dir=asc")
    names = _row_names(body)
    assert names == sorted(names) and 'aria-sort="ascending"' in body


def test_a_title_with_markup_is_shown_as_text(world, client):
    name = world["names"]["xss"][0]
    for path in ("/", f"/exp/default/{name}", "/fragments/list"):
        status, _, body = client.get(path)
        assert status == 200, path
        assert "<script>window.__pwned" not in body and "<img src=x" not in body, path
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body, path


def test_a_bad_age_filter_is_a_clear_message_not_a_crash(client):
    status, _, body = client.get("/?since=yesterday")
    assert status == 400 and "invalid duration" in body and 'id="list-problem"' in body


def test_an_unknown_experiment_is_a_404_page(client):
    status, _, body = client.get("/exp/default/no-such-exp")
    assert status == 404 and 'experiment &#34;no-such-exp&#34; not found' in body


def test_live_fragments_answer_304_until_the_record_changes(world, client):
    name = world["names"]["alpha"][0]
    path = f"/fragments/exp/default/{name}"
    status, headers, body = client.get(path)
    etag = headers["ETag"]
    assert status == 200 and headers["X-Final"] == "0" and 'data-phase="Pending"' in body
    status, _, _ = client.get(path, headers={"If-None-Match": etag})
    assert status == 304
    patch_experiment(world["kubeconfig"], "default", name, {"status": {"phase": "Succeeded", "progress": "2/2", "tasks": [
        {"name": "t0", "phase": "Succeeded", "attempt": 1, "attempts": [
            {"attempt": 1, "phase": "Succeeded", "exitCode": 0, "startTime": "2026-01-01T00:00:00Z", "finishTime": "2026-01-01T00:00:05Z",
             "backendRef": {"backend": "kubernetes", "idempotencyKey": "k", "id": "job-1"}}]}]}}, status=True)
    status, headers, body = client.get(path, headers={"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag and headers["X-Final"] == "1"
    assert 'id="node-t0" class="node phase-ok" data-task="t0" data-phase="Succeeded"' in body
    assert 'id="bar-t0-1"' in body and 'id="edge-t0-t1"' in body


def test_no_access_token_no_record(world):
    anonymous = Client(world["dashboard"], login=False)
    status, _, body = anonymous.get("/")
    assert status == 401 and "access token" in body
    status, _, _ = anonymous.get(f"/?token={'x' * 32}")
    assert status == 401


def test_a_foreign_host_name_is_refused(client):
    status, _, _ = client.get("/", headers={"Host": "evil.example:80"})
    assert status == 421


def test_an_action_needs_the_form_token_and_this_origin(world, client):
    name = world["names"]["alpha"][1]
    url = f"/exp/default/{name}/action/cancel"
    origin = {"Origin": world["dashboard"].base}
    assert client.post(url, {}, origin)[0] == 403
    assert client.post(url, {"csrf": "guess"}, origin)[0] == 403
    assert client.post(url, {"csrf": world["dashboard"].csrf}, {"Origin": "http://evil.example"})[0] == 403
    assert (get_experiment(world["kubeconfig"], "default", name)["spec"].get("shutdown")) is None
    status, headers, _ = client.post(url, {"csrf": world["dashboard"].csrf}, origin)
    assert status == 303 and headers["Location"] == f"/exp/default/{name}?done=cancel"
    assert get_experiment(world["kubeconfig"], "default", name)["spec"]["shutdown"] == "Terminate"


def test_a_task_cancel_needs_the_form_token_this_origin_and_a_known_task(world, client):
    name = _create(world["kubeconfig"], "gamma", tasks=2)
    url = f"/exp/default/{name}/action/cancel-task"
    origin, csrf = {"Origin": world["dashboard"].base}, world["dashboard"].csrf
    assert client.post(url, {"task": "t1"}, origin)[0] == 403
    assert client.post(url, {"csrf": csrf, "task": "t1"}, {"Origin": "http://evil.example"})[0] == 403
    assert client.post(url, {"csrf": csrf}, origin)[0] == 400  # which task is not guessed
    assert client.post(url, {"csrf": csrf, "task": "nope"}, origin)[0] == 404
    assert get_experiment(world["kubeconfig"], "default", name)["spec"].get("cancelTasks") is None
    status, body = client.get(f"/exp/default/{name}/confirm/cancel-task?task=t1")[::2]
    assert status == 200 and "Cancel task t1 of" in body and 'name="task" value="t1"' in body
    status, headers, _ = client.post(url, {"csrf": csrf, "task": "t1"}, origin)
    assert status == 303 and headers["Location"] == f"/exp/default/{name}?done=cancel-task&task=t1#task-t1"
    assert [c["task"] for c in get_experiment(world["kubeconfig"], "default", name)["spec"]["cancelTasks"]] == ["t1"]


def test_the_confirmation_page_carries_the_token_and_says_what_happens(world, client):
    name = world["names"]["alpha"][2]
    status, _, body = client.get(f"/exp/default/{name}/confirm/suspend")
    assert status == 200 and f'value="{world["dashboard"].csrf}"' in body and "spec.suspend: true" in body
    assert client.get(f"/exp/default/{name}/confirm/explode")[0] == 400


# -- RBAC: an API server that lets the user read but not patch ------------------------------------


@pytest.fixture
def read_only_api(tmp_path) -> Iterator[Path]:
    """A tiny API server answering reads and refusing writes with a real 403 Status, like RBAC does."""
    import asyncio

    from aiohttp import web

    obj = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment",
           "metadata": {"name": "locked", "namespace": "team", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"title": "locked", "tasks": [{"name": "a", "script": {"inline": "true"}, "executor": {"kubernetes": {}}}]}}
    message = ('experiments.kuberun.dev "locked" is forbidden: User "viewer" cannot patch resource "experiments" '
               'in API group "kuberun.dev" in the namespace "team"')

    async def get(request: web.Request) -> web.Response:
        return web.json_response(obj)

    async def patch(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": message}, status=403)

    app = web.Application()
    app.router.add_get("/apis/kuberun.dev/v1alpha1/namespaces/team/experiments/locked", get)
    app.router.add_patch("/apis/kuberun.dev/v1alpha1/namespaces/team/experiments/locked", patch)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app)
    asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
    port = runner.addresses[0][1]
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "v",
                                  "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                                  "users": [{"name": "viewer", "user": {"token": "t"}}],
                                  "contexts": [{"name": "v", "context": {"cluster": "c", "user": "viewer", "namespace": "team"}}]}))
    try:
        yield config
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_forbidden_action_shows_the_rbac_message(read_only_api):
    with DashboardThread(read_only_api) as dashboard:
        client = Client(dashboard)
        status, _, body = client.post("/exp/team/locked/action/cancel", {"csrf": dashboard.csrf}, {"Origin": dashboard.base})
    assert status == 403
    assert "forbidden: user &#34;viewer&#34; may not patch experiments.kuberun.dev in namespace &#34;team&#34;" in body
    assert "ask for RBAC verb &#39;patch&#39;" in body
