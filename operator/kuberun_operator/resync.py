"""Informer semantics for the controller's Experiment cache: the API's word replaces the cache's.

The cache is fed by kopf's watch and by the controller's own writes. Watches can miss things (a
dropped stream, an API server whose state went backwards after a crash, an object deleted while
the operator was away), and a cache that only ever keeps the highest resourceVersion it saw
never recovers from that: every status patch fails its precondition forever, a vanished
Experiment is reconciled forever. So, as client-go's informers do:

- after a failed precondition (409/422) or a 404, the one object is read again and its copy
  replaces the cached one, whatever its resourceVersion — or is dropped when it is gone;
- every ``resync_seconds`` a relist replaces the whole cache (objects that went away are
  dropped) and every Experiment is reconciled again, so no missed event leaves one stuck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, MutableMapping
from typing import Any, Protocol, runtime_checkable

from kuberun_operator.kube import ApiError

log = logging.getLogger("kuberun.operator")

Key = tuple[str, str]


class _Reads(Protocol):
    async def get_experiment(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def list_experiments(self, namespace: str | None = None) -> list[dict[str, Any]]: ...


def key_of(body: dict[str, Any]) -> Key:
    meta = body.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


async def refetch(kube: _Reads, cache: MutableMapping[Key, dict[str, Any]], key: Key) -> bool:
    """Replace ``key``'s cached copy with the stored one; drop it when the API says 404.

    Returns whether the Experiment still exists (and so should be reconciled again).
    """
    try:
        body = await kube.get_experiment(*key)
    except ApiError as exc:
        if exc.status == 404:
            cache.pop(key, None)
            log.info("experiment %s/%s is gone; dropped from the cache", *key)
            return False
        raise
    cache[key] = body
    return True


@runtime_checkable
class _Pages(Protocol):
    def experiment_pages(self, namespace: str | None = None) -> AsyncIterator[list[dict[str, Any]]]: ...


async def _pages(kube: _Reads, scope: str | None) -> AsyncIterator[list[dict[str, Any]]]:
    if isinstance(kube, _Pages):  # kube.Kube: page by page, each cached before the next is read
        async for page in kube.experiment_pages(scope):
            yield page
    else:
        yield await kube.list_experiments(scope)


async def relist(kube: _Reads, cache: MutableMapping[Key, dict[str, Any]], namespaces: Iterable[str]) -> list[Key]:
    """Replace the cache with a fresh list (per watched namespace, or cluster-wide); the keys now known.

    Each page replaces its cached copies as it arrives (the cache packs them: ``packed.py``), so no
    more than a page of full bodies is held at once; what the list did not name is dropped after."""
    listed: dict[Key, None] = {}
    for scope in list(namespaces) or [None]:
        async for page in _pages(kube, scope):
            for body in page:
                key = key_of(body)
                listed[key] = None
                cache[key] = body
    for key in [k for k in cache if k not in listed]:
        cache.pop(key, None)
    return list(listed)


FIRST_LIST_RETRY = 1.0  # seconds between tries of the first list (readiness waits for it)


async def resync_forever(controller: Any, interval: float) -> None:
    """Relist at once (``controller.synced`` tells readiness), then every ``interval`` seconds;
    enqueue every Experiment each time. Runs until cancelled."""
    while True:
        try:
            keys = await relist(controller.kube, controller.experiments, controller.settings.namespaces)
            controller.synced = True
        except ApiError as exc:  # the API is away: reconcile what we know; the next round relists
            log.warning("resync: cannot list experiments (%s); reconciling the cached ones", exc)
            keys = list(controller.experiments)
        for key in keys:
            controller.queue.add(key)
        await asyncio.sleep(interval if controller.synced else min(interval, FIRST_LIST_RETRY))
