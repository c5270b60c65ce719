"""What the operator asks of the SDK's client: its User-Agent, a rotated service-account token, raw answers.

Against a loopback HTTP server that echoes the request's headers, so the headers checked are the ones sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kuberun.api import client as api_client
from kuberun.api.client import Kube
from kuberun.api.kubeconfig import Credentials


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 404 if self.path.startswith("/missing") else 200
        body = json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()}, "path": self.path}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_the_user_agent_is_sent_and_send_returns_error_answers_raw(server: str) -> None:
    kube = Kube(Credentials(server=server, headers={"Authorization": "Bearer t"}), user_agent="kuberun-operator/9")
    answer = kube.send("GET", "/missing", query={"labelSelector": "a=b"})
    assert answer.status == 404 and answer.headers["Retry-After"] == "3", "send hands back the answer, not an error"
    seen = json.loads(answer.data)
    assert seen["headers"]["user-agent"] == "kuberun-operator/9" and seen["headers"]["authorization"] == "Bearer t"
    assert seen["path"] == "/missing?labelSelector=a%3Db"
    assert kube.authorization() == ("Bearer", "t")


def test_a_token_file_is_read_again_once_it_is_old(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    kube = Kube(Credentials(server=server, headers={"Authorization": "Bearer first"}, token_file=str(token)))
    token.write_text("second\n")  # the kubelet rotated it
    assert kube.get("/a", api_client.Op("get", "x"))["headers"]["authorization"] == "Bearer first", "not yet a minute old"
    monkeypatch.setattr(api_client, "TOKEN_REREAD_SECONDS", -1.0)
    assert kube.get("/a", api_client.Op("get", "x"))["headers"]["authorization"] == "Bearer second"
    token.unlink()  # unreadable: the last token stays
    assert kube.get("/a", api_client.Op("get", "x"))["headers"]["authorization"] == "Bearer second"


def test_in_cluster_credentials_name_the_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kuberun.api.kubeconfig import in_cluster

    (tmp_path / "token").write_text("sa-token")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    creds = in_cluster(tmp_path)
    assert creds.token_file == str(tmp_path / "token") and creds.headers["Authorization"] == "Bearer sa-token"
