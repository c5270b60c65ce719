"""The controller against an in-memory API (``tests/helpers/fake_kube.py``), for unit tests.

``harness()`` builds a ``Controller`` with the Kubernetes backend on a ``FakeKube``, an injected
clock and a list of the Events it posts; ``Recording`` and ``Remote`` are backends with only the
required protocol and with the optional ones. Shared by the operator's unit tests (controller,
informer, recording, lineage, health, version skew) and the archive and recording suites, which all
drive one reconcile at a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from kuberun_operator.actions import Event, Observed
from kuberun_operator.backends.base import REMOTE_FINALIZER, BackendError, Submitted
from kuberun_operator.backends.kubernetes import JobCache, KubernetesBackend, PodCache
from kuberun_operator.controller import Controller
from kuberun_operator.settings import Settings
from tests.helpers.fake_kube import FakeKube

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


KEY = ("ns", "exp")


SETTINGS = Settings(workers=1, metrics_port=0, resync_seconds=0)


@dataclass
class FakeClock:
    t: datetime = T0

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class Harness:
    kube: FakeKube
    controller: Controller
    clock: FakeClock
    jobs: JobCache
    events: list[Event] = field(default_factory=list)

    async def reconcile(self) -> None:
        self.controller.experiment_seen(self.kube.experiments[KEY])
        await self.controller.reconcile_key(KEY)
        await asyncio.sleep(0)  # let background Event posting run

    def status(self) -> dict[str, Any]:
        return self.kube.experiments[KEY].get("status") or {}

    def task(self, name: str = "t") -> dict[str, Any]:
        return next(t for t in self.status()["tasks"] if t["name"] == name)


def harness(extra_backends: dict[str, Any] | None = None) -> Harness:
    kube, clock, jobs = FakeKube(), FakeClock(), JobCache()
    events: list[Event] = []

    async def post_event(body: dict[str, Any], event: Event) -> None:
        events.append(event)

    backends: dict[str, Any] = {"kubernetes": KubernetesBackend(kube, jobs, SETTINGS, PodCache())}  # type: ignore[arg-type]
    backends.update(extra_backends or {})
    controller = Controller(SETTINGS, kube, backends, post_event, clock=clock)  # type: ignore[arg-type]
    kube.on_write = controller.experiment_seen  # what the watch does
    return Harness(kube, controller, clock, jobs, events)


def k8s_task(name: str = "t", **extra: Any) -> dict[str, Any]:
    return {"name": name, "script": {"command": ["true"]}, "executor": {"kubernetes": {}}, **extra}


def big_k8s_task(name: str = "t") -> dict[str, Any]:
    """A task whose runner document is too large to travel in its Job: it needs the ConfigMap."""
    return {"name": name, "script": {"inline": "echo " + "x" * 40_000}, "executor": {"kubernetes": {}}}


def job_named(h: Harness, name: str) -> dict[str, Any]:
    return h.kube.children[("Job", "ns", name)]


class Recording:
    """A backend with only the required protocol; ``fail`` makes submit raise."""

    name = "slurm"

    def __init__(self, fail: BackendError | None = None) -> None:
        self.fail, self.submitted, self.cancelled = fail, [], []

    async def submit(self, exp: Any, task: Any, attempt: int, ref: Any) -> Submitted:
        if self.fail is not None:
            raise self.fail
        self.submitted.append(ref.idempotency_key)
        return Submitted(id="job-7", cluster="c")

    async def observe(self, exp: Any) -> dict[tuple[str, int], Observed]:
        return {}

    async def cancel(self, exp: Any, task: Any, attempt: int, ref: Any) -> None:
        self.cancelled.append(ref.idempotency_key)


class Remote(Recording):
    """Declares CancelOnDelete (a finalizer), Polled and Lifecycle."""

    finalizer = REMOTE_FINALIZER
    poll_interval = 7.0

    def __init__(self) -> None:
        super().__init__()
        self.lifecycle: list[str] = []

    async def start(self) -> None:
        self.lifecycle.append("start")

    async def stop(self) -> None:
        self.lifecycle.append("stop")


def slurm_task(name: str = "t") -> dict[str, Any]:
    return {"name": name, "script": {"command": ["true"]}, "executor": {"slurm": {"cluster": "c"}}}
