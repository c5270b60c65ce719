"""The Lepton bridge: an attempt is a Lepton job in a workspace the admin configured.

Idempotency: the job id is derived from the attempt's key (``kr-<sha256[:20]>``, within
Lepton's 36-character id rule), so submit first GETs that id and returns the job it finds —
a restart between "recorded in status" and "created at Lepton" never creates a second job.
The full key is kept in a label (``kuberun-key``; Lepton rejects ``/`` in label keys).
A packaged task's code is stored in the workspace's file storage and mounted (``code``).

Observation polls ``GET /jobs/{id}``. An attempt that cannot be seen (an error, or a job that
is gone) is left out of the observation: reconcile then re-emits the idempotent Submit, which
either finds the job or surfaces the error as a typed condition reason and a Warning Event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from kuberun.resource import BackendRef, ExperimentResource, LeptonExecutor, LogRef, TaskSpec
from kuberun_operator import grants, identity
from kuberun_operator.actions import Observed
from kuberun_operator.backend_config import LeptonCodeStorage, LeptonConfig, LeptonWorkspace
from kuberun_operator.backends.base import REMOTE_FINALIZER, BackendError, Submitted, active_attempts
from kuberun_operator.backends.cloud import (
    RUNNER,
    TASK_ENV,
    LogSummaries,
    attempt_env,
    epoch,
    remote_name,
)
from kuberun_operator.backends.lepton import code
from kuberun_operator.backends.lepton.client import LeptonClient
from kuberun_operator.codestore import CodeReader
from kuberun_operator.namespaces import NamespaceLabels
from kuberun_operator.settings import Settings

KEY_LABEL = "kuberun-key"
_PENDING = {"Starting", "Queueing", "Awaiting", "PendingRetry", "UNK", None}
_STOPPED = {"Stopped", "Deleted"}


class LeptonBackend:
    name = "lepton"
    finalizer = REMOTE_FINALIZER  # CancelOnDelete: Lepton jobs outlive a deleted Experiment otherwise
    unretryable_reasons = grants.REASONS  # DeclaresUnretryable: a retry cannot grant a workspace

    def __init__(self, config: LeptonConfig, settings: Settings, code_reader: CodeReader | None = None,
                 namespace_labels: NamespaceLabels | None = None) -> None:
        self.config, self.settings = config, settings
        self.namespace_labels = namespace_labels  # for workspaces granted by allowedNamespaceSelector
        self.code_reader = code_reader  # reads packaged tasks' code (codestore); None: they are refused
        self.poll_interval = config.poll_interval_seconds
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, LeptonClient] = {}
        self._summaries = LogSummaries(self)  # the run summary, from the log's tail (cloud.py)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._clients = {w.name: LeptonClient(w.name, w.url, w.token_file, self._session) for w in self.config.workspaces}

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self, workspace: str | None) -> LeptonClient:
        if self._session is None:
            raise BackendError("BackendUnavailable", "the Lepton bridge is not started", permanent=False)
        name = workspace or self.config.workspaces[0].name
        if name not in self._clients:
            raise BackendError("UnknownWorkspace", f"no Lepton workspace {name!r} is configured in this operator "
                               f"(known: {sorted(self._clients)})", permanent=True)
        return self._clients[name]

    # -- the protocol -----------------------------------------------------------------------------

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted:
        ex = _executor(task)
        client = self._client(ex.workspace)
        workspace = next(w for w in self.config.workspaces if w.name == client.workspace)
        namespace = exp.metadata.namespace or "default"
        labels = await grants.namespace_labels(workspace, namespace, self.namespace_labels)
        grants.check_lepton(workspace, ex, namespace, labels)  # before any request
        job_id = remote_name(ref.idempotency_key)
        log = LogRef(kind="lepton", path=f"{client.workspace}/{job_id}")
        if await client.get_job(job_id) is None:
            stored = await self._deliver_code(exp, task, client, workspace)
            job = build_job(exp, task, attempt, ref, self.settings.default_image, stored)
            await client.create_job(job)
        return Submitted(id=job_id, log_ref=log, uid=job_id)  # it exists now: from here on, never created again

    async def _deliver_code(self, exp: ExperimentResource, task: TaskSpec, client: LeptonClient,
                            workspace: LeptonWorkspace) -> LeptonCodeStorage | None:
        """Store the task's code package in the workspace (``code``); None when it ships none."""
        if task.code is None:
            return None
        if workspace.code_storage is None or self.code_reader is None:
            why = (f"Lepton workspace {workspace.name!r} has no codeStorage configured" if workspace.code_storage is None
                   else "this operator cannot read code packages")
            raise BackendError("CodeNotDelivered", f"task {task.name!r} ships a code package ({task.code.sha256[:12]}) and "
                               f"{why}: ask the admin to set it, or put the code in the image and drop the packager",
                               permanent=True)
        data = await self.code_reader(exp.metadata.namespace or "default", task.code)  # size and sha256 checked
        await code.deliver(client, workspace.code_storage, data, task.code.sha256)
        return workspace.code_storage

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        seen: dict[tuple[str, int], Observed] = {}
        for task_name, attempt in active_attempts(exp, self.name):
            client = self._client(_executor(exp.spec.task(task_name)).workspace)
            job_id = remote_name(attempt.backend_ref.idempotency_key)  # type: ignore[union-attr]
            try:
                job = await client.get_job(job_id)
            except BackendError:
                continue  # the idempotent re-Submit reports it (see the module doc)
            if job is not None:
                seen[(task_name, attempt.attempt)] = await self._summaries.with_summary(
                    observed(job, job_id, client.workspace), exp, task_name, attempt.attempt)
            elif attempt.backend_ref.uid:  # type: ignore[union-attr]
                # Recorded as created, and Lepton (archive included) answers 404: deleted behind our back.
                seen[(task_name, attempt.attempt)] = Observed(
                    "lost", backend_id=job_id, reason="JobLost", log_ref=LogRef(kind="lepton", path=f"{client.workspace}/{job_id}"),
                    message=f"Lepton job {job_id} disappeared after it was created (deleted outside kuberun); "
                            "its attempt is not run again under the same number")
        return seen

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None:
        await self._client(_executor(task).workspace).delete_job(remote_name(ref.idempotency_key))

    async def logs(self, exp: ExperimentResource, task: str, attempt: int, follow: bool = False,
                   tail: int | None = None) -> AsyncIterator[bytes]:
        """LogSource: every replica's log of the attempt's job (replica 0 first); ``tail`` lines per replica.

        The workspace is the spec's and the job id is derived from the key recomputed from the UID
        (as submit derived it): a ``logRef`` in status naming another job is never read."""
        try:
            ex = exp.spec.task(task).executor.lepton
        except KeyError:
            ex = None
        if ex is None:
            raise BackendError("LogsUnavailable", f"task {task!r} does not run on Lepton", permanent=True)
        client = self._client(ex.workspace)
        job_id = remote_name(identity.idempotency_key(exp.metadata.uid or "", task, attempt))
        replicas = sorted(_replica_id(r) for r in await client.replicas(job_id))
        for replica in replicas:
            stream = client.replica_log(job_id, replica, timeout=None if follow else 10.0)
            if tail is None:
                async for chunk in stream:
                    yield chunk
            else:
                yield await _tail(stream, tail)


