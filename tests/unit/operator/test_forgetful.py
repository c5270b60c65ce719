"""kopf keeps no per-object record for this operator (``forgetful.py``), and the handlers still run.

Driven through kopf's own event processing (``process_resource_event``) with the operator's real
registry: the handlers see every event, and the memories hold nothing after — where kopf's default
memories keep one record per object seen.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from kopf._cogs.structs import ephemera, references
from kopf._core.actions import lifecycles
from kopf._core.engines import indexing
from kopf._core.reactor import inventory, processing

from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache
from kuberun_operator.forgetful import ForgetfulMemories, memories_for, needs_memories
from kuberun_operator.handlers import make_registry
from kuberun_operator.settings import Settings

EXPERIMENTS = references.Resource("kuberun.dev", "v1alpha1", "experiments", kind="Experiment", namespaced=True,
                                  verbs=frozenset(["list", "watch"]))


class _Controller:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def experiment_seen(self, body: dict[str, Any], deleted: bool = False) -> None:
        self.seen.append((body["metadata"]["name"], deleted))

    def child_changed(self, key: Any) -> None:  # not reached: only Experiment events are sent
        raise AssertionError(key)


def _experiment(i: int) -> dict[str, Any]:
    return {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "spec": {},
            "metadata": {"name": f"e-{i}", "namespace": "n", "uid": f"uid-{i}", "resourceVersion": str(i + 1)}}


async def _feed(registry: Any, memories: inventory.ResourceMemories, events: list[tuple[str, dict[str, Any]]]) -> None:
    for kind, body in events:
        await processing.process_resource_event(
            lifecycle=lifecycles.all_at_once, indexers=indexing.OperatorIndexers(), registry=registry,
            settings=kopf.OperatorSettings(), memories=memories, memobase=ephemera.AnyMemo(kopf.Memo()),
            resource=EXPERIMENTS, raw_event={"type": kind, "object": body}, event_queue=asyncio.Queue())


@pytest.mark.parametrize(("memories", "kept"), [(ForgetfulMemories, 0), (inventory.ResourceMemories, 5)])
async def test_the_handlers_see_every_event_and_forgetful_memories_keep_nothing(memories: type, kept: int) -> None:
    controller = _Controller()
    registry = make_registry(Settings(), controller, JobCache(), PodCache())  # type: ignore[arg-type]
    held = memories()
    await _feed(registry, held, [(kind, _experiment(i)) for i in range(5) for kind in ("ADDED", "MODIFIED")])
    assert controller.seen == [(f"e-{i}", False) for i in range(5) for _ in range(2)]
    assert len(list(held.iter_all_memories())) == kept, "kopf's default keeps one record per object: the contrast"


def test_the_operators_registry_needs_no_records_and_gets_forgetful_memories() -> None:
    registry = make_registry(Settings(), _Controller(), JobCache(), PodCache())  # type: ignore[arg-type]
    assert needs_memories(registry) == [], "a handler kind that needs kopf's per-object records was registered"
    assert isinstance(memories_for(registry), ForgetfulMemories)


def test_a_registry_with_a_change_handler_keeps_kopfs_memories() -> None:
    registry = make_registry(Settings(), _Controller(), JobCache(), PodCache())  # type: ignore[arg-type]

    @kopf.on.create("kuberun.dev", "v1alpha1", "experiments", registry=registry)
    def created(**_: Any) -> None: ...

    assert needs_memories(registry) == ["changing (on.create/update/delete/resume/field)"]
    memories = memories_for(registry)
    assert type(memories) is inventory.ResourceMemories, "change handlers need their records (resume, progress)"


async def test_kopfs_per_object_workers_do_not_linger_holding_their_last_event() -> None:
    import logging

    from kuberun_operator.handlers import WORKER_IDLE_SECONDS

    class Runner:
        started = False

        async def start(self) -> None:
            self.started = True

    runner = Runner()
    registry = make_registry(Settings(), _Controller(), JobCache(), PodCache(), runner=runner)  # type: ignore[arg-type]
    (configure,) = [h for h in registry._activities.get_all_handlers() if h.fn.__name__ == "configure"]
    settings = kopf.OperatorSettings()
    assert settings.queueing.idle_timeout > WORKER_IDLE_SECONDS, "kopf's default: a worker keeps its last body 5 s"
    await configure.fn(logger=logging.getLogger("test"), settings=settings)
    assert runner.started and settings.queueing.idle_timeout == WORKER_IDLE_SECONDS <= 1.0
