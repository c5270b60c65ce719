"""The dashboard's one door into the SDK: every read and write of the record goes through here.

Why one module: the SDK's manage layer is being reshaped (one API client, renamed modules), and the
dashboard must not be scattered across its internals. Pages and actions call the functions below;
only this file names SDK modules other than ``kuberun`` itself, so re-pointing the dashboard after
a refactor is an edit of this file alone.

All functions are synchronous (the SDK's client is); the server runs them in worker threads.
They return the API's plain dicts, which is what the pages render.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kuberun.api import Credentials, Kube, Op, connect
from kuberun.errors import ForbiddenError, InvalidOverrideError, KuberunError, NotFoundError
from kuberun.manage import query
from kuberun.manage.remote import RemoteExperiment
from kuberun.manage.render import age, config_lines, progress
from kuberun.manage.reproduce import parse_overrides
from kuberun.resource import times
from kuberun.resource.constants import LABEL_REPRODUCED_FROM, LABEL_SUBMITTER, LABEL_TITLE

Obj = dict[str, Any]
__all__ = [
    "LABEL_REPRODUCED_FROM",
    "LABEL_SUBMITTER",
    "LABEL_TITLE",
    "Credentials",
    "Forbidden",
    "InvalidOverride",
    "Kube",
    "KuberunError",
    "NotFound",
    "Op",
    "Page",
    "Record",
    "age",
    "config_lines",
    "connect",
    "created_at",
    "parse_duration",
    "parse_time",
    "phase_of",
    "progress",
]

Forbidden = ForbiddenError
NotFound = NotFoundError
InvalidOverride = InvalidOverrideError
phase_of = query.phase_of
created_at = query.created_at


def parse_time(text: str | None) -> datetime | None:
    """A record's timestamp, or None where the record has none yet (an attempt not started)."""
    return times.parse_time(text) if text else None

parse_duration = query.parse_duration

# Metrics come from the record: each task's latest attempt's final values (kuberun.manage.results);
# the full series is in the archive. (The stopgap annotation kuberun.dev/metrics is no longer read.)
MAX_SERIES, MAX_POINTS = 64, 2000


@dataclass
class Page:
    """One page of the list: experiments newest first, the next page's token, how many remain."""

    items: list[Obj]
    continue_token: str | None
    remaining: int | None


