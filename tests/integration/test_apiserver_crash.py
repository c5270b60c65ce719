"""The API server never loses a confirmed write: writes in a loop, ``kill -9`` at a random point, restart.

The server runs as its own process (``python -m kuberun_sandbox.apiserver``) on a data directory.
Writer threads create, update and delete ConfigMaps; each object belongs to one writer, so what it
must hold after the crash is known exactly: the content of its last write answered 2xx, or either
side of the one write that was in flight when the server died. A watcher records what it was
shown. The clients log in with the administrator's kubeconfig the server writes (``--kubeconfig``:
a token and the server's CA, both kept in the data directory across restarts). After the SIGKILL, a new server on the same directory must hold every confirmed write,
nothing confirmed deleted, nothing a watch was shown as created (unless a delete of it was tried),
and a resourceVersion counter at or past every one a client saw. Several rounds, one directory.
"""

from __future__ import annotations

import base64
import http.client
import json
import pathlib
import random
import select
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

CMS = "/api/v1/namespaces/default/configmaps"
ROUNDS = 3
WRITERS = 4
MAX_OPS_PER_WRITER = 3000  # bounded in count ...
ROUND_DEADLINE_S = 30  # ... and in time


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()  # "the object does not exist" as an acceptable outcome


class ApiProcess:
    """The emulator as a child process on 127.0.0.1; ``kill()`` is SIGKILL."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        kubeconfig = data_dir / "admin.kubeconfig"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kuberun_sandbox.apiserver", "--port", "0", "--data-dir", str(data_dir),
             "--kubeconfig", str(kubeconfig)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready and self.proc.stdout else ""
        if not line.startswith("listening on https://127.0.0.1:"):
            self.proc.kill()
            _, err = self.proc.communicate(timeout=30)
            raise AssertionError(f"the API server did not start: {line!r} {err[-2000:]}")
        self.port = int(line.rsplit(":", 1)[1])
        config = yaml.safe_load(kubeconfig.read_text())
        self.token = config["users"][0]["user"]["token"]
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        self.ssl = ssl.create_default_context(cadata=ca)

    def connect(self, timeout: float) -> Connection:
        return Connection(self, timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


class Connection(http.client.HTTPSConnection):
    """HTTPS to one ``ApiProcess``, verified with its CA, sending its administrator's token."""

    def __init__(self, server: ApiProcess, timeout: float) -> None:
        super().__init__("127.0.0.1", server.port, timeout=timeout, context=server.ssl)
        self.auth = {"Authorization": f"Bearer {server.token}"}


