"""Errors of the manage surface: each one reads as a single line a user can act on."""

from __future__ import annotations

import re
from typing import Any

from kuberun.errors import KuberunError


class ManageError(KuberunError):
    """Base of errors raised by ``kuberun list/describe/logs/...`` and ``kr.Experiment.get``."""


class NotFoundError(ManageError, LookupError):
    """The named object does not exist (in that namespace)."""


class UnreachableError(ManageError, ConnectionError):
    """No API server answered: wrong kubeconfig/context, cluster down, or no kubeconfig at all."""


class ForbiddenError(ManageError, PermissionError):
    """The API server refused the request: names the RBAC verb and resource that are missing."""

    def __init__(self, message: str, verb: str, resource: str) -> None:
        super().__init__(message)
        self.verb, self.resource = verb, resource


class InvalidOverrideError(ManageError, ValueError):
    """A reproduce override names a task or attribute path that does not exist."""


class ApiError(ManageError):
    """Any other non-2xx answer from the API server."""

    def __init__(self, code: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


class LogsUnavailableError(ManageError):
    """Logs of this attempt cannot be read from here (no pod yet, backend not installed...)."""


# A real API server's 403 message: 'experiments.kuberun.dev "x" is forbidden: User "bob" cannot
# patch resource "experiments" in API group "kuberun.dev" in the namespace "ns"'.
_RBAC = re.compile(r'cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)"(?: in API group "(?P<group>[^"]*)")?')


def forbidden(body: dict[str, Any], verb: str, resource: str, namespace: str | None) -> ForbiddenError:
    """A ForbiddenError naming the RBAC rule to ask for, from the 403 body when it says, else from the request."""
    message = str(body.get("message") or "")
    match = _RBAC.search(message)
    if match:
        group = match.group("group")
        verb, resource = match.group("verb"), match.group("resource") + (f".{group}" if group else "")
    where = f' in namespace "{namespace}"' if namespace else " cluster-wide"
    user = re.search(r'User "([^"]+)"', message)
    who = f'user "{user.group(1)}"' if user else "your credentials"
    text = f"forbidden: {who} may not {verb} {resource}{where}; ask for RBAC verb {verb!r} on {resource!r}"
    return ForbiddenError(text, verb, resource)