class Record:
    """The cluster as the dashboard user sees it: one API client on the user's kubeconfig (RBAC applies)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None,
                 all_namespaces: bool = False) -> None:
        self.kube: Kube = connect(kubeconfig, context, namespace)
        self.all_namespaces = all_namespaces

    @classmethod
    def on(cls, kube: Kube, all_namespaces: bool = False) -> Record:
        """A record read with an existing client (in-cluster: one built on a signed-in user's own token)."""
        record = cls.__new__(cls)
        record.kube, record.all_namespaces = kube, all_namespaces
        return record

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    @property
    def user(self) -> str | None:
        return self.kube.user

    # -- reads ----------------------------------------------------------------------------------
    def list_page(self, *, title: str | None = None, user: str | None = None, phase: str | None = None,
                  selector: str | None = None, since: str | None = None, limit: int = 50,
                  continue_token: str | None = None, archived: bool = False) -> Page:
        """A page of matches read from the server ``limit`` at a time (the server pages, not us).

        ``archived``: from the operator's archive (through its record server, as this user).
        """
        flt = query.ListFilter(title=title or None, user=user or None, phase=phase or None, selector=selector or None,
                               since=query.parse_duration(since) if since else None)
        if archived:
            from kuberun.manage.records import archived_page

            items, token = archived_page(self.kube, flt, all_namespaces=self.all_namespaces, limit=limit,
                                         continue_token=continue_token or None)
            return Page(items, token, None)
        page = query.list_page(self.kube, flt, all_namespaces=self.all_namespaces, limit=limit,
                               continue_token=continue_token or None)
        return Page(page.items, page.continue_token, page.remaining)

    def get(self, namespace: str, name: str) -> Obj:
        """The live Experiment, or its archived record (with an ``archive`` block) once the object is gone."""
        from kuberun.manage.records import get_or_archived

        return get_or_archived(self.kube, name, namespace)

    def remote(self, namespace: str, name: str) -> RemoteExperiment:
        """The SDK's handle on one Experiment (what ``kr.Experiment.get`` returns), on this client."""
        return RemoteExperiment(self.kube, self.get(namespace, name))

    def series_of(self, obj: Obj) -> tuple[dict[str, list[tuple[int, float]]], str]:
        """``({"task/metric": [(step, value)]}, where from)``: the full series through the record server, as this user.

        A metric with no series there keeps its final value from the record, so the table is whole even
        where nothing can be plotted; the second item says which it was (shown under the plots).
        """
        finals = metrics_of(obj)
        meta = obj.get("metadata") or {}
        try:
            from kuberun.manage.records import RecordClient

            doc = RecordClient(self.kube).metric_series(meta.get("namespace") or self.namespace, meta.get("name") or "",
                                                        uid=meta.get("uid"))
        except KuberunError as exc:
            return finals, f"final values from the record only ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        series = decode_series(doc)
        if not series:
            return finals, "final values from the record only (the record server has no series of this experiment)"
        where = {"archive": "the archive", "logstore": "the log store"}.get(str(doc.get("source")), "the record server")
        return {**finals, **series}, f"series from {where}, through the record server"

    def events(self, obj: Obj) -> list[Obj]:
        return query.events_for(self.kube, obj, limit=50)

    def reproductions(self, obj: Obj) -> list[Obj]:
        return query.lineage(self.kube, obj)[0]

    def config_maps(self, obj: Obj) -> dict[str, str]:
        """Config data kept outside the spec; empty (the page says why) when it cannot be read."""
        try:
            return query.config_map_data(self.kube, obj)
        except KuberunError:
            return {}

    def log_lines(self, namespace: str, name: str, task: str, attempt: int | None, *, follow: bool,
                  tail: int | None = None) -> Iterator[str]:
        """Lines of one attempt's log, through the SDK's log reader (pods, files, bridges, the record server)."""
        obj = self.get(namespace, name)
        if is_archived(obj):  # gone from the cluster: nothing to follow, the record server has the copy
            from kuberun.manage.logs import lines, stream_logs

            return lines(stream_logs(self.kube, obj, task, attempt, follow=False, tail=tail))
        return RemoteExperiment(self.kube, obj).logs(task, attempt=attempt, follow=follow, tail=tail)

    # -- writes (the only spec changes the CRD allows, and reproduce) ---------------------------
    def act(self, namespace: str, name: str, action: str, overrides: str = "", *, task: str = "") -> str:
        """Perform ``action`` (``cancel-task``: on ``task``); returns the name of the experiment to show next.

        A task cancel is recorded as by this client's user: in-cluster, the signed-in user the API
        server authenticated, which the admission policy checks ``by`` against."""
        if action == "cancel-task":
            from kuberun.manage import lifecycle

            lifecycle.cancel_task(self.kube, name, task, namespace)
            return name
        handle = self.remote(namespace, name)
        if action == "cancel":
            handle.cancel()
        elif action == "stop":
            handle.cancel(stop=True)
        elif action == "suspend":
            handle.suspend()
        elif action == "resume":
            handle.resume()
        elif action == "reproduce":
            parsed = parse_overrides([line for line in overrides.splitlines() if line.strip()])
            return handle.reproduce(**parsed).name
        else:
            raise KuberunError(f"unknown action {action!r}")
        return name


def is_archived(obj: Obj) -> bool:
    """Whether ``obj`` is an archived record rather than a live object."""
    return isinstance(obj.get("archive"), dict)


def task_specs(obj: Obj) -> list[Obj]:
    return list((obj.get("spec") or {}).get("tasks") or [])


def task_statuses(obj: Obj) -> dict[str, Obj]:
    return {t["name"]: t for t in (obj.get("status") or {}).get("tasks") or [] if isinstance(t, dict) and "name" in t}


def metrics_of(obj: Obj) -> dict[str, list[tuple[int, float]]]:
    """``{"task/metric": [(step, value)]}`` from the record (final values); malformed parts are skipped."""
    from kuberun.manage import results

    found: dict[str, list[tuple[int, float]]] = {}
    for task, values in results.task_metrics(obj).items():
        for metric, raw in values.items():
            value = results.number(raw)
            if value is not None and len(found) < MAX_SERIES:
                found[f"{task}/{metric}"] = [(int(raw.get("step") or 0), value)]
    return found


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def decode_series(doc: Obj) -> dict[str, list[tuple[int, float]]]:
    """The record server's ``MetricSeries`` as ``{"task/metric": [(step, value)]}``; malformed items are skipped."""
    found: dict[str, list[tuple[int, float]]] = {}
    for item in doc.get("items") or [] if isinstance(doc, dict) else []:
        if not isinstance(item, dict) or not isinstance(item.get("points"), list) or len(found) >= MAX_SERIES:
            continue
        points = []
        for pair in item["points"][:MAX_POINTS]:
            if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], int):
                continue
            value = _SPECIAL.get(pair[1]) if isinstance(pair[1], str) else pair[1]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                points.append((pair[0], float(value)))
        if points:
            found[f"{item.get('task')}/{item.get('name')}"] = points
    return found


def last_values(obj: Obj) -> dict[str, float]:
    """The latest value of every metric series (what the list's metric columns show)."""
    return {name: series[-1][1] for name, series in metrics_of(obj).items()}


def format_number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"
