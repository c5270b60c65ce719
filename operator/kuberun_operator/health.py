"""What /healthz and /readyz answer: real liveness and readiness, not a constant "ok".

Liveness (a restart fixes it): the kopf operator task is running, and so is every controller
task (workers, resync). A kopf that died, or a worker that crashed, leaves a process that serves
/metrics and does nothing else: the kubelet must restart it.

Readiness (route traffic / count it as up): kopf has run its startup (the controller started
in it) and raised its ready flag, and the controller has listed the Experiments from the API
once (so it is connected, authorised and has a full cache). Before that, 503 with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Check = Callable[[], tuple[bool, str]]


class _Flag(Protocol):
    def is_set(self) -> bool: ...


def checks(kopf_task: Any, kopf_ready: _Flag, controller: Any) -> tuple[Check, Check]:
    """(liveness, readiness) for the metrics server; each returns (ok, reason)."""

    def live() -> tuple[bool, str]:
        if kopf_task.done():
            return False, "the kopf operator task has stopped"
        return controller.health()

    def ready() -> tuple[bool, str]:
        ok, reason = live()
        if not ok:
            return ok, reason
        if not kopf_ready.is_set():
            return False, "kopf has not finished starting"
        return controller.readiness()

    return live, ready
