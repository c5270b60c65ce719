"""The runner's code download (``kuberun.packaging.fetch``) against a scripted HTTPS server on 127.0.0.1.

The server is real TLS (a CA of the test's own, which the runner trusts through ``$KUBERUN_UPLOAD_CA``
as in a pod); each case scripts its answers, so the retry policy is checked answer by answer: what is
retried (5xx, a body that ends early), what is final (401/403/404/409, wrong bytes), and that a longer
body is never read past the recorded size. Sleeps are recorded, not slept. The route itself, with
real pods and tokens, is tested in tests/integration/test_code_download.py.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kuberun.packaging import fetch
from kuberun.packaging.errors import PackageIntegrityError
from kuberun.resource import upload
from kuberun_sandbox.apiserver.auth.tls import ServingCertificate

PACKAGE = os.urandom(300_000)
SHA = hashlib.sha256(PACKAGE).hexdigest()


class Scripted(http.server.BaseHTTPRequestHandler):
    answers: list[tuple[int, bytes, dict[str, str]]] = []
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        code, body, headers = type(self).answers.pop(0)
        self.send_response(code)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.send_header("Content-Type", "application/json" if code >= 400 else "application/gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-body (the size bound) is the point of some cases


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    cert = ServingCertificate(tmp_path / "tls")
    httpd = Quiet(("127.0.0.1", 0), Scripted)
    httpd.socket = cert.server_context().wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    token = tmp_path / "token"
    token.write_text("bound-token\n")
    base = f"https://127.0.0.1:{httpd.server_address[1]}" + upload.attempt_path("team-a", "exp", "train", 1)
    Scripted.answers, Scripted.seen = [], []
    try:
        yield {"env": {upload.URL_ENV: base, upload.TOKEN_ENV: str(token), upload.CA_ENV: cert.ca_pem}, "base": base}
    finally:
        httpd.shutdown()
        httpd.server_close()
        cert.close()


def _download(env: dict[str, str], sleeps: list[float] | None = None) -> bytes:
    return fetch.download(SHA, len(PACKAGE), env, sleep=(sleeps if sleeps is not None else []).append)


def test_the_package_is_fetched_with_the_pods_token_under_its_attempt(server):
    Scripted.answers = [(200, PACKAGE, {})]
    assert _download(server["env"]) == PACKAGE
    (path, auth), = Scripted.seen
    assert server["base"].endswith(path.rsplit("/code/", 1)[0]) and path.endswith(f"/code/{SHA}")
    assert auth == "Bearer bound-token"


def test_a_server_error_and_a_short_body_are_retried_with_backoff(server, capsys):
    Scripted.answers = [(503, b'{"message": "busy"}', {}),
                        (200, PACKAGE[:1000], {"Content-Length": str(len(PACKAGE))}),  # the connection ends early
                        (200, PACKAGE, {})]
    sleeps: list[float] = []
    assert _download(server["env"], sleeps) == PACKAGE
    assert sleeps == [fetch.BACKOFF, fetch.BACKOFF * 2] and len(Scripted.seen) == 3
    err = capsys.readouterr().err
    assert "try 1 of 5 failed (HTTP 503: busy)" in err and "try 2 of 5 failed" in err


def test_retries_are_bounded_and_the_last_error_is_named(server):
    Scripted.answers = [(502, b"{}", {})] * fetch.ATTEMPTS
    sleeps: list[float] = []
    with pytest.raises(fetch.CodeFetchError, match=f"failed {fetch.ATTEMPTS} time.*HTTP 502"):
        _download(server["env"], sleeps)
    assert len(Scripted.seen) == fetch.ATTEMPTS and len(sleeps) == fetch.ATTEMPTS - 1


@pytest.mark.parametrize("code", [401, 403, 404, 409])
def test_a_refusal_is_final(server, code):
    Scripted.answers = [(code, b'{"message": "not yours"}', {})]
    with pytest.raises(fetch.CodeFetchError, match=f"refused .*HTTP {code}: not yours"):
        _download(server["env"])
    assert len(Scripted.seen) == 1


def test_tampered_bytes_are_refused_without_a_retry(server):
    tampered = bytearray(PACKAGE)
    tampered[1234] ^= 0xFF
    Scripted.answers = [(200, bytes(tampered), {})]
    with pytest.raises(PackageIntegrityError, match="digest mismatch"):
        _download(server["env"])
    assert len(Scripted.seen) == 1


def test_a_longer_body_is_not_read_past_the_recorded_size(server):
    Scripted.answers = [(200, PACKAGE + b"x" * (4 << 20), {})]
    with pytest.raises(PackageIntegrityError, match=f"more than {len(PACKAGE)} bytes"):
        _download(server["env"])


def test_the_token_never_goes_to_a_plain_http_url_nor_without_a_published_server(server):
    env = dict(server["env"], **{upload.URL_ENV: server["base"].replace("https://", "http://")})
    with pytest.raises(fetch.CodeFetchError, match="must be https"):
        _download(env)
    with pytest.raises(fetch.CodeFetchError, match="no record server"):
        _download({})
    assert Scripted.seen == []


def test_a_server_whose_certificate_the_ca_does_not_sign_is_not_trusted(server, tmp_path):
    other = ServingCertificate(tmp_path / "other")
    Scripted.answers = [(200, PACKAGE, {})] * fetch.ATTEMPTS
    try:
        with pytest.raises(fetch.CodeFetchError, match="CERTIFICATE_VERIFY_FAILED"):
            _download(dict(server["env"], **{upload.CA_ENV: other.ca_pem}))
    finally:
        other.close()
    assert Scripted.seen == []  # no request was ever sent (nor the token)
