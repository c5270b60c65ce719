"""The dashboard served from the cluster (the chart's ``dashboard.enabled``): every user acts as themself.

On loopback the dashboard is one user's, reading with that user's kubeconfig. In the cluster it is
shared, so it must never read or act with its own ServiceAccount on a user's behalf: that would give
every visitor the dashboard's rights. Instead each request carries the user's bearer token (an
``Authorization: Bearer`` header, e.g. from an authenticating proxy, or the HttpOnly cookie the
sign-in form sets, as Argo's server does), and:

1. the token is reviewed with the API server (a TokenReview, the one thing the dashboard's own
   ServiceAccount may do; answers cached 10 s by the token's digest, as the record server does).
   No token, or one the API server does not accept: 401 and the sign-in page. A review that cannot
   be made: 503, never "allowed";
2. every read and write of the request is then made with a client that carries *that token* to the
   API server (and to the record server), so the API server's RBAC decides exactly as for kubectl.
   Forwarding needs nothing new granted; impersonation would need the ``impersonate`` verb.

POSTs need this origin and a per-user form token (an HMAC of the token's digest), as on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from kuberun.errors import KuberunError
from kuberun.ui import data, render, security, server
from kuberun.ui.data import Credentials, Kube, Op

COOKIE = "kuberun_ui_token"
REVIEW_TTL, REVIEW_CACHE = 10.0, 4096
CLIENT_TTL, CLIENT_CACHE = 300.0, 256
MAX_TOKEN = 16 << 10  # a JWT with many claims is a few KiB; anything past this is not a token
OPEN_PATHS = ("/login", "/healthz")
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


class Unauthenticated(Exception):
    pass


class ReviewUnavailable(Exception):
    pass


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Reviewer:
    """TokenReviews made with the dashboard's own client; answers cached by token digest (tokens are never kept)."""

    def __init__(self, own: Kube, ttl: float = REVIEW_TTL, size: int = REVIEW_CACHE) -> None:
        from cachetools import TTLCache

        self.own = own
        self._cache: TTLCache[str, str | None] = TTLCache(maxsize=size, ttl=ttl)
        self._lock = threading.Lock()

    def username(self, token: str) -> str:
        """The user the API server says the token is. Raises Unauthenticated or ReviewUnavailable."""
        key = digest(token)
        with self._lock:
            cached = self._cache.get(key, "")
        if cached == "":
            cached = self._review(token)
            with self._lock:
                self._cache[key] = cached
        if cached is None:
            raise Unauthenticated()
        return cached

    def _review(self, token: str) -> str | None:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            answer = self.own.request("POST", TOKEN_REVIEWS, Op("create", "tokenreviews"), body=body, timeout=10.0)
        except KuberunError as exc:
            raise ReviewUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        status = answer.get("status") or {}
        user = status.get("user") or {}
        return str(user["username"]) if status.get("authenticated") and user.get("username") else None


@dataclass(frozen=True)
class Scope:
    """What each user's record shows: the chart's namespace, or all namespaces."""

    namespace: str = "default"
    all_namespaces: bool = False


class Users:
    """One client per signed-in user: the API server's address and CA from the dashboard's, the user's token."""

    def __init__(self, own: Kube, scope: Scope, ttl: float = CLIENT_TTL, size: int = CLIENT_CACHE) -> None:
        from cachetools import TTLCache

        self.own, self.scope = own, scope
        self._cache: TTLCache[str, data.Record] = TTLCache(maxsize=size, ttl=ttl)
        self._lock = threading.Lock()

    def record(self, token: str, username: str) -> data.Record:
        key = digest(token)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = data.Record.on(Kube(self.credentials(token, username)), self.scope.all_namespaces)
            with self._lock:
                self._cache[key] = found
        return found

    def credentials(self, token: str, username: str) -> Credentials:
        """The user's token and nothing of the dashboard's identity: no client certificate, no exec plugin, and
        no token file (the client re-reads one now and then, which would put the dashboard's own token back)."""
        return self.own.creds.replace(namespace=self.scope.namespace, user=username,
                                      headers={"Authorization": f"Bearer {token}"}, cert_file=None, key_file=None,
                                      exec_plugin=None, token_file=None)


