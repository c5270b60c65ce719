"""Label and field selectors, and ``limit``/``continue`` pagination over consistent snapshots."""

from __future__ import annotations

import base64
import collections
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request, gone

Matcher = Callable[[dict[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([\w./-]*))?\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``(...)`` value sets."""
    terms, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Matcher:
    m = _SET_TERM.match(term)
    if m is None:
        raise bad_request(f"unable to parse requirement: {term!r}")
    negate, key, set_op, set_values, op, value = m.groups()
    if negate and (set_op or op):
        raise bad_request(f"unable to parse requirement: {term!r}")

    def labels(obj: dict[str, Any]) -> dict[str, str]:
        return obj.get("metadata", {}).get("labels") or {}

    if set_op:
        values = {v.strip() for v in set_values.split(",") if v.strip()}
        if set_op == "in":
            return lambda obj: labels(obj).get(key) in values
        return lambda obj: labels(obj).get(key) not in values
    if op in ("=", "=="):
        return lambda obj: labels(obj).get(key) == value
    if op == "!=":
        return lambda obj: labels(obj).get(key) != value
    if negate:
        return lambda obj: key not in labels(obj)
    return lambda obj: key in labels(obj)


def label_selector(selector: str | None) -> Matcher:
    if not selector:
        return lambda obj: True
    terms = [_label_term(t) for t in _split_terms(selector)]
    return lambda obj: all(term(obj) for term in terms)


_EVENT_FIELDS = frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                           "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                           "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"})
SELECTABLE: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}),
    ("", "Event"): _EVENT_FIELDS,
    ("events.k8s.io", "Event"): _EVENT_FIELDS | {"regarding.kind", "regarding.namespace", "regarding.name",
                                                 "regarding.uid", "regarding.apiVersion", "regarding.resourceVersion",
                                                 "regarding.fieldPath", "reportingController", "deprecatedSource"},
    ("", "Secret"): frozenset({"type"}),
    ("", "Namespace"): frozenset({"status.phase"}),
    ("batch", "Job"): frozenset({"status.successful"}),
}
"""Field labels each built-in kind supports beyond metadata.name/namespace (the registries' ToSelectableFields)."""

_ALIASES = {"reportingController": "reportingComponent", "deprecatedSource": "source",
            **{f"regarding.{f}": f"involvedObject.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion",
                                                                 "resourceVersion", "fieldPath")}}
"""events.k8s.io/v1 field labels in the core/v1 names Events are stored (and selected) under."""

_COMPUTED = {
    "source": lambda o: (o.get("source") or {}).get("component") or o.get("reportingComponent") or "",
    "status.successful": lambda o: str((o.get("status") or {}).get("succeeded") or 0),
    "spec.hostNetwork": lambda o: "true" if (o.get("spec") or {}).get("hostNetwork") else "false",
}


def _field_value(obj: dict[str, Any], path: str) -> str:
    if path in _COMPUTED:
        return str(_COMPUTED[path](obj))
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def selectable_fields(group: str, kind: str, crd_version: dict[str, Any] | None) -> frozenset[str]:
    """The field labels a list or watch of this kind may select on."""
    if crd_version is not None:  # CRDs declare theirs (selectableFields, Kubernetes 1.31+)
        declared = {f.get("jsonPath", "").lstrip(".") for f in crd_version.get("selectableFields") or []}
        return frozenset({"metadata.name", "metadata.namespace", *declared})
    return frozenset({"metadata.name", "metadata.namespace", *SELECTABLE.get((group, kind), ())})


_GENERIC_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


def field_selector(selector: str | None, allowed: frozenset[str]) -> Matcher:
    """Field selectors over the fields a kind supports; any other label is 400, as on a real server."""
    if not selector:
        return lambda obj: True
    matchers: list[Matcher] = []
    for term in _split_terms(selector):
        m = re.match(r"^\s*([\w./-]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if m is None:
            raise bad_request(f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        if path not in allowed:
            # kube-apiserver's two wordings: kinds with only the generic metadata fields, and kinds with their own.
            if allowed == _GENERIC_FIELDS:
                raise bad_request(f'"{path}" is not a known field selector: only "metadata.name", "metadata.namespace"')
            raise bad_request(f"field label not supported: {path}")
        path = _ALIASES.get(path, path)
        if op == "!=":
            matchers.append(lambda obj, p=path, v=value: _field_value(obj, p) != v)
        else:
            matchers.append(lambda obj, p=path, v=value: _field_value(obj, p) == v)
    return lambda obj: all(m(obj) for m in matchers)


@dataclass
class Page:
    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str | None
    remaining: int | None


class Paginator:
    """Keeps the snapshot of a paginated list so every page comes from the same resourceVersion.

    A real server reads later pages from etcd at the first page's revision; keeping the snapshot
    (bounded, oldest dropped first) gives the same consistency. An unknown token answers 410.
    """

    def __init__(self, max_snapshots: int = 256) -> None:
        self._snapshots: collections.OrderedDict[int, tuple[str, list[dict[str, Any]]]] = collections.OrderedDict()
        self._ids = itertools.count(1)
        self._max = max_snapshots

    def first(self, items: list[dict[str, Any]], rv: str, limit: int | None) -> Page:
        if not limit or len(items) <= limit:
            return Page(items, rv, None, None)
        snapshot_id = next(self._ids)
        self._snapshots[snapshot_id] = (rv, items)
        while len(self._snapshots) > self._max:
            self._snapshots.popitem(last=False)
        return self._page(snapshot_id, 0, limit)

    def next(self, token: str, limit: int | None) -> Page:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            snapshot_id, offset = int(decoded["id"]), int(decoded["offset"])
        except (ValueError, KeyError, TypeError) as e:
            raise bad_request(f"continue key is not valid: {e}") from None
        if snapshot_id not in self._snapshots:
            raise gone("The provided continue parameter is too old to display a consistent list result. "
                       "You can start a new list without the continue parameter.")
        return self._page(snapshot_id, offset, limit)

    def _page(self, snapshot_id: int, offset: int, limit: int | None) -> Page:
        rv, items = self._snapshots[snapshot_id]
        end = len(items) if not limit else offset + limit
        page = items[offset:end]
        if end >= len(items):
            self._snapshots.pop(snapshot_id, None)
            return Page(page, rv, None, None)
        raw = json.dumps({"id": snapshot_id, "offset": end, "rv": rv}).encode()
        return Page(page, rv, base64.urlsafe_b64encode(raw).decode(), len(items) - end)
