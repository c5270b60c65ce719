"""Alembic revisions of the archive schema (a package so that installs ship them)."""
