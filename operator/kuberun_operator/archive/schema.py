"""The archive's tables, in SQLAlchemy Core: the one definition the code queries against.

The migrations under ``migrations/versions`` create exactly this schema (a test compares the two
with Alembic's autogenerate, so they cannot drift); change both together and add a new revision
rather than editing an old one.

Choices, and why:
- Core, not the ORM: rows are written by upsert and read as whole records; there are no object
  graphs to track, and Core keeps the SQL visible for both dialects.
- Documents (metadata, spec, status, events) are ``JSON`` — text on SQLite, ``json`` (not
  ``jsonb``) on PostgreSQL — because ``json`` keeps the text as written: key order and every field
  this operator does not understand come back exactly as recorded. Queries never look inside a
  document; what they filter on is a column of its own.
- Labels are also rows of ``archive_labels`` (uid, key, value), indexed by (key, value), so label
  selectors use an index on both dialects without dialect-specific JSON operators.
- Times are stored as UTC without a zone (``UTCDateTime``) so SQLite and PostgreSQL order and
  compare them alike; they come back timezone-aware.
- Metrics, locations and attempts carry the experiment's uid but no foreign key: a running
  experiment reports them before its record is archived (at finish), and they outlive a record's
  rewrite.
- Attempts are rows of their own (``archive_attempts``), written as each attempt ends, because the
  status budget (``policy/budget.py``) drops old attempts from the object: the archived status then
  no longer holds them. The row keeps the attempt's status entry as written (``document``) and, as
  columns, what a query or a summary reads (phase, exit code, reason, times).
- ConfigMaps the spec points at (large configs, code chunks) are a document per (uid, name) naming
  each key's sha256, and the bytes once per sha256 in ``archive_blobs`` (``configs.py``): the same
  code package of many experiments is stored once. Blobs are never rewritten: a digest is its content.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

VERSION_TABLE = "archive_alembic_version"

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator):
    """An aware datetime, stored as naive UTC, returned aware (UTC)."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"archive times must be timezone-aware, got naive {value.isoformat()}")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _document() -> sa.JSON:
    # none_as_null: a missing document is SQL NULL, not the JSON text 'null'.
    return sa.JSON(none_as_null=True)


experiments = sa.Table(
    "archive_experiments",
    metadata,
    sa.Column("uid", sa.String(128), primary_key=True),
    sa.Column("namespace", sa.String(253), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("api_version", sa.String(253), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("title_key", sa.Text(), nullable=False, comment="casefolded title, for case-insensitive search"),
    sa.Column("submitter", sa.Text(), nullable=True),
    sa.Column("phase", sa.String(32), nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("finished", UTCDateTime(), nullable=True),
    sa.Column("deleted", UTCDateTime(), nullable=True),
    sa.Column("archived_at", UTCDateTime(), nullable=False),
    sa.Column("reproduced_from_uid", sa.String(128), nullable=True),
    sa.Column("reproduced_from_name", sa.String(253), nullable=True),
    sa.Column("labels", _document(), nullable=False),
    sa.Column("metadata", _document(), nullable=False),
    sa.Column("spec", _document(), nullable=False),
    sa.Column("status", _document(), nullable=True),
    sa.Column("events", _document(), nullable=False),
    sa.Column("events_dropped", sa.Integer(), nullable=False, server_default="0"),
    # Newest-first keyset paging: (created, uid) overall, per namespace, per submitter, per phase.
    sa.Index("ix_archive_experiments_created_uid", "created", "uid"),
    sa.Index("ix_archive_experiments_namespace_created_uid", "namespace", "created", "uid"),
    sa.Index("ix_archive_experiments_namespace_name_created", "namespace", "name", "created"),
    sa.Index("ix_archive_experiments_submitter_created", "submitter", "created"),
    sa.Index("ix_archive_experiments_phase_created", "phase", "created"),
    sa.Index("ix_archive_experiments_reproduced_from_uid", "reproduced_from_uid"),
)

labels = sa.Table(
    "archive_labels",
    metadata,
    sa.Column("uid", sa.String(128), sa.ForeignKey("archive_experiments.uid", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(317), primary_key=True),   # prefix (253) + "/" + name (63)
    sa.Column("value", sa.Text(), nullable=False),
    sa.Index("ix_archive_labels_key_value", "key", "value"),
)

metrics = sa.Table(
    "archive_metrics",
    metadata,
    sa.Column("uid", sa.String(128), primary_key=True),
    sa.Column("task", sa.String(253), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(253), primary_key=True),
    sa.Column("step", sa.BigInteger(), primary_key=True),
    sa.Column("value", sa.Float(precision=53), nullable=True, comment="NULL stands for NaN"),
    sa.Column("time", UTCDateTime(), nullable=True),
    sa.Index("ix_archive_metrics_uid_name", "uid", "name"),
)

locations = sa.Table(
    "archive_locations",
    metadata,
    sa.Column("uid", sa.String(128), primary_key=True),
    sa.Column("task", sa.String(253), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("url", sa.String(2048), primary_key=True),
    sa.Column("size", sa.BigInteger(), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

attempts = sa.Table(
    "archive_attempts",
    metadata,
    sa.Column("uid", sa.String(128), primary_key=True),
    sa.Column("task", sa.String(253), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True),
    sa.Column("phase", sa.String(32), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("reason", sa.String(128), nullable=True),
    sa.Column("start_time", UTCDateTime(), nullable=True),
    sa.Column("finish_time", UTCDateTime(), nullable=True),
    sa.Column("document", _document(), nullable=False, comment="the attempt's status entry as written"),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

config_maps = sa.Table(
    "archive_config_maps",
    metadata,
    sa.Column("uid", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(253), primary_key=True),
    sa.Column("document", _document(), nullable=False, comment="name, labels, annotations; each key's sha256"),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

blobs = sa.Table(
    "archive_blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)