def offered_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE, "")
    return token if token and len(token) <= MAX_TOKEN else None


def form_token(secret: bytes, token: str) -> str:
    return hmac.new(secret, digest(token).encode(), hashlib.sha256).hexdigest()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(reviewer: Reviewer, users: Users, secret: bytes) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Authenticate every request (but sign-in, health and static files) and give it its user's record."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or request.path.startswith("/static/"):
            response = await handler(request)
        else:
            token = offered_token(request)
            if token is None:
                return sign_in(request, 401, "Sign in with a Kubernetes bearer token to see the cluster's experiments.")
            try:
                username = await asyncio.to_thread(reviewer.username, token)
            except Unauthenticated:
                return sign_in(request, 401, "The API server did not accept that token; sign in again.")
            except ReviewUnavailable as exc:
                return render.error(request, 503, f"The API server could not review your token ({exc}); try again.")
            if request.method not in security.SAFE_METHODS and not security.same_origin(request):
                return render.error(request, 403, "Refused: the request did not come from this dashboard's own pages.")
            request[render.REQUEST_RECORD] = users.record(token, username)
            request[render.REQUEST_CSRF] = form_token(secret, token)
            response = await handler(request)
        if not response.prepared:
            security.add_headers(response)
        return response

    return guard


def sign_in(request: web.Request, status: int, message: str) -> web.Response:
    nxt = request.path_qs if request.method == "GET" and request.path not in OPEN_PATHS else "/"
    body = render.environment().get_template("login.html").render(message=message, next=nxt, status=status)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    security.add_headers(response)
    return response


def routes(reviewer: Reviewer) -> list[web.RouteDef]:
    """Sign-in (a form that sets the token cookie once the API server accepts it), sign-out, health."""

    async def login_page(request: web.Request) -> web.Response:
        return sign_in(request, 200, "Paste a bearer token for the cluster (e.g. `kubectl create token NAME`).")

    async def login(request: web.Request) -> web.Response:
        if not security.same_origin(request):
            return render.error(request, 403, "Refused: the sign-in did not come from this dashboard's own page.")
        form = await request.post()
        token, nxt = str(form.get("token") or "").strip(), str(form.get("next") or "/")
        if not token or len(token) > MAX_TOKEN:
            return sign_in(request, 401, "Paste a token to sign in.")
        try:
            await asyncio.to_thread(reviewer.username, token)
        except Unauthenticated:
            return sign_in(request, 401, "The API server did not accept that token.")
        except ReviewUnavailable as exc:
            return render.error(request, 503, f"The API server could not review your token ({exc}); try again.")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"  # never a redirect off this site
        response = web.Response(status=303, headers={"Location": quote(nxt, safe="/?=&%:-_.~")})
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/")
        return response

    async def logout(request: web.Request) -> web.Response:
        if not security.same_origin(request):
            return render.error(request, 403, "Refused: the request did not come from this dashboard's own pages.")
        response = web.Response(status=303, headers={"Location": "/login"})
        response.del_cookie(COOKIE, path="/")
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    return [web.get("/login", login_page), web.post("/login", login), web.post("/logout", logout),
            web.get("/healthz", healthz)]


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def create_app(own: Kube, scope: Scope) -> web.Application:
    """The dashboard app in in-cluster mode: ``own`` is the dashboard's client, used for TokenReviews only."""
    reviewer = Reviewer(own)
    keys = security.Secrets()
    return server.create_app(None, keys, guard=middleware(reviewer, Users(own, scope), new_secret()),
                             extra=routes(reviewer))


async def start(own: Kube, scope: Scope, hosts: str | list[str], port: int) -> server.Running:
    """Serve in-cluster mode on ``port`` of ``hosts`` until the returned server's ``stop()``."""
    return await server.start_app(create_app(own, scope), hosts, port, security.Secrets())
