"""Attacks on the pod upload route, and the runner's uploader against it, with real pods and real bound tokens.

Two experiments run in the sandbox, each with a pod held running. Tokens are minted the way the
kubelet mints them — TokenRequest bound to the pod — by the administrator. A record server with
small limits (so an oversize upload is cheap) reads the sandbox's store and reviews through the
sandbox's API server, as the operator's server does. Each attack must be refused with a clear code
and leave nothing in the store.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config

import kuberun as kr
from kuberun.resource import recordserver as contract
from kuberun.resource import upload
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks
from tests.helpers.operator import get_experiment, wait_for

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")
ROOT = pathlib.Path(__file__).resolve().parents[2]
REVIEW_TTL = 1.0  # the test server's review caches (the default is 10 s)


class Loop:
    """An event loop on a thread, for a record server of the test's own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def _running_attempt(api: Any, name: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(experiment, attempt, running pod) of a one-task experiment."""
    core = client.CoreV1Api(api)

    def running():
        exp = get_experiment(api, "default", name)
        attempts = ((exp.get("status") or {}).get("tasks") or [{}])[0].get("attempts") or []
        job = (attempts[-1].get("backendRef") or {}).get("id") if attempts else None
        pods = core.list_namespaced_pod("default", label_selector=f"job-name={job}").items if job else []
        pod = next((p for p in pods if p.status.phase == "Running"), None)
        return (exp, attempts[-1], pod) if pod is not None else None
    return wait_for(running, timeout=60, what=f"a running pod of {name}")


def _bound_token(api: Any, pod: Any, audience: str = upload.AUDIENCE) -> str:
    body = {"spec": {"audiences": [audience], "expirationSeconds": 3600,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}}}
    return str(client.CoreV1Api(api).create_namespaced_service_account_token(
        pod.spec.service_account_name or "default", "default", body).status.token)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from kuberun_operator.connection import api_client
    from kuberun_operator.logstore import LogStore
    from kuberun_operator.server import RecordServer, ServerConfig
    from kuberun_operator.server.uploads import UploadLimits
    from kuberun_operator.settings import Settings

    tmp = tmp_path_factory.mktemp("pod-attacks")
    release = tmp / "release"
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved]))
    loop = Loop()
    try:
        with Sandbox(data_dir=tmp / "sb", operator=True) as sb:
            assert sb.operator_running, sb.operator_error
            names = {}
            for who in ("a", "b"):
                exp = kr.Experiment(f"attack-{who}")
                exp.add(kr.Partial(tasks.checkpoint_every_step, steps=1, release=str(release)), name="train")
                names[who] = exp.run(kubeconfig=str(sb.kubeconfig))["metadata"]["name"]
            api = config.new_client_from_config(config_file=str(sb.kubeconfig))
            running = {who: _running_attempt(api, name) for who, name in names.items()}
            limits = UploadLimits(max_file_bytes=1024, max_attempt_bytes=4096, max_files=3, max_series_bytes=1024)
            server = loop.run(RecordServer.start(
                ServerConfig(host="127.0.0.1", port=0, logstore_url=str(sb.log_store_dir), upload_limits=limits,
                             review_ttl=REVIEW_TTL),
                api_client(Settings(kubeconfig=sb.operator_kubeconfig))))
            try:
                yield {"sb": sb, "api": api, "names": names, "running": running, "url": server.url, "loop": loop,
                       "store": LogStore.from_url(str(sb.log_store_dir)), "release": release,
                       "token": _bound_token(api, running["a"][2])}
            finally:
                release.write_text("go")
                loop.run(server.stop())
                api.close()
    finally:
        loop.close()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _base(world: dict[str, Any], who: str, task: str = "train", attempt: int | None = None) -> str:
    _, att, _ = world["running"][who]
    return world["url"] + upload.attempt_path("default", world["names"][who], task,
                                              att["attempt"] if attempt is None else attempt)


def _put(url: str, token: str | None, body: bytes = b"data\n", **headers: str) -> urllib3.BaseHTTPResponse:
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib3.PoolManager(retries=False).request("PUT", url, body=body, headers={**sent, **headers}, timeout=30.0)