def request(conn: Connection, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json", **conn.auth})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


@dataclass
class Writer:
    """One client thread's objects: for each, the outcomes a restarted server may show."""

    server: ApiProcess
    prefix: str
    rng: random.Random
    expected: dict[str, set[Any]] = field(default_factory=dict)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> last confirmed object
    confirmed: int = 0
    max_rv: int = 0
    deletes_tried: set[str] = field(default_factory=set)
    counter: int = 0
    error: AssertionError | None = None
    cut_off: bool = False  # stopped by the server's death, not by the bounds

    def run(self, deadline: float) -> None:
        conn = self.server.connect(timeout=10)
        try:
            for _ in range(MAX_OPS_PER_WRITER):
                if time.monotonic() > deadline:
                    return
                if not self._one(conn):
                    return  # the server went away mid-request: this writer's round is over
        except AssertionError as e:
            self.error = e  # reported by the test's thread
        finally:
            conn.close()

    def _one(self, conn: Connection) -> bool:
        roll = self.rng.random()
        if len(self.live) < 5 or roll < 0.5:
            self.counter += 1
            name = f"{self.prefix}-{self.counter}"
            value = f"c{self.counter}"
            return self._write(conn, name, "POST", CMS, {"metadata": {"name": name}, "data": {"v": value}},
                               value, {ABSENT, value}, 201)
        name = self.rng.choice(sorted(self.live))
        if roll < 0.85:
            value = f"u{self.counter}-{self.rng.randrange(10**6)}"
            body = {**self.live[name], "data": {"v": value}}
            return self._write(conn, name, "PUT", f"{CMS}/{name}", body, value, self.expected[name] | {value}, 200)
        self.deletes_tried.add(name)
        return self._write(conn, name, "DELETE", f"{CMS}/{name}", None, ABSENT, self.expected[name] | {ABSENT}, 200)

    def _write(self, conn: Connection, name: str, method: str, path: str, body: Any,
               value: Any, in_doubt: set[Any], ok: int) -> bool:
        self.expected[name] = in_doubt  # until the answer comes, either outcome is acceptable
        try:
            code, answer = request(conn, method, path, body)
        except (OSError, http.client.HTTPException):
            self.cut_off = True
            return False
        assert code == ok, (method, path, code, answer)
        self.expected[name] = {value}
        self.confirmed += 1
        if value is ABSENT:
            del self.live[name]
        else:
            self.live[name] = answer
            self.max_rv = max(self.max_rv, int(answer["metadata"]["resourceVersion"]))
        return True


class Watcher(threading.Thread):
    """Streams ConfigMap events; remembers the highest resourceVersion and every name shown ADDED."""

    def __init__(self, server: ApiProcess) -> None:
        super().__init__(daemon=True)
        self.server, self.max_rv, self.added = server, 0, set[str]()

    def run(self) -> None:
        conn = self.server.connect(timeout=ROUND_DEADLINE_S)
        try:
            conn.request("GET", f"{CMS}?watch=1&timeoutSeconds={ROUND_DEADLINE_S}", headers=conn.auth)
            resp = conn.getresponse()
            for line in resp:
                event = json.loads(line)
                meta = event["object"]["metadata"]
                self.max_rv = max(self.max_rv, int(meta["resourceVersion"]))
                if event["type"] == "ADDED":
                    self.added.add(meta["name"])
        except (OSError, http.client.HTTPException, ValueError):
            return  # the server was killed mid-stream
        finally:
            conn.close()


@pytest.fixture
def servers() -> Iterator[list[ApiProcess]]:
    started: list[ApiProcess] = []
    yield started
    for server in started:
        server.stop()


def test_kill_9_loses_no_confirmed_write_and_the_resource_version_never_goes_back(
        tmp_path: pathlib.Path, servers: list[ApiProcess]) -> None:
    rng = random.Random()
    seed = rng.randrange(10**9)
    print(f"crash test seed {seed}")
    rng.seed(seed)
    writers: list[Writer] = []
    for round_no in range(ROUNDS):
        server = ApiProcess(tmp_path)
        servers.append(server)
        watcher = Watcher(server)
        watcher.start()
        round_writers = [Writer(server, f"r{round_no}w{i}", random.Random(rng.random())) for i in range(WRITERS)]
        deadline = time.monotonic() + ROUND_DEADLINE_S
        threads = [threading.Thread(target=w.run, args=(deadline,), daemon=True) for w in round_writers]
        for t in threads:
            t.start()
        kill_after = rng.randrange(50, 600)  # confirmed writes before the SIGKILL: a random point
        while sum(w.confirmed for w in round_writers) < kill_after and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        server.kill()
        for t in [*threads, watcher]:
            t.join(timeout=ROUND_DEADLINE_S)
        assert not any(t.is_alive() for t in threads), "a writer did not stop after the server died"
        assert [w.error for w in round_writers if w.error] == []
        assert all(w.cut_off for w in round_writers), "the kill came after the load ended: nothing was in flight"
        writers += round_writers

        restarted = ApiProcess(tmp_path)
        servers.append(restarted)
        conn = restarted.connect(timeout=30)
        code, listed = request(conn, "GET", CMS)
        assert code == 200
        stored = {o["metadata"]["name"]: (o.get("data") or {}).get("v") for o in listed["items"]}
        seen_rv = max([w.max_rv for w in writers] + [watcher.max_rv])
        assert int(listed["metadata"]["resourceVersion"]) >= seen_rv, "the resourceVersion counter went back"
        for w in writers:
            for name, allowed in w.expected.items():
                got = stored.get(name, ABSENT)
                assert got in allowed, f"{name}: after kill -9 holds {got!r}, confirmed {allowed!r} (seed {seed})"
        tried = set().union(*(w.deletes_tried for w in writers))
        lost = {n for n in watcher.added if n not in stored and n not in tried}
        assert not lost, f"shown to a watch, gone after the crash: {sorted(lost)[:5]} (seed {seed})"
        code, created = request(conn, "POST", CMS, {"metadata": {"name": f"after-{round_no}"}})
        assert code == 201 and int(created["metadata"]["resourceVersion"]) > seen_rv
        conn.close()
        restarted.stop()
