"""Would the namespace admit an attempt's pods? A dry run, its yes remembered for a few seconds.

The Job is admitted even when its pods will not be (Pod Security, policies act on pods), so before
each Job the backend creates one of its pods with ``dryRun=All`` (docs/tenancy.md). For a sweep of
identical experiments that is one more request per experiment (1.00 of 7.54 in bench/reconcile.py)
asking the same question with the same answer. So a *yes* is remembered per namespace and pod
shape for ``ttl`` seconds (``--admission-cache-seconds``, 5 by default; 0 asks every time), as the
namespace labels are (``namespaces.py``): an admission rule tightened in that window admits, at
worst, that many seconds of submissions it would have refused — the same window the Job
controller's own pod creates have after any policy change. A *no* is never remembered: each
refused attempt asks again and is failed ``FailedCreate`` with the server's message.

The shape is the whole dry-run pod except what only names this experiment: ``generateName`` (the
Job's name), the ``kuberun.dev/experiment`` label and the ``KUBERUN_EXPERIMENT`` variable. Every
other byte — image, security contexts, volumes, the task document, labels, annotations, the pod
template's merges — is hashed, so a task whose pods differ in anything admission could read asks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kuberun.resource.constants import LABEL_EXPERIMENT
from kuberun_operator.timedmemo import TimedMemo

EXPERIMENT_ENV = "KUBERUN_EXPERIMENT"
MAX_ENTRIES = 10_000  # bounded; an entry is only ``ttl`` seconds' worth anyway

DryRun = Callable[[str, dict[str, Any]], Awaitable[None]]


def shape(pod: dict[str, Any]) -> str:
    """A digest of ``pod`` without the values that only name its experiment (see the module docstring)."""
    pod = copy.deepcopy(pod)
    meta = pod.get("metadata") or {}
    for key in ("name", "generateName", "namespace"):  # the namespace is the cache's other key
        meta.pop(key, None)
    (meta.get("labels") or {}).pop(LABEL_EXPERIMENT, None)
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        container["env"] = [e for e in container.get("env") or [] if e.get("name") != EXPERIMENT_ENV]
    return hashlib.sha256(json.dumps(pod, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class AdmissionCache:
    """``await check(namespace, pod)``: the dry run's answer, a success reused for ``ttl`` seconds.

    Raises what ``dry_run`` raises (the API's refusal); only a return is remembered.
    """

    def __init__(self, dry_run: DryRun, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.dry_run, self.ttl, self.clock = dry_run, ttl, clock
        self._admitted = TimedMemo(ttl, clock, MAX_ENTRIES)

    async def check(self, namespace: str, pod: dict[str, Any]) -> None:
        if self.ttl <= 0:
            await self.dry_run(namespace, pod)
            return
        key = (namespace, shape(pod))
        if self._admitted.fresh(key):
            return
        asked = self.clock()  # the answer is as old as the question: a slow dry run shortens its reuse
        await self.dry_run(namespace, pod)
        self._admitted.remember(key, True, asked)
