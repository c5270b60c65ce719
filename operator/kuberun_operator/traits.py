"""What reconcile must know about the backends, declared by the backends and handed to it as data.

Reconcile never tests a backend by name: which attempts it may suspend, which failure reasons
no retry fixes, and which submissions must be recorded one status write before they happen all
come from the optional protocols in ``backends.base``, read once per reconcile here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kuberun.resource import ExperimentResource
from kuberun_operator.backends.base import (
    CancelOnDelete,
    DeclaresUnretryable,
    OwnsSuspend,
    QueuesDependencies,
    Suspendable,
)


@dataclass(frozen=True)
class BackendTraits:
    """One backend's declarations, as plain data."""

    suspendable: bool = False            # Suspendable
    record_before_submit: bool = False   # CancelOnDelete: the two-phase submit
    unretryable: frozenset[str] = frozenset()  # DeclaresUnretryable


@dataclass(frozen=True)
class Traits:
    """Everything backend-specific one reconcile reads."""

    backends: Mapping[str, BackendTraits] = field(default_factory=dict)
    suspend_owners: Mapping[str, str] = field(default_factory=dict)  # task -> who owns its suspend (e.g. Kueue)
    # task -> the backend queue it can wait in for other tasks of the same scope (QueuesDependencies)
    dependency_scopes: Mapping[str, str] = field(default_factory=dict)

    def of(self, backend: str) -> BackendTraits:
        """A backend's traits; one this operator lacks has none (its actions fail as not configured)."""
        return self.backends.get(backend) or BackendTraits()


def backend_traits(backend: object) -> BackendTraits:
    return BackendTraits(
        suspendable=isinstance(backend, Suspendable),
        record_before_submit=isinstance(backend, CancelOnDelete),
        unretryable=frozenset(backend.unretryable_reasons) if isinstance(backend, DeclaresUnretryable) else frozenset(),
    )


def traits_for(exp: ExperimentResource, backends: Mapping[str, object]) -> Traits:
    """The traits of the backends ``exp``'s tasks use, and the owner of each task's suspend."""
    used = {t.executor.backend for t in exp.spec.tasks}
    owners: dict[str, str] = {}
    scopes: dict[str, str] = {}
    for task in exp.spec.tasks:
        backend = backends.get(task.executor.backend)
        if isinstance(backend, OwnsSuspend) and (owner := backend.suspend_owner(task)) is not None:
            owners[task.name] = owner
        if isinstance(backend, QueuesDependencies) and (scope := backend.dependency_scope(exp, task)) is not None:
            scopes[task.name] = scope
    return Traits(backends={name: backend_traits(backends[name]) for name in used if name in backends},
                  suspend_owners=owners, dependency_scopes=scopes)
