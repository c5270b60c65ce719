"""Who is calling, and may they: TokenReview and SubjectAccessReview, asked of the API server.

The record server holds no user database and no policy of its own. Like argo-server (and every
aggregated API server), it forwards the caller's bearer token to the API server in a TokenReview,
made with the operator's own credentials (``create tokenreviews``), and asks whether the identity
it got back may perform the Kubernetes verb the route stands for, in a SubjectAccessReview
(``create subjectaccessreviews``). RBAC therefore decides exactly as it would for ``kubectl``:
whoever may ``get`` an Experiment may read its logs and its archived record.

Both answers are cached briefly (bounded LRU with a short TTL, ``cachetools.TTLCache``) so that a
dashboard polling a page does not turn into two API calls per request; a revoked token or binding
takes effect within the TTL. Tokens are cached by their SHA-256 only, never in clear. A review
that fails (the API server unreachable) is not cached and answers 503, never "allowed".
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache

from kuberun.resource.constants import GROUP, PLURAL

log = logging.getLogger("kuberun.operator.server")

DEFAULT_TTL = 10.0          # seconds a review answer is reused
DEFAULT_CACHE_SIZE = 4096   # entries per cache (tokens, decisions)
MAX_TOKEN_BYTES = 16 << 10  # longer than any real JWT; refused without asking the API server


class Unauthorized(Exception):
    """No credentials, or the API server does not know them (401). The message never says which."""


class Forbidden(Exception):
    """Authenticated, but RBAC does not allow the verb (403)."""


class ReviewUnavailable(Exception):
    """The API server could not answer a review (503): never taken as an answer."""


@dataclass(frozen=True)
class Identity:
    """The authenticated caller, as the API server's TokenReview named it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def review_subject(self) -> dict[str, Any]:
        subject: dict[str, Any] = {"user": self.username, "groups": list(self.groups)}
        if self.uid:
            subject["uid"] = self.uid
        if self.extra:
            subject["extra"] = {k: list(v) for k, v in self.extra}
        return subject


ReviewCall = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class KubeReviews:
    """The two review calls over the operator's API client (``kuberun.api.Kube``, run in threads)."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client

    async def token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("/apis/authentication.k8s.io/v1/tokenreviews", body)

    async def access_review(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("/apis/authorization.k8s.io/v1/subjectaccessreviews", body)

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import json

        try:
            answer = await asyncio.to_thread(self._api.send, "POST", path, body=body)
        except Exception as exc:  # urllib3 connection errors and the like
            raise ReviewUnavailable(f"the API server could not be asked: {type(exc).__name__}") from None
        if answer.status >= 400:
            raise ReviewUnavailable(f"the API server refused the review: {answer.status} {answer.reason}")
        return json.loads(answer.data or b"{}")


class Reviewer:
    """Authenticate bearer tokens and authorize verbs on experiments, with bounded short-lived caches."""

    def __init__(self, token_review: ReviewCall, access_review: ReviewCall, *, ttl: float = DEFAULT_TTL,
                 size: int = DEFAULT_CACHE_SIZE, timer: Callable[[], float] | None = None) -> None:
        self._token_review, self._access_review = token_review, access_review
        kwargs: dict[str, Any] = {"timer": timer} if timer is not None else {}
        self._identities: TTLCache[str, Identity | None] = TTLCache(size, ttl, **kwargs)
        self._decisions: TTLCache[tuple[Any, ...], bool] = TTLCache(size, ttl, **kwargs)

    @classmethod
    def over(cls, reviews: KubeReviews, **kwargs: Any) -> Reviewer:
        return cls(reviews.token_review, reviews.access_review, **kwargs)

    async def authenticate(self, authorization: str | None) -> Identity:
        """The caller behind an ``Authorization: Bearer ...`` header. Raises Unauthorized."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_BYTES or not token.isprintable():
            raise Unauthorized("Unauthorized")
        key = hashlib.sha256(token.encode()).hexdigest()
        if key in self._identities:
            found = self._identities[key]
        else:
            answer = await self._token_review({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                               "spec": {"token": token}})
            found = _identity(answer.get("status") or {})
            self._identities[key] = found
        if found is None:
            raise Unauthorized("Unauthorized")
        return found

    async def allowed(self, who: Identity, verb: str, namespace: str, name: str = "") -> bool:
        """Whether ``who`` may ``verb`` experiments.kuberun.dev (``name``) in ``namespace`` ("" = every namespace)."""
        key = (who, verb, namespace, name)
        if key in self._decisions:
            return self._decisions[key]
        attributes = {"group": GROUP, "resource": PLURAL, "verb": verb, "namespace": namespace}
        if name:
            attributes["name"] = name
        answer = await self._access_review({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                                            "spec": {**who.review_subject(), "resourceAttributes": attributes}})
        decision = bool((answer.get("status") or {}).get("allowed"))
        self._decisions[key] = decision
        return decision

    async def require(self, who: Identity, verb: str, namespace: str, name: str = "") -> None:
        """Raises Forbidden unless allowed; the message names only what was asked, as Kubernetes does."""
        if not await self.allowed(who, verb, namespace, name):
            target = f"{PLURAL}.{GROUP}" + (f' "{name}"' if name else "")
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            raise Forbidden(f'{target} is forbidden: User "{who.username}" cannot {verb} resource '
                            f'"{PLURAL}" in API group "{GROUP}" {where}')


def _identity(status: dict[str, Any]) -> Identity | None:
    if not status.get("authenticated"):
        return None
    user = status.get("user") or {}
    name = user.get("username")
    if not isinstance(name, str) or not name:
        return None
    extra = tuple(sorted((str(k), tuple(str(x) for x in v or ())) for k, v in (user.get("extra") or {}).items()))
    return Identity(name, str(user.get("uid") or ""), tuple(str(g) for g in user.get("groups") or ()), extra)
