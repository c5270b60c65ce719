"""The Kubernetes backend: an attempt is a ``batch/v1`` Job (plus a headless Service when multi-node).

Effects only; the manifests come from the pure builders in ``manifests``. Job names
are deterministic (`<experiment>-<task>-<attempt>`), so submitting twice finds the first Job
(409) instead of making a second. A 409 is adopted only when the object found carries a
controller ownerReference to *this* Experiment (its UID): a name squatted by someone else, or
left over from an earlier namesake, fails the attempt with ``NameConflict`` instead of being
silently taken as ours (``adopt``). Observation reads the Job cache that the operator's watch
keeps, and asks for pods only when a Job failed (for the exit code).
"""

from __future__ import annotations

import logging
from typing import Any

from kuberun.resource import BackendRef, ExperimentResource, LogRef, TaskPhase, TaskSpec
from kuberun.resource.constants import LABEL_ATTEMPT, LABEL_TASK
from kuberun_operator.actions import Observed
from kuberun_operator.backends.base import BackendError, Submitted, active_attempts
from kuberun_operator.backends.code import refuse_unmountable_code
from kuberun_operator.backends.kubernetes import adopt, podtemplate, podupload
from kuberun_operator.backends.kubernetes.admission import AdmissionCache
from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache
from kuberun_operator.backends.kubernetes.documents import needs_config_map
from kuberun_operator.backends.kubernetes.manifests import (
    build_headless_service,
    build_job,
    exit_code_from_pods,
    task_config_map,
    task_phase_from_job,
)
from kuberun_operator.backends.kubernetes.objectnames import ExperimentRef, job_name, service_name
from kuberun_operator.backends.kubernetes.status import STUCK_REASONS, stuck_reason, summary_from_pods
from kuberun_operator.kube import ApiError, Kube
from kuberun_operator.settings import Settings

log = logging.getLogger("kuberun.operator")
FAILED_CREATE = "FailedCreate"  # the Job controller's own word for pods it could not create


def experiment_ref(exp: ExperimentResource) -> ExperimentRef:
    meta = exp.metadata
    return ExperimentRef(name=meta.name or "", namespace=meta.namespace or "default", uid=meta.uid or "", title=exp.spec.title)