def _stored(world: dict[str, Any], who: str, relative: str) -> bool:
    from kuberun_operator.logstore import paths

    exp, att, _ = world["running"][who]
    key = paths.join(paths.artifacts_prefix("default", exp["metadata"]["name"], exp["metadata"]["uid"], "train",
                                            att["attempt"]), relative)
    return world["loop"].run(world["store"].exists(key))


def _reason(resp: urllib3.BaseHTTPResponse) -> str:
    return json.loads(resp.data)["message"]


def test_a_pod_uploads_into_its_own_attempt(world):
    resp = _put(upload.artifact_path(_base(world, "a"), "probe/own.txt"), world["token"], b"mine\n")
    assert resp.status == 201, resp.data
    assert json.loads(resp.data)["size"] == 5 and _stored(world, "a", "probe/own.txt")


def test_a_pod_of_experiment_a_cannot_upload_into_bs_attempt(world):
    for url in (upload.artifact_path(_base(world, "b"), "stolen.txt"), _base(world, "b") + "/metrics"):
        resp = _put(url, world["token"], b"from a\n")
        assert resp.status == 403, resp.data
        assert "may upload only into its own attempt" in _reason(resp)
    assert not _stored(world, "b", "stolen.txt")


@pytest.mark.parametrize("where", ["another-attempt", "another-task"])
def test_nor_into_another_attempt_or_task_of_its_own_experiment(world, where):
    _, att, _ = world["running"]["a"]
    base = _base(world, "a", attempt=att["attempt"] + 1) if where == "another-attempt" else _base(world, "a", task="eval")
    resp = _put(upload.artifact_path(base, "x.txt"), world["token"])
    assert resp.status == 403, resp.data


def test_a_token_for_another_audience_is_401(world):
    wrong = _bound_token(world["api"], world["running"]["a"][2], audience="someone-else")
    resp = _put(upload.artifact_path(_base(world, "a"), "wrong-audience.txt"), wrong)
    assert resp.status == 401 and not _stored(world, "a", "wrong-audience.txt")


@pytest.mark.parametrize("who", ["administrator", "user"])
def test_a_users_own_token_is_401(world, who):
    from kuberun.api.kubeconfig import load_credentials

    sb = world["sb"]
    kubeconfig = sb.kubeconfig if who == "administrator" else sb.mint_user("mallory", namespace="default")
    header = load_credentials(str(kubeconfig)).headers["Authorization"]
    assert header.startswith("Bearer ")
    resp = _put(upload.artifact_path(_base(world, "a"), f"{who}.txt"), header.split(" ", 1)[1])
    assert resp.status == 401 and not _stored(world, "a", f"{who}.txt")


@pytest.mark.parametrize("path", ["%2E%2E/%2E%2E/escaped.txt", "a/%2E%2E/%2E%2E/%2E%2E/escaped.txt", "trailing/",
                                  "a%2Fb/%00x", "not-utf8-%FF.txt", "back%5Cslash.txt"])
def test_paths_that_leave_the_prefix_are_400_and_nothing_is_written(world, path):
    resp = _put(_base(world, "a") + "/artifacts/" + path, world["token"])
    assert resp.status == 400, resp.data
    assert "nothing written" in _reason(resp)
    root = pathlib.Path(world["sb"].log_store_dir)
    assert not [p for p in root.rglob("escaped.txt")]


def test_a_raw_dotdot_path_never_reaches_another_attempt(world):
    # Sent as is (no client normalization): the server either refuses the path or sees another attempt.
    pool = urllib3.PoolManager(retries=False)
    raw = _base(world, "a") + "/artifacts/../../../../../" + world["names"]["b"] + "/tasks/train/attempts/1/artifacts/x"
    resp = pool.urlopen("PUT", raw, body=b"x", headers={"Authorization": f"Bearer {world['token']}"},
                        assert_same_host=False)
    assert resp.status in (400, 403, 404), resp.data
    assert not _stored(world, "b", "x")


