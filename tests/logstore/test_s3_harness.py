"""The S3 harness itself: it serves on loopback only and leaves no process behind."""

from __future__ import annotations

import socket

import pytest

from tests.harness import s3


def test_the_server_listens_on_loopback_and_stops_without_an_orphan() -> None:
    reason = s3.available()
    if reason:
        pytest.skip(reason)
    server = s3.S3Server.start()
    try:
        server.create_bucket("harness-check")
        assert server.keys("harness-check") == []
        assert server.endpoint_url.startswith("http://127.0.0.1:")
    finally:
        server.stop()
    assert server.process.returncode is not None
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect(("127.0.0.1", server.port))
