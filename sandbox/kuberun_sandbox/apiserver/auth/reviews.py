"""The review APIs: SelfSubjectAccessReview/RulesReview (``kubectl auth can-i``), SubjectAccessReview,
TokenReview and SelfSubjectReview (``kubectl auth whoami``).

They are create-only virtual resources: nothing is stored, the answer is the request with a
``status`` filled in (201), as on a real server. Who may ask is itself RBAC: everyone
authenticated may review themselves (``system:basic-user``); reviewing others or tokens needs
``create`` on ``subjectaccessreviews``/``tokenreviews`` (``system:auth-delegator``), which is what
a log endpoint that authenticates its callers (argo-server style) is granted.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import ApiError, bad_request
from ..handlers import respond
from . import protobuf
from .attributes import Attributes
from .authn import TokenAuthenticator, UserInfo
from .boundtokens import API_AUDIENCES, BoundTokens
from .rbac import RBACAuthorizer

AUTHZ, AUTHN = "authorization.k8s.io", "authentication.k8s.io"
RESOURCES = {
    AUTHZ: {"selfsubjectaccessreviews": "SelfSubjectAccessReview", "selfsubjectrulesreviews": "SelfSubjectRulesReview",
            "subjectaccessreviews": "SubjectAccessReview", "localsubjectaccessreviews": "LocalSubjectAccessReview"},
    AUTHN: {"tokenreviews": "TokenReview", "selfsubjectreviews": "SelfSubjectReview"},
}


def is_review(attrs: Attributes) -> bool:
    return attrs.resource_request and attrs.resource in RESOURCES.get(attrs.group, {})


def is_token_request(attrs: Attributes) -> bool:
    return attrs.resource_request and (attrs.group, attrs.resource, attrs.subresource) == ("", "serviceaccounts", "token")


def _review_attrs(spec: dict[str, Any], namespace: str | None = None) -> Attributes:
    if spec.get("nonResourceAttributes"):
        nra = spec["nonResourceAttributes"]
        return Attributes(nra.get("verb", ""), False, path=nra.get("path", ""))
    ra = spec.get("resourceAttributes") or {}
    return Attributes(ra.get("verb", ""), True, ra.get("group", ""), ra.get("version", ""), ra.get("resource", ""),
                      ra.get("subresource", ""), namespace if namespace is not None else ra.get("namespace", ""),
                      ra.get("name", ""))


def _access_status(authorizer: RBACAuthorizer, user: UserInfo, attrs: Attributes) -> dict[str, Any]:
    allowed, reason = authorizer.authorize(user, attrs)
    return {"allowed": allowed, "reason": reason} if reason else {"allowed": allowed}


class Reviews:
    def __init__(self, tokens: TokenAuthenticator, authorizer: RBACAuthorizer, bound: BoundTokens) -> None:
        self.tokens, self.authorizer, self.bound = tokens, authorizer, bound

    async def token_request(self, request: web.Request, attrs: Attributes) -> web.Response:
        """``POST serviceaccounts/{name}/token`` (authorized as ``create`` on that subresource by the gate)."""
        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({request.method})")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as e:
            raise bad_request(f"couldn't get version/kind; json parse error: {e}") from None
        if not isinstance(body, dict):
            raise bad_request("the request body must be an object")
        return respond(self.bound.request(attrs.namespace, attrs.name, body), 201)

    async def serve(self, request: web.Request, attrs: Attributes, user: UserInfo) -> web.Response:
        if request.method != "POST" or attrs.name:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({request.method})")
        kind = RESOURCES[attrs.group][attrs.resource]
        raw = await request.read()
        try:
            body = protobuf.decode(raw, kind) if request.content_type == protobuf.MEDIA_TYPE else json.loads(raw or b"{}")
        except ValueError as e:
            raise bad_request(f"couldn't get version/kind; json parse error: {e}") from None
        if not isinstance(body, dict):
            raise bad_request("the request body must be an object")
        spec = body.get("spec") or {}
        out: dict[str, Any] = {"kind": kind, "apiVersion": f"{attrs.group}/{attrs.version}",
                               "metadata": {"creationTimestamp": None, **(body.get("metadata") or {})}, "spec": spec}
        out["status"] = self._status(kind, spec, user, attrs)
        return respond(out, 201)

    def _status(self, kind: str, spec: dict[str, Any], user: UserInfo, attrs: Attributes) -> dict[str, Any]:
        if kind == "SelfSubjectAccessReview":
            return _access_status(self.authorizer, user, _review_attrs(spec))
        if kind == "LocalSubjectAccessReview":
            subject = UserInfo(spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""))
            return _access_status(self.authorizer, subject, _review_attrs(spec, attrs.namespace))
        if kind == "SubjectAccessReview":
            if not spec.get("user") and not spec.get("groups"):
                raise bad_request("at least one of user or group must be specified")
            subject = UserInfo(spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""))
            return _access_status(self.authorizer, subject, _review_attrs(spec))
        if kind == "SelfSubjectRulesReview":
            resource, non_resource = self.authorizer.rules_for(user, spec.get("namespace") or "")
            return {"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": False}
        if kind == "SelfSubjectReview":
            return {"userInfo": user.to_dict()}
        # TokenReview. Static tokens are audience-agnostic: good for the API server's own audiences only
        # (kube-apiserver's WrapAudienceAgnosticToken); bound tokens carry their audiences.
        token, wanted = str(spec.get("token") or ""), tuple(str(a) for a in spec.get("audiences") or ())
        found = self.tokens.authenticate(token) if token else None
        if found is not None:
            matched = tuple(a for a in wanted if a in API_AUDIENCES) if wanted else API_AUDIENCES
            if not matched:
                return {"authenticated": False, "user": {}, "error": "token audiences is invalid for the target audiences"}
            return {"authenticated": True, "user": found.to_dict(), "audiences": list(matched)}
        found, matched, error = self.bound.review(token, wanted) if token else (None, (), "invalid bearer token")
        if found is None:
            return {"authenticated": False, "user": {}, "error": error}
        return {"authenticated": True, "user": found.to_dict(), "audiences": list(matched)}
