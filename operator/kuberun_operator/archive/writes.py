"""The archive's write side: idempotent upserts, each inside the caller's write transaction.

An experiment is recorded several times (when it finishes, again when it is deleted or expires,
again after an operator restart). Recording is keyed by uid and the latest call wins for every
column, with two exceptions that keep what was already known: ``deleted`` stays set once seen,
and Events are merged (Kubernetes forgets them after an hour, so the Events at deletion are not
those at finish). Reading the old row and writing the new one happen in one transaction with
the row locked (``FOR UPDATE`` on PostgreSQL; on SQLite the transaction holds the write lock),
so two recorders of the same uid serialize instead of losing Events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from kuberun_operator.archive.attempts import ArchivedAttempt
from kuberun_operator.archive.configs import SplitConfigMap
from kuberun_operator.archive.record import ArchivedExperiment, merge_events
from kuberun_operator.archive.schema import (
    attempts,
    blobs,
    config_maps,
    experiments,
    labels,
    locations,
    metrics,
)
from kuberun_operator.archive.series import Location, MetricPoint, stored_value

_BATCH = 5000       # parameter sets per executemany, so memory stays bounded per round trip


def upsert_experiment(conn: sa.Connection, rec: ArchivedExperiment) -> ArchivedExperiment:
    """Insert or update the record; returns what is now stored (events merged, deleted kept)."""
    t = experiments.c
    for _ in range(3):
        old = conn.execute(sa.select(t.events, t.events_dropped, t.deleted).where(t.uid == rec.uid)
                           .with_for_update()).first()
        if old is None:
            events, dropped = merge_events([], rec.events or [])
            row = _row(rec, events, dropped, rec.deleted)
            inserted = conn.execute(_insert(conn).values(**row).on_conflict_do_nothing(index_elements=["uid"]))
            if inserted.rowcount == 1:
                break
            continue    # another recorder inserted it between our read and insert: merge with theirs
        events, dropped = merge_events(old.events or [], rec.events or [], old.events_dropped)
        row = _row(rec, events, dropped, old.deleted or rec.deleted)
        conn.execute(sa.update(experiments).where(t.uid == rec.uid).values(**row))
        break
    else:  # pragma: no cover - needs three lost races in a row
        raise RuntimeError(f"could not record {rec.uid}: concurrent writers kept winning")
    conn.execute(sa.delete(labels).where(labels.c.uid == rec.uid))
    if rec.labels:
        conn.execute(sa.insert(labels), [{"uid": rec.uid, "key": k, "value": v} for k, v in rec.labels.items()])
    rec.events, rec.events_dropped, rec.deleted = events, dropped, row["deleted"]
    return rec


def upsert_metrics(conn: sa.Connection, uid: str, points: Sequence[MetricPoint]) -> None:
    # One statement, many parameter sets (executemany): compiled once, whatever the series' length.
    stmt = _insert(conn, metrics)
    stmt = stmt.on_conflict_do_update(index_elements=[c.name for c in metrics.primary_key],
                                      set_={"value": stmt.excluded.value, "time": stmt.excluded.time})
    for start in range(0, len(points), _BATCH):
        conn.execute(stmt, [{"uid": uid, "task": p.task, "attempt": p.attempt, "name": p.name, "step": p.step,
                             "value": stored_value(p.value), "time": p.time} for p in points[start:start + _BATCH]])


def upsert_locations(conn: sa.Connection, uid: str, items: Sequence[Location], now: datetime) -> None:
    stmt = _insert(conn, locations)
    stmt = stmt.on_conflict_do_update(index_elements=[c.name for c in locations.primary_key],
                                      set_={"size": stmt.excluded.size, "sha256": stmt.excluded.sha256,
                                            "recorded_at": stmt.excluded.recorded_at})
    for start in range(0, len(items), _BATCH):
        conn.execute(stmt, [{"uid": uid, "task": x.task, "attempt": x.attempt, "kind": x.kind, "url": x.url,
                             "size": x.size, "sha256": x.sha256, "recorded_at": now} for x in items[start:start + _BATCH]])


def upsert_attempts(conn: sa.Connection, uid: str, items: Sequence[ArchivedAttempt], now: datetime) -> None:
    stmt = _insert(conn, attempts)
    kept = ("phase", "exit_code", "reason", "start_time", "finish_time", "document", "recorded_at")
    stmt = stmt.on_conflict_do_update(index_elements=[c.name for c in attempts.primary_key],
                                      set_={k: getattr(stmt.excluded, k) for k in kept})
    for start in range(0, len(items), _BATCH):
        conn.execute(stmt, [{"uid": uid, "task": a.task, "attempt": a.attempt, "phase": a.phase, "exit_code": a.exit_code,
                             "reason": a.reason, "start_time": a.start_time, "finish_time": a.finish_time,
                             "document": a.document, "recorded_at": now} for a in items[start:start + _BATCH]])


def upsert_config_maps(conn: sa.Connection, uid: str, items: Sequence[SplitConfigMap], now: datetime) -> None:
    """Each ConfigMap's document (latest wins) and each blob not stored yet (a digest is its content)."""
    fresh = {b.sha256: b for cm in items for b in cm.blobs}
    if fresh:
        have = set(conn.execute(sa.select(blobs.c.sha256).where(blobs.c.sha256.in_(list(fresh)))).scalars())
        missing = [b for d, b in fresh.items() if d not in have]
        if missing:
            stmt = _insert(conn, blobs).on_conflict_do_nothing(index_elements=["sha256"])  # a concurrent writer's: the same bytes
            conn.execute(stmt, [{"sha256": b.sha256, "size": len(b.data), "data": b.data, "recorded_at": now} for b in missing])
    if items:
        stmt = _insert(conn, config_maps)
        stmt = stmt.on_conflict_do_update(index_elements=["uid", "name"],
                                          set_={"document": stmt.excluded.document, "recorded_at": stmt.excluded.recorded_at})
        conn.execute(stmt, [{"uid": uid, "name": cm.name, "document": cm.document, "recorded_at": now} for cm in items])


def _row(rec: ArchivedExperiment, events: list[dict[str, Any]], dropped: int, deleted: datetime | None) -> dict[str, Any]:
    return {"uid": rec.uid, "namespace": rec.namespace, "name": rec.name, "api_version": rec.api_version,
            "title": rec.title, "title_key": rec.title.casefold(), "submitter": rec.submitter, "phase": rec.phase,
            "created": rec.created, "finished": rec.finished, "deleted": deleted, "archived_at": rec.archived_at,
            "reproduced_from_uid": rec.reproduced_from_uid, "reproduced_from_name": rec.reproduced_from_name,
            "labels": rec.labels, "metadata": rec.metadata or {}, "spec": rec.spec, "status": rec.status,
            "events": events, "events_dropped": dropped}


def _insert(conn: sa.Connection, table: sa.Table = experiments) -> Any:
    # Both dialects spell upsert ON CONFLICT; SQLAlchemy has one insert() per dialect for it.
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
