"""Prometheus metrics and the health endpoints, served on the operator's metrics port.

Names follow Prometheus conventions (`kuberun_` prefix, `_total` counters, `_seconds`
histograms) so dashboards can use them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kuberun.resource import ExperimentPhase


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconcile_seconds = Histogram("kuberun_reconcile_duration_seconds", "Time to reconcile one Experiment.",
                                           registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.reconciles = Counter("kuberun_reconciles_total", "Reconciles performed.", registry=r)
        self.queue_depth = Gauge("kuberun_queue_depth", "Experiments waiting to be reconciled.", registry=r)
        self.experiments = Gauge("kuberun_experiments", "Experiments known to this operator, by phase.", ["phase"], registry=r)
        self.transitions = Counter("kuberun_task_transitions_total", "Task phase transitions.", ["backend", "phase"], registry=r)
        self.backend_errors = Counter("kuberun_backend_errors_total", "Backend call failures.", ["backend", "reason"], registry=r)
        self.api_requests = Counter("kuberun_api_requests_total", "Kubernetes API requests made by the controller.",
                                    ["verb", "resource", "code"], registry=r)
        # The record (recording/): archive and log-store writes, and those waiting for a retry.
        self.record_writes = Counter("kuberun_record_writes_total", "Archive and log-store writes, by what and result.",
                                     ["what", "result"], registry=r)
        self.record_pending = Gauge("kuberun_record_pending", "Record writes waiting to run or to be retried.", registry=r)
        self.record_failing = Gauge("kuberun_record_failing",
                                    "Record writes whose last try failed (the archive or log store is unreachable).", registry=r)
        self.api_throttled = Counter("kuberun_api_throttled_total",
                                     "API requests that waited: by the client-side QPS limit, or a 429 from the server.",
                                     ["by"], registry=r)
        self.api_throttle_seconds = Histogram("kuberun_api_throttle_wait_seconds", "Time API requests waited for their turn.",
                                              ["by"], registry=r, buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.api_retries = Counter("kuberun_api_retries_total", "API requests sent again after a 429 or 5xx.",
                                   ["verb", "resource", "code"], registry=r)
        self.code_gc = Counter("kuberun_code_gc_total", "Code package chunks the collector marked, unmarked, deleted or "
                               "kept (kept_raced: touched during the pass; kept_unarchived: the archive lacks it).",
                               ["result"], registry=r)
        self.leader = Gauge("kuberun_leader", "1 while this replica holds the shard's lease.", ["lease"], registry=r)
        # (ok, reason) callables; app.run installs the real ones (health.checks) once kopf starts.
        self.liveness: Any = lambda: (True, "ok")
        self.readiness: Any = lambda: (False, "starting")

    def reconciled(self, seconds: float, depth: int) -> None:
        self.reconcile_seconds.observe(seconds)
        self.reconciles.inc()
        self.queue_depth.set(depth)

    def backend_error(self, backend: str, reason: str) -> None:
        self.backend_errors.labels(backend, reason).inc()

    def api_call(self, verb: str, resource: str, code: int) -> None:
        self.api_requests.labels(verb, resource, str(code)).inc()

    def record_write(self, what: str, ok: bool, pending: int, failing: int) -> None:
        self.record_writes.labels(what, "ok" if ok else "error").inc()
        self.record_pending.set(pending)
        self.record_failing.set(failing)
    def throttled(self, by: str, seconds: float) -> None:
        self.api_throttled.labels(by).inc()
        self.api_throttle_seconds.labels(by).observe(seconds)

    def api_retry(self, verb: str, resource: str, code: int) -> None:
        self.api_retries.labels(verb, resource, str(code)).inc()

    def status_written(self, exp: Any, old: dict[str, Any], new: dict[str, Any]) -> None:
        before = {t["name"]: t.get("phase") for t in old.get("tasks", [])}
        for spec_task, task in zip(exp.spec.tasks, new.get("tasks", []), strict=False):
            if before.get(task["name"]) != task.get("phase"):
                self.transitions.labels(spec_task.executor.backend, task.get("phase", "")).inc()

    def count_phases(self, phases: Iterable[str]) -> None:
        """Set the gauge from every known Experiment's phase (``PackedExperiments.phases``)."""
        counts: dict[str, int] = {}
        for phase in phases:
            counts[phase] = counts.get(phase, 0) + 1
        for phase in ExperimentPhase:
            self.experiments.labels(phase.value).set(counts.get(phase.value, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def serve(metrics: Metrics, port: int, host: str = "0.0.0.0", on_scrape: Any = None) -> Any:
    """Start /metrics, /healthz and /readyz; returns the aiohttp runner (call ``.cleanup()``)."""
    from aiohttp import web

    async def metrics_view(_: web.Request) -> web.Response:
        if on_scrape is not None:
            on_scrape()
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        ok, reason = metrics.liveness()
        return web.Response(text=reason, status=200 if ok else 503)

    async def readyz(_: web.Request) -> web.Response:
        ok, reason = metrics.readiness()
        return web.Response(text=reason, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
