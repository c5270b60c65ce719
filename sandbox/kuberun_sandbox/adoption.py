"""A restarted node takes up where the last one stopped, from its records (``podstate.py``).

Why: task processes outlive the node, and a node that marks every Running pod failed on restart
records failures for tasks that succeed, and with retries runs them twice. For each pod it has a
record of, against the pods the API lists:

- the pod is gone (deleted while the node was down) or being deleted: its process is stopped and
  the records dropped;
- its process is alive (pid and start time match): adopted; its Running status is reported again
  (the write may have been lost) and its exit is awaited as if the node had never gone;
- it ended while the node was down: the exit status its wrapper recorded is reported
  (``ContainerStatusUnknown``/137 if it left none);
- the node's own clean stop killed it: ``SandboxRestarted``/137, as before adoption existed;
- the command never started (the node died between intent and start): the record is dropped and
  the pod starts normally, once.

A pod the API says is Running but of which the node has no record (its state directory was lost)
is reported ``SandboxRestarted`` too: no process of it can be found.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any, Protocol

from . import podstatus
from .jobs import now_iso
from .podstate import known_uids
from .process import KILL_GRACE_MAX, PodProcess


class Kubelet(Protocol):
    """What recovery needs of ``kubelet.Kubelet`` (named here so the two modules import one way)."""

    cgroups: dict[str, Any]
    job_of: dict[str, str]
    names: dict[Any, str]
    procs: dict[str, Any]
    reporter: Any
    state_root: Any
    limiter: Any

    def owns(self, pod: dict[str, Any]) -> bool: ...
    def state(self, uid: str) -> Any: ...
    def track(self, pod: dict[str, Any]) -> Any: ...
    def pod_dir(self, namespace: str, name: str) -> Any: ...
    def log_path(self, namespace: str, name: str) -> Any: ...
    def spawn_task(self, coro: Any) -> None: ...
    async def finish(self, pod: dict[str, Any], proc: Any, started: str | None) -> None: ...


log = logging.getLogger("kuberun_sandbox.node")

TERMINAL = ("Succeeded", "Failed")
RESTARTED = "the sandbox restarted while the pod was running"


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", "Pending"))


async def recover(kubelet: Kubelet, pods: list[dict[str, Any]]) -> None:
    listed = {p["metadata"]["uid"]: p for p in pods if kubelet.owns(p)}
    recorded = set(known_uids(kubelet.state_root))
    for uid in sorted(recorded):
        if uid in kubelet.job_of:
            continue  # this run of the node handles it already (a relist after 410)
        _recover_one(kubelet, uid, listed.get(uid))
    for uid, pod in listed.items():
        if uid not in recorded and uid not in kubelet.job_of and _phase(pod) == "Running":
            kubelet.reporter.report(pod, podstatus.terminated(pod, 137, "SandboxRestarted", RESTARTED))


def _recover_one(kubelet: Kubelet, uid: str, pod: dict[str, Any] | None) -> None:
    state = kubelet.state(uid)
    intent = state.intent()
    found = state.find()
    if pod is None or intent is None:
        # Deleted while the node was down (or a record without an intent: nothing to run).
        kubelet.spawn_task(stop_then_drop(kubelet, uid))
        return
    started = intent.get("started")
    if found.pid is not None:
        # Adopted, also when the pod is being deleted: sync then kills it and confirms the deletion.
        proc = PodProcess.adopt(found.pid, state)
        kubelet.track(pod)
        kubelet.procs[uid] = proc
        cgroup = kubelet.limiter.existing(uid)
        if cgroup is not None:
            kubelet.cgroups[uid] = cgroup
        if _phase(pod) != "Running" and not pod["metadata"].get("deletionTimestamp"):
            kubelet.reporter.report(pod, podstatus.running(pod, started or now_iso()))
        log.info("sandbox node: adopted process %d of pod %s/%s", found.pid, *_key(pod))
        kubelet.spawn_task(kubelet.finish(pod, proc, started))
        return
    if not found.started:
        state.remove()  # the command never ran: sync starts the pod as new
        return
    kubelet.track(pod)
    if _phase(pod) in TERMINAL:
        return  # its end was reported before the restart
    if found.stopped_by_node:
        status = podstatus.terminated(pod, 137, "SandboxRestarted", RESTARTED, started)
    elif found.exit_code is None:
        status = podstatus.terminated(pod, 137, "ContainerStatusUnknown", podstatus.LOST_MESSAGE, started)
    else:
        code = found.exit_code
        status = podstatus.terminated(pod, code, "Completed" if code == 0 else "Error", "", started)
    kubelet.reporter.report(pod, status)


async def stop_then_drop(kubelet: Kubelet, uid: str) -> None:
    """Stop the process of a pod that no longer exists (if it runs), then drop its records and files."""

    state = kubelet.state(uid)
    pid = state.alive_pid()
    if pid is not None:
        log.info("sandbox node: stopping process %d of deleted pod %s", pid, uid)
        proc = PodProcess.adopt(pid, state)
        await proc.kill(KILL_GRACE_MAX)
        await proc.wait()
    intent = state.intent() or {}
    key = (intent.get("namespace", ""), intent.get("name", ""))
    if all(key) and key not in kubelet.names:
        kubelet.log_path(*key).unlink(missing_ok=True)
        shutil.rmtree(kubelet.pod_dir(*key), ignore_errors=True)
    cgroup = kubelet.limiter.existing(uid)
    if cgroup is not None:
        cgroup.remove()
    state.remove()


def _key(pod: dict[str, Any]) -> tuple[str, str]:
    return pod["metadata"]["namespace"], pod["metadata"]["name"]
