"""Bound ServiceAccount tokens: the TokenRequest API (``serviceaccounts/{name}/token``) and their review.

A real API server signs a JWT naming the ServiceAccount, the audiences, an expiry and the object it
is bound to; a review checks the signature, the expiry, that the audiences intersect the ones asked
for (the API server's own when none are), and that the ServiceAccount and the bound pod still exist
with the same UIDs — so a token dies with its pod. Its user is
``system:serviceaccount:<ns>:<name>`` with the pod's name and UID in ``extra`` (what a server
receiving such a token uses to know which pod is calling). The emulator keeps the same claims
server-side instead of in a signature: a random token, stored only as its SHA-256 digest (in a 0600
file beside the static tokens when there is a data directory, so pods keep working across a restart).

Validation follows kube-apiserver: an unknown ServiceAccount or pod is 404, a pod whose UID differs
from the reference 409, a pod running as another ServiceAccount 400, an expiry under ten minutes 422.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ApiError, bad_request
from ..store import Store
from .authn import AUTHENTICATED, UserInfo, service_account

API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)  # as the real control plane's --api-audiences
MIN_SECONDS, DEFAULT_SECONDS, MAX_SECONDS = 600, 3600, 1 << 32
MAX_TOKENS = 100_000  # kept at once; the expired go first
EXTRA = "authentication.kubernetes.io/"


@dataclass(frozen=True)
class Claims:
    namespace: str
    account: str
    account_uid: str
    audiences: tuple[str, ...]
    expires: float
    pod: str = ""
    pod_uid: str = ""
    node: str = ""
    jti: str = ""


class BoundTokens:
    def __init__(self, store: Store, path: pathlib.Path | None = None) -> None:
        self.store, self._path = store, path
        self._lock = threading.Lock()
        self._claims: dict[str, Claims] = {}
        if path is not None and path.exists():
            raw = json.loads(path.read_text())
            self._claims = {d: Claims(**{**c, "audiences": tuple(c["audiences"])}) for d, c in raw.items()}

    def request(self, namespace: str, account: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answer a TokenRequest for ``namespace/account``: the request with ``status.token`` (201)."""
        sa = self.store.get(("", "serviceaccounts", namespace, account))
        if sa is None:
            raise ApiError(404, "NotFound", f'serviceaccounts "{account}" not found',
                           details={"name": account, "kind": "serviceaccounts"})
        spec = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds", DEFAULT_SECONDS)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
            raise ApiError(422, "Invalid", f"TokenRequest.authentication.k8s.io \"{account}\" is invalid: "
                           f"spec.expirationSeconds: Invalid value: {seconds!r}: may not specify a duration less "
                           "than 10 minutes or more than 2^32 seconds")
        audiences = tuple(str(a) for a in spec.get("audiences") or ()) or API_AUDIENCES
        pod_name = pod_uid = node = ""
        ref = spec.get("boundObjectRef")
        if ref:
            if ref.get("kind") != "Pod" or ref.get("apiVersion", "v1") != "v1":
                raise bad_request(f"cannot bind token to object of kind {ref.get('kind')!r}: this emulator binds to Pods only")
            pod = self.store.get(("", "pods", namespace, str(ref.get("name") or "")))
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{ref.get("name")}" not found',
                               details={"name": ref.get("name"), "kind": "pods"})
            meta = pod["metadata"]
            if ref.get("uid") and ref["uid"] != meta["uid"]:
                raise ApiError(409, "Conflict", f"Operation cannot be fulfilled on pods \"{meta['name']}\": the UID in "
                               f"the bound object reference ({ref['uid']}) does not match the UID in record. "
                               "The object might have been deleted and then recreated")
            if ((pod.get("spec") or {}).get("serviceAccountName") or "default") != account:
                raise bad_request(f'cannot bind token for serviceaccount "{account}" to pod running with different '
                                  "serviceaccount name.")
            pod_name, pod_uid, node = meta["name"], meta["uid"], (pod.get("spec") or {}).get("nodeName") or ""
            spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": pod_name, "uid": pod_uid}
        expires = time.time() + seconds
        claims = Claims(namespace, account, sa["metadata"]["uid"], audiences, expires, pod_name, pod_uid, node,
                        str(uuid.uuid4()))
        token = "kr-bound." + secrets.token_urlsafe(32)
        with self._lock:
            self._claims[_digest(token)] = claims
            self._prune()
            self._save()
        spec.update(audiences=list(audiences), expirationSeconds=seconds)
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": account, "namespace": namespace, "creationTimestamp": format_time(time.time())},
                "spec": spec, "status": {"token": token, "expirationTimestamp": format_time(expires)}}

    def review(self, token: str, audiences: tuple[str, ...] = ()) -> tuple[UserInfo | None, tuple[str, ...], str]:
        """(user, the audiences it is good for among those asked, error) of a bound token."""
        claims = self._claims.get(_digest(token))
        if claims is None:
            return None, (), "invalid bearer token"
        wanted = audiences or API_AUDIENCES
        matched = tuple(a for a in wanted if a in claims.audiences)
        if not matched:
            return None, (), "token audiences is invalid for the target audiences"
        if time.time() >= claims.expires:
            return None, (), "token has expired"
        sa = self.store.get(("", "serviceaccounts", claims.namespace, claims.account))
        if sa is None or sa["metadata"]["uid"] != claims.account_uid:
            return None, (), f'serviceaccounts "{claims.account}" not found'
        extra = {f"{EXTRA}credential-id": [f"JTI={claims.jti}"]}
        if claims.pod:
            pod = self.store.get(("", "pods", claims.namespace, claims.pod))
            if pod is None or pod["metadata"]["uid"] != claims.pod_uid or pod["metadata"].get("deletionTimestamp"):
                return None, (), f'pods "{claims.pod}" not found'
            extra[f"{EXTRA}pod-name"], extra[f"{EXTRA}pod-uid"] = [claims.pod], [claims.pod_uid]
            if claims.node:
                extra[f"{EXTRA}node-name"] = [claims.node]
        name, groups = service_account(claims.namespace, claims.account)
        return UserInfo(name, (*groups, AUTHENTICATED), claims.account_uid, extra), matched, ""

    def _prune(self) -> None:
        now = time.time()
        for digest in [d for d, c in self._claims.items() if c.expires <= now]:
            del self._claims[digest]
        while len(self._claims) > MAX_TOKENS:
            self._claims.pop(next(iter(self._claims)))

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({d: asdict(c) for d, c in self._claims.items()}, f)
        os.replace(tmp, self._path)


def format_time(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
