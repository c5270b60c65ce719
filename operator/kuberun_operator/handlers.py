"""kopf wiring: thin handlers that feed the controller, and every kopf knob in one startup function.

Only `on.event` handlers are used. They carry no per-object state, so kopf never writes its
`last-handled-configuration` annotation (a copy of the spec, limited to 256 KiB) nor progress
annotations onto Experiments: the Experiment's status is the only record, and a 1 MiB config
costs nothing extra.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kuberun.resource.constants import GROUP, LABEL_EXPERIMENT, PLURAL, VERSION
from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache
from kuberun_operator.controller import Controller
from kuberun_operator.settings import Settings

WORKER_IDLE_SECONDS = 0.5


def make_registry(settings: Settings, controller: Controller, jobs: JobCache, pods: PodCache,
                  runner: Any = None) -> kopf.OperatorRegistry:
    """A registry of this operator's handlers (one per operator instance, so tests can run several).

    The controller and the caches are built before kopf starts and passed in; the handlers only
    translate kopf's arguments into their calls. ``runner`` is what startup starts and cleanup
    stops: the controller, or the leader election that starts it while a Lease is held.
    """
    runner = runner or controller
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(logger: kopf.Logger, **kwargs: Any) -> None:
        settings_: kopf.OperatorSettings = kwargs["settings"]  # kopf's own; ours is `settings` above
        settings_.posting.enabled = False  # Events are posted by the controller, for transitions only
        settings_.watching.server_timeout = 300
        settings_.watching.client_timeout = 330
        settings_.watching.connect_timeout = 10
        settings_.networking.request_timeout = 30
        # kopf's per-object worker holds the object's last event, as served (managedFields and all),
        # until it has idled this long: 5 s by default, so a burst of N creations kept N full bodies
        # and N tasks at once, and the operator's RSS stayed at that peak (docs/scale.md, "Operator
        # memory"). Our handlers only feed a cache; a new event simply starts a new worker.
        settings_.queueing.idle_timeout = WORKER_IDLE_SECONDS
        if settings.peering:
            settings_.peering.name = settings.peering
            settings_.peering.priority = settings.priority
            settings_.peering.mandatory = True
            settings_.peering.standalone = False
        else:
            settings_.peering.standalone = True
        await runner.start()
        logger.info("kuberun operator started: namespaces=%s, local executor %s",
                    list(settings.namespaces) or "all", "on" if settings.enable_local_executor else "off")

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo | None:
        from kuberun_operator.connection import connection_info

        return connection_info(settings)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await runner.stop()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def experiment_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        # async: kopf runs sync handlers in its thread pool, which the controller's API calls need
        controller.experiment_seen(dict(body), deleted=event.get("type") == "DELETED")

    @kopf.on.event("batch", "v1", "jobs", labels={LABEL_EXPERIMENT: kopf.PRESENT}, registry=registry)
    async def job_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        controller.child_changed(jobs.remove(dict(body)) if event.get("type") == "DELETED" else jobs.put(dict(body)))

    @kopf.on.event("", "v1", "pods", labels={LABEL_EXPERIMENT: kopf.PRESENT}, registry=registry)
    async def pod_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        # Pods tell what Jobs do not: an image that cannot be pulled, a missing Secret.
        job = pods.put(dict(body), deleted=event.get("type") == "DELETED")
        controller.child_changed(jobs.experiment_of(*job) if job is not None else None)

    logging.getLogger("kopf").setLevel(getattr(logging, settings.log_level.upper(), logging.INFO))
    return registry
