"""Run one request through both of the SDK's transports, for the lean transport's parity tests.

``outcomes`` sends it with urllib3's pool (``Kube()``) and with the CLI's lean transport
(``Kube(lean=True)``, checked to really be in use) from the same credentials, and gives back each
one's result or error as ``(error class name, message)``, so a test asserts they are the same.
Also a loopback HTTPS echo server (it names the client certificate and token it was shown, and
answers ``/status/NNN`` with a Kubernetes Status of that code) and a CONNECT proxy that counts its
tunnels: what the sandbox API server itself cannot show.
"""

from __future__ import annotations

import http.server
import json
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kuberun.api import Kube, Op
from kuberun.api.kubeconfig import Credentials
from kuberun.api.lean import LeanTransport
from kuberun.errors import KuberunError

Outcome = tuple[str, Any]


def outcome(kube: Kube, method: str, path: str, op: Op, body: Any = None) -> Outcome:
    try:
        return "ok", kube.request(method, path, op, body=body)
    except KuberunError as exc:
        return type(exc).__name__, str(exc)


def outcomes(creds: Callable[[], Credentials], method: str, path: str, op: Op, body: Any = None,
             *, expect_lean: bool = True) -> tuple[Outcome, Outcome]:
    """(urllib3's outcome, the lean transport's) of one request, each with fresh credentials."""
    pooled = Kube(creds())
    lean = Kube(creds(), lean=True)
    assert isinstance(lean._pool, LeanTransport) is expect_lean
    return outcome(pooled, method, path, op, body), outcome(lean, method, path, op, body)


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server

    def do_GET(self) -> None:
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._answer(code, {"kind": "Status", "status": "Failure", "code": code, "reason": "InternalError",
                                "message": f"the echo server says {code}"})
            return
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        cn = next((v for rdn in (peer or {}).get("subject", ()) for k, v in rdn if k == "commonName"), None)
        self._answer(200, {"path": self.path, "cn": cn, "authorization": self.headers.get("Authorization"),
                           "host": self.headers.get("Host")})

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def echo_server(cert: Path, key: Path, client_ca: Path) -> Iterator[str]:
    """An HTTPS server on loopback with ``cert``; it asks for (not requires) a client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = self.request.recv(1024)
            if not chunk:
                return
            head += chunk
        verb, target = head.split(b" ", 2)[:2]
        if verb != b"CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.decode().rsplit(":", 1)
        self.server.tunnels.append(target.decode())  # type: ignore[attr-defined]
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with upstream:
            for _ in range(10_000):  # bounded: each round moves one chunk or ends
                ready, _, _ = select.select([self.request, upstream], [], [], 10)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.request else self.request).sendall(data)


@contextmanager
def connect_proxy() -> Iterator[tuple[str, list[str]]]:
    """An HTTP CONNECT proxy on loopback: its URL and the list of targets it tunnelled to."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tunnel)
    server.daemon_threads = True
    server.tunnels = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.tunnels  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
