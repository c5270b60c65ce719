"""The SkyPilot bridge: an attempt is a managed job (default) or a job on a named cluster.

The operator speaks to a SkyPilot API server over HTTP (``client``); ``sky`` is never
imported here. A packaged task's code goes through SkyPilot's own file-mount upload (``upload``).
The task becomes a SkyPilot task YAML (``build_task``) whose ``run`` invokes
``python -m kuberun.runner --config-env KUBERUN_TASK_B64`` — under torchrun across nodes, wired
from ``SKYPILOT_NODE_RANK``/``SKYPILOT_NODE_IPS``/``SKYPILOT_NUM_NODES``.

Idempotency: the job's name derives from the attempt's key, and submit first looks that name up
in the jobs queue. ``BackendRef.id`` records the launch request, so while the server is still
provisioning (the job is not yet in the queue) observation follows the request instead of
submitting again; a launch that fails (no enabled infra, no capacity) fails the attempt with
the server's own reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import yaml

from kuberun.resource import BackendRef, ExperimentResource, LogRef, SkypilotExecutor, TaskSpec
from kuberun.resource.constants import MAX_MESSAGE
from kuberun_operator import grants, identity
from kuberun_operator.actions import Observed
from kuberun_operator.backend_config import SkypilotConfig
from kuberun_operator.backends.base import REMOTE_FINALIZER, BackendError, Submitted, active_attempts
from kuberun_operator.backends.cloud import TASK_ENV, LogSummaries, attempt_env, epoch, remote_name
from kuberun_operator.backends.runner_bundle import BUNDLE_ENV, bundle, run_prelude, setup_lines
from kuberun_operator.backends.skypilot import upload
from kuberun_operator.backends.skypilot.client import RequestResult, SkypilotApi, SkypilotClient
from kuberun_operator.codestore import CodeReader
from kuberun_operator.namespaces import NamespaceLabels
from kuberun_operator.settings import Settings

_PENDING = {"PENDING", "SUBMITTED", "STARTING", "INIT", "SETTING_UP"}
_RUNNING = {"RUNNING", "RECOVERING", "WINDING_DOWN", "CANCELLING"}
# A finished job's status -> the attempt's reason (managed and cluster job statuses).
_FAILED = {"FAILED": "TaskFailed", "FAILED_SETUP": "SetupFailed", "FAILED_PRECHECKS": "SubmissionRejected",
           "FAILED_NO_RESOURCE": "CapacityUnavailable", "FAILED_CONTROLLER": "BackendUnavailable",
           "FAILED_DRIVER": "TaskFailed", "CANCELLED": "CancelledAtSkyPilot"}
# A failed launch request's exception type -> the attempt's reason.
_LAUNCH_ERRORS = {"NoCloudAccessError": "NoInfraAvailable", "ResourcesUnavailableError": "CapacityUnavailable",
                  "InvalidSkyPilotConfigError": "SubmissionRejected", "ValueError": "SubmissionRejected",
                  "NotSupportedError": "SubmissionRejected", "RequestCancelled": "LaunchCancelled"}


class SkypilotBackend:
    name = "skypilot"
    finalizer = REMOTE_FINALIZER  # CancelOnDelete: cloud jobs outlive a deleted Experiment otherwise
    unretryable_reasons = grants.REASONS  # DeclaresUnretryable: a retry cannot grant the endpoint

    def __init__(self, config: SkypilotConfig, settings: Settings, api: SkypilotApi | None = None,
                 code_reader: CodeReader | None = None,
                 namespace_labels: NamespaceLabels | None = None) -> None:
        self.config, self.settings = config, settings
        self.namespace_labels = namespace_labels  # when the endpoint is granted by allowedNamespaceSelector
        self.code_reader = code_reader  # reads packaged tasks' code (codestore); None: they are refused
        self.poll_interval = config.poll_interval_seconds
        self.api: SkypilotApi | None = api  # tests pass a fake; start() builds the HTTP client otherwise
        self._session: aiohttp.ClientSession | None = None
        self._summaries = LogSummaries(self)  # the run summary, from the log's tail (cloud.py)

    async def start(self) -> None:
        if self.api is None:
            self._session = aiohttp.ClientSession()
            self.api = SkypilotClient(self.config.endpoint, self.config.token_file, self._session)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            # started again (a replica that leads again, leadership/): a new session, not the closed one
            self._session, self.api = None, None

    def _api(self) -> SkypilotApi:
        if self.api is None:
            raise BackendError("BackendUnavailable", "the SkyPilot bridge is not started", permanent=False)
        return self.api

    # -- the protocol -----------------------------------------------------------------------------

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted:
        ex = _executor(task)
        namespace = exp.metadata.namespace or "default"
        labels = await grants.namespace_labels(self.config, namespace, self.namespace_labels)
        grants.check_skypilot(self.config, ex, namespace, labels)  # before any request
        name = remote_name(ref.idempotency_key)
        existing = (await self._jobs(ex)).get(name)
        if existing is not None:
            job = f"job:{existing['job_id']}"
            return Submitted(id=job, log_ref=_log_ref(ex, name, existing), uid=job)
        if task.code is None or self.code_reader is None:
            return await self._launch(ex, name, build_task(exp, task, attempt, ref), None)
        data = await self.code_reader(exp.metadata.namespace or "default", task.code)  # size and sha256 checked
        with upload.code_blob(data, task.code.sha256) as blob:
            await self._api().upload_blob(blob.zip_path, blob.blob_id)  # skipped when SkyPilot has it already
        return await self._launch(ex, name, build_task(exp, task, attempt, ref, blob), blob.blob_id)

    async def _launch(self, ex: SkypilotExecutor, name: str, built: dict[str, Any], blob: str | None) -> Submitted:
        document = yaml.safe_dump(built, sort_keys=False)
        if ex.mode == "cluster":
            request_id = await self._api().launch_on_cluster(document, ex.cluster_name or "", blob=blob)
        else:
            request_id = await self._api().launch_managed(document, name, blob=blob)
        return Submitted(id=request_id, log_ref=_log_ref(ex, name, None))

    async def _jobs(self, ex: SkypilotExecutor) -> dict[str, dict[str, Any]]:
        """Jobs by name, the newest per name (the queue keeps finished jobs too)."""
        api = self._api()
        listed = await (api.cluster_jobs(ex.cluster_name or "") if ex.mode == "cluster" else api.managed_jobs())
        return {job.get("job_name") or "": job for job in sorted(listed, key=lambda j: j.get("job_id") or 0)}

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        seen: dict[tuple[str, int], Observed] = {}
        queues: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
        for task_name, attempt in active_attempts(exp, self.name):
            ex, ref = _executor(exp.spec.task(task_name)), attempt.backend_ref
            assert ref is not None
            try:
                queue_key = (ex.mode, ex.cluster_name)
                if queue_key not in queues:
                    queues[queue_key] = await self._jobs(ex)
                found = await self._observe_one(ex, ref, queues[queue_key])
            except BackendError:
                continue  # the idempotent re-Submit reports it as a Warning with its reason
            if found is not None:
                seen[(task_name, attempt.attempt)] = await self._summaries.with_summary(found, exp, task_name, attempt.attempt)
        return seen

    async def _observe_one(self, ex: SkypilotExecutor, ref: BackendRef, jobs: dict[str, dict[str, Any]]) -> Observed | None:
        name = remote_name(ref.idempotency_key)
        if name in jobs:
            return observed(jobs[name], _log_ref(ex, name, jobs[name]))
        if ref.uid:
            # The job was in the queue (its id is recorded) and is not any more: never launch it again.
            return Observed("lost", backend_id=ref.uid, reason="JobLost", log_ref=_log_ref(ex, name, None),
                            message=f"SkyPilot {ref.uid} left the queue before kuberun saw it finish "
                                    "(cancelled, or its cluster torn down); its attempt is not run again under the same number")
        if not ref.id or ref.id.startswith("job:"):
            return None  # never launched, or the job left the queue: submit looks again
        request = await self._api().request(ref.id)
        return None if request is None else launch_observed(request, _log_ref(ex, name, None))

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None:
        ex, name = _executor(task), remote_name(ref.idempotency_key)
        if ex.mode == "managed":
            await self._api().cancel_managed(name)
            return
        job = (await self._jobs(ex)).get(name)
        if job is not None:
            await self._api().cancel_on_cluster(ex.cluster_name or "", int(job["job_id"]))

    async def logs(self, exp: ExperimentResource, task: str, attempt: int, follow: bool = False,
                   tail: int | None = None) -> AsyncIterator[bytes]:
        """LogSource: a managed job by its name; a cluster job by the spec's cluster and the id its
        queue lists under that name. The name derives from the key recomputed from the UID: a
        ``logRef`` in status naming another cluster or job is never read."""
        try:
            ex = exp.spec.task(task).executor.skypilot
        except KeyError:
            ex = None
        if ex is None:
            raise BackendError("LogsUnavailable", f"task {task!r} does not run on SkyPilot", permanent=True)
        name = remote_name(identity.idempotency_key(exp.metadata.uid or "", task, attempt))
        where: dict[str, Any] = {"name": name}
        if ex.mode == "cluster":
            job = (await self._jobs(ex)).get(name)
            if job is None:
                raise BackendError("LogsUnavailable", f"cluster {ex.cluster_name!r} lists no job {name!r}", permanent=True)
            where = {"cluster_name": ex.cluster_name or "", "job_id": int(job["job_id"])}
        async for chunk in self._api().logs(where, follow, tail):
            yield chunk


# -- building tasks and reading jobs (pure) -----------------------------------------------------------


def _executor(task: TaskSpec) -> SkypilotExecutor:
    assert task.executor.skypilot is not None
    return task.executor.skypilot


def build_task(exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef,
               code: upload.CodeBlob | None = None) -> dict[str, Any]:
    """The SkyPilot task YAML (``sky.Task.from_yaml_config`` accepts it; tests check with real sky).

    ``code``: the task's package, uploaded as a blob; it is file-mounted where the runner reads it.
    """
    ex = _executor(task)
    code_files = [code.destination] if code is not None else None
    resources = {k: v for k, v in {
        "infra": ex.infra, "cloud": None if ex.infra else ex.cloud, "region": None if ex.infra else ex.region,
        "zone": None if ex.infra else ex.zone, "accelerators": ex.accelerators, "cpus": ex.cpus,
        "memory": ex.memory, "use_spot": ex.use_spot or None, "image_id": ex.image, "disk_size": ex.disk_size,
        "instance_type": ex.instance_type, "ports": list(ex.ports) or None, "autostop": _autostop(ex),
    }.items() if v is not None}
    built: dict[str, Any] = {
        "name": remote_name(ref.idempotency_key), "resources": resources, "num_nodes": ex.num_nodes,
        "envs": {**ex.env, **attempt_env(exp, task, attempt, code_files), BUNDLE_ENV: bundle()[0]},
        "setup": setup_script(ex, fiddle=task.fiddle is not None), "run": run_prelude(bundle()[1]) + run_script(ex)}
    mounts: dict[str, Any] = {**ex.file_mounts,
                              **{path: {"source": m.source, "mode": m.mode} for path, m in ex.storage_mounts.items()}}
    if code is not None:
        mounts.update(code.file_mounts)
        built["file_mounts_mapping"] = code.mapping  # where the server finds it in the uploaded blob
    if mounts:
        built["file_mounts"] = mounts
    return built


def _autostop(ex: SkypilotExecutor) -> dict[str, Any] | None:
    """``resources.autostop`` (mode='cluster' only, the model says): stop when idle, or tear down."""
    if ex.idle_minutes_to_autostop is not None:
        return {"idle_minutes": ex.idle_minutes_to_autostop, "down": ex.autodown}
    return {"down": True} if ex.autodown else None


def setup_script(ex: SkypilotExecutor, fiddle: bool = False) -> str:
    # The user's lines first (activate a venv, load modules); then the shipped runner where the
    # image has none (runner_bundle: nothing is ever installed by name from an index).
    lines = [*ex.setup, *setup_lines(bundle()[1], fiddle)]
    return "set -e\n" + "\n".join(lines) + "\n"


def run_script(ex: SkypilotExecutor) -> str:
    """torchrun across nodes (``--max-restarts`` under kr.FaultTolerance), else the runner, which then
    restarts the task itself (the task document's ``restarts``: ``kuberun.restarts``)."""
    restarts = f"--max-restarts {ex.max_restarts} " if ex.max_restarts else ""  # an int: nothing to quote
    return f"""set -e
if [ "${{SKYPILOT_NUM_NODES:-1}}" -gt 1 ]; then
  MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1)
  exec torchrun --nnodes "$SKYPILOT_NUM_NODES" --node-rank "$SKYPILOT_NODE_RANK" --master-addr "$MASTER_ADDR" \\
    --master-port 29500 --nproc-per-node "${{SKYPILOT_NUM_GPUS_PER_NODE:-1}}" {restarts}-m kuberun.runner --config-env {TASK_ENV}
fi
exec python -m kuberun.runner --config-env {TASK_ENV}
"""


def _log_ref(ex: SkypilotExecutor, name: str, job: dict[str, Any] | None) -> LogRef:
    job_id = job.get("job_id") if job else None
    if ex.mode == "cluster":
        return LogRef(kind="skypilot", path=f"cluster/{ex.cluster_name}/{name}" + (f"/{job_id}" if job_id else ""))
    return LogRef(kind="skypilot", path=f"managed/{name}" + (f"/{job_id}" if job_id else ""))


def observed(job: dict[str, Any], log: LogRef) -> Observed:
    """A managed or cluster job record (``/jobs/queue/v2`` or ``/queue``) as an Observed."""
    status = str(job.get("status") or "PENDING")
    common: dict[str, Any] = {"backend_id": f"job:{job.get('job_id')}", "backend_uid": f"job:{job.get('job_id')}", "log_ref": log,
                              "start_time": epoch(job.get("start_at"))}
    if status == "SUCCEEDED":
        return Observed("succeeded", exit_code=0, finish_time=epoch(job.get("end_at")), **common)
    if status in _FAILED:
        reason = job.get("failure_reason") or f"SkyPilot job ended {status}"
        return Observed("failed", reason=_FAILED[status], message=str(reason)[:MAX_MESSAGE], finish_time=epoch(job.get("end_at")),
                        **common)
    return Observed("running" if status in _RUNNING else "pending", **common)


def launch_observed(request: RequestResult, log: LogRef) -> Observed:
    """A launch request not yet visible as a job: pending, or failed with SkyPilot's reason."""
    if request.status not in ("FAILED", "CANCELLED"):
        return Observed("pending", log_ref=log)  # provisioning, or the queue has not caught up yet
    kind = request.error_type or "RequestCancelled"
    reason = _LAUNCH_ERRORS.get(kind, "LaunchFailed")
    hint = " (enable a cloud or Kubernetes on the SkyPilot API server: `sky check`)" if reason == "NoInfraAvailable" else ""
    return Observed("failed", reason=reason, message=f"SkyPilot launch failed: {kind}: {request.error_message}{hint}",
                    log_ref=log)
