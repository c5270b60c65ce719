"""What keeps a loopback dashboard from being driven by any web page the user has open.

Listening on 127.0.0.1 stops other machines, not other origins: a page on the web can make the
browser send requests to 127.0.0.1 (a cross-site form POST), or rebind its own host name to
127.0.0.1 (DNS rebinding) and read the answers. So, on every request:

- the ``Host`` must name loopback (``127.0.0.1``/``localhost``/``[::1]``): defeats DNS rebinding;
- the browser must hold the per-process access token, handed over once in the URL ``kuberun ui``
  prints and then kept in an HttpOnly, SameSite=Strict cookie: other local users and other sites
  cannot read the record through the user's credentials;
- a state-changing request (POST) must come from this origin (``Origin``, else
  ``Sec-Fetch-Site``) and carry the per-process CSRF token from the page's form.

Responses forbid framing and inline scripts (Content-Security-Policy), so an experiment title
that smuggles markup can neither run nor overlay anything even if escaping were ever missed.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

COOKIE = "kuberun_ui"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Secrets:
    """The process's two secrets: one lets a browser in, the other proves a POST came from our form."""

    access: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def _host_is_loopback(host: str | None) -> bool:
    if not host:
        return False
    name = urlsplit(f"//{host}").hostname or ""
    return name in LOOPBACK


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host
    return request.headers.get("Sec-Fetch-Site", "same-origin") == "same-origin"


def check_csrf(request: web.Request, token: str | None, expected: str) -> bool:
    """This origin, and the expected form token: this process's (loopback) or the signed-in user's (in-cluster)."""
    return same_origin(request) and token is not None and hmac.compare_digest(token.encode(), expected.encode())


def middleware(keys: Secrets, deny: Callable[[web.Request, int, str], web.StreamResponse]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The aiohttp middleware applying the rules above; ``deny`` renders the refusal page."""

    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not _host_is_loopback(request.host):
            return deny(request, 421, "This dashboard answers only to 127.0.0.1 or localhost.")
        offered = request.query.get("token")
        if offered is not None and hmac.compare_digest(offered.encode(), keys.access.encode()):
            rest = request.rel_url.query.copy()
            rest.popall("token")
            target = request.rel_url.with_query(rest)
            response: web.StreamResponse = web.Response(status=303, headers={"Location": str(target)})
            response.set_cookie(COOKIE, keys.access, httponly=True, samesite="Strict", path="/")
            return response
        cookie = request.cookies.get(COOKIE, "")
        if not hmac.compare_digest(cookie.encode(), keys.access.encode()):
            return deny(request, 401, "Open the address that `kuberun ui` printed (it carries this session's access token).")
        if request.method not in SAFE_METHODS and not same_origin(request):
            return deny(request, 403, "Refused: the request did not come from this dashboard's own pages.")
        response = await handler(request)
        if not response.prepared:
            add_headers(response)
        return response

    return guard


def add_headers(response: web.StreamResponse) -> None:
    """Security headers for every page (the event stream sets them itself before it starts)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # not "no-referrer": with it Chromium sends "Origin: null" on our own form POSTs
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
