"""Assemble an operator: settings -> API client, backends, controller, kopf registry; run it.

Everything is built in ``run()`` before ``kopf.operator`` starts, and handed to the handlers
explicitly: the controller, and the Kubernetes backend's caches that the watches feed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

import kopf

from kuberun.resource.times import format_time
from kuberun_operator.actions import Event
from kuberun_operator.backend_config import BackendConfig
from kuberun_operator.backends.base import Backend
from kuberun_operator.backends.kubernetes import JobCache, KubernetesBackend, PodCache
from kuberun_operator.clock import Clock, SystemClock
from kuberun_operator.connection import USER_AGENT, api_client
from kuberun_operator.controller import Controller
from kuberun_operator.forgetful import memories_for
from kuberun_operator.handlers import make_registry
from kuberun_operator.health import checks
from kuberun_operator.kube import Kube
from kuberun_operator.leadership import Leadership, Timing
from kuberun_operator.metrics import Metrics, serve
from kuberun_operator.ratelimit import ClientLimits, Politeness
from kuberun_operator.settings import Settings

log = logging.getLogger("kuberun.operator")


@dataclass(frozen=True)
class Assembly:
    """One operator instance's parts: the controller, and the caches the child watches feed."""

    controller: Controller
    jobs: JobCache
    pods: PodCache
    leadership: Leadership | None = None  # None: no leader election, the controller always acts

    @property
    def runner(self) -> Any:
        """What kopf's startup/cleanup start and stop, and what the health checks ask."""
        return self.leadership or self.controller


def build(settings: Settings, metrics: Metrics, clock: Clock | None = None) -> Assembly:
    clock = clock or SystemClock()
    identity = replica_identity(settings)
    # With leader election the User-Agent names the replica: tells replicas apart in audit logs.
    api = api_client(settings, f"{USER_AGENT} ({identity})" if settings.leader_election else USER_AGENT)
    kube = Kube(api, on_call=metrics.api_call,
                polite=Politeness(ClientLimits(qps=settings.api_qps, burst=settings.api_burst), metrics))
    jobs, pods = JobCache(), PodCache()
    backends: dict[str, Backend] = {"kubernetes": KubernetesBackend(kube, jobs, settings, pods)}
    if settings.enable_local_executor:
        from kuberun_operator.backends.local import LocalBackend

        backends["local"] = LocalBackend(settings, code_reader=packaged_code(settings, kube))  # unpacks packaged code
    backends.update(remote_backends(BackendConfig.load(settings.config_file), settings, kube))

    async def post_event(body: dict[str, Any], event: Event) -> None:
        meta = body["metadata"]
        now = format_time(clock.now())
        try:
            await kube.create_event(meta["namespace"], {
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "name": meta["name"],
                                   "namespace": meta["namespace"], "uid": meta.get("uid")},
                "type": event.type, "reason": event.reason, "message": event.message,
                "source": {"component": "kuberun-operator"}, "firstTimestamp": now, "lastTimestamp": now, "count": event.count,
                "reportingComponent": "kuberun-operator",
            })
        except Exception as exc:  # an Event is informative; never fail a reconcile over it
            log.warning("could not post event %s on %s: %s", event.reason, meta["name"], exc)

    controller = Controller(settings, kube, backends, post_event, metrics, clock)
    if settings.archive_url or settings.archive_url_file or settings.log_store_url:
        from kuberun_operator.recording import build_recorder  # SQLAlchemy and fsspec only when configured

        controller.recorder = build_recorder(settings, kube, backends, wake=controller.queue.add, warn=controller.events.warn,
                                             metrics=metrics)
    if settings.log_store_url:
        from kuberun_operator.recording.artifacts import from_settings

        controller.artifacts = from_settings(settings, controller.queue.add, backends)
    leadership = None
    if settings.leader_election:
        leadership = Leadership(controller, kube, namespace=settings.lease_namespace, name=settings.lease_name,
                                identity=identity, shards=settings.shards, shard_index=settings.shard_index,
                                timing=Timing(settings.lease_duration, settings.renew_deadline, settings.retry_period),
                                metrics=metrics)
        kube.fence = leadership.check
        controller.gate = leadership
    return Assembly(controller, jobs, pods, leadership)


