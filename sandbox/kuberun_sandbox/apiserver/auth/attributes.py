"""What a request asks to do, in the terms RBAC decides on, and the errors a refusal renders as.

``Attributes`` mirror kube-apiserver's ``authorizer.Attributes`` (built from its RequestInfo): a
resource request has a verb, API group, resource, subresource, namespace and name; everything else
(discovery, ``/version``, ``/healthz``) is a non-resource request with a path and a lower-case HTTP
verb. The messages are the real server's (``forbiddenMessage`` and ``NewForbidden``), so clients
and people see what a cluster would tell them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ApiError, qualified
from ..routing import Parsed, rbac_verb
from .authn import UserInfo


@dataclass(frozen=True)
class Attributes:
    verb: str
    resource_request: bool
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def from_request(method: str, path: str, parsed: Parsed | None, watch: bool) -> Attributes:
    """As RequestInfoFactory reads the URL — by its shape, not by what is registered, so an unknown
    resource is still authorized (and refused) in the right namespace before it is a 404."""
    if parsed is None or not parsed.plural:
        return Attributes(verb="get" if method == "HEAD" else method.lower(), resource_request=False, path=path)
    parts = [p for p in path.split("/") if p][2 if parsed.group == "" else 3:]
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]  # a Namespace object is authorized within itself
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource, name, sub = parts[0], parts[1] if len(parts) > 1 else "", "/".join(parts[2:3])
    verb = rbac_verb("GET" if method == "HEAD" else method, Parsed(parsed.group, parsed.version, resource, name=name or None), watch)
    return Attributes(verb, True, parsed.group, parsed.version, resource, sub, namespace, name, path)


def forbidden_reason(user: UserInfo, attrs: Attributes) -> str:
    if not attrs.resource_request:
        return f'User "{user.username}" cannot {attrs.verb} path "{attrs.path}"'
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (f'User "{user.username}" cannot {attrs.verb} resource "{attrs.combined_resource}" '
            f'in API group "{attrs.group}" {where}')


def forbidden(user: UserInfo, attrs: Attributes, extra: str = "") -> ApiError:
    reason = forbidden_reason(user, attrs) + (f": {extra}" if extra else "")
    if not attrs.resource_request:
        return ApiError(403, "Forbidden", f"forbidden: {reason}")
    what = qualified(attrs.resource, attrs.group)
    subject = f'{what} "{attrs.name}"' if attrs.name else what
    details = {"group": attrs.group, "kind": attrs.resource}
    if attrs.name:
        details = {"name": attrs.name, **details}
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
