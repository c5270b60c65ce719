"""A namespace's labels, read for backends granted by label selector (``allowedNamespaceSelector``).

Why a short-TTL get rather than a watch: a grant is asked once per submitted attempt, from
the few namespaces that submit bridged work, so one ``get`` per namespace per ``ttl`` seconds
(the backend config's ``namespaceLabelCacheSeconds``, 5 by default)
is cheaper than holding a cluster-wide watch (and needs only ``get`` on namespaces, which the
chart grants only when a selector is configured). A label removed from a namespace refuses that
namespace's next submission at most ``ttl`` seconds later; work already submitted keeps running,
as when a name is taken out of ``allowedNamespaces``.

A namespace that does not exist has no labels (so matches no selector that needs one). A
request the API refuses (403: the operator was not granted ``get`` on namespaces) is a
permanent failure naming the fix; an unreachable API is retried.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from kuberun_operator.backends.base import BackendError
from kuberun_operator.kube import ApiError, Kube
from kuberun_operator.timedmemo import TimedMemo

NamespaceLabels = Callable[[str], Awaitable[dict[str, str]]]


class CachedNamespaceLabels:
    """``await labels(name)``: the Namespace's labels, read at most once per ``ttl`` seconds per name."""

    def __init__(self, kube: Kube, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.ttl, self.clock = kube, ttl, clock
        self._seen = TimedMemo(ttl, clock)

    async def __call__(self, name: str) -> dict[str, str]:
        now = self.clock()
        cached = self._seen.fresh(name)
        if cached is not None:
            return cached
        try:
            obj = await self.kube.get_namespace(name)
        except ApiError as exc:
            if exc.status != 404:
                raise BackendError("NamespaceUnreadable", f"the operator cannot read Namespace {name!r} for its labels "
                                   f"({exc.status} {exc.reason}); backends granted by allowedNamespaceSelector need "
                                   "`get` on namespaces (the chart grants it when a selector is configured)",
                                   permanent=not exc.transient) from None
            obj = {}
        labels = dict((obj.get("metadata") or {}).get("labels") or {})
        self._seen.remember(name, labels, now)
        return labels
