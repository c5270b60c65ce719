"""URL → (group, version, resource, namespace, name, subresource) and the RBAC verb of a request.

kmock's parser treats ``/api/v1/namespaces`` as a namespace prefix with no namespace (500) and
recognises only ``watch=true``; this one resolves the ambiguity against the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from .resources import Registry, ResourceType


@dataclass(frozen=True)
class Parsed:
    group: str
    version: str
    plural: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    rt: ResourceType | None = None


def parse(path: str, registry: Registry) -> Parsed | None:
    """None for non-resource URLs (discovery, openapi, version)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return Parsed(group, version)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = registry.get(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = "/".join(rest[2:]) or None
    return Parsed(group, version, plural, namespace, name, sub, registry.get(group, version, plural))


def rbac_verb(method: str, parsed: Parsed | None, watch: bool) -> str:
    """The verb RBAC would check for this request."""
    if parsed is None or not parsed.plural:
        return method.lower()
    if method == "GET":
        return "watch" if watch else ("get" if parsed.name else "list")
    if method == "DELETE":
        return "delete" if parsed.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
