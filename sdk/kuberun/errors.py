"""Typed errors. Each names what is wrong and, where it can, what to do about it."""

from __future__ import annotations


class KuberunError(Exception):
    """Base of every error kuberun raises on purpose."""


class InvalidExperimentError(KuberunError, ValueError):
    """The experiment as built cannot become a valid resource (names, graph, executors)."""


class ConfigSerializationError(KuberunError, ValueError):
    """A task's config cannot be serialized, or does not survive a round trip."""

    def __init__(self, task: str, message: str) -> None:
        super().__init__(f"task {task!r}: {message}")
        self.task = task


class ConfigTooLargeError(ConfigSerializationError):
    """A task's serialized config is over the hard limit."""


class ConfigIntegrityError(KuberunError, ValueError):
    """A serialized config does not match its digest (truncated, tampered or mis-assembled)."""
