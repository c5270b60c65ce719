"""The API server's durable state: SQLite in WAL mode, committed before anything is shown or answered.

Why: the store used to keep everything in memory and dump it as JSON at most every 0.2 s, so a
``kill -9`` lost writes that had been answered 201 and moved the resourceVersion counter
backwards. Here every mutation (the object's new body, or its removal, and the counter) is staged
in an open SQLite transaction, and ``store.py`` commits the writes of each event-loop turn at once
(group commit) before their watch events go out and before any request that could have seen them
is answered. The in-memory objects stay the read path; this file is the source on restart.

Why SQLite rather than an fsync'd append-only log: it is in the standard library, a commit is
atomic (a crash mid-write leaves the previous state, never half a record), the table keeps one
row per object so there is nothing to compact by hand, and WAL mode makes a commit one
sequential append to the ``-wal`` file. SQLite folds that file back into the database
(checkpointing) on its own every ~1000 pages.

Durability levels (``sync``):

- ``normal`` (the default): ``synchronous=NORMAL``. A commit has been written to the OS (the WAL
  file) before the answer; it survives the server process dying at any point (``kill -9``, an
  exception, OOM). A power loss or kernel crash can lose the last commits (never corrupt the
  file). That is the sandbox's failure model: a laptop's or CI machine's process, not a datacentre.
- ``full``: ``synchronous=FULL``. Each commit is also fsync'd: it survives a power loss too, at
  the cost of one fsync per group (see bench/apiserver_writes.py for the ratio on this disk).

Choose with ``ApiServer(sync=...)``, ``python -m kuberun_sandbox.apiserver --sync`` or
``KUBERUN_APISERVER_SYNC``. A lock file keeps a second server off the same data directory (two
servers would each hold their own view in memory and overwrite each other's writes).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pathlib
import sqlite3
from typing import Any

from .errors import ApiError

logger = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name
SYNC_MODES = ("normal", "full")
SYNC_ENV = "KUBERUN_APISERVER_SYNC"
DB_FILE = "apiserver.sqlite3"
LOCK_FILE = "apiserver.lock"
LEGACY_STATE_FILE = "apiserver-state.json"  # the JSON snapshot of earlier versions, migrated once
_RV = "resourceVersion"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL, plural TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (grp, plural, ns, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_UPSERT = ("INSERT INTO objects (grp, plural, ns, name, rv, body) VALUES (?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (grp, plural, ns, name) DO UPDATE SET rv = excluded.rv, body = excluded.body")
_DELETE = "DELETE FROM objects WHERE grp = ? AND plural = ? AND ns = ? AND name = ?"
_SET_RV = "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"


class DataDirInUse(OSError):
    """Another API server holds this data directory."""


class StateError(RuntimeError):
    """The data directory holds state that cannot be read (a corrupt legacy snapshot, a foreign file)."""


def sync_mode(requested: str | None) -> str:
    """The durability level: the argument, else $KUBERUN_APISERVER_SYNC, else ``normal``."""
    mode = (requested or os.environ.get(SYNC_ENV) or "normal").lower()
    if mode not in SYNC_MODES:
        raise ValueError(f"durability level {mode!r}: expected one of {', '.join(SYNC_MODES)}")
    return mode


class DurableState:
    """One data directory's SQLite database: open (and migrate) once, then one commit per write."""

    def __init__(self, data_dir: pathlib.Path, sync: str | None = None) -> None:
        self.data_dir = data_dir
        self.sync = sync_mode(sync)
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._staged = 0  # writes in the open transaction
        self._lost: sqlite3.Error | None = None  # why the open transaction's writes were rolled back

    # --- opening ---------------------------------------------------------------------------
    def open(self) -> tuple[int, dict[Key, dict[str, Any]]]:
        """Lock the directory, open the database, migrate a legacy snapshot; the stored (rv, objects)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            conn = sqlite3.connect(self.data_dir / DB_FILE, isolation_level=None, check_same_thread=False)
            self._conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.sync.upper()}")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM counters WHERE name = ?", (_RV,)).fetchone()
            if row is None:
                self._migrate_legacy()
            return self._load()
        except sqlite3.DatabaseError as e:
            self.close()
            raise StateError(f"cannot open the API server state in {self.data_dir / DB_FILE}: {e}") from e
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(f"another API server is using {self.data_dir} (stop it first)") from None
        self._lock_fd = fd

    def _load(self) -> tuple[int, dict[Key, dict[str, Any]]]:
        assert self._conn is not None
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (_RV,)).fetchone()
        objects = {(g, p, ns, n): json.loads(body)
                   for g, p, ns, n, body in self._conn.execute("SELECT grp, plural, ns, name, body FROM objects")}
        return (int(row[0]) if row else 1), objects

    def _migrate_legacy(self) -> None:
        """A data dir of an earlier version: its JSON snapshot becomes the database, in one transaction."""
        legacy = self.data_dir / LEGACY_STATE_FILE
        items: list[tuple[Any, ...]] = []
        rv = 1
        if legacy.exists():
            try:
                state = json.loads(legacy.read_text())
                rv = int(state["resourceVersion"])
                for item in state["objects"]:
                    g, p, ns, n = item["key"]
                    obj = item["object"]
                    items.append((g, p, ns, n, int(obj["metadata"].get("resourceVersion") or 0), encode(obj)))
            except (ValueError, KeyError, TypeError) as e:
                raise StateError(f"cannot migrate {legacy}: not a readable API server snapshot ({e!r}); "
                                 "move it away to start empty") from e
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(_UPSERT, items)
            self._conn.execute(_SET_RV, (_RV, rv))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        if legacy.exists():
            # Kept beside, renamed: the database is now the state; a second start does not re-import.
            os.replace(legacy, legacy.with_name(LEGACY_STATE_FILE + ".migrated"))
            logger.info("migrated %d objects from %s into %s", len(items), legacy, DB_FILE)

    # --- writing ---------------------------------------------------------------------------
    def stage(self, rv: int, key: Key, body: str | None) -> None:
        """Write the object's new ``body`` (None: its removal) and the counter into the open transaction.

        Nothing is durable until ``commit``; a statement that fails undoes only itself (SQLite's
        statement journal), so the writes staged before it stay, and this one raises a 500.
        """
        conn = self._conn
        if conn is None:
            raise ApiError(500, "InternalError", "the API server's storage is closed")
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN")
            if body is None:
                conn.execute(_DELETE, key)
            else:
                conn.execute(_UPSERT, (*key, rv, body))
            conn.execute(_SET_RV, (_RV, rv))
            self._staged += 1
        except sqlite3.Error as e:
            if self._staged and not conn.in_transaction and self._lost is None:
                self._lost = e  # SQLite rolled the whole transaction back (I/O error, ...): so must commit
            logger.error("storage write failed at resourceVersion %d: %s", rv, e)
            raise ApiError(500, "InternalError", f"the write could not be stored: {e}") from e

    def commit(self) -> None:
        """Make every staged write durable at once (one fsync at ``full``); on failure none is, and it raises."""
        conn, staged, lost = self._conn, self._staged, self._lost
        self._staged, self._lost = 0, None
        if staged and (conn is None or lost is not None or not conn.in_transaction):
            if conn is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            why = lost or "the transaction was rolled back"
            raise ApiError(500, "InternalError", f"the write could not be stored: {why}")
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            logger.error("storage commit failed: %s", e)
            raise ApiError(500, "InternalError", f"the write could not be stored: {e}") from e

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave one file behind, not a long WAL
            except sqlite3.Error as e:
                logger.warning("checkpoint on close failed: %s", e)
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None


def encode(obj: dict[str, Any]) -> str:
    """An object as stored: compact JSON (what a read after a restart gives back)."""
    return json.dumps(obj, separators=(",", ":"))
