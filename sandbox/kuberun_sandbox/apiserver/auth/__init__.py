"""Authentication, authorization and admission for the emulator: what a cluster enforces.

Every request passes ``Auth.gate`` before any handler (the one hook in ``server.py``):

1. transport hygiene (``transport``): loopback ``Host`` only, no foreign ``Origin`` on writes —
   refusals a browser page or a DNS-rebound name earns (and, after authorization, API media
   types only on writes: 415 for ``text/plain``);
2. authentication (``authn``): a bearer token minted by this server → a user; none → anonymous;
   an unknown token → 401; a pod-bound ServiceAccount token (``boundtokens``, from the TokenRequest
   API) → its ServiceAccount, for the API server's own audience only;
3. authorization (``rbac``): the stored Roles/ClusterRoles and bindings, evaluated as the RBAC
   authorizer does; refused → 403 with the real message, or 401 for an anonymous caller (which a
   cluster only lets read ``/healthz``, ``/livez``, ``/readyz`` and ``/version``);
4. the review APIs and TokenRequest (``reviews``) are answered here; everything else goes on to the handlers,
   whose admission step ends with Pod Security and ValidatingAdmissionPolicies (``admission``).
"""

from __future__ import annotations

import pathlib
import ssl
import weakref

from aiohttp import web

from ..resources import Registry, ResourceType
from ..routing import Parsed
from ..store import Store
from . import bootstrap, reviews, transport
from . import tls as tls_module
from .admission import ATTRS_KEY, USER_KEY, AdmittingHandlers
from .attributes import Attributes, forbidden, from_request, unauthorized
from .authn import ANONYMOUS, MASTERS, TokenAuthenticator, UserInfo, bearer_token, service_account
from .boundtokens import API_AUDIENCES, BoundTokens
from .rbac import RBACAuthorizer

__all__ = ["MASTERS", "AdmittingHandlers", "Attributes", "Auth", "UserInfo", "local_ca", "local_token", "service_account"]

_LOCAL: weakref.WeakValueDictionary[str, Auth] = weakref.WeakValueDictionary()


class Auth:
    """The authentication, authorization and review state of one API server."""

    def __init__(self, store: Store, registry: Registry, directory: pathlib.Path | None = None, *, tls: bool = True,
                 tls_dir: pathlib.Path | None = None) -> None:
        """``directory`` keeps tokens (and, unless ``tls_dir`` names another place, the CA under ``tls/``)."""
        self.store, self.registry, self.directory = store, registry, directory
        self.tls = tls or tls_dir is not None
        self.tls_dir = tls_dir if tls_dir is not None else directory / "tls" if directory else None
        self.tokens = TokenAuthenticator(directory / "tokens.json" if directory else None)
        self.certificate: tls_module.ServingCertificate | None = None
        self.bound = BoundTokens(store, directory / "bound-tokens.json" if directory else None)
        self.authorizer = RBACAuthorizer(store)
        self.reviews = reviews.Reviews(self.tokens, self.authorizer, self.bound)
        _register_review_types(registry)

    def bootstrap(self) -> None:
        bootstrap.install_defaults(self.store, self.registry)

    def ssl_context(self, host: str) -> ssl.SSLContext | None:
        """The serving TLS context (None without TLS); makes or loads the CA and certificate."""
        if not self.tls:
            return None
        if self.certificate is None:
            self.certificate = tls_module.ServingCertificate(self.tls_dir, host)
        return self.certificate.server_context()

    @property
    def ca_pem(self) -> str | None:
        return self.certificate.ca_pem if self.certificate is not None else None

    def close(self) -> None:
        if self.certificate is not None and self.tls_dir is None:
            self.certificate.close()  # a temporary CA goes with its server; a persisted one stays
            self.certificate = None

    def listening(self, url: str) -> None:
        """Make this server's tokens mintable by in-process callers that know only its URL."""
        _LOCAL[url.rstrip("/")] = self

    def mint(self, username: str, groups: tuple[str, ...] | list[str] = ()) -> str:
        return self.tokens.mint(username, groups)

    def authenticate(self, request: web.Request) -> UserInfo:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return ANONYMOUS
        user = self.tokens.authenticate(token) if token else None
        if user is None and token:  # a bound token is good here only for the API server's own audiences
            user = self.bound.review(token, API_AUDIENCES)[0]
        if user is None:
            raise unauthorized()
        return user

    async def gate(self, request: web.Request, parsed: Parsed | None, watch: bool, host: str,
                   port: int) -> web.StreamResponse | None:
        """Refuse (raise ``ApiError``), answer a review, or return None to let the handlers serve."""
        transport.check(request, host, port)
        attrs = from_request(request.method, request.path, parsed, watch)
        user = self.authenticate(request)
        request[USER_KEY], request[ATTRS_KEY] = user, attrs
        allowed, _ = self.authorizer.authorize(user, attrs)
        if not allowed:
            raise unauthorized() if user.anonymous else forbidden(user, attrs)
        if reviews.is_review(attrs):  # these also read client-go's protobuf bodies
            return await self.reviews.serve(request, attrs, user)
        transport.check_body_type(request)
        if reviews.is_token_request(attrs):  # JSON only (client-go's protobuf TokenRequest: 415)
            return await self.reviews.token_request(request, attrs)
        return None


def local_token(url: str, username: str, groups: tuple[str, ...] = (MASTERS,)) -> str | None:
    """A token for ``username`` from the in-process server listening at ``url``; None if there is none.

    For kubeconfigs written by code that only knows a URL (test fixtures, benches): they get an
    identity of their own, in ``system:masters`` unless told otherwise — the access they had
    before the sandbox checked anything. Nothing reachable over HTTP can call this.
    """
    auth = _LOCAL.get(url.rstrip("/"))
    return auth.mint(username, groups) if auth is not None else None


def local_ca(url: str) -> str | None:
    """The CA (PEM) of the in-process server at ``url``, for clients that know only its URL."""
    auth = _LOCAL.get(url.rstrip("/"))
    return auth.ca_pem if auth is not None else None


def _register_review_types(registry: Registry) -> None:
    # Create-only virtual resources: served (so discovery and URL parsing know them), never stored.
    for group, kinds in reviews.RESOURCES.items():
        for plural, kind in kinds.items():
            rt = ResourceType(group=group, version="v1", plural=plural, kind=kind, singular=kind.lower(),
                              namespaced=plural == "localsubjectaccessreviews", verbs=["create"])
            registry._types[(group, "v1", plural)] = rt
