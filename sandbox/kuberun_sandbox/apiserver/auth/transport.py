"""Refuse what only a browser on another site, or a rebound DNS name, would send.

A web page can make any browser POST to ``127.0.0.1:6443`` — a "simple" cross-origin request
(``Content-Type: text/plain``, no custom header) is sent without a CORS preflight. And a page on
``evil.example`` whose name is re-pointed at 127.0.0.1 (DNS rebinding) becomes same-origin with
the sandbox. kube-apiserver is protected by needing credentials a page cannot attach; the sandbox
adds the cheap checks that close those doors even before authentication:

- ``Host`` must be a loopback name or address (or the address the server bound) with the server's
  port — every request, since a rebound page could also read;
- a write (any method but GET/HEAD/OPTIONS) with an ``Origin`` header must come from the server's
  own origin (kubectl and client libraries send none);
- a body-carrying write must be JSON, a patch type, apply YAML or YAML (415 otherwise, as the real
  server answers for a media type it cannot decode), so ``text/plain`` and forms never get in.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from ..errors import ApiError, unsupported_media_type
from ..handlers import refuse_binary_body

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
BODY_TYPES = frozenset({"application/json", "application/yaml", "application/json-patch+json",
                        "application/merge-patch+json", "application/strategic-merge-patch+json",
                        "application/apply-patch+yaml", "application/apply-patch+cbor"})


def _split_host(value: str) -> tuple[str, int | None]:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:6443
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host, (int(port) if port.isdigit() else None)


def _is_loopback(host: str, bound: str) -> bool:
    if host in LOOPBACK_NAMES or host == bound:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str | None, bound: str, port: int) -> bool:
    if not host_header:
        return False
    host, given = _split_host(host_header)
    return _is_loopback(host, bound) and (given or 80) == port


def _own_origin(origin: str, own_scheme: str, bound: str, port: int) -> bool:
    scheme, sep, rest = origin.strip().lower().partition("://")
    return bool(sep) and scheme == own_scheme and "/" not in rest and host_allowed(rest, bound, port)


def check(request: web.Request, bound: str, port: int) -> None:
    """Raise the ``ApiError`` a foreign Host or Origin earns (before authentication)."""
    if not host_allowed(request.headers.get("Host"), bound, port):
        raise ApiError(403, "Forbidden", f"host {request.headers.get('Host')!r} is not allowed: the sandbox API "
                                         f"server answers only to loopback names on port {port}")
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("Origin")
    if origin is not None and not _own_origin(origin, request.scheme, bound, port):
        raise ApiError(403, "Forbidden", f"cross-origin request from {origin!r} refused: writes are accepted "
                                         "only from the sandbox's own origin")


def check_body_type(request: web.Request) -> None:
    """415 for a write whose body is not an API media type (after authorization, as the real server)."""
    if request.method in SAFE_METHODS:
        return
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        if request.method == "DELETE" or not request.can_read_body:
            return
        raise unsupported_media_type("no Content-Type")
    refuse_binary_body(request.content_type)  # protobuf/CBOR: the JSON way named (review bodies came before)
    if request.content_type not in BODY_TYPES:
        raise unsupported_media_type(request.content_type)