# -- building and reading jobs (pure) ---------------------------------------------------------------


def _executor(task: TaskSpec) -> LeptonExecutor:
    assert task.executor.lepton is not None
    return task.executor.lepton


def build_job(exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef, default_image: str,
              code_storage: LeptonCodeStorage | None = None) -> dict[str, Any]:
    """The ``LeptonJob`` body the SDK would POST (``model.dict(exclude_none=True, by_alias=True)``).

    ``code_storage``: where the task's code package was stored (``code.deliver``); the job mounts it.
    """
    ex = _executor(task)
    sha = task.code.sha256 if task.code is not None and code_storage is not None else None
    env = {**ex.env, **attempt_env(exp, task, attempt, [code.code_file(sha)] if sha else None)}
    envs: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.items()]
    envs += [{"name": s.name, "value_from": {"secret_name_ref": s.secret}} for s in ex.secret_env]
    job_id = remote_name(ref.idempotency_key)
    spec: dict[str, Any] = {
        "resource_shape": ex.resource_shape,
        "container": {"image": ex.image or default_image, "command": command(ex)},
        "completions": ex.replicas, "parallelism": ex.replicas,
        "envs": envs, "mounts": [*ex.mounts, *([code.code_mount(code_storage, sha)] if code_storage and sha else [])],
        "image_pull_secrets": list(ex.image_pull_secrets),
    }
    if ex.shared_memory_size is not None:
        spec["shared_memory_size"] = ex.shared_memory_size
    if ex.node_reservation:
        spec["reservation_config"] = {"reservation_id": ex.node_reservation}
    if ex.node_group:
        spec["affinity"] = {"allowed_dedicated_node_groups": [ex.node_group]}
    if ex.replicas > 1:
        spec["intra_job_communication"] = True  # replicas reach each other by name (torchrun rendezvous)
    labels = {KEY_LABEL: ref.idempotency_key, "kuberun-experiment": exp.metadata.name or "",
              "kuberun-task": task.name, "kuberun-attempt": str(attempt)}
    return {"metadata": {"id": job_id, "name": job_id, "labels": labels}, "spec": spec}


