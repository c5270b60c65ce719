"""The archive's read side: selects for one record, for filtered newest-first pages, and row mapping.

Every filter is a column comparison served by an index in ``schema``; nothing looks inside a JSON
document, so SQLite and PostgreSQL answer the same query the same way. Title search is a
case-insensitive substring match on a casefolded copy of the title (``title_key``), so it behaves
alike for any script on both dialects (SQLite's own ``lower`` folds ASCII only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kuberun_operator.archive import limits, paging
from kuberun_operator.archive.errors import InvalidQuery
from kuberun_operator.archive.record import ArchivedExperiment
from kuberun_operator.archive.schema import experiments, labels

_DOCUMENTS = ("metadata", "spec", "events")
_SUMMARY_COLUMNS = [c for c in experiments.c if c.name not in _DOCUMENTS]


def one(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The newest record matching ``where`` (newest by creation; uid breaks ties)."""
    return sa.select(experiments).where(where).order_by(experiments.c.created.desc(), experiments.c.uid.desc()).limit(1)


def normalized_filters(namespace: str | None, title: str | None, submitter: str | None,
                       label_selector: Mapping[str, str] | None, phase: str | Iterable[str] | None,
                       since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The filters, checked and in a canonical form (also what a continue token is bound to)."""
    for what, value in (("namespace", namespace), ("title", title), ("submitter", submitter)):
        if value is not None and not isinstance(value, str):
            raise InvalidQuery(f"{what} must be a string, got {type(value).__name__}")
    selector = dict(label_selector or {})
    for key, value in selector.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidQuery(f"labels must map strings to strings, got {key!r}: {value!r}")
    phases: list[str] | None
    if phase is None:
        phases = None
    elif isinstance(phase, str):
        phases = [phase]
    else:
        phases = sorted(set(phase))
        if not phases or not all(isinstance(p, str) for p in phases):
            raise InvalidQuery("phase must be a string or a non-empty collection of strings")
    for what, when in (("since", since), ("until", until)):
        if when is not None and (not isinstance(when, datetime) or when.tzinfo is None):
            raise InvalidQuery(f"{what} must be a timezone-aware datetime, got {when!r}")
    return {"namespace": namespace, "title": title.casefold() if title else None, "submitter": submitter,
            "labels": dict(sorted(selector.items())), "phase": phases,
            "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
            "_since": since, "_until": until}


def page(filters: dict[str, Any], limit: int, continue_token: str | None, full: bool) -> sa.Select[Any]:
    """One page (plus one row, to know whether another page follows), newest first."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= limits.MAX_LIMIT:
        raise InvalidQuery(f"limit must be an integer from 1 to {limits.MAX_LIMIT}, got {limit!r}")
    t = experiments.c
    query = sa.select(*(experiments.c if full else _SUMMARY_COLUMNS))
    if filters["namespace"] is not None:
        query = query.where(t.namespace == filters["namespace"])
    if filters["title"]:
        query = query.where(t.title_key.like(f"%{_escape_like(filters['title'])}%", escape="\\"))
    if filters["submitter"] is not None:
        query = query.where(t.submitter == filters["submitter"])
    for key, value in filters["labels"].items():
        query = query.where(sa.exists().where(labels.c.uid == t.uid, labels.c.key == key, labels.c.value == value))
    if filters["phase"] is not None:
        query = query.where(t.phase.in_(filters["phase"]))
    if filters["_since"] is not None:
        query = query.where(t.created >= filters["_since"])
    if filters["_until"] is not None:
        query = query.where(t.created < filters["_until"])
    if continue_token is not None:
        created, uid = paging.decode(continue_token, token_filters(filters))
        # A row-value comparison: one index range on (created, uid) on both dialects.
        query = query.where(sa.tuple_(t.created, t.uid) < sa.tuple_(sa.literal(created, t.created.type),
                                                                    sa.literal(uid, t.uid.type)))
    return query.order_by(t.created.desc(), t.uid.desc()).limit(limit + 1)


def token_filters(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if not k.startswith("_")}


def to_record(row: sa.Row[Any]) -> ArchivedExperiment:
    m = row._mapping
    return ArchivedExperiment(
        uid=m["uid"], namespace=m["namespace"], name=m["name"], title=m["title"], submitter=m["submitter"],
        phase=m["phase"], created=m["created"], finished=m["finished"], deleted=m["deleted"],
        archived_at=m["archived_at"], labels=dict(m["labels"] or {}),
        reproduced_from_uid=m["reproduced_from_uid"], reproduced_from_name=m["reproduced_from_name"],
        api_version=m["api_version"], metadata=m.get("metadata"), spec=m.get("spec"), status=m["status"],
        events=m.get("events"), events_dropped=m["events_dropped"],
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
