"""The sandbox's kubelet: runs each pod bound to this node as a local process and reports its status.

Against the emulator it also runs pods nobody bound (there is no scheduler there); against a real
API server (``bound_only``) it runs only pods bound to its node. With both, as a kubelet must, it ends
a graceful deletion: once the process is dead and its final status written, it deletes the pod with
grace period 0 (otherwise the pod stays Terminating for ever).
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import shutil
from typing import Any

from . import termination
from .jobs import now_iso
from .podspec import InvalidImage, Launch, MissingSource, SpecError, prepare
from .process import PodProcess, stream_log, tail_offset
from .rest import MERGE_PATCH, KubeError, Rest, path

log = logging.getLogger("kuberun_sandbox.node")

IMAGE_NOTICE = "sandbox: image %s is not pulled; running the container command on this machine with the current Python"
SOURCE_RETRY = 1.0  # seconds between looks for a pod's missing ConfigMap/Secret
KILL_GRACE_MAX = 5.0  # cap on terminationGracePeriodSeconds: a sandbox should stop promptly


class Kubelet:
    def __init__(self, rest: Rest, data_dir: pathlib.Path, node_name: str, *, bound_only: bool = False) -> None:
        self.rest, self.data_dir, self.node_name = rest, data_dir, node_name
        self.bound_only = bound_only
        self._confirming: set[str] = set()
        self.procs: dict[str, PodProcess] = {}            # pod uid -> process
        self.names: dict[tuple[str, str], str] = {}        # (namespace, name) -> uid of the pod we run
        self.containers: dict[tuple[str, str], str] = {}   # (namespace, name) -> container name
        self.job_of: dict[str, str] = {}                   # pod uid -> controller (Job) uid
        self._tasks: set[asyncio.Task[None]] = set()
        self._images_noted: set[str] = set()
        self._stopping: set[str] = set()                   # uids of pods being deleted

    # --- paths -----------------------------------------------------------------------------
    def log_path(self, namespace: str, name: str) -> pathlib.Path:
        return self.data_dir / "logs" / namespace / f"{name}.log"

    def pod_dir(self, namespace: str, name: str) -> pathlib.Path:
        return self.data_dir / "pods" / namespace / name

    # --- events ----------------------------------------------------------------------------
    def owns(self, pod: dict[str, Any]) -> bool:
        node = (pod.get("spec") or {}).get("nodeName")
        return node == self.node_name or (node is None and not self.bound_only)

    async def recover(self, pods: list[dict[str, Any]]) -> None:
        """After a restart: a pod that says Running but has no process here lost it with the sandbox."""
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if self.owns(pod) and uid not in self.procs and (pod.get("status") or {}).get("phase") == "Running":
                await self._patch_status(pod, _terminated(pod, 137, "SandboxRestarted",
                                                          "the sandbox restarted while the pod was running"))

    def sync(self, pod: dict[str, Any]) -> None:
        """Start a new pod's process; kill one whose pod is being deleted."""
        meta, uid = pod["metadata"], pod["metadata"]["uid"]
        if not self.owns(pod):
            return
        if meta.get("deletionTimestamp"):
            self.forget(pod)
            if uid not in self._confirming:  # both API servers delete pods gracefully
                self._confirming.add(uid)
                self._spawn_task(self._confirm_deletion(pod))
            return
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if uid in self.procs or uid in self.job_of or phase != "Pending":
            return
        self.job_of[uid] = (meta.get("labels") or {}).get("controller-uid", "")
        self._spawn_task(self._run(pod))

    def forget(self, pod: dict[str, Any]) -> None:
        """The pod is gone (or going): kill its process group, drop its files once it has exited."""
        meta = pod["metadata"]
        self._stopping.add(meta["uid"])  # a pod still waiting for its ConfigMaps stops waiting
        proc = self.procs.get(meta["uid"])
        if proc is not None:
            self._spawn_task(proc.kill(self._grace(pod)))

    def deleted(self, pod: dict[str, Any]) -> None:
        self.forget(pod)
        meta = pod["metadata"]
        self._stopping.discard(meta["uid"])  # its _prepare loop ends on the names entry going too
        key = (meta["namespace"], meta["name"])
        if self.names.get(key) == meta["uid"]:
            del self.names[key]
            self.containers.pop(key, None)
            self.log_path(*key).unlink(missing_ok=True)
            shutil.rmtree(self.pod_dir(*key), ignore_errors=True)

    def kill_job(self, job_uid: str) -> None:
        for pod_uid, owner in list(self.job_of.items()):
            proc = self.procs.get(pod_uid)
            if owner == job_uid and proc is not None:
                self._spawn_task(proc.kill(KILL_GRACE_MAX))

    async def stop(self) -> None:
        # Cancel the watchers first: a pod whose process dies with the sandbox stays Running in the
        # API, and the next start reports it as SandboxRestarted instead of a misleading exit code.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(p.kill(1.0) for p in self.procs.values()), return_exceptions=True)

    async def _confirm_deletion(self, pod: dict[str, Any]) -> None:
        """Finish a graceful deletion: wait for the process and its final status, then delete for good."""
        meta = pod["metadata"]
        uid = meta["uid"]
        try:
            proc = self.procs.get(uid)
            if proc is not None:
                await proc.kill(self._grace(pod))
            for _ in range(100):  # bounded: _run writes the terminal status right after the exit
                if uid not in self.procs:
                    break
                await asyncio.sleep(0.05)
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                    "preconditions": {"uid": uid}}
            try:
                await self.rest.request("DELETE", path("", "v1", "pods", meta["namespace"], meta["name"]), body)
            except KubeError as e:
                if e.code not in (404, 409):  # gone already, or a new pod of the same name
                    log.warning("cannot delete pod %s/%s: %s", meta["namespace"], meta["name"], e)
        finally:
            self._confirming.discard(uid)

    # --- running a pod ---------------------------------------------------------------------
    async def _run(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        container = pod["spec"]["containers"][0] if pod["spec"].get("containers") else {}
        self.names[key] = meta["uid"]
        self.containers[key] = container.get("name", "")
        await self._patch_status(pod, {"phase": "Pending", "hostIP": "127.0.0.1",
                                       "hostIPs": [{"ip": "127.0.0.1"}],
                                       "conditions": _conditions(now_iso(), ready=False, started=False)})
        launch = await self._prepare(pod)
        if launch is None:
            return
        launch = termination.bind(launch, container, self.pod_dir(*key))
        self._note_image(container.get("image", "<none>"))
        log_path = self.log_path(*key)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        try:
            proc = await PodProcess.spawn(launch, log_path)
        except OSError as e:
            await self._patch_status(pod, _terminated(pod, 127, "StartError", str(e), started=None))
            return
        self.procs[meta["uid"]] = proc
        started = now_iso()
        await self._patch_status(pod, _running(pod, started))
        code = await proc.wait()
        reason = "Completed" if code == 0 else "Error"
        message = termination.read(container, self.pod_dir(*key), log_path, code)
        await self._patch_status(pod, _terminated(pod, code, reason, message, started))
        del self.procs[meta["uid"]]

    async def _prepare(self, pod: dict[str, Any]) -> Launch | None:
        """The pod's launch, once what it needs exists; None when it failed or went away.

        As the kubelet does: a missing ConfigMap/Secret leaves the pod Pending with its container
        waiting (``ContainerCreating`` for a volume, ``CreateContainerConfigError`` for env) and is
        looked up again every ``SOURCE_RETRY`` s; an invalid image waits as ``InvalidImageName``.
        """
        meta = pod["metadata"]
        key, uid = (meta["namespace"], meta["name"]), meta["uid"]
        pod_dir = self.pod_dir(*key)
        waiting: tuple[str, str] | None = None
        while self.names.get(key) == uid and uid not in self._stopping:
            shutil.rmtree(pod_dir, ignore_errors=True)  # a pod of the same name may have run before
            try:
                return await prepare(self.rest, pod, pod_dir)
            except InvalidImage as e:
                await self._patch_status(pod, _waiting(pod, "InvalidImageName", str(e)))
                return None
            except MissingSource as e:
                now = ("ContainerCreating" if e.volume else "CreateContainerConfigError", str(e))
                if now != waiting:
                    waiting = now
                    await self._patch_status(pod, _waiting(pod, *now))
            except (SpecError, KubeError) as e:
                await self._patch_status(pod, _terminated(pod, 128, "ContainerCannotRun", str(e), started=None))
                return None
            await asyncio.sleep(SOURCE_RETRY)
        return None

    def _note_image(self, image: str) -> None:
        if image not in self._images_noted:
            self._images_noted.add(image)
            log.warning(IMAGE_NOTICE, image)

    def _grace(self, pod: dict[str, Any]) -> float:
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return min(float(grace), KILL_GRACE_MAX)

    async def _patch_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        url = path("", "v1", "pods", meta["namespace"], meta["name"], "status")
        try:
            await self.rest.request("PATCH", url, {"status": status}, content_type=MERGE_PATCH)
        except KubeError as e:
            if e.code != 404:  # deleted meanwhile: nothing to report to
                log.warning("cannot update status of pod %s/%s: %s", meta["namespace"], meta["name"], e)

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox kubelet task failed", exc_info=task.exception())

    # --- logs ------------------------------------------------------------------------------
    async def logs(self, namespace: str, name: str, container: str | None, follow: bool,
                   tail_lines: int | None = None) -> Any:
        """The ``pods/log`` provider: a chunk stream of the pod's log file (None: no log, 404)."""
        key = (namespace, name)
        file_path = self.log_path(namespace, name)
        known = self.containers.get(key)
        if container and known and container != known:
            return None
        if not file_path.exists():
            return None
        offset = tail_offset(file_path, tail_lines) if tail_lines is not None else 0

        def still_running() -> bool:
            uid = self.names.get(key)
            proc = self.procs.get(uid or "")
            return proc is not None and proc.running

        return stream_log(file_path, offset, follow, still_running)


def _container_name(pod: dict[str, Any]) -> str:
    containers = pod["spec"].get("containers") or [{}]
    return str(containers[0].get("name", ""))


def _running(pod: dict[str, Any], started: str) -> dict[str, Any]:
    return {"phase": "Running", "startTime": started, "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "conditions": _conditions(started, ready=True, started=True),
            "containerStatuses": [{"name": _container_name(pod), "image": _image(pod), "imageID": "", "ready": True,
                                   "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}}}]}


def _waiting(pod: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    """Pending, its container waiting for ``reason`` (the kubelet's view of a container not yet created)."""
    return {"phase": "Pending", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "conditions": _conditions(now_iso(), ready=False, started=False),
            "containerStatuses": [{"name": _container_name(pod), "image": _image(pod), "imageID": "", "ready": False,
                                   "restartCount": 0, "started": False,
                                   "state": {"waiting": {"reason": reason, "message": message}}}]}


def _terminated(pod: dict[str, Any], code: int, reason: str, message: str, started: str | None = "") -> dict[str, Any]:
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
        "conditions": _conditions(finished, ready=False, started=started is not None,
                                  reason="PodCompleted" if code == 0 else "PodFailed"),
        "containerStatuses": [{"name": _container_name(pod), "image": _image(pod), "imageID": "", "ready": False,
                               "restartCount": 0, "started": False, "state": {"terminated": state}}]}
    if reason not in ("Completed", "Error"):
        status.update(reason=reason, message=message)
    if started:
        status["startTime"] = started
    return status


def _conditions(at: str, *, ready: bool, started: bool, reason: str = "") -> list[dict[str, str]]:
    """The five pod conditions a kubelet reports (PodScheduled as the binding left it)."""
    def cond(kind: str, ok: bool, why: str = "") -> dict[str, str]:
        c = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": at}
        if why:
            c["reason"] = why
        return c

    not_ready = reason or ("" if ready else "ContainersNotReady")
    return [cond("PodReadyToStartContainers", started), cond("Initialized", True),
            cond("Ready", ready, not_ready), cond("ContainersReady", ready, not_ready), cond("PodScheduled", True)]


def _image(pod: dict[str, Any]) -> str:
    containers = pod["spec"].get("containers") or [{}]
    return str(containers[0].get("image", ""))

