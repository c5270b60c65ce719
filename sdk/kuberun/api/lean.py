"""The CLI read commands' transport: one connection over the standard library's ``http.client`` and ``ssl``.

``kuberun describe`` is a fresh process that makes two or three GETs and exits, and issue 18 wants it
within 2x of ``kubectl get``. Importing urllib3 (with ``logging``, its URL regexes and six's moves)
was about a third of that process's CPU, for a pool, retries and proxy managers a two-request
process never uses. ``Kube(lean=True)`` (``connect(lean=True)``, what ``kuberun.manage.reads``
asks for) sends through this module instead, for every kubeconfig it serves in full: CA file or
data, ``insecure-skip-tls-verify``, ``tls-server-name``, client certificates (the kubeconfig's or an
exec plugin's), any ``Authorization`` header (bearer token, token file, basic auth, exec plugin:
``client.py`` builds those) and a plain ``http://`` proxy (``proxy-url`` or the ``*_PROXY``
variables, as ``kubeconfig.proxy_from_environment`` reads them). For what it does not serve
(``unsupported``: an ``https://`` or SOCKS proxy, a proxy URL with credentials) the client keeps
urllib3's pool, so no kubeconfig feature is dropped. The operator and the SDK's ``exp.run()`` keep
the pool: many threads, connection retries.

Failures leave as ``OSError``/``http.client.HTTPException`` (``FAILURES``); ``client.py`` words them
as it words urllib3's, from ``reason``, so a refused connection reads the same on either path.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from kuberun.api.kubeconfig import Credentials

CONNECT_TIMEOUT = 10.0  # seconds, as the pooled client's connect timeout
FAILURES = (OSError, http.client.HTTPException)  # ssl.SSLError and socket timeouts are OSErrors
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def unsupported(creds: Credentials) -> str | None:
    """Why ``creds`` need urllib3's client (None: this transport serves them in full)."""
    if urlsplit(creds.server).scheme not in ("http", "https"):
        return f"server {creds.server} is not an http(s) URL"
    if creds.proxy:
        proxy = urlsplit(creds.proxy)
        if proxy.scheme != "http":
            return f"a {proxy.scheme or 'schemeless'} proxy"
        if proxy.username is not None or proxy.password is not None:
            return "a proxy URL with credentials"
    return None


class ConnectFailed(OSError):
    """No TCP connection (or proxy tunnel) to the server: worded as urllib3 words it."""


def reason(exc: BaseException, timeout: float | None = None) -> str:
    """The failure in the words ``client.py`` gives urllib3's (its ``_reason``): the same line on either path."""
    cause = exc.__cause__ if isinstance(exc, ConnectFailed) else exc
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectFailed):
        return str(exc)[:200]
    if isinstance(exc, TimeoutError):
        return f"Read timed out. (read timeout={timeout})"
    return (str(exc) or type(exc).__name__).split(": ", 1)[-1][:200]


class _Connection(http.client.HTTPConnection):
    """TCP to the server (or through a proxy's CONNECT tunnel), then TLS with the kubeconfig's name."""

    def __init__(self, host: str, port: int | None, tls: ssl.SSLContext | None, server_name: str | None) -> None:
        super().__init__(host, port, timeout=CONNECT_TIMEOUT)
        self.tls, self.server_name = tls, server_name
        self.read_timeout: float | None = None

    def connect(self) -> None:
        """As ``HTTPConnection.connect``, with an ASCII host name as bytes: a str one loads the idna codec."""
        try:
            self.sock = socket.create_connection((_ascii(self.host), self.port), self.timeout, self.source_address)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tunnel_host:
                self._tunnel()
        except TimeoutError as exc:
            raise ConnectFailed(f"Connection to {self.host} timed out. (connect timeout={CONNECT_TIMEOUT})") from exc
        except OSError as exc:
            raise ConnectFailed(f"Failed to establish a new connection: {exc}") from exc
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=_ascii(self.server_name))
        self.sock.settimeout(self.read_timeout)


def _ascii(name: Any) -> Any:
    return name.encode("ascii") if isinstance(name, str) and name.isascii() else name


class Response:
    """What ``Kube`` reads of a response, as urllib3's offers it: ``status``, ``data``, ``stream``."""

    def __init__(self, resp: http.client.HTTPResponse, stream: bool, on_close: Any) -> None:
        self.status, self.headers, self._resp, self._on_close = resp.status, resp.headers, resp, on_close
        self.data = b"" if stream else resp.read()

    def read(self) -> bytes:
        return self._resp.read()

    def stream(self, amount: int = 64 * 1024, decode_content: bool = True) -> Any:
        """Chunks as they arrive (chunked or not); the transport asks for no content coding."""
        while chunk := self._resp.read1(amount):
            yield chunk

    def release_conn(self) -> None:
        self._resp.close()
        self._on_close()  # a streamed body's connection is its own: closed with it


class LeanTransport:
    """One keep-alive connection to the API server, opened on the first request.

    ``cert``: the (certificate, key) files to present, or (None, None).
    """

    def __init__(self, creds: Credentials, cert: tuple[str | None, str | None]) -> None:
        self.creds, self.cert = creds, cert
        parts = urlsplit(creds.server)
        self.https, self.host, self.port = parts.scheme == "https", parts.hostname or "", parts.port
        self._conn: _Connection | None = None

    def _context(self) -> ssl.SSLContext:
        """As urllib3 builds it: only the kubeconfig's CA when it names one, else the system's."""
        if self.creds.verify:
            context = ssl.create_default_context(cafile=self.creds.ca_file)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if self.cert[0]:
            context.load_cert_chain(self.cert[0], self.cert[1])
        return context

    def _connection(self) -> _Connection:
        tls = self._context() if self.https else None
        name = (self.creds.tls_server_name or self.host) if self.https else None
        if not self.creds.proxy:
            return _Connection(self.host, self.port, tls, name)
        proxy = urlsplit(self.creds.proxy)
        conn = _Connection(proxy.hostname or "", proxy.port or 80, tls, name)
        if self.https:
            conn.set_tunnel(self.host, self.port or 443)
        return conn

    def _target(self, url: str) -> str:
        """The request target: the path (and query), or the whole URL to a proxy for a plain-http server."""
        if self.creds.proxy and not self.https:
            return url
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str], stream: bool,
                timeout: float | None) -> Response:
        """Send one request and read its answer (all of it unless ``stream``). Raises one of ``FAILURES``.

        A kept connection the server has closed meanwhile is opened again, once, for a GET (which
        nothing has answered, so sending it again is safe)."""
        reused = self._conn is not None
        try:
            return self._once(method, url, body, headers, stream, timeout)
        except _STALE:
            if not reused or method != "GET":
                raise
        return self._once(method, url, body, headers, stream, timeout)

    def _once(self, method: str, url: str, body: bytes | None, headers: dict[str, str], stream: bool,
              timeout: float | None) -> Response:
        if self._conn is None:
            self._conn = self._connection()
        conn = self._conn
        conn.read_timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request(method, self._target(url), body=body, headers=headers)
            resp = Response(conn.getresponse(), stream, conn.close)
        except BaseException:
            self.close()
            raise
        if stream:  # the stream keeps this connection until released; a request meanwhile opens another
            self._conn = None
        elif resp.headers.get("Connection", "").lower() == "close":
            self.close()
        return resp
