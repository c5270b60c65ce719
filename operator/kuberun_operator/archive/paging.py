"""Continue tokens for newest-first keyset paging over (created, uid).

A token is the position of the last row returned, not an offset: rows archived while someone
pages never shift later pages (no duplicates, no gaps among rows that were there), and each page
is an index range scan whatever its depth. The token also carries a digest of the query's filters,
so it cannot be replayed against a different query (the Kubernetes API refuses that too). It is
opaque to clients and not a secret: it holds a time and a uid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from kuberun_operator.archive.errors import InvalidContinueToken
from kuberun_operator.archive.record import parse_time

_VERSION = 1


def fingerprint(filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(created: datetime, uid: str, filters: dict[str, Any]) -> str:
    doc = {"v": _VERSION, "c": created.isoformat(), "u": uid, "q": fingerprint(filters)}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str, filters: dict[str, Any]) -> tuple[datetime, str]:
    """The (created, uid) after which the next page starts."""
    if not isinstance(token, str) or not token or len(token) > 1024:
        raise InvalidContinueToken("invalid continue token")
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidContinueToken("invalid continue token: not one this archive issued") from None
    if not isinstance(doc, dict) or doc.get("v") != _VERSION:
        raise InvalidContinueToken("invalid continue token: not one this archive issued")
    created, uid = parse_time(doc.get("c")), doc.get("u")
    if created is None or not isinstance(uid, str):
        raise InvalidContinueToken("invalid continue token: not one this archive issued")
    if doc.get("q") != fingerprint(filters):
        raise InvalidContinueToken("continue token was issued for a query with different filters")
    return created, uid
