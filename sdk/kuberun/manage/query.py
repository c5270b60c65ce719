"""Read the record: get one Experiment, list them page by page with filters, find related objects.

Ordering: the API server returns a list in its storage order (by namespace and name), and
paginates in that order; there is no server-side sort by time. ``list`` therefore sorts each
answer newest first, which is exact whenever the matches fit in one page (the usual case once
filtered by title or user); across pages, the pages follow the server's order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from kuberun.api import Kube, Op
from kuberun.apipath import api_path
from kuberun.naming import slug
from kuberun.resource.constants import (
    GROUP,
    LABEL_REPRODUCED_FROM,
    LABEL_SUBMITTER,
    LABEL_TITLE,
    PLURAL,
    VERSION,
)
from kuberun.resource.phases import ExperimentPhase
from kuberun.resource.times import parse_time, utcnow

RESOURCE = f"{PLURAL}.{GROUP}"
Obj = dict[str, Any]


def experiment_path(namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
    return api_path(GROUP, VERSION, PLURAL, namespace, name, subresource)


def get_experiment(kube: Kube, name: str, namespace: str | None = None) -> Obj:
    """The Experiment as stored (a dict). Raises NotFoundError."""
    ns = namespace or kube.namespace
    return kube.get(experiment_path(ns, name), Op("get", RESOURCE, ns, name))


class ListFilter:
    """What ``kuberun list`` selects. Title and user are labels (server side); phase and since are not.

    A plain class, not a dataclass: ``dataclasses`` loads ``inspect``, ~10 ms of ``kuberun list``'s start-up."""

    def __init__(self, title: str | None = None, user: str | None = None, phase: str | None = None,
                 selector: str | None = None, since: timedelta | None = None,
                 extra_labels: dict[str, str] | None = None) -> None:
        self.title, self.user, self.phase, self.selector, self.since = title, user, phase, selector, since
        self.extra_labels: dict[str, str] = dict(extra_labels or {})

    def __repr__(self) -> str:
        return f"ListFilter({', '.join(f'{k}={v!r}' for k, v in vars(self).items() if v)})"

    def label_selector(self) -> str | None:
        terms = [self.selector] if self.selector else []
        if self.title:
            terms.append(f"{LABEL_TITLE}={slug(self.title)}")
        if self.user:
            terms.append(f"{LABEL_SUBMITTER}={slug(self.user)}")
        terms += [f"{k}={v}" for k, v in self.extra_labels.items()]
        return ",".join(terms) or None

    def matches(self, obj: Obj, now: datetime) -> bool:
        if self.phase and phase_of(obj).lower() != self.phase.lower():
            return False
        if self.since is not None:
            created = created_at(obj)
            if created is None or now - created > self.since:
                return False
        return True


class Page(NamedTuple):
    """Matching experiments, newest first, and the token for the next page (None when done)."""

    items: list[Obj]
    continue_token: str | None
    remaining: int | None = None


def list_page(kube: Kube, flt: ListFilter, *, namespace: str | None = None, all_namespaces: bool = False,
              limit: int = 50, continue_token: str | None = None) -> Page:
    """One page of at least ``limit`` matches (or the last), read ``limit`` objects at a time.

    Filters the server cannot apply (phase, since) are applied here, so a page may take several
    requests; each request still reads only ``limit`` objects.
    """
    ns = None if all_namespaces else (namespace or kube.namespace)
    now, items, token, remaining = utcnow(), [], continue_token, None
    while True:
        answer = kube.get(experiment_path(ns), Op("list", RESOURCE, ns), labelSelector=flt.label_selector(),
                          limit=limit or None, **{"continue": token})
        items += [o for o in answer.get("items") or [] if flt.matches(o, now)]
        meta = answer.get("metadata") or {}
        token, remaining = meta.get("continue") or None, meta.get("remainingItemCount")
        if token is None or not limit or len(items) >= limit:
            return Page(newest_first(items), token, remaining)


def iter_experiments(kube: Kube, flt: ListFilter, **kwargs: Any) -> Iterator[Obj]:
    """Every match, page after page (each page newest first)."""
    token: str | None = None
    while True:
        page = list_page(kube, flt, continue_token=token, **kwargs)
        yield from page.items
        token = page.continue_token
        if token is None:
            return


