"""Engines for the two supported databases, configured so concurrent writers are safe.

SQLite (the embedded default): Python's sqlite3 module opens transactions lazily, so two writers
could both read "no row" and then collide. The recipe from SQLAlchemy's SQLite notes hands
transaction control to SQLAlchemy and starts every transaction explicitly: writes (and the
migration on open) with ``BEGIN IMMEDIATE``, which takes the database's write lock up front and
makes a second writer wait (up to the busy timeout) instead of failing half-way; reads with a
plain ``BEGIN``. WAL journaling lets readers proceed while one writer works.

PostgreSQL: ``postgresql://`` and ``postgres://`` URLs (what a connection Secret usually holds)
mean psycopg 3, the driver this package depends on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from kuberun_operator.archive.errors import ArchiveError
from kuberun_operator.archive.record import compact_json

WRITE = "kuberun_archive_write"      # execution option marking a write transaction
BUSY_TIMEOUT_S = 60


def normalized_url(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy raises ArgumentError for unparseable URLs
        raise ArchiveError(f"invalid archive URL: {e}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ArchiveError(f"unsupported archive database {backend!r} in "
                           f"{parsed.render_as_string(hide_password=True)}: use sqlite:///PATH or postgresql://...")
    return parsed


def create(url: str | URL, **options: Any) -> Engine:
    """An engine for ``url``; extra ``options`` go to ``sqlalchemy.create_engine``."""
    parsed = normalized_url(url)
    serializer = {"json_serializer": lambda doc: compact_json(doc).decode()}
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, **serializer, **options)
    database = parsed.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or each checkout would see a different empty database. Tests only.
        options = {"poolclass": StaticPool, **options}
        connect_args = {"check_same_thread": False}
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    engine = sa.create_engine(parsed, connect_args=connect_args, **serializer, **options)
    _sqlite_transactions(engine, in_memory=database in ("", ":memory:"))
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (and pool), with transactions marked as writes."""
    return engine.execution_options(**{WRITE: True})


def _sqlite_transactions(engine: Engine, in_memory: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None   # sqlite3 leaves BEGIN/COMMIT to us
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
