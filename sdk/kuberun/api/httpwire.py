"""HTTP/1.1 framing for the lean transport: one request out, one response's head and body in.

Why not ``http.client``: importing it loads the ``email`` package (its header parser and message
class), ~10 ms of CPU, a tenth of ``kuberun describe``'s whole process (issue 18). What the lean
transport needs is small and fixed: one request at a time on a keep-alive socket, answers framed by
``Content-Length``, ``chunked`` or the connection's end, interim ``1xx`` answers skipped, and a
proxy's ``CONNECT`` tunnel. It asks for no content coding, so none comes back. A malformed answer
raises ``ProtocolError``; a header that would split the request (CR or LF in it) is refused
before anything is sent.
"""

from __future__ import annotations

import socket
from typing import IO, Any

MAX_LINE = 65536  # bytes of a status or header line, as http.client's limit
MAX_HEADERS = 100
MAX_INTERIM = 10  # 1xx answers skipped before the real one


class ProtocolError(Exception):
    """The peer did not answer in HTTP/1.x."""


class Closed(ConnectionResetError):
    """The server closed the connection before answering (a kept connection it had timed out)."""


def request_bytes(method: str, target: str, host: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request's head (and body), refusing a target or header that would split it."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    fields = {**headers, **({"Content-Length": str(len(body))} if body is not None else {})}
    for name, value in fields.items():
        lines.append(f"{name}: {value}")
    if " " in target or any(c in line for line in lines for c in "\r\n\0"):
        raise ProtocolError("a request line or header holds a line break or a space: refused")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _line(rfile: IO[bytes]) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError("an answer line is too long")
    return line


def read_head(rfile: IO[bytes]) -> tuple[int, dict[str, str]]:
    """The status code and headers (names lower-cased) of the next final answer."""
    for _ in range(MAX_INTERIM):
        status_line = _line(rfile)
        if not status_line:
            raise Closed("the server closed the connection without answering")
        version, _, rest = status_line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP answer: {status_line[:60]!r}")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = _line(rfile)
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError(f"a malformed header: {line[:60]!r}")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ProtocolError("too many headers")
        if not 100 <= int(code) < 200:
            return int(code), headers
    raise ProtocolError("too many interim answers")


class Body:
    """A response body, read whole (``read``) or as it arrives (``chunks``)."""

    def __init__(self, rfile: IO[bytes], method: str, status: int, headers: dict[str, str]) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if method == "HEAD" or status in (204, 304):
            self.remaining: int | None = 0
        elif self.chunked:
            self.remaining = None
        elif length is not None:
            if not length.strip().isdigit():
                raise ProtocolError(f"a bad Content-Length: {length!r}")
            self.remaining = int(length)
        else:
            self.remaining = None  # to the connection's end
        self.to_close = self.remaining is None and not self.chunked
        self.done = self.remaining == 0

    def chunks(self, amount: int = 64 * 1024) -> Any:
        """The body's bytes, as each piece arrives."""
        while not self.done:
            if self.chunked:
                size_line = _line(self.rfile).split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise ProtocolError(f"a bad chunk size: {size_line[:20]!r}") from None
                if size == 0:
                    while _line(self.rfile) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    self.done = True
                    return
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ProtocolError("the answer ended inside a chunk")
                self.rfile.readline(3)  # the chunk's CRLF
                yield data
            elif self.remaining is None:
                data = self.rfile.read1(amount)  # type: ignore[attr-defined]
                if not data:
                    self.done = True
                    return
                yield data
            else:
                data = self.rfile.read1(min(amount, self.remaining))  # type: ignore[attr-defined]
                if not data:
                    raise ProtocolError("the answer ended before its Content-Length")
                self.remaining -= len(data)
                self.done = self.remaining == 0
                yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())


def tunnel(sock: socket.socket, host: str, port: int) -> None:
    """Ask the HTTP proxy at the other end of ``sock`` for a tunnel to ``host:port``. Raises OSError."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("latin-1"))
    rfile = sock.makefile("rb")
    try:
        status, _ = read_head(rfile)
        if status != 200:
            raise OSError(f"Tunnel connection failed: {status}")
    finally:  # nothing follows the proxy's answer before TLS begins, so its buffer holds nothing more
        rfile.close()