def newest_first(items: list[Obj]) -> list[Obj]:
    return sorted(items, key=lambda o: (o.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)


def latest_by_title(kube: Kube, title: str, namespace: str | None = None) -> Obj | None:
    """The most recently created Experiment whose title is ``title`` (exact title preferred over slug)."""
    matches = list(iter_experiments(kube, ListFilter(title=title), namespace=namespace, limit=500))
    exact = [o for o in matches if (o.get("spec") or {}).get("title") == title]
    ranked = newest_first(exact or matches)
    return ranked[0] if ranked else None


def reproductions(kube: Kube, name: str, namespace: str) -> list[Obj]:
    """Experiments reproduced from ``name`` (its children in the lineage)."""
    flt = ListFilter(extra_labels={LABEL_REPRODUCED_FROM: name})
    return list(iter_experiments(kube, flt, namespace=namespace, limit=500))


def lineage(kube: Kube, obj: Obj) -> tuple[list[Obj], int]:
    """``obj``'s reproductions (as ``{"metadata": {name, uid, creationTimestamp}}``) and how many there are in all.

    From ``status.lineage``, which the operator keeps on the original (the last 50 and a count), so
    no request at all. Originals first reconciled before that field have none: then, and only then,
    the label query above finds them (a selector over the namespace's Experiments, O(N)).
    """
    found = (obj.get("status") or {}).get("lineage")
    if found is None:
        children = reproductions(kube, obj["metadata"]["name"], obj["metadata"]["namespace"])
        return children, len(children)
    recent = [{"metadata": {"name": r["name"], "uid": r.get("uid", ""), "creationTimestamp": r.get("created")}}
              for r in found.get("recent") or []]
    return recent, max(int(found.get("count") or 0), len(recent))


def config_map_data(kube: Kube, obj: Obj) -> dict[str, str]:
    """``{ConfigMap name: config data}`` for every task config stored outside the spec."""
    ns = obj["metadata"]["namespace"]
    out: dict[str, str] = {}
    for task in (obj.get("spec") or {}).get("tasks") or []:
        for ref in (task.get("fiddle") or {}).get("configMapRefs") or []:
            cm = kube.get(api_path("", "v1", "configmaps", ns, ref["name"]), Op("get", "configmaps", ns, ref["name"]))
            out[ref["name"]] = (cm.get("data") or {}).get(ref.get("key", "config"), "")
    return out


def events_for(kube: Kube, obj: Obj, limit: int = 20) -> list[Obj]:
    """Recent Events about the Experiment, oldest first (empty when Events cannot be read)."""
    from kuberun.errors import ApiError

    meta = obj["metadata"]
    # By uid: only this Experiment's Events, not those of an earlier one of the same name (the operator's own query)
    selector = (f"involvedObject.uid={meta['uid']}" if meta.get("uid")
                else f"involvedObject.name={meta['name']},involvedObject.kind=Experiment")
    try:
        answer = kube.get(api_path("", "v1", "events", meta["namespace"]), Op("list", "events", meta["namespace"]),
                          fieldSelector=selector)
    except ApiError:
        return []  # Events are a courtesy in describe; lacking RBAC for them must not hide the record
    events = sorted(answer.get("items") or [], key=_event_time)
    return events[-limit:]


def _event_time(event: Obj) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or (event.get("metadata") or {}).get("creationTimestamp") or "")


def phase_of(obj: Obj) -> str:
    return str((obj.get("status") or {}).get("phase") or "Pending")


def finished(obj: Obj) -> bool:
    """Whether the Experiment's phase is final (``ExperimentPhase.finished``)."""
    try:
        return ExperimentPhase(phase_of(obj)).finished
    except ValueError:
        return False


def created_at(obj: Obj) -> datetime | None:
    return read_time((obj.get("metadata") or {}).get("creationTimestamp"))


def read_time(text: str | None) -> datetime | None:
    """A time from the record for display and filters: None when absent or unreadable, never an error."""
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '2h', '7d', '1w' -> timedelta. Raises ValueError."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"invalid duration {text!r}: use a number and one of s, m, h, d, w (e.g. 2h, 7d)")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