def replica_identity(settings: Settings) -> str:
    """This replica's holder name in the Lease: the flag, the pod's name, or hostname + random suffix."""
    import os
    import socket
    import uuid

    return settings.identity or os.environ.get("POD_ID") or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


def packaged_code(settings: Settings, kube: Kube | None) -> Any:
    """The reader of tasks' code packages: ConfigMaps through ``kube``, larger ones from the log store."""
    from kuberun_operator.codestore import code_reader

    store = None
    if settings.log_store_url:
        from kuberun_operator.logstore import LogStore, StoreOptions

        store = LogStore.from_url(settings.log_store_url, StoreOptions(secret_dir=settings.log_store_secret_dir))
    return code_reader(kube, store)


def remote_backends(config: BackendConfig, settings: Settings, kube: Kube | None = None) -> dict[str, Backend]:
    """The bridges the admin configured; each module is imported only when configured.

    ``kube`` (and the log store of ``settings``) let a bridge read a task's code package to hand it
    over its own transport (Slurm's SSH, SkyPilot's upload, Lepton's file storage), and the labels of
    namespaces when a backend grants them by ``allowedNamespaceSelector``.
    """
    found: dict[str, Backend] = {}
    labels = None
    if kube is not None and config.grants_by_label:
        from kuberun_operator.namespaces import CachedNamespaceLabels

        labels = CachedNamespaceLabels(kube, ttl=config.namespace_label_cache_seconds)
    code = packaged_code(settings, kube) if (config.slurm.clusters or config.lepton.workspaces or config.skypilot) else None
    if config.slurm.clusters:
        from kuberun_operator.backends.slurm import SlurmBackend

        found["slurm"] = SlurmBackend(config.slurm, settings, code_reader=code, namespace_labels=labels)
    if config.lepton.workspaces:
        from kuberun_operator.backends.lepton import LeptonBackend

        found["lepton"] = LeptonBackend(config.lepton, settings, code_reader=code, namespace_labels=labels)
    if config.skypilot is not None:
        from kuberun_operator.backends.skypilot import SkypilotBackend

        found["skypilot"] = SkypilotBackend(config.skypilot, settings, code_reader=code, namespace_labels=labels)
    return found


async def run(settings: Settings, stop_flag: asyncio.Event | threading.Event | None = None,
              ready_flag: asyncio.Event | threading.Event | None = None, metrics: Metrics | None = None) -> None:
    """Run the operator until ``stop_flag`` is set (or forever)."""
    metrics = metrics or Metrics()
    parts = build(settings, metrics)
    registry = make_registry(settings, parts.controller, parts.jobs, parts.pods, runner=parts.runner)
    runner = None
    if settings.metrics_port:
        runner = await serve(metrics, settings.metrics_port,
                             on_scrape=lambda: metrics.count_phases(parts.controller.experiments.phases()))
    record_server = None
    if settings.record_server_port:
        from kuberun_operator.server.app import RecordServer, config_from_settings

        try:
            record_server = await RecordServer.start(config_from_settings(settings), api_client(settings))
        except BaseException:
            if runner is not None:
                await runner.cleanup()
            raise
    kopf_ready = ready_flag if ready_flag is not None else asyncio.Event()
    kopf_task = asyncio.create_task(kopf.operator(
            registry=registry,
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=settings.peering is None,
            priority=settings.priority,
            peering_name=settings.peering,
            stop_flag=stop_flag,
            ready_flag=kopf_ready,
            memories=memories_for(registry),  # no per-object records: the handlers need none (forgetful.py)
    ), name="kopf-operator")
    metrics.liveness, metrics.readiness = checks(kopf_task, kopf_ready, parts.runner)
    try:
        await kopf_task
    finally:
        if runner is not None:
            await runner.cleanup()
        if record_server is not None:
            await record_server.stop()
