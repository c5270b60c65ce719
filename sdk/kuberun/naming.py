"""Names of kuberun's objects: readable, unique, and within Kubernetes' limits."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def slug(text: str, limit: int = 63) -> str:
    """A DNS-1123 label (also a valid label value) from free text: 'My Run #2' -> 'my-run-2'."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")
    return out or "x"


def short_id(length: int = 5) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def experiment_name(title: str) -> str:
    """'<title>-<short id>': readable, unique enough, and a valid object name."""
    return f"{slug(title, 57)}-{short_id()}"


def bounded(name: str, limit: int = 63) -> str:
    """``name`` if it fits, else a prefix plus a hash of the whole, so distinct names stay distinct."""
    if len(name) <= limit:
        return name
    tail = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{tail}"


def child_name(experiment: str, task: str, attempt: int, limit: int = 63) -> str:
    """Deterministic name of an attempt's objects: '<experiment>-<task>-<attempt>'."""
    return bounded(f"{experiment}-{task}-{attempt}", limit)