def command(ex: LeptonExecutor) -> list[str]:
    """The job's command: the runner (which restarts itself under ``max_restarts``), or torchrun across replicas."""
    if ex.launcher != "torchrun":
        return RUNNER
    # Lepton gives each replica its index and the job's service names in the environment.
    script = ('export MASTER_ADDR="${LEPTON_JOB_SERVICE_PREFIX:-$LEPTON_JOB_NAME}-0.'
              '${LEPTON_SUBDOMAIN:-$LEPTON_JOB_NAME-job-svc}"\n'
              f'exec torchrun --nnodes {ex.replicas} --node-rank "${{LEPTON_JOB_WORKER_INDEX:-0}}" '
              '--master-addr "$MASTER_ADDR" --master-port 29500 --nproc-per-node gpu '
              + (f'--max-restarts {ex.max_restarts} ' if ex.max_restarts else '') +  # an int: nothing to quote
              f'-m kuberun.runner --config-env {TASK_ENV}\n')
    return ["bash", "-c", script]


def observed(job: dict[str, Any], job_id: str, workspace: str) -> Observed:
    """A Lepton job's status as an Observed (states: ``leptonai.api.v2.types.job.LeptonJobState``)."""
    status = job.get("status") or {}
    state = status.get("state")
    log = LogRef(kind="lepton", path=f"{workspace}/{job_id}")
    common: dict[str, Any] = {"backend_id": job_id, "backend_uid": job_id, "log_ref": log,
                              "start_time": epoch(status.get("creation_time"))}
    if state == "Completed":
        return Observed("succeeded", exit_code=0, finish_time=epoch(status.get("completion_time")), **common)
    if state == "Failed":
        return Observed("failed", reason="LeptonJobFailed", finish_time=epoch(status.get("completion_time")),
                        message=f"Lepton job {job_id} failed ({status.get('failed', 0)} replica(s) failed)", **common)
    if state in _STOPPED:
        return Observed("failed", reason="StoppedAtLepton", message=f"Lepton job {job_id} was {state.lower()} outside kuberun",
                        finish_time=epoch(status.get("completion_time")), **common)
    if state == "Archived":
        done = (status.get("succeeded") or 0) >= (job.get("spec") or {}).get("completions", 1)
        return Observed("succeeded" if done else "failed", reason=None if done else "LeptonJobFailed",
                        exit_code=0 if done else None, **common)
    if state in _PENDING:
        return Observed("pending", **common)
    return Observed("running", **common)  # Running, and the transitional states of a running job


def _replica_id(replica: dict[str, Any]) -> str:
    return str((replica.get("metadata") or {}).get("id") or replica.get("id"))


async def _tail(stream: AsyncIterator[bytes], lines: int) -> bytes:
    data = b"".join([chunk async for chunk in stream])
    kept = data.splitlines(keepends=True)[-lines:] if lines > 0 else []
    return b"".join(kept)
