"""Alembic's entry point for the archive: migrate on the connection ``migrate.upgrade`` passes.

Online use is the normal path (``Archive.open`` migrates inside its locked transaction). Offline
use renders the SQL for a DBA who applies schema changes by hand::

    python -c "from kuberun_operator.archive import migrate; from alembic import command; \\
    c = migrate.alembic_config(); c.set_main_option('sqlalchemy.url', 'postgresql+psycopg://'); \\
    command.upgrade(c, 'head', sql=True)"
"""

from __future__ import annotations

from alembic import context

from kuberun_operator.archive.schema import VERSION_TABLE, metadata

config = context.config

if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("the archive's migrations run through kuberun_operator.archive.migrate.upgrade")
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table.
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
