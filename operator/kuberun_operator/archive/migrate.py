"""Bring an archive database to this package's schema on open, safely from several processes.

Alembic's programmatic API runs the revisions shipped in ``migrations/`` (``script_location`` is
this package, so an installed operator needs no alembic.ini). Two operator replicas, or the
operator and a CLI, may open a fresh database at the same moment; the migration therefore runs
inside one transaction that first takes a lock, and re-reads the version after it has the lock:

- PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key, released by the commit; its DDL is
  transactional, so a crash half-way leaves nothing behind.
- SQLite: ``BEGIN IMMEDIATE`` (see ``engine``) holds the database's write lock for the whole
  upgrade; SQLite's DDL is transactional too.

Re-opening an up-to-date database costs one version read and takes no lock. A database whose
revision this code does not know (written by a newer operator) is refused rather than touched:
downgrading is a deliberate step (``alembic downgrade``), never a side effect of a rollback.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from kuberun_operator.archive import engine as engines
from kuberun_operator.archive.errors import ArchiveError
from kuberun_operator.archive.schema import VERSION_TABLE

SCRIPT_LOCATION = "kuberun_operator.archive:migrations"
# Any fixed 64-bit key will do; this one spells "kuberun archive" to whoever reads pg_locks.
ADVISORY_LOCK_KEY = 0x6B72_6172_6368_6976


def alembic_config(connection: Connection | None = None) -> Config:
    """A Config for this package's migrations; ``connection`` is the one env.py migrates on."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise ArchiveError(f"no archive migrations found in {SCRIPT_LOCATION}: the package is incomplete")
    return revision


def current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> list[str]:
    """Migrate to head; the revisions applied, oldest first (empty when already current)."""
    target = head()
    with engine.connect() as connection:
        found = current(connection)
    if found == target:
        return []
    _check_known(found)
    with engines.writer(engine).connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        found = current(connection)      # another process may have migrated while we waited
        if found == target:
            return []
        _check_known(found)
        command.upgrade(alembic_config(connection), "head")
    return _between(found, target)


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(revision)
    except Exception:
        known = None
    if known is None:
        raise ArchiveError(f"the archive database is at schema revision {revision!r}, which this operator does not "
                           f"know (its newest is {head()!r}): it was migrated by a newer version; run that version "
                           "or downgrade the archive with alembic first")


def _between(start: str | None, end: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.iterate_revisions(end, start or "base"))
    return [r.revision for r in reversed(revisions)]
