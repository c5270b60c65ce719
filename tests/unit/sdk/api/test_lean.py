"""What the lean transport serves and how it words a failure, without a server (the servers:
``tests/integration/test_lean_transport.py``, ``tests/realcluster/test_lean_real.py``)."""

from __future__ import annotations

import socket
import ssl

import pytest

from kuberun.api import Kube, lean
from kuberun.api.kubeconfig import Credentials


@pytest.mark.parametrize(("server", "proxy", "why"), [
    ("https://h:6443", None, None),
    ("http://h:8080", "http://proxy:3128", None),
    ("https://h:6443", "https://proxy:3128", "a https proxy"),
    ("https://h:6443", "socks5h://proxy:1080", "a socks5h proxy"),
    ("https://h:6443", "http://u:p@proxy:3128", "a proxy URL with credentials"),
    ("unix:///var/run/k.sock", None, "server unix:///var/run/k.sock is not an http(s) URL"),
])
def test_what_it_serves_and_why_not(server, proxy, why):
    assert lean.unsupported(Credentials(server=server, proxy=proxy)) == why


def test_a_client_asked_to_be_lean_is_lean_only_where_it_can_be():
    assert Kube(Credentials(server="https://h:6443"), lean=True).lean
    assert not Kube(Credentials(server="https://h:6443", proxy="https://proxy:3128"), lean=True).lean
    assert not Kube(Credentials(server="https://h:6443")).lean  # the SDK's and the operator's default


def _connect_failed(cause: OSError) -> lean.ConnectFailed:
    try:
        raise lean.ConnectFailed(f"Failed to establish a new connection: {cause}") from cause
    except lean.ConnectFailed as exc:
        return exc


@pytest.mark.parametrize(("exc", "words"), [
    (_connect_failed(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
    (_connect_failed(socket.gaierror(-2, "Name or service not known")),
     "Failed to establish a new connection: [Errno -2] Name or service not known"),
    (TimeoutError("timed out"), "Read timed out. (read timeout=30.0)"),
    (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: x (_ssl.c:1006)"),
     "CERTIFICATE_VERIFY_FAILED] certificate verify failed: x (_ssl.c:1006)"),  # as urllib3's text is cut
])
def test_failures_are_worded_as_urllib3s(exc, words):
    assert lean.reason(exc, 30.0) == words


def test_credentials_replace_copies_and_refuses_unknown_fields():
    from kuberun.api import Credentials

    own = Credentials("https://h:1", headers={"Authorization": "Bearer a"}, token_file="/t")
    other = own.replace(headers={"Authorization": "Bearer b"}, token_file=None)
    assert (other.server, other.headers, other.token_file) == ("https://h:1", {"Authorization": "Bearer b"}, None)
    assert (own.headers, own.token_file) == ({"Authorization": "Bearer a"}, "/t")
    with pytest.raises(TypeError, match="no field tokenfile"):
        own.replace(tokenfile=None)
