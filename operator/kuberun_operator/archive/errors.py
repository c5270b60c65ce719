"""Typed archive errors: each says what was wrong with the caller's input, so the operator can turn
it into a condition or Event a user can act on, instead of a stack trace."""

from __future__ import annotations


class ArchiveError(Exception):
    """Anything the archive refuses or cannot do."""


class InvalidRecord(ArchiveError, ValueError):
    """The object or series cannot be archived as given (missing metadata, wrong types)."""


class RecordTooLarge(InvalidRecord):
    """A document is over its bound (see ``kuberun_operator.archive.limits``)."""

    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(f"cannot archive: {field} is {size} bytes of JSON, over the {limit}-byte bound")
        self.field, self.size, self.limit = field, size, limit


class InvalidQuery(ArchiveError, ValueError):
    """A query argument is out of range or of the wrong type."""


class InvalidContinueToken(InvalidQuery):
    """The continue token is malformed or was issued for a different query."""


class ArchiveUnavailable(ArchiveError):
    """The database cannot be reached or dropped the connection: worth retrying later, unlike the
    other errors here, which will fail the same way again."""
