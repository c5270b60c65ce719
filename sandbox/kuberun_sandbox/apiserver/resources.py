"""The resource registry: which group/version/plural is served, with what kind, scope and subresources.

Built-in resources come from kmock's bundled discovery catalogue (the raw ``APIResourceList``
documents captured from a K3s cluster), so discovery answers for built-ins are the ones a real
server gives — but only for ``SERVED``: the kinds the sandbox acts on (its node runs Jobs and Pods;
its garbage collector, namespaces and CRDs) and plain data a workload needs (ConfigMaps, Secrets,
ServiceAccounts, RBAC, Leases, Events), and the ValidatingAdmissionPolicies it enforces. A Deployment is refused (404, as for an unknown kind)
rather than stored and never rolled out. Custom resources are added when a CRD is created and
removed when it is deleted.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
from dataclasses import dataclass, field
from typing import Any

SERVED: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("", "v1"): {"configmaps": (), "events": (), "namespaces": ("status",), "pods": ("log", "status"),
                 "secrets": (), "serviceaccounts": ("token",), "services": ("status",)},
    ("batch", "v1"): {"jobs": ("status",)},
    ("events.k8s.io", "v1"): {"events": ()},
    ("apiextensions.k8s.io", "v1"): {"customresourcedefinitions": ("status",)},
    ("rbac.authorization.k8s.io", "v1"): {"clusterrolebindings": (), "clusterroles": (), "rolebindings": (),
                                          "roles": ()},
    ("coordination.k8s.io", "v1"): {"leases": ()},
    # the admission policies the sandbox enforces (auth/vap.py); the review APIs are added by auth/__init__.py
    ("admissionregistration.k8s.io", "v1"): {"validatingadmissionpolicies": ("status",),
                                             "validatingadmissionpolicybindings": ()},
}
"""Built-in group/version -> resource -> subresources the sandbox serves (see the module docstring)."""

_LIST_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class ResourceType:
    """One served resource at one group/version."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    verbs: list[str] = field(default_factory=lambda: list(_LIST_VERBS))
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: dict[str, str] = field(default_factory=dict)  # name -> kind
    crd: dict[str, Any] | None = None  # the CRD object for custom resources
    storage: bool = True  # is this the storage version of a CRD?

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def selectable_fields(self) -> frozenset[str]:
        from .selection import selectable_fields

        return selectable_fields(self.group, self.kind, self.crd_version if self.crd is not None else None)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def crd_version(self) -> dict[str, Any]:
        """The ``spec.versions[]`` entry of the CRD for this version (custom resources only)."""
        assert self.crd is not None
        return next(v for v in self.crd["spec"]["versions"] if v["name"] == self.version)


def _load_builtin_docs() -> list[dict[str, Any]]:
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    docs: list[dict[str, Any]] = json.loads(gzip.decompress(data))
    return docs


def _builtin_types(docs: list[dict[str, Any]]) -> list[ResourceType]:
    types: list[ResourceType] = []
    for doc in docs:
        group, _, version = doc["groupVersion"].rpartition("/")
        entries = doc.get("resources", [])
        subs: dict[str, dict[str, str]] = {}
        for e in entries:
            if "/" in e["name"]:
                plural, sub = e["name"].split("/", 1)
                subs.setdefault(plural, {})[sub] = e["kind"]
        served = SERVED.get((group, version), {})
        for e in entries:
            if "/" in e["name"] or "list" not in e.get("verbs", []) or e["name"] not in served:
                continue
            types.append(ResourceType(
                group=group, version=version, plural=e["name"], kind=e["kind"],
                singular=e.get("singularName") or e["kind"].lower(), namespaced=e["namespaced"],
                verbs=list(e.get("verbs", [])), short_names=list(e.get("shortNames", [])),
                categories=list(e.get("categories", [])),
                subresources={k: v for k, v in subs.get(e["name"], {}).items() if k in served[e["name"]]},
            ))
    return types


def crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    """The served versions of a CRD as resource types."""
    spec = crd["spec"]
    names = spec["names"]
    result: list[ResourceType] = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subs: dict[str, str] = {}
        declared = version.get("subresources") or {}
        if "status" in declared:
            subs["status"] = names["kind"]
        if "scale" in declared:
            subs["scale"] = "Scale"
        result.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"], kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=list(names.get("shortNames", [])), categories=list(names.get("categories", [])),
            subresources=subs, crd=crd, storage=bool(version.get("storage", True)),
        ))
    return result


class Registry:
    """All served resource types, looked up by (group, version, plural)."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._docs = _load_builtin_docs()
        for rt in _builtin_types(self._docs):
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        return next((t for t in self._types.values()
                     if t.group == group and t.version == version and t.kind == kind), None)

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> versions, in registration order ('' is the core group)."""
        result: dict[str, list[str]] = {}
        for t in self._types.values():
            versions = result.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types.values() if t.group == group and t.version == version]

    def register_crd(self, crd: dict[str, Any]) -> None:
        self.unregister_crd(crd)
        for rt in crd_types(crd):
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def unregister_crd(self, crd: dict[str, Any]) -> None:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]

    def storage_key(self, rt: ResourceType) -> tuple[str, str]:
        """Objects are stored per group+plural, whatever the version they are read at."""
        return rt.group, rt.plural