def test_an_oversize_upload_is_413_and_nothing_is_written(world):
    resp = _put(upload.artifact_path(_base(world, "a"), "big.bin"), world["token"], b"x" * 2048)
    assert resp.status == 413 and "nothing written" in _reason(resp)
    assert not _stored(world, "a", "big.bin")
    series = _put(_base(world, "a") + "/metrics", world["token"], b"{}\n" * 1000)
    assert series.status == 413


def test_the_attempt_s_file_count_is_bounded(world):
    statuses = [_put(upload.artifact_path(_base(world, "a"), f"many/{i}.txt"), world["token"]).status for i in range(4)]
    assert 413 in statuses and statuses[0] == 201
    assert not _stored(world, "a", f"many/{statuses.index(413)}.txt")


def test_a_body_without_content_length_is_411(world):
    pool = urllib3.PoolManager(retries=False)
    resp = pool.request("PUT", upload.artifact_path(_base(world, "a"), "chunked.txt"), body=io.BytesIO(b"abc"),
                        headers={"Authorization": f"Bearer {world['token']}", "Transfer-Encoding": "chunked"},
                        chunked=True)
    assert resp.status == 411 and not _stored(world, "a", "chunked.txt")


def test_the_runners_uploader_is_incremental_and_a_dead_server_never_fails_it(world, tmp_path, capsys):
    from kuberun.upload import Uploader

    token_file = tmp_path / "token"
    token_file.write_text(world["token"])
    outputs = tmp_path / "outputs"
    (outputs / "artifacts").mkdir(parents=True)
    (outputs / "artifacts" / "ckpt.txt").write_text("one\n")
    (outputs / "metrics.jsonl").write_text(json.dumps({"name": "loss", "step": 0, "value": 1.0}) + "\n")
    sent: list[str] = []

    class Counting(Uploader):
        def _put(self, url, path, size, key, deadline):
            sent.append(key)
            return super()._put(url, path, size, key, deadline)

    # The sandbox's own record server (TLS, default limits), found as the operator finds it.
    published = client.CoreV1Api(world["api"]).read_namespaced_config_map(contract.ENDPOINTS_CONFIGMAP,
                                                                          contract.ENDPOINTS_NAMESPACE).data
    base = published[contract.KEY_URL] + _base(world, "a")[len(world["url"]):]
    up = Counting(base, token_file, published[contract.KEY_CA], outputs / "metrics.jsonl", outputs / "artifacts",
                  period=0.2)
    up.start()
    try:
        wait_for(lambda: _stored(world, "a", "ckpt.txt"), timeout=20, what="the periodic upload")
        wait_for(lambda: len(sent) >= 2, timeout=10, what="two uploads")
        settled = list(sent)
        time.sleep(1.0)  # about five rounds with nothing new
        assert sent == settled and sorted(settled) == ["artifacts/ckpt.txt", "metrics"]
        (outputs / "artifacts" / "ckpt.txt").write_text("two\n")
        wait_for(lambda: sent.count("artifacts/ckpt.txt") == 2, timeout=10, what="the changed file to be sent again")
    finally:
        up.finish()
    assert up.failures == 0
    dead = Uploader("http://127.0.0.1:9/v1/x", token_file, None, outputs / "metrics.jsonl", outputs / "artifacts")
    dead.round(deadline=time.monotonic() + 0.5)  # too soon for a retry's backoff: one try each
    assert dead.failures == 2
    assert "the task goes on" in capsys.readouterr().err


def test_a_token_of_a_deleted_pod_is_401(world):
    # Last: deleting A's pod ends its attempt. Reviews are cached for REVIEW_TTL: wait that long.
    _, _, pod = world["running"]["a"]
    core = client.CoreV1Api(world["api"])
    core.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_pod("default", field_selector=f"metadata.name={pod.metadata.name}").items,
             timeout=30, what="the pod to be gone")
    time.sleep(REVIEW_TTL + 0.2)
    resp = _put(upload.artifact_path(_base(world, "a"), "after.txt"), world["token"])
    assert resp.status == 401 and not _stored(world, "a", "after.txt")
