"""``SandboxNode``: the sandbox's kubelet and Job controller, talking to the API server over HTTP only.

It watches batch/v1 Jobs and core/v1 Pods in all namespaces. The Job controller half (``jobs.py``
decides, this module applies) creates pods for Jobs and writes Job status; the kubelet half
(``kubelet.py``) runs each pod's container command as a local process and writes pod status.

``kubelet_only=True`` is the mode for a real API server (``kuberun_sandbox.realcp``), whose own
kube-controller-manager creates and counts the pods: the node registers a Ready Node object
(``registration.py``), binds unscheduled pods to itself (``scheduler.py``), runs and reports them,
and serves their logs on a kubelet endpoint the API server proxies to (``kubelet_server.py``).

Example (inside a running event loop)::

    node = SandboxNode(server.url, data_dir)
    server.set_log_provider(node.logs)
    await node.start()
    ...
    await node.stop()
"""

from __future__ import annotations

import asyncio
import copy
import logging
import pathlib
import secrets
import ssl
import string
import tempfile
from datetime import datetime, timezone
from typing import Any

import aiohttp

from kuberun.aiowait import wait_for

from . import jobs, nodegc, registration, scheduler
from .informer import Cache
from .kubelet import Kubelet
from .kubelet_server import KubeletServer, KubeletTLS
from .rest import KubeError, Rest, path, watch_forever

log = logging.getLogger("kuberun_sandbox.node")

NODE_NAME = "kuberun-sandbox"
STATUS_RETRIES = 8
JOB_WORKERS = 4      # Jobs reconciled concurrently (each is one GET, one pod list and a write or two)
RETRY_DELAY = 0.5    # seconds before a Job whose reconcile failed is tried again
_ALPHABET = string.ascii_lowercase + string.digits


