"""The sandbox's components as separate processes — API server, node, operator — each killable with SIGKILL.

Why: the chaos suite must kill a component at a random point without warning, and a thread
cannot be killed. The API server restarts on the same port and data directory (its state, CA and
tokens survive: ``durable.py``), so the node and the operator reconnect as they would to a
restarted kube-apiserver. Every component writes its output to a log file in its directory,
whose tail a failed test prints.

``Cluster`` ties them together and talks to the API server as its administrator (urllib3, the
kubeconfig's token and CA), including the HTTP fault-injection route (``apiserver/faultroute.py``).
Processes started by the tasks themselves carry ``CHAOS_RUN=<id>`` in their environment, so
``Cluster.stop`` can end those too (a SIGKILLed node leaves its pods' processes behind).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import urllib3
import yaml

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


class ComponentError(AssertionError):
    """A component did not start, or the API did not answer in time."""


class Component:
    """One child process; output to ``log``; ``ready_line`` (a prefix) marks it started."""

    def __init__(self, name: str, argv: list[str], log: Path, ready_line: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log, self.ready_line = name, argv, log, ready_line
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.first_line = ""
        self.kills = 0

    def start(self) -> Component:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        ready = threading.Event()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=REPO, env=self.env, start_new_session=True)
        threading.Thread(target=self._copy, args=(self.proc, ready), daemon=True, name=f"out-{self.name}").start()
        if self.ready_line is not None and not ready.wait(START_TIMEOUT):
            self.kill()
            raise ComponentError(f"{self.name} did not start within {START_TIMEOUT:.0f}s:\n{self.tail()}")
        if self.proc.poll() is not None:
            raise ComponentError(f"{self.name} exited at start ({self.proc.returncode}):\n{self.tail()}")
        return self

    def _copy(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stdout is not None
        with open(self.log, "a") as out:
            out.write(f"--- {self.name} started (pid {proc.pid}) at {time.strftime('%H:%M:%S')}\n")
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if self.ready_line is not None and not ready.is_set() and line.startswith(self.ready_line):
                    self.first_line = line.strip()
                    ready.set()
        ready.set()  # ended: start() then reports the exit

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is cleaned up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.kills += 1

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not end in ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"


class Api:
    """JSON over HTTPS to the API server as its administrator (token and CA from its kubeconfig)."""

    def __init__(self, kubeconfig: Path, timeout: float = 10.0) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self.url = cluster["server"]
        ca_file = kubeconfig.with_name("harness-ca.pem")  # urllib3 1.26 verifies IP hosts from a CA file
        ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self.http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(ca_file), num_pools=2, maxsize=4,
                                        timeout=urllib3.Timeout(total=timeout), retries=False)
        self.headers = {"Authorization": f"Bearer {user['token']}", "Content-Type": "application/json",
                        "Accept": "application/json"}

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        resp = self.http.request(method, self.url + path, body=data, headers=self.headers)
        try:
            return resp.status, json.loads(resp.data or b"null")
        except ValueError:
            return resp.status, resp.data.decode(errors="replace")

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        status, answer = self.request(method, path, body)
        if status not in ok:
            raise ComponentError(f"{method} {path}: HTTP {status}: {answer}")
        return answer

    def retrying(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201),
                 timeout: float = 60.0) -> Any:
        """``call`` until it succeeds (the server restarting, or an injected fault); bounded in time."""
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            try:
                status, answer = self.request(method, path, body)
            except urllib3.exceptions.HTTPError as e:
                last = repr(e)
            else:
                if status in ok:
                    return answer
                if status == 409 and method == "POST":
                    return None  # created by an earlier try whose answer was lost
                last = f"HTTP {status}: {answer}"
            time.sleep(0.2)
        raise ComponentError(f"{method} {path} did not succeed within {timeout:.0f}s: {last}")

    def close(self) -> None:
        self.http.clear()


class Cluster:
    """API server, node and operator as processes over one directory; ``stop`` ends them all."""

    def __init__(self, root: Path, operator_args: tuple[str, ...] = ()) -> None:
        self.root = root
        self.run_id = uuid.uuid4().hex[:12]
        self.kubeconfig = root / "api" / "admin.kubeconfig"
        self.port = 0
        self.operator_args = operator_args
        self.api_server: Component | None = None
        self.node: Component | None = None
        self.operator: Component | None = None
        self._api: Api | None = None

    # -- components ---------------------------------------------------------------------------
    @staticmethod
    def _kills(previous: Component | None) -> int:
        return previous.kills if previous is not None else 0

    def start_api_server(self) -> None:
        kills = self._kills(self.api_server)
        python = sys.executable
        self.api_server = Component("apiserver", [python, "-m", "kuberun_sandbox.apiserver", "--port", str(self.port),
                                                  "--data-dir", str(self.root / "api"), "--kubeconfig",
                                                  str(self.kubeconfig)],
                                    self.root / "logs" / "apiserver.log", ready_line="listening on ")
        self.api_server.kills = kills
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # right after a SIGKILL the port can be briefly unavailable: try again, bounded
            try:
                self.api_server.start()
                break
            except ComponentError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.port = int(self.api_server.first_line.rsplit(":", 1)[1])
        if self._api is None:
            self._api = Api(self.kubeconfig)

    def start_node(self) -> None:
        kills = self._kills(self.node)
        self.node = Component("node", [sys.executable, "-m", "tests.harness.node_main", str(self.kubeconfig),
                                       str(self.root / "node")], self.root / "logs" / "node.log",
                              ready_line="node ready")
        self.node.kills = kills
        self.node.start()

    def start_operator(self) -> None:
        kills = self._kills(self.operator)
        self.operator = Component("operator", [sys.executable, "-m", "kuberun_operator", "--kubeconfig",
                                               str(self.kubeconfig), "--metrics-port", "0", "--default-image",
                                               "sandbox/local", "--log-level", "WARNING", *self.operator_args],
                                  self.root / "logs" / "operator.log")
        self.operator.kills = kills
        self.operator.start()

    def start(self) -> Cluster:
        self.start_api_server()
        self.install_crd()
        self.start_node()
        self.start_operator()
        return self

    @property
    def api(self) -> Api:
        assert self._api is not None, "start the API server first"
        return self._api

    def install_crd(self) -> None:
        from kuberun.resource.crd import build_crd

        crd = build_crd()
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
        if self.api.request("GET", path)[0] == 404:
            self.api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            conditions = (self.api.call("GET", path).get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
            time.sleep(0.1)
        raise ComponentError("the Experiment CRD was not Established")

    # -- faults -------------------------------------------------------------------------------
    def inject(self, **fault: Any) -> dict[str, Any]:
        return self.api.retrying("POST", "/_sandbox/faults", fault)

    def seed_faults(self, seed: int) -> None:
        self.api.retrying("POST", "/_sandbox/faults/seed", {"seed": seed})

    def clear_faults(self) -> None:
        self.api.retrying("DELETE", "/_sandbox/faults")

    def drop_watches(self) -> int:
        return int(self.api.retrying("POST", "/_sandbox/watches/drop")["dropped"])

    # -- teardown -----------------------------------------------------------------------------
    def tails(self) -> str:
        parts = [f"=== {c.name} (killed {c.kills}x)\n{c.tail()}" for c in (self.operator, self.node, self.api_server)
                 if c is not None]
        return "\n".join(parts)

    def stop(self) -> None:
        for component in (self.operator, self.node, self.api_server):
            if component is not None:
                component.stop()
        self.kill_task_processes()
        if self._api is not None:
            self._api.close()

    def kill_task_processes(self) -> int:
        """SIGKILL every process whose environment carries this run's ``CHAOS_RUN`` (tasks a dead node left)."""
        marker = f"CHAOS_RUN={self.run_id}".encode()
        killed = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
                    killed += 1
        return killed