class KubernetesBackend:
    """Backend, Suspendable, OwnsSuspend (Kueue owns queued Jobs) and DeclaresUnretryable (stuck pods)."""

    name = "kubernetes"
    unretryable_reasons = STUCK_REASONS | {adopt.NAME_CONFLICT, FAILED_CREATE}  # a retry meets the same squatter

    def __init__(self, kube: Kube, cache: JobCache, settings: Settings, pods: PodCache | None = None) -> None:
        self.kube, self.cache, self.settings = kube, cache, settings
        self.pods = pods or PodCache()
        self.uploads = podupload.Endpoints(kube, settings.artifact_sync_seconds)
        self.admission = AdmissionCache(lambda ns, pod: self.kube.dry_run_pod(ns, pod), settings.admission_cache_seconds)

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted:
        upload_to = await self.uploads.current()
        refuse_unmountable_code(task, downloadable=upload_to is not None)
        ref_ = experiment_ref(exp)
        job = build_job(ref_, task, attempt, self.settings, upload_to=upload_to)
        service = build_headless_service(ref_, task, attempt)
        # Would the namespace admit its pods? The Job itself is admitted either way, and a Job whose
        # pods are refused would sit Submitted forever: ask first (a dry run, nothing stored; a yes for
        # the same namespace and pod shape is reused for a few seconds, admission.py).
        await self._admissible(job)
        # The ConfigMap (if any) first: when its create fails, no Job starts a pod without its documents
        # (the submit is retried as a whole). The Service before the Job too: a Service squatted under
        # its name (NameConflict) would steer the peers' DNS, so no pod may start until it is ours.
        await self._ensure_task_config_map(exp, ref_)
        if service is not None:
            await self._create(service)
        created = await self._create(job)
        if created is not None:
            self.cache.put(created)
        name = job["metadata"]["name"]
        uid = (created or {}).get("metadata", {}).get("uid")  # on 409 the watch brings it (observe records it)
        return Submitted(id=name, log_ref=LogRef(kind="pod", container="task", pod=None), uid=uid)

    async def _admissible(self, job: dict[str, Any]) -> None:
        """Fail the attempt ``FailedCreate`` with the admission message when the namespace refuses its pods."""
        try:
            await self.admission.check(job["metadata"]["namespace"], podtemplate.dry_run_pod(job))
        except ApiError as exc:
            if exc.status in (400, 403, 422):
                raise BackendError(FAILED_CREATE, f"the namespace refuses the pods of Job {job['metadata']['name']}: "
                                   f"{exc.message}", permanent=True) from None
            raise BackendError("ApiUnavailable", f"checking the pods of Job {job['metadata']['name']}: {exc}",
                               permanent=False) from None

    async def _ensure_task_config_map(self, exp: ExperimentResource, ref_: ExperimentRef) -> None:
        """Create the task ConfigMap when a document is too large for its Job; it existing already is
        success (it is immutable, so never stale). Small documents travel in the Job: no call."""
        if tasks := _config_map_tasks(exp):
            await self._create(task_config_map(ref_, tasks))

    async def _ensure_children(self, exp: ExperimentResource, ref_: ExperimentRef) -> None:
        """Level-triggered, not memoised: while an attempt waits to start, its ConfigMap is ensured on
        every reconcile (a create that failed, or a ConfigMap deleted, is made again); while a
        multi-node attempt is active, its headless Service too. A running pod has its ConfigMap
        mounted already, so running attempts cost no call for it."""
        waiting = False
        for task_name, attempt in active_attempts(exp, self.name):
            waiting = waiting or attempt.phase is TaskPhase.SUBMITTED
            service = build_headless_service(ref_, exp.spec.task(task_name), attempt.attempt)
            if service is not None:
                await self._create_quietly(service)
        if waiting and (tasks := _config_map_tasks(exp)):
            await self._create_quietly(task_config_map(ref_, tasks))

    async def _create_quietly(self, obj: dict[str, Any]) -> None:
        """Ensure during observation: a failure is logged and retried by the next reconcile."""
        try:
            await adopt.ensure(self.kube, obj)
        except BackendError as exc:
            log.warning("ensuring %s %s: %s", obj["kind"], obj["metadata"]["name"], exc.message)

    async def _create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create, treating AlreadyExists as success only when the object found is this Experiment's own."""
        try:
            return await self.kube.create(obj)
        except ApiError as exc:
            if exc.status == 409:
                await adopt.verify(self.kube, obj)
                return None
            if exc.status in (400, 403, 422):
                raise BackendError("InvalidJob" if exc.status != 403 else "Forbidden",
                                   f"{obj['kind']} {obj['metadata']['name']} rejected: {exc.message}", permanent=True) from None
            raise BackendError("ApiUnavailable", f"creating {obj['kind']}: {exc}", permanent=False) from None

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        ref_ = experiment_ref(exp)
        seen: dict[tuple[str, int], Observed] = {}
        for job in self.cache.jobs(ref_.namespace, ref_.uid):  # filed by owner UID: never an earlier namesake's
            labels = job["metadata"].get("labels", {})
            try:
                key = (labels[LABEL_TASK], int(labels[LABEL_ATTEMPT]))
            except (KeyError, ValueError):
                continue
            seen[key] = await self._observed(job)
        await self._confirm_recorded(exp, ref_, seen)
        await self._ensure_children(exp, ref_)
        return seen

    async def _confirm_recorded(self, exp: ExperimentResource, ref_: ExperimentRef,
                                seen: dict[tuple[str, int], Observed]) -> None:
        """Attempts whose Job UID is recorded: report "lost" when that Job is gone or is another one.

        A Job missing from the cache is looked up directly first (the cache may not have caught
        up, e.g. right after a restart); only a 404 — or a Job of the same name with another UID
        — counts as lost. Any other error leaves the attempt unobserved (reconcile waits).
        """
        for task, attempt in active_attempts(exp, self.name):
            recorded = attempt.backend_ref.uid if attempt.backend_ref is not None else None
            if not recorded:
                continue
            key, name = (task, attempt.attempt), job_name(ref_, task, attempt.attempt)
            found = seen.get(key)
            if found is None:
                try:
                    job = await self.kube.get_job(ref_.namespace, name)
                except ApiError as exc:
                    if exc.status == 404:
                        seen[key] = _lost(name, "was deleted or garbage-collected")
                    continue
                self.cache.put(job)
                found = seen[key] = await self._observed(job)
            if found.backend_uid and found.backend_uid != recorded:
                seen[key] = _lost(name, f"was replaced by another Job of the same name (uid {found.backend_uid})")

    async def _observed(self, job: dict[str, Any]) -> Observed:
        state = task_phase_from_job(job)
        name = job["metadata"]["name"]
        log_ref = LogRef(kind="pod", container="task")
        stuck = stuck_reason(self.pods.pods(job["metadata"]["namespace"], name)) if state.state not in ("succeeded", "failed") else None
        if stuck is not None:  # e.g. an image that cannot be pulled, a Secret that does not exist
            reason, message, pod = stuck
            return Observed(state="failed", backend_id=name, backend_uid=job["metadata"].get("uid"), start_time=state.start_time, reason=reason, message=message,
                            log_ref=LogRef(kind="pod", container="task", pod=pod))
        exit_code, pod, message, summary = (0 if state.state == "succeeded" else None), None, state.message, None
        if state.state == "failed":
            try:
                pods = await self.kube.list_pods(job["metadata"]["namespace"], f"job-name={name}")
            except ApiError:
                pods = []
            exit_code, pod, pod_message = exit_code_from_pods(pods)
            message = pod_message or message
            log_ref = LogRef(kind="pod", container="task", pod=pod)
            summary = summary_from_pods(pods)
        elif state.state == "succeeded":
            uid = job["metadata"].get("uid", "")
            known, summary = self.cache.summary(uid)
            if not known:
                summary, certain = await self._summary(job["metadata"]["namespace"], name)
                if certain:
                    self.cache.remember_summary(uid, summary)
        return Observed(state=state.state, backend_id=name, backend_uid=job["metadata"].get("uid"), start_time=state.start_time, finish_time=state.finish_time,
                        exit_code=exit_code, reason=state.reason, message=message, log_ref=log_ref, summary=summary)

    async def _summary(self, namespace: str, job: str) -> tuple[Any, bool]:
        """The run summary of a succeeded Job's pods, and whether that answer is final: from the pod
        cache, else read once from the API (the Job's Complete may arrive before the pod's final status
        reached the cache). The API's answer is final even when it has no summary (a task that wrote
        none, or pods already gone): a succeeded Job's pods do not change, so it is not asked again."""
        summary = summary_from_pods(self.pods.pods(namespace, job))
        if summary is None:
            try:
                summary = summary_from_pods(await self.kube.list_pods(namespace, f"job-name={job}"))
            except ApiError:
                return None, False  # asked again on the next reconcile
        return summary, True

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None:
        ref_ = experiment_ref(exp)
        name = job_name(ref_, task.name, attempt)
        for delete, target in ((self.kube.delete_job, name), (self.kube.delete_service, service_name(name))):
            try:
                await delete(ref_.namespace, target)
            except ApiError as exc:
                if exc.status != 404:
                    raise BackendError("ApiUnavailable", f"cancelling {name}: {exc}", permanent=False) from None

    async def suspend(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef, suspended: bool) -> None:
        ref_ = experiment_ref(exp)
        try:
            await self.kube.patch_job(ref_.namespace, job_name(ref_, task.name, attempt), {"spec": {"suspend": suspended}})
        except ApiError as exc:
            if exc.status != 404:
                raise BackendError("ApiUnavailable", f"suspending: {exc}", permanent=False) from None

    def suspend_owner(self, task: TaskSpec) -> str | None:
        """Kueue owns ``suspend`` of a Job in a LocalQueue (it admits and preempts by it): never fight it."""
        executor = task.executor.kubernetes
        return "Kueue" if executor is not None and executor.queue else None


def _config_map_tasks(exp: ExperimentResource) -> list[TaskSpec]:
    """The Kubernetes tasks whose runner documents need the Experiment's ConfigMap (documents.py)."""
    return [t for t in exp.spec.tasks if t.executor.backend == "kubernetes" and needs_config_map(t)]


def _lost(job: str, how: str) -> Observed:
    return Observed(state="lost", backend_id=job, reason="JobLost",
                    message=f"Job {job} {how} after it was created; its attempt is not run again under the same number")