class SandboxNode:
    """Plays kubelet + Job controller for one sandbox API server."""

    def __init__(self, api_url: str, data_dir: pathlib.Path | str | None = None, *, complete_immediately: bool = False,
                 node_name: str = NODE_NAME, token: str | None = "sandbox", kubelet_only: bool = False,
                 ssl_context: ssl.SSLContext | None = None, kubelet_tls: KubeletTLS | None = None,
                 gc_period: float = nodegc.GC_PERIOD) -> None:
        if kubelet_only and kubelet_tls is None:
            raise ValueError("kubelet_only needs kubelet_tls: the API server reaches pod logs over HTTPS")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kuberun-node-")
            data_dir = self._tmp.name
        self.data_dir = pathlib.Path(data_dir)
        self.complete_immediately = complete_immediately
        self.rest = Rest(api_url, token, ssl_context=ssl_context)
        self.kubelet_only = kubelet_only
        self.kubelet = Kubelet(self.rest, self.data_dir, node_name, bound_only=kubelet_only)
        self.kubelet_server = KubeletServer(self.logs, kubelet_tls) if kubelet_tls is not None else None
        self.node_name = node_name
        self.gc_period = gc_period
        self.cache = Cache()  # Jobs and pods as the watches last showed them (informer.py)
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()
        self._busy: set[tuple[str, str]] = set()    # being reconciled now
        self._dirty: set[tuple[str, str]] = set()   # changed while busy: reconcile again after
        # Job -> the (generation, status) pairs of its last few status writes: their watch echoes are no news.
        self._written: dict[tuple[str, str], list[tuple[Any, dict[str, Any]]]] = {}
        self._pod_seen: dict[str, tuple[str, bool]] = {}     # pod uid -> (phase, terminating) last enqueued for
        self._deadlines: dict[tuple[str, str], datetime] = {}
        # Jobs whose last pod create had no clear answer (connection lost, 5xx): the pod may exist
        # though neither the answer nor the watch showed it yet. Their next reconcile lists their pods
        # from the API server before counting, so a lost answer never becomes a second pod (run twice).
        self._unsure: set[tuple[str, str]] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = {"pods": asyncio.Event()} if kubelet_only else {"jobs": asyncio.Event(), "pods": asyncio.Event()}

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, wait_synced: float = 10.0) -> None:
        """Start watching; returns once both watches have listed (so the node is caught up)."""
        loop = asyncio.get_running_loop()
        if self.kubelet_server is not None:
            await self.kubelet_server.start()
            if self.kubelet_only:
                await registration.register(self.rest, self.node_name, self.kubelet_server.port)
        self._tasks = [
            loop.create_task(watch_forever(self.rest, path("", "v1", "pods"), self._on_pod_list,
                                           self._on_pod_event, self._stop), name="sandbox-pods"),
            loop.create_task(self._collector(), name="sandbox-gc")]
        if not self.kubelet_only:
            self._tasks += [
                loop.create_task(self._start_jobs_after_pods(), name="sandbox-jobs"),
                *(loop.create_task(self._worker(), name=f"sandbox-job-worker-{i}") for i in range(JOB_WORKERS)),
                loop.create_task(self._ticker(), name="sandbox-deadlines"),
            ]
        await wait_for(asyncio.gather(*(e.wait() for e in self._synced.values())), wait_synced)

    async def stop(self) -> None:
        """Stop watching and kill every process this node started."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.kubelet.stop()
        if self.kubelet_server is not None:
            await self.kubelet_server.stop()
        await self.rest.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def logs(self, namespace: str, name: str, container: str | None, follow: bool,
                   tail_lines: int | None = None) -> Any:
        """The API server's ``pods/log`` provider (``server.set_log_provider(node.logs)``)."""
        return await self.kubelet.logs(namespace, name, container, follow, tail_lines)

    async def _start_jobs_after_pods(self) -> None:
        # Pods first: a Job's reconcile must see its pods' recovered (SandboxRestarted) status.
        await self._synced["pods"].wait()
        await watch_forever(self.rest, path("batch", "v1", "jobs"), self._on_job_list, self._on_job_event, self._stop)

    # --- watch callbacks -------------------------------------------------------------------
    async def _on_pod_list(self, pods: list[dict[str, Any]]) -> None:
        self.cache.replace_pods(pods)
        await self.kubelet.recover(pods)
        for pod in pods:
            await self._on_pod(pod)
        self._synced["pods"].set()

    async def _on_pod_event(self, kind: str, pod: dict[str, Any]) -> None:
        if kind == "DELETED":
            self.cache.drop_pod(pod)
            self.kubelet.deleted(pod)
        else:
            self.cache.put_pod(pod)
        await self._on_pod(pod, sync=kind != "DELETED")

    async def _on_pod(self, pod: dict[str, Any], sync: bool = True) -> None:
        if self.kubelet_only:
            if sync and scheduler.wants_binding(pod):
                await scheduler.bind(self.rest, pod, self.node_name)  # its MODIFIED event starts it
            elif sync:
                self.kubelet.sync(pod)
            return
        if sync:
            self.kubelet.sync(pod)
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        if "job-name" not in labels:
            return
        # Only what the Job controller counts wakes it: a new pod, a phase change, a deletion
        # (the kubelet's Pending+hostIP write changes none of them).
        seen = (_phase(pod), bool(meta.get("deletionTimestamp")))
        if not sync:
            self._pod_seen.pop(meta["uid"], None)
        elif self._pod_seen.get(meta["uid"]) == seen:
            return
        else:
            self._pod_seen[meta["uid"]] = seen
        self._enqueue(meta["namespace"], labels["job-name"])

    async def _on_job_list(self, items: list[dict[str, Any]]) -> None:
        self.cache.replace_jobs(items)
        for job in items:
            self._enqueue(job["metadata"]["namespace"], job["metadata"]["name"])
        self._synced["jobs"].set()

    async def _on_job_event(self, kind: str, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        key = (meta["namespace"], meta["name"])
        if kind == "DELETED":
            self.cache.drop_job(job)
        else:
            self.cache.put_job(job)
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            # Pods go by garbage collection; kill now rather than when their DELETED events arrive.
            self.kubelet.kill_job(meta["uid"])
            self._deadlines.pop(key, None)
            self._written.pop(key, None)
            return
        if (meta.get("generation"), job.get("status") or {}) in self._written.get(key, ()):
            return  # the echo of this node's own status write: nothing new to decide
        self._enqueue(*key)

    def _enqueue(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if key in self._busy:
            self._dirty.add(key)  # reconciled again once the worker holding it is done
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    # --- Job controller --------------------------------------------------------------------
    async def _worker(self) -> None:
        """One of ``JOB_WORKERS``: a Job is reconciled by one worker at a time (as in client-go's
        workqueue), and a failing Job is retried later without holding a worker back from the others."""
        loop = asyncio.get_running_loop()
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._busy.add(key)
            try:
                await self._reconcile(*key)
            except asyncio.CancelledError:
                raise
            except KubeError as e:
                if e.code == 404:  # the Job (or its namespace) went away mid-reconcile: nothing to do
                    log.debug("job %s/%s vanished during its reconcile: %s", *key, e)
                else:
                    log.warning("reconciling job %s/%s failed (%s); retrying", *key, e)
                    loop.call_later(RETRY_DELAY, self._enqueue, *key)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:  # the API server away for a moment
                log.warning("reconciling job %s/%s: API server unreachable (%s); retrying", *key, e)
                loop.call_later(RETRY_DELAY, self._enqueue, *key)
            except Exception:
                log.exception("reconciling job %s/%s failed; retrying", *key)
                loop.call_later(RETRY_DELAY, self._enqueue, *key)
            finally:
                self._busy.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self._enqueue(*key)

    async def _collector(self) -> None:
        """Garbage collection every ``gc_period`` seconds (``nodegc.py``), once the pods have listed."""
        await self._synced["pods"].wait()
        while True:
            await asyncio.sleep(self.gc_period)
            try:
                await nodegc.collect(self)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the API server away for a moment: the next sweep tries again
                log.warning("sandbox node: garbage collection failed (%s)", e)

    async def _ticker(self) -> None:
        """Re-reconcile Jobs whose activeDeadlineSeconds has come (nothing else would wake them)."""
        while True:
            await asyncio.sleep(0.25)
            at = datetime.now(timezone.utc)
            for key, deadline in list(self._deadlines.items()):
                if deadline <= at:
                    del self._deadlines[key]
                    self._enqueue(*key)

    async def _reconcile(self, namespace: str, name: str) -> None:
        url = path("batch", "v1", "jobs", namespace, name)
        for attempt in range(STATUS_RETRIES):
            # The cached copy first (the watch updated it before it woke this Job); after a 409 a fresh read.
            job = self.cache.job((namespace, name)) if attempt == 0 else None
            if job is None:
                job = await self.rest.get_or_none(url)
                if job is None:
                    return
                self.cache.put_job(job)
            if job["metadata"].get("deletionTimestamp"):
                return
            if (namespace, name) in self._unsure:
                await self._relist_pods(job)
                self._unsure.discard((namespace, name))
            at = datetime.now(timezone.utc)
            if self.complete_immediately:
                plan = jobs.complete_immediately(job, at)
            else:
                plan = jobs.plan(job, self.cache.pods_of(job["metadata"]["uid"]), at)
                await self._apply(job, plan)
            if plan.deadline is not None:
                self._deadlines[(namespace, name)] = plan.deadline
            if plan.status == (job.get("status") or {}):
                return
            try:
                # Noted before the write: its watch echo may arrive before the answer does.
                mine = (job["metadata"].get("generation"), plan.status)
                self._written[(namespace, name)] = [*self._written.get((namespace, name), [])[-3:], mine]
                written = await self.rest.request("PUT", url + "/status", {**job, "status": plan.status})
                if isinstance(written, dict):
                    self.cache.put_job(written)
                return
            except KubeError as e:
                if mine in self._written.get((namespace, name), []):
                    self._written[(namespace, name)].remove(mine)
                if e.code != 409:  # 409: someone else wrote the Job; recompute from a fresh read
                    raise
        log.warning("job %s/%s: status still conflicting after %d attempts", namespace, name, STATUS_RETRIES)
        self._enqueue(namespace, name)

    async def _apply(self, job: dict[str, Any], plan: jobs.Plan) -> None:
        namespace = job["metadata"]["namespace"]
        for pod_name in plan.delete:
            try:
                await self.rest.request("DELETE", path("", "v1", "pods", namespace, pod_name))
            except KubeError as e:
                if e.code != 404:
                    raise
            self.cache.deleting_pod(namespace, pod_name, jobs.now_iso())
        key = (namespace, job["metadata"]["name"])
        for index in plan.create:
            try:
                created = await self.rest.request("POST", path("", "v1", "pods", namespace),
                                                  pod_for(job, index, self.node_name))
            except KubeError as e:
                if e.code >= 500:  # the server may have stored it before failing
                    self._unsure.add(key)
                raise
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                self._unsure.add(key)  # sent, answer lost: stored or not, only the server knows
                raise
            if isinstance(created, dict):
                self.cache.put_pod(created)  # before the watch says so: the next reconcile must count it

    async def _relist_pods(self, job: dict[str, Any]) -> None:
        """The Job's pods as the API server has them now, into the cache (see ``_unsure``)."""
        meta = job["metadata"]
        found = await self.rest.get(path("", "v1", "pods", meta["namespace"]),
                                    labelSelector=f"controller-uid={meta['uid']}")
        for pod in found.get("items") or []:
            self.cache.put_pod(pod)  # (as the watch's own relist does: list items as they come)


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", "Pending"))


def pod_for(job: dict[str, Any], index: int | None, node_name: str) -> dict[str, Any]:
    """The pod the Job controller creates from ``job``'s template (for completion ``index``)."""
    meta, template = job["metadata"], copy.deepcopy(job["spec"].get("template") or {})
    pod_meta = template.get("metadata") or {}
    labels = dict(pod_meta.get("labels") or {})
    labels.update({"job-name": meta["name"], "controller-uid": meta["uid"],
                   "batch.kubernetes.io/job-name": meta["name"], "batch.kubernetes.io/controller-uid": meta["uid"]})
    annotations = dict(pod_meta.get("annotations") or {})
    spec = template.get("spec") or {}
    prefix = meta["name"][:50]
    if index is not None:
        labels[jobs.INDEX_KEY] = annotations[jobs.INDEX_KEY] = str(index)
        prefix = f"{prefix}-{index}"
        for container in spec.get("containers") or []:
            # As the Job controller does: the index reaches the container through the downward API.
            env = [e for e in container.get("env") or [] if e.get("name") != "JOB_COMPLETION_INDEX"]
            env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "fieldPath": f"metadata.annotations['{jobs.INDEX_KEY}']"}}})
            container["env"] = env
    spec["nodeName"] = node_name
    rand = "".join(secrets.choice(_ALPHABET) for _ in range(5))
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{prefix}-{rand}", "namespace": meta["namespace"], "labels": labels,
                     "annotations": annotations,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": spec,
    }
