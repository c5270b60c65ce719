"""Discovery documents: /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>, /version.

Only the legacy (unaggregated) documents are served, with ``Content-Type: application/json``;
kubectl and client-go then fall back from aggregated discovery on their own.
"""

from __future__ import annotations

from typing import Any

from .errors import not_found
from .resources import Registry, ResourceType

VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-kuberun-sandbox", "gitCommit": "", "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.4", "compiler": "gc", "platform": "linux/amd64",
}
_STATUS_VERBS = ["get", "patch", "update"]


def api_versions(address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    preferred = versions[0]
    return {"name": name, "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{name}/{preferred}", "version": preferred}}


def _preferred_first(registry: Registry, group: str, versions: list[str]) -> list[str]:
    storage = [v for v in versions for t in registry.in_group_version(group, v) if t.crd is not None and t.storage]
    return sorted(versions, key=lambda v: v not in storage)


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(g, _preferred_first(registry, g, vs)) for g, vs in registry.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any]:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        raise not_found("", "", None)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, _preferred_first(registry, group, versions))}


def _entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                            "kind": rt.kind, "verbs": rt.verbs}
    if rt.short_names:
        main["shortNames"] = rt.short_names
    if rt.categories:
        main["categories"] = rt.categories
    subs = [{"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced, "kind": kind,
             "verbs": ["get"] if sub == "log" else _STATUS_VERBS} for sub, kind in rt.subresources.items()]
    return [main, *subs]


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    types = registry.in_group_version(group, version)
    if not types:
        raise not_found("", "", None)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": [e for rt in types for e in _entries(rt)]}
