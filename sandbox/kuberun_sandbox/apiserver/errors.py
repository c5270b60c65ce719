"""Kubernetes ``Status`` errors, shaped as a real kube-apiserver sends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiError(Exception):
    """An API failure that renders as a ``kind: Status`` body with the same HTTP code."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(group: str, kind: str, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"group": group, "kind": kind}
    if name:
        details = {"name": name, **details}
    return details


def qualified(plural: str, group: str) -> str:
    """``experiments.kuberun.dev`` or ``configmaps`` — how the real server names a resource in messages."""
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str | None) -> ApiError:
    what = qualified(plural, group)
    msg = f'{what} "{name}" not found' if name else f"the server could not find the requested resource ({what})"
    return ApiError(404, "NotFound", msg, _details(group, plural, name))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    msg = f'{qualified(plural, group)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", msg, _details(group, plural, name))


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    msg = f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}'
    return ApiError(409, "Conflict", msg, _details(group, plural, name))


def stale_conflict(group: str, plural: str, name: str) -> ApiError:
    why = "the object has been modified; please apply your changes to the latest version and try again"
    return conflict(group, plural, name, why)


@dataclass(frozen=True)
class Cause:
    """One field-level problem of an Invalid error (``details.causes[]``)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def render(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def invalid(group: str, kind: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid: ``Kind.group "name" is invalid: field: Invalid value: ...``."""
    gk = f"{kind}.{group}" if group else kind
    rendered = [c.render() for c in causes]
    joined = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    details = _details(group, kind, name)
    details["causes"] = [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes]
    return ApiError(422, "Invalid", f'{gk} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


_ACCEPTED = ("application/json", "application/json-patch+json", "application/merge-patch+json",
             "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def unsupported_media_type(content_type: str, accepted: tuple[str, ...] = _ACCEPTED) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                                                 f"types include: {', '.join(accepted)}")


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})")


def injected(code: int) -> ApiError:
    """A fault injected by a test: the reason follows the real server's for that code."""
    reasons = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 404: "NotFound"}
    return ApiError(code, reasons.get(code, "InternalError"), f"injected fault (HTTP {code})")
