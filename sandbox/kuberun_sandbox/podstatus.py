"""The pod statuses the sandbox kubelet reports, built as the kubelet builds them (pure functions).

Kept apart from ``kubelet.py`` so the kubelet's state machine reads as decisions, and so recovery
(``adoption.py``) reports exactly what a live run would have.
"""

from __future__ import annotations

from typing import Any

from .jobs import now_iso

# Reasons a container's terminated state carries that do not become the pod's ``status.reason``.
CONTAINER_REASONS = ("Completed", "Error", "OOMKilled", "ContainerStatusUnknown")
LOST_MESSAGE = "The container could not be located when the pod was terminated"

def container_name(pod: dict[str, Any]) -> str:
    containers = pod["spec"].get("containers") or [{}]
    return str(containers[0].get("name", ""))


def pending() -> dict[str, Any]:
    """Accepted by the kubelet, its container not created yet."""
    return {"phase": "Pending", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "conditions": conditions(now_iso(), ready=False, started=False)}


def running(pod: dict[str, Any], started: str) -> dict[str, Any]:
    return {"phase": "Running", "startTime": started, "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "conditions": conditions(started, ready=True, started=True),
            "containerStatuses": [{"name": container_name(pod), "image": image(pod), "imageID": "", "ready": True,
                                   "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}}}]}


def waiting(pod: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    """Pending, its container waiting for ``reason`` (the kubelet's view of a container not yet created)."""
    return {"phase": "Pending", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "conditions": conditions(now_iso(), ready=False, started=False),
            "containerStatuses": [{"name": container_name(pod), "image": image(pod), "imageID": "", "ready": False,
                                   "restartCount": 0, "started": False,
                                   "state": {"waiting": {"reason": reason, "message": message}}}]}


def terminated(pod: dict[str, Any], code: int, reason: str, message: str, started: str | None = "") -> dict[str, Any]:
    finished = now_iso()
    if started == "":
        container_statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        started = ((container_statuses[0].get("state") or {}).get("running") or {}).get("startedAt")
    state: dict[str, Any] = {"exitCode": code, "reason": reason, "finishedAt": finished}
    if started:
        state["startedAt"] = started
    if message:
        state["message"] = message
    status: dict[str, Any] = {
        "phase": "Succeeded" if code == 0 else "Failed",
        "conditions": conditions(finished, ready=False, started=started is not None,
                                  reason="PodCompleted" if code == 0 else "PodFailed"),
        "containerStatuses": [{"name": container_name(pod), "image": image(pod), "imageID": "", "ready": False,
                               "restartCount": 0, "started": False, "state": {"terminated": state}}]}
    if reason not in CONTAINER_REASONS:  # the pod's own reason only for what is not the container's doing
        status.update(reason=reason, message=message)
    if started:
        status["startTime"] = started
    return status


def conditions(at: str, *, ready: bool, started: bool, reason: str = "") -> list[dict[str, str]]:
    """The five pod conditions a kubelet reports (PodScheduled as the binding left it)."""
    def cond(kind: str, ok: bool, why: str = "") -> dict[str, str]:
        c = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": at}
        if why:
            c["reason"] = why
        return c

    not_ready = reason or ("" if ready else "ContainersNotReady")
    return [cond("PodReadyToStartContainers", started), cond("Initialized", True),
            cond("Ready", ready, not_ready), cond("ContainersReady", ready, not_ready), cond("PodScheduled", True)]


def image(pod: dict[str, Any]) -> str:
    containers = pod["spec"].get("containers") or [{}]
    return str(containers[0].get("image", ""))

