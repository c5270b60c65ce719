"""Which namespaces may use which configured backend, and what tenants may choose there.

Why this exists: the admin's backend config holds *shared* credentials (the SSH identity of a
Slurm cluster, the token of a Lepton workspace or SkyPilot endpoint). Anyone allowed to create an
Experiment in any namespace could otherwise spend them, pick any partition/account/qos, run
``setup`` shell lines as the service user, read any workspace secret or target any SkyPilot
cluster. So every bridge asks here first, in ``submit``, *before* any remote command: a refusal
costs nothing remote, fails the attempt with reason ``BackendNotAllowed`` (declared unretryable
by each bridge, so no retry loop) and, like every failed attempt, posts an Event.

Default deny: a backend whose ``allowedNamespaces`` is empty (and that has no
``allowedNamespaceSelector``) serves no namespace; ``"*"`` is the explicit grant to all. A
selector grants the namespaces whose labels match (``namespace_labels`` reads them, only when
the name alone does not already grant). Allow-lists take the same shell patterns. Choices equal
to the admin's own default are always allowed.

The checks are pure functions over the config models and the namespace's labels: tested
without any backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from kuberun.resource import LeptonExecutor, SkypilotExecutor, SlurmExecutor
from kuberun_operator.backend_config import LeptonWorkspace, NamespaceSelector, SkypilotConfig, SlurmCluster
from kuberun_operator.backends.base import BackendError
from kuberun_operator.namespaces import NamespaceLabels

Granting = LeptonWorkspace | SkypilotConfig | SlurmCluster  # whatever carries allowedNamespaces(+Selector)

NOT_ALLOWED = "BackendNotAllowed"
REASONS = frozenset({NOT_ALLOWED})  # for each bridge's DeclaresUnretryable: no retry fixes a grant


class BackendNotAllowed(BackendError):
    """The namespace was not granted this backend, or chose something it is not allowed (permanent)."""

    def __init__(self, namespace: str, backend: str, why: str) -> None:
        super().__init__(NOT_ALLOWED, f"namespace {namespace!r} may not use {backend}: {why}", permanent=True)


def granted(patterns: Iterable[str], name: str) -> bool:
    """Whether ``name`` matches one of the admin's names/patterns (case-sensitive, as names are)."""
    return any(fnmatchcase(name, p) for p in patterns)


async def namespace_labels(backend: Granting, namespace: str, read: NamespaceLabels | None) -> Mapping[str, str] | None:
    """The labels the check needs: read only when a selector could grant what the names do not."""
    if backend.allowed_namespace_selector is None or granted(backend.allowed_namespaces, namespace) or read is None:
        return None
    return await read(namespace)


def _namespace(patterns: list[str], selector: NamespaceSelector | None, namespace: str,
               labels: Mapping[str, str] | None, backend: str) -> None:
    if granted(patterns, namespace):
        return
    if selector is None:
        raise BackendNotAllowed(namespace, backend, "it is not in the backend's allowedNamespaces "
                                "(ask the operator's admin to grant it)")
    if labels is None:
        raise BackendNotAllowed(namespace, backend, "it is not in allowedNamespaces, and this operator cannot read "
                                "Namespace labels for allowedNamespaceSelector")
    if not selector.matches(labels):
        raise BackendNotAllowed(namespace, backend, "it is not in allowedNamespaces and its labels do not match "
                                f"allowedNamespaceSelector ({_selector_text(selector)}); ask the operator's admin")


def _selector_text(selector: NamespaceSelector) -> str:
    terms = [f"{k}={v}" for k, v in selector.match_labels.items()]
    terms += [f"{r.key} {r.operator} ({', '.join(r.values)})" if r.values else f"{r.key} {r.operator}"
              for r in selector.match_expressions]
    return ", ".join(terms)


def _choice(namespace: str, backend: str, what: str, value: str | None, default: str | None,
            allowed: list[str]) -> None:
    if value is None or value == default or granted(allowed, value):
        return
    options = sorted({*allowed, *([default] if default else [])})
    raise BackendNotAllowed(namespace, backend, f"{what} {value!r} is not allowed here "
                            f"(allowed: {', '.join(options) or 'only the default'})")


def check_slurm(cluster: SlurmCluster, executor: SlurmExecutor, namespace: str,
                labels: Mapping[str, str] | None = None) -> None:
    backend = f"Slurm cluster {cluster.name!r}"
    _namespace(cluster.allowed_namespaces, cluster.allowed_namespace_selector, namespace, labels, backend)
    _choice(namespace, backend, "partition", executor.partition, cluster.partition, cluster.allowed_partitions)
    _choice(namespace, backend, "account", executor.account, cluster.account, cluster.allowed_accounts)
    _choice(namespace, backend, "qos", executor.qos, None, cluster.allowed_qos)
    if executor.setup and not cluster.allow_setup:
        raise BackendNotAllowed(namespace, backend, "setup lines are not allowed on this cluster (allowSetup is off)")


def check_lepton(workspace: LeptonWorkspace, executor: LeptonExecutor, namespace: str,
                 labels: Mapping[str, str] | None = None) -> None:
    backend = f"Lepton workspace {workspace.name!r}"
    _namespace(workspace.allowed_namespaces, workspace.allowed_namespace_selector, namespace, labels, backend)
    for env in executor.secret_env:
        _choice(namespace, backend, "secret", env.secret, None, workspace.allowed_secrets)
    _choice(namespace, backend, "node group", executor.node_group, None, workspace.allowed_node_groups)
    _choice(namespace, backend, "node reservation", executor.node_reservation, None, workspace.allowed_reservations)
    for secret in executor.image_pull_secrets:
        _choice(namespace, backend, "image-pull secret", secret, None, workspace.allowed_image_pull_secrets)


def check_skypilot(config: SkypilotConfig, executor: SkypilotExecutor, namespace: str,
                   labels: Mapping[str, str] | None = None) -> None:
    backend = f"SkyPilot endpoint {config.endpoint!r}"
    _namespace(config.allowed_namespaces, config.allowed_namespace_selector, namespace, labels, backend)
    if executor.mode == "cluster":
        _choice(namespace, backend, "cluster", executor.cluster_name, None, config.allowed_clusters)
    sources = [*executor.file_mounts.values(), *(m.source for m in executor.storage_mounts.values())]
    for source in sources:  # mounted with the SkyPilot server's cloud credentials, not the user's
        _choice(namespace, backend, "bucket", source, None, config.allowed_buckets)
