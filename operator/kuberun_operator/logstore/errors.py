"""Typed errors of the log store, each saying what the caller should do next.

The operator turns these into conditions and Events, and the CLI prints them, so their messages must
never carry a credential: every message that quotes a backend's own error goes through
:func:`kuberun_operator.logstore.credentials.Credentials.scrub` first, and backend exceptions are not
chained (``raise ... from None``), because a chained botocore error prints its request context in a
traceback.
"""

from __future__ import annotations


class LogStoreError(Exception):
    """Any failure of the store. Retrying later may help (the backend may be down)."""


class LogStoreConfigError(LogStoreError):
    """The store's URL or options are wrong: an admin must fix the configuration; retrying will not help."""


class UnsafePathError(LogStoreError):
    """A key or manifest path that could escape its prefix or destination (``..``, absolute, control
    characters, a symlink out of the directory). Refused before anything is read or written."""


class LogNotFoundError(LogStoreError, FileNotFoundError):
    """No committed object under that key (a half-written upload is never visible)."""


class IntegrityError(LogStoreError):
    """Downloaded bytes do not match the manifest's size or sha256; nothing was left at the destination."""
