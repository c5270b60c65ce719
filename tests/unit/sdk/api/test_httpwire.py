"""The lean transport's HTTP/1.1 framing, byte for byte: bodies by length, by chunks and to the end,
interim answers, and what it refuses to send or to read."""

from __future__ import annotations

import io

import pytest

from kuberun.api import httpwire


def _answer(raw: bytes, method: str = "GET") -> tuple[int, dict[str, str], httpwire.Body]:
    rfile = io.BufferedReader(io.BytesIO(raw))  # type: ignore[arg-type]
    status, headers = httpwire.read_head(rfile)
    return status, headers, httpwire.Body(rfile, method, status, headers)


def test_a_body_by_content_length_leaves_the_next_answer_unread():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    rfile = io.BufferedReader(io.BytesIO(raw))  # type: ignore[arg-type]
    status, headers = httpwire.read_head(rfile)
    body = httpwire.Body(rfile, "GET", status, headers)
    assert (status, headers, body.read(), body.to_close) == (200, {"content-length": "5", "x-a": "b"}, b"hello", False)
    assert httpwire.read_head(rfile)[0] == 404  # keep-alive: the next answer starts where the body ended


def test_chunks_arrive_one_by_one_with_extensions_and_trailers():
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nline1\r\n6\r\n\nline2\r\n0\r\nTrailer: t\r\n\r\n"
    _, _, body = _answer(raw)
    assert list(body.chunks()) == [b"line1", b"\nline2"] and body.done


def test_a_body_to_the_connections_end_and_bodiless_answers():
    _, _, body = _answer(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert body.read() == b"all of it" and body.to_close
    for raw, method in [(b"HTTP/1.1 204 No Content\r\n\r\n", "GET"), (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD")]:
        assert _answer(raw, method)[2].read() == b""


def test_interim_answers_are_skipped():
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
    status, _, body = _answer(raw)
    assert (status, body.read()) == (201, b"{}")


@pytest.mark.parametrize("raw", [
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nshort",
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
])
def test_what_is_not_http_is_a_protocol_error(raw):
    with pytest.raises(httpwire.ProtocolError):
        _answer(raw)[2].read()


def test_a_closed_connection_is_told_apart_for_the_retry():
    with pytest.raises(httpwire.Closed):
        _answer(b"")
    assert issubclass(httpwire.Closed, ConnectionResetError)


def test_the_request_and_what_would_split_it():
    assert httpwire.request_bytes("POST", "/a?b=c", "h:6443", {"Accept": "application/json"}, b"{}") == (
        b"POST /a?b=c HTTP/1.1\r\nHost: h:6443\r\nAccept: application/json\r\nContent-Length: 2\r\n\r\n{}")
    for headers, target in [({"Authorization": "Bearer t\r\nX-Evil: 1"}, "/"), ({}, "/a b"), ({"A": "b\n"}, "/")]:
        with pytest.raises(httpwire.ProtocolError):
            httpwire.request_bytes("GET", target, "h", headers, None)
