"""Typed errors: the SDK's one vocabulary. Each names what is wrong and, where it can, what to do.

Everything kuberun raises on purpose is a ``KuberunError``, so the CLI turns any of them into one
``error: ...`` line. Errors of the Kubernetes API are ``ApiError``s with a distinct class per answer
a caller handles differently (absent, taken, refused, unreachable, rejected), named after the API's
own reasons; ``code`` and ``reason`` keep the HTTP status and the Status ``reason`` for the rest.
"""

from __future__ import annotations


class KuberunError(Exception):
    """Base of every error kuberun raises on purpose."""


# -- building experiments -------------------------------------------------------------------------


class InvalidExperimentError(KuberunError, ValueError):
    """The experiment as built cannot become a valid resource (names, graph, executors)."""


class InvalidExecutorError(InvalidExperimentError):
    """An executor (``kr.KubernetesExecutor(...)``) was given a bad field; the message names it."""


class InvalidScriptError(InvalidExperimentError):
    """A ``kr.Script`` was given a bad combination or value; the message names it."""


class ConfigSerializationError(KuberunError, ValueError):
    """A task's config cannot be serialized, or does not survive a round trip."""

    def __init__(self, task: str, message: str) -> None:
        super().__init__(f"task {task!r}: {message}")
        self.task = task


class ConfigTooLargeError(ConfigSerializationError):
    """A task's serialized config is over the hard limit."""


class ConfigIntegrityError(KuberunError, ValueError):
    """A serialized config does not match its digest (truncated, tampered or mis-assembled)."""


class InvalidOverrideError(KuberunError, ValueError):
    """A reproduce override names a task or attribute path that does not exist."""


class UsageError(KuberunError, ValueError):
    """The request cannot be carried out as given (an unknown output format, a file with no experiment)."""


# -- reading the record ---------------------------------------------------------------------------


class NotFoundError(KuberunError, LookupError):
    """The named thing does not exist: an object (the API answered 404), a task, an attempt, a title."""

    code, reason = 404, "NotFound"


class WaitTimeoutError(KuberunError, TimeoutError):
    """An experiment did not finish within the time the caller was willing to wait."""


class LogsUnavailableError(KuberunError):
    """Logs of this attempt cannot be read from here (no pod yet, backend not installed...)."""


# -- the Kubernetes API ---------------------------------------------------------------------------


class ApiError(KuberunError):
    """The API server answered with an error (``code``: HTTP status, ``reason``: the Status reason)."""

    def __init__(self, code: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


class UnreachableError(ApiError, ConnectionError):
    """No API server answered: wrong kubeconfig/context, cluster down, no kubeconfig, a failing credential plugin."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message, "Unreachable")


class UnauthorizedError(ApiError):
    """401: the API server did not accept the credentials."""


class ForbiddenError(ApiError, PermissionError):
    """403: RBAC refused the request; names the verb and resource to ask for."""

    def __init__(self, message: str, verb: str, resource: str) -> None:
        super().__init__(403, message, "Forbidden")
        self.verb, self.resource = verb, resource


class ObjectNotFoundError(ApiError, NotFoundError):
    """404 on a named object."""


class ConflictError(ApiError):
    """409: the object already exists (``reason`` AlreadyExists) or changed since it was read (Conflict)."""


class AlreadyExistsError(ConflictError):
    """409 AlreadyExists: an object of that name exists (e.g. the same ``kr.Experiment`` run twice)."""


class InvalidError(ApiError, ValueError):
    """422: the API server rejected the object (schema, CEL rules, immutable fields)."""
