"""The sandbox's kubelet: runs each pod bound to this node as a local process and reports its status.

Against the emulator it also runs pods nobody bound (there is no scheduler there); against a real
API server (``bound_only``) it runs only pods bound to its node. With both, as a kubelet must, it ends
a graceful deletion: once the process is dead and its final status written, it deletes the pod with
grace period 0 (otherwise the pod stays Terminating for ever).

It is level-triggered: statuses go through ``reporter.StatusReporter`` (retried until accepted), and
every process is recorded in the node's state directory before it is spawned (``podstate.py``), so a
restarted node adopts what is still running, reports what ended while it was down, stops what was
deleted meanwhile and never starts a pod's command twice (``adoption.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import pathlib
import shutil
import time
from typing import Any

import aiohttp

from . import podstatus, projected, termination
from .jobs import now_iso
from .memlimit import Limiter, PodCgroup, has_memory_limit, memory_limit, rlimit_kib
from .podspec import InvalidImage, Launch, MissingSource, SpecError, prepare
from .podstate import PodState
from .process import KILL_GRACE_MAX, PodProcess, stream_log, tail_offset
from .reporter import StatusReporter
from .rest import KubeError, Rest, path

log = logging.getLogger("kuberun_sandbox.node")

IMAGE_NOTICE = "sandbox: image %s is not pulled; running the container command on this machine with the current Python"
SOURCE_RETRY = 1.0  # seconds between looks for a pod's missing ConfigMap/Secret
FLUSH_WAIT = 5.0      # seconds a deletion waits for the pod's final status to be written


class Kubelet:
    def __init__(self, rest: Rest, data_dir: pathlib.Path, node_name: str, *, bound_only: bool = False) -> None:
        self.rest, self.data_dir, self.node_name = rest, data_dir, node_name
        self.bound_only = bound_only
        self.reporter = StatusReporter(rest)
        self.state_root = data_dir / "node-state"
        self._limiter: Limiter | None = None               # probed when the first pod has a memory limit
        self._confirming: set[str] = set()
        self.procs: dict[str, PodProcess] = {}            # pod uid -> process
        self.names: dict[tuple[str, str], str] = {}        # (namespace, name) -> uid of the pod we run
        self.containers: dict[tuple[str, str], str] = {}   # (namespace, name) -> container name
        self.job_of: dict[str, str] = {}                   # pod uid -> controller (Job) uid: pods handled here
        self.cgroups: dict[str, PodCgroup] = {}            # pod uid -> its memory cgroup
        self._tasks: set[asyncio.Task[None]] = set()
        self._images_noted: set[str] = set()
        self._stopping: set[str] = set()                   # uids of pods being deleted
        self._node_stopping = False
        self._seen: dict[str, float] = {}                  # pod uid -> monotonic time this run first handled it

    # --- paths -----------------------------------------------------------------------------
    def log_path(self, namespace: str, name: str) -> pathlib.Path:
        return self.data_dir / "logs" / namespace / f"{name}.log"

    def pod_dir(self, namespace: str, name: str) -> pathlib.Path:
        return self.data_dir / "pods" / namespace / name

    def state(self, uid: str) -> PodState:
        return PodState(self.state_root, uid)

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:
            owner = hashlib.sha256(str(self.state_root.resolve()).encode()).hexdigest()[:12]
            self._limiter = Limiter.probe(f"{self.node_name}-{owner}")
            log.info("sandbox node: memory limits enforced with %s", self._limiter.mode)
        return self._limiter

    # --- events ----------------------------------------------------------------------------
    def owns(self, pod: dict[str, Any]) -> bool:
        node = (pod.get("spec") or {}).get("nodeName")
        return node == self.node_name or (node is None and not self.bound_only)

    async def recover(self, pods: list[dict[str, Any]]) -> None:
        """After a (re)list: adopt, report or stop what this node's records say (``adoption.py``)."""
        from .adoption import recover

        await recover(self, pods)

    def sync(self, pod: dict[str, Any]) -> None:
        """Start a new pod's process; kill one whose pod is being deleted."""
        meta, uid = pod["metadata"], pod["metadata"]["uid"]
        if not self.owns(pod):
            return
        if meta.get("deletionTimestamp"):
            self.forget(pod)
            if uid not in self._confirming:  # both API servers delete pods gracefully
                self._confirming.add(uid)
                self.spawn_task(self._confirm_deletion(pod))
            return
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if uid in self.procs or uid in self.job_of or phase != "Pending":
            return
        self.job_of[uid] = (meta.get("labels") or {}).get("controller-uid", "")
        self._seen.setdefault(uid, time.monotonic())
        self.spawn_task(self._run(pod))

    def forget(self, pod: dict[str, Any]) -> None:
        """The pod is gone (or going): kill its process group."""
        meta = pod["metadata"]
        self._stopping.add(meta["uid"])  # a pod still waiting for its ConfigMaps stops waiting
        proc = self.procs.get(meta["uid"])
        if proc is not None:
            self.spawn_task(proc.kill(self._grace(pod)))

    def deleted(self, pod: dict[str, Any]) -> None:
        """The pod is gone from the API: kill its process, then drop its files and records."""
        self.forget(pod)
        meta = pod["metadata"]
        uid = meta["uid"]
        self._stopping.discard(uid)  # its _prepare loop ends on the names entry going too
        self.reporter.forget(uid)
        key = (meta["namespace"], meta["name"])
        if self.names.get(key) == uid:
            del self.names[key]
            self.containers.pop(key, None)
            self.log_path(*key).unlink(missing_ok=True)
            shutil.rmtree(self.pod_dir(*key), ignore_errors=True)
        self.spawn_task(self._drop_records(uid))

    def kill_job(self, job_uid: str) -> None:
        for pod_uid, owner in list(self.job_of.items()):
            proc = self.procs.get(pod_uid)
            if owner == job_uid and proc is not None:
                self.spawn_task(proc.kill(KILL_GRACE_MAX))

    async def stop(self) -> None:
        """Stop this node (not a crash): its processes are killed and marked as killed by the node,
        so the next start reports them ``SandboxRestarted`` rather than by a misleading exit code."""
        self._node_stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for proc in self.procs.values():
            proc.state.mark_stopped()
        await asyncio.gather(*(p.kill(1.0) for p in self.procs.values()), return_exceptions=True)
        await self.reporter.stop()
        if self._limiter is not None:
            self._limiter.sweep(set())
            self._limiter.close()

    # --- garbage collection (nodegc.py) ----------------------------------------------------
    def seen_before(self, uid: str, at: float) -> bool:
        """Whether this run of the node knew of ``uid`` before monotonic time ``at`` (a record it
        did not handle at all counts as known: it is older than this run)."""
        return self._seen.get(uid, float("-inf")) < at

    def drop_unowned(self, uid: str) -> None:
        """A record no pod owns: stop its process if it is alive, then drop it."""
        from .adoption import stop_then_drop

        self.spawn_task(stop_then_drop(self, uid))

    def limiter_sweep(self, present: set[str]) -> None:
        if self._limiter is not None:
            self._limiter.sweep(present | set(self.cgroups))

    async def _drop_records(self, uid: str) -> None:
        for _ in range(int(KILL_GRACE_MAX / 0.05) + 20):  # bounded: the kill ends within its grace
            if uid not in self.procs:
                break
            await asyncio.sleep(0.05)
        self.job_of.pop(uid, None)
        self._seen.pop(uid, None)
        cgroup = self.cgroups.pop(uid, None)
        if cgroup is not None:
            cgroup.remove()
        self.state(uid).remove()

    async def _confirm_deletion(self, pod: dict[str, Any]) -> None:
        """Finish a graceful deletion: wait for the process and its final status, then delete for good."""
        meta = pod["metadata"]
        uid = meta["uid"]
        try:
            proc = self.procs.get(uid)
            if proc is not None:
                await proc.kill(self._grace(pod))
            for _ in range(100):  # bounded: _finish reports the terminal status right after the exit
                if uid not in self.procs:
                    break
                await asyncio.sleep(0.05)
            await self.reporter.flushed(uid, FLUSH_WAIT)
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
    def track(self, pod: dict[str, Any]) -> tuple[str, str]:
        """Note ``pod`` as this node's (its logs are served from here)."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        self.names[key] = meta["uid"]
        self.containers[key] = podstatus.container_name(pod)
        self.job_of[meta["uid"]] = (meta.get("labels") or {}).get("controller-uid", "")
        self._seen.setdefault(meta["uid"], time.monotonic())
        return key

    async def _run(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        key = self.track(pod)
        # No separate Pending+hostIP write: the Running (or waiting) status follows within milliseconds,
        # and every write is a watch event for every watcher.
        launch = await self._prepare(pod)
        if launch is None:
            return
        launch = termination.bind(launch, pod["spec"]["containers"][0], self.pod_dir(*key))
        self._note_image(podstatus.image(pod) or "<none>")
        log_path = self.log_path(*key)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        state = self.state(uid)
        started = now_iso()
        state.write_intent(pod, started)  # before the spawn: a restarted node must not start it again
        try:
            cgroup_procs, kib = await self._limit(pod, uid)
            proc = await PodProcess.spawn(launch, log_path, state, cgroup_procs, kib)
        except (OSError, ValueError) as e:
            state.remove()  # nothing ran
            self.reporter.report(pod, podstatus.terminated(pod, 127, "StartError", str(e), started=None))
            return
        self.procs[uid] = proc
        self.reporter.report(pod, podstatus.running(pod, started))
        await self.finish(pod, proc, started)

    async def finish(self, pod: dict[str, Any], proc: PodProcess, started: str | None) -> None:
        """Wait for the process and report how it ended (also for processes adopted after a restart)."""
        uid = pod["metadata"]["uid"]
        meta = pod["metadata"]
        volumes = self.pod_dir(meta.get("namespace", ""), meta.get("name", "")) / "volumes"
        refresher = asyncio.ensure_future(projected.keep_tokens_fresh(self.rest, pod, volumes))
        try:
            code = await proc.wait()
        finally:
            refresher.cancel()
        if self._node_stopping:
            return  # the node's own stop killed it: the next start reports SandboxRestarted
        cgroup = self.cgroups.pop(uid, None)
        oom = cgroup is not None and cgroup.oom_killed()
        if cgroup is not None:
            cgroup.remove()
        if code is None:
            status = podstatus.terminated(pod, 137, "ContainerStatusUnknown", podstatus.LOST_MESSAGE, started)
        elif oom:
            status = podstatus.terminated(pod, 137, "OOMKilled", "", started)
        else:
            meta = pod["metadata"]
            key = (meta.get("namespace", ""), meta.get("name", ""))
            message = termination.read(pod["spec"]["containers"][0], self.pod_dir(*key), self.log_path(*key), code)
            status = podstatus.terminated(pod, code, "Completed" if code == 0 else "Error", message, started)
        self.reporter.report(pod, status)
        self.procs.pop(uid, None)

    async def _limit(self, pod: dict[str, Any], uid: str) -> tuple[str, str]:
        """The wrapper's cgroup.procs file and ``ulimit -v`` argument for the pod's memory limit."""
        if not has_memory_limit(pod):
            return "-", "-"
        # On a thread: the quantity parser's first import takes a second, which the event loop would wait.
        limit = await asyncio.to_thread(memory_limit, pod)
        if limit is None:
            return "-", "-"
        cgroup = self.limiter.create(uid, limit)
        if cgroup is None:
            return "-", str(rlimit_kib(limit))
        self.cgroups[uid] = cgroup
        return str(cgroup.procs), "-"

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
                self.reporter.report(pod, podstatus.waiting(pod, "InvalidImageName", str(e)))
                return None
            except MissingSource as e:
                now = ("ContainerCreating" if e.volume else "CreateContainerConfigError", str(e))
                if now != waiting:
                    waiting = now
                    self.reporter.report(pod, podstatus.waiting(pod, *now))
            except KubeError as e:
                if e.code == 429 or e.code >= 500:  # the API server's trouble, not the pod's: look again
                    log.warning("sandbox node: preparing pod %s/%s: %s (retrying)", *key, e)
                else:
                    self.reporter.report(pod, podstatus.terminated(pod, 128, "ContainerCannotRun", str(e), started=None))
                    return None
            except SpecError as e:
                self.reporter.report(pod, podstatus.terminated(pod, 128, "ContainerCannotRun", str(e), started=None))
                return None
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
                # The API server is unreachable (restarting): the pod waits, as a kubelet's does, and
                # is prepared once it answers again, never left Pending without anyone looking.
                log.warning("sandbox node: preparing pod %s/%s: %s (retrying)", *key, e)
            await asyncio.sleep(SOURCE_RETRY)
        return None

    def _note_image(self, image: str) -> None:
        if image not in self._images_noted:
            self._images_noted.add(image)
            log.warning(IMAGE_NOTICE, image)

    def _grace(self, pod: dict[str, Any]) -> float:
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return min(float(grace), KILL_GRACE_MAX)

    def spawn_task(self, coro: Any) -> None:
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
