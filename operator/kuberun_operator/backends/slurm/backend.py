"""The Slurm backend: an attempt is a batch job submitted with sbatch over SSH.

- submit: ONE remote command per attempt looks the idempotency key up (squeue, then accounting),
  and only if no job carries it writes ``task.json`` and ``job.sh`` (from stdin) into
  ``<workdir>/<namespace>/<experiment>/<task>/<attempt>/`` and runs ``sbatch --parsable
  --job-name=<key>``. A restart, or a reconcile that runs before the first poll, finds the job.
- observe: a poller per cluster (``poller.py``) runs ONE ``squeue --me`` for all jobs per interval
  (plus one ``sacct`` for tracked jobs the controller has forgotten) and caches the result;
  ``observe(exp)`` only reads that cache. Failed polls back off (doubling, capped) and keep the last known states.
- cancel: ``scancel`` by job name (and by id only if the job of that id carries the name); a
  cancel that cannot reach the cluster is retried by the poller until it succeeds.
- tenancy (``grants``, docs/tenancy.md): submit refuses a namespace the cluster is not granted
  to, or a partition/account/qos/setup it may not choose, before any remote command. A namespace
  with its own ``identities`` entry logs in as its own user (own transport, own poller, own
  ``squeue --me``); the attempt directories are created with umask 077 (mode 0700).
- verify before acting: the key used is recomputed from the UID (``identity``), and a job id
  read from status counts only if the polled job of that id carries the key as its name.
- logs: the job's ``output.log`` streamed over the namespace's own connection (``tail -F`` while
  it runs), at the path computed from the Experiment as submit computed it (never from status).
- queued dependencies (``QueuesDependencies``): tasks on one cluster and login share a dependency
  scope; ``submit_after`` adds ``--dependency=afterok`` on parent jobs the command verifies first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kuberun.resource import BackendRef, ExperimentResource, LogRef, TaskSpec, results, slurmhet
from kuberun.runner import BadTaskError, task_document
from kuberun_operator import grants, identity
from kuberun_operator.actions import Observed, Parent
from kuberun_operator.backend_config import SlurmCluster, SlurmConfig
from kuberun_operator.backends.base import REMOTE_FINALIZER, BackendError, Submitted, active_attempts
from kuberun_operator.backends.slurm import hetlogs, script
from kuberun_operator.backends.slurm.poller import ClusterPoller, controller_down
from kuberun_operator.backends.slurm.state import lost, observed_from
from kuberun_operator.backends.slurm.transport import UNAVAILABLE, CommandResult, Transport, make_transport
from kuberun_operator.namespaces import NamespaceLabels
from kuberun_operator.settings import Settings

log = logging.getLogger("kuberun.operator.slurm")


class SlurmBackend:
    name = "slurm"
    finalizer = REMOTE_FINALIZER  # CancelOnDelete: sbatch jobs outlive a deleted Experiment otherwise
    unretryable_reasons = grants.REASONS  # DeclaresUnretryable: a retry cannot grant a backend

    def __init__(self, config: SlurmConfig, settings: Settings, code_reader: Any = None,
                 namespace_labels: NamespaceLabels | None = None) -> None:
        self.config, self.settings = config, settings
        self.namespace_labels = namespace_labels  # for clusters granted by allowedNamespaceSelector
        # (namespace, CodeRef) -> the package's bytes (kuberun_operator.codestore); None: packaged tasks are refused
        self.code_reader = code_reader
        self.poll_interval = config.poll_interval_seconds
        self.clusters = {c.name: c for c in config.clusters}
        self._transports: dict[str, Transport] = {}
        self._pollers: dict[str, ClusterPoller] = {}
        self._summaries: dict[str, results.RunSummary | None] = {}  # by idempotency key, read once

    # -- Lifecycle (the controller calls these on operator start/stop) --------------------------------

    async def start(self) -> None:
        for name in self.clusters:
            self._poller(name).start()

    async def stop(self) -> None:
        for poller in self._pollers.values():
            await poller.stop()
        for transport in self._transports.values():
            await transport.close()
        self._pollers.clear()
        self._transports.clear()

    @property
    def round_trips(self) -> int:
        """Remote commands run so far, over every cluster (the benchmark reports it)."""
        return sum(t.commands for t in self._transports.values())

    def _cluster(self, name: str | None) -> SlurmCluster:
        if name is None and len(self.clusters) == 1:
            return next(iter(self.clusters.values()))
        cluster = self.clusters.get(name or "")
        if cluster is None:
            raise BackendError("UnknownSlurmCluster", f"no Slurm cluster {name!r} is configured in this operator "
                               f"(configured: {', '.join(sorted(self.clusters)) or 'none'})", permanent=True)
        return cluster

    def _login(self, name: str, namespace: str | None = None) -> SlurmCluster:
        """The cluster as ``namespace`` logs in to it: its own identity when it has one, else the cluster's."""
        cluster = self._cluster(name)
        ident = cluster.identities.get(namespace or "")
        if ident is None:
            return cluster
        return cluster.model_copy(update={"user": ident.user, "ssh_key_file": ident.ssh_key_file,
                                          "workdir": ident.workdir or "~/.kuberun/jobs"})

    @staticmethod
    def _login_key(login: SlurmCluster) -> str:
        return f"{login.name}/{login.user or ''}"  # one transport and one poller per (cluster, user)

    def _transport(self, name: str, namespace: str | None = None) -> Transport:
        login = self._login(name, namespace)
        key = self._login_key(login)
        if key not in self._transports:
            self._transports[key] = make_transport(login)
        return self._transports[key]

    def _poller(self, name: str, namespace: str | None = None) -> ClusterPoller:
        login = self._login(name, namespace)
        key = self._login_key(login)
        if key not in self._pollers:
            interval = self.poll_interval
            self._pollers[key] = ClusterPoller(login, self._transport(name, namespace), interval,
                                               max(interval * 16, 30.0))
        poller = self._pollers[key]
        poller.start()  # also when the runtime never called start() (idempotent)
        return poller

    # -- Backend, LogSource --------------------------------------------------------------------------------

    async def submit(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> Submitted:
        return await self.submit_after(exp, task, attempt, ref, ())

    async def submit_after(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef,
                           after: Sequence[Parent]) -> Submitted:
        """QueuesDependencies: ``submit`` with ``--dependency=afterok:<parents' job ids>``, so the job
        queues in Slurm behind its parents' jobs (reconcile chooses the parents: policy/early.py).

        Each parent's id comes from status; the remote command checks that the job of that id
        carries the parent attempt's key (recomputed from the UID) as its name before sbatch."""
        executor = task.executor.slurm
        assert executor is not None
        namespace = exp.metadata.namespace or "default"
        granting = self._cluster(executor.cluster)
        labels = await grants.namespace_labels(granting, namespace, self.namespace_labels)
        grants.check_slurm(granting, executor, namespace, labels)  # before any remote command
        cluster = self._login(granting.name, namespace)
        place = script.AttemptPlace(namespace, exp.metadata.name or "", task.name, attempt, ref.idempotency_key)
        code = b""
        if task.code is not None and self.code_reader is not None:
            code = await self.code_reader(place.namespace, task.code)  # over the same SSH connection, below
        document, batch, flags = _files(task, cluster, place, with_code=bool(code), after=[p.backend_id for p in after])
        sizes = (len(document), len(batch), len(code)) if code else (len(document), len(batch))
        uid = exp.metadata.uid or ""
        parents = [(p.backend_id, identity.idempotency_key(uid, p.task, p.attempt)) for p in after]
        command = script.submit_command(script.attempt_dir(cluster.workdir, place), ref.idempotency_key, flags, sizes,
                                        parents)
        result = await self._transport(cluster.name, namespace).run(command, stdin=document + batch + code)
        job_id, directory = _submitted(result, cluster)
        log_ref = LogRef(kind="slurm", path=f"{directory}/output.log")
        self._poller(cluster.name, namespace).track(job_id, ref.idempotency_key, log_ref.path)
        return Submitted(id=job_id, log_ref=log_ref, cluster=cluster.name, uid=job_id)  # `kuberun logs` needs the cluster

    def dependency_scope(self, exp: ExperimentResource, task: TaskSpec) -> str | None:
        """QueuesDependencies: tasks on one cluster, logged in as one user, can afterok each other."""
        executor = task.executor.slurm
        if executor is None:
            return None
        try:
            return self._login_key(self._login(self._cluster(executor.cluster).name, exp.metadata.namespace))
        except BackendError:
            return None  # an unknown cluster: submit reports it

    async def observe(self, exp: ExperimentResource) -> dict[tuple[str, int], Observed]:
        seen: dict[tuple[str, int], Observed] = {}
        for task_name, attempt in active_attempts(exp, self.name):
            assert attempt.backend_ref is not None  # active_attempts yields only attempts with one
            observed = self._observe_attempt(exp, task_name, attempt.backend_ref, attempt.log_ref)
            if observed is not None and observed.state in ("succeeded", "failed") and observed.log_ref is not None:
                observed = dataclasses.replace(observed, summary=await self._summary(exp, task_name, attempt.attempt))
            if observed is not None:
                seen[(task_name, attempt.attempt)] = observed
        return seen

    async def _summary(self, exp: ExperimentResource, task: str, attempt: int) -> results.RunSummary | None:
        """The run summary the runner left beside ``output.log`` (one SSH command, once per attempt)."""
        try:
            login, key, directory = self._place(exp, task, attempt)
        except BackendError:
            return None  # the record lacks the summary; the outcome does not depend on it
        if key not in self._summaries:
            if len(self._summaries) > 10_000:
                self._summaries.clear()  # bounded: finished attempts are not observed again
            try:
                out = await self._transport(login.name, exp.metadata.namespace).run(
                    script.summary_command(directory, results.FILE_SUMMARY_BYTES))
            except BackendError:
                return None
            self._summaries[key] = results.parse_summary(out.stdout)
        return self._summaries[key]

    def _place(self, exp: ExperimentResource, task: str, attempt: int) -> tuple[SlurmCluster, str, str]:
        """(login, key, directory): where submit put the attempt, computed again from the Experiment.

        The directory is a shell expression (``script.attempt_dir``) under the spec's cluster and the
        namespace's own login. Logs, summary, series and artifacts are read there and only there:
        a path in status is a claim anyone allowed to patch ``experiments/status`` can make."""
        try:
            executor = exp.spec.task(task).executor.slurm
        except KeyError:
            raise BackendError("LogsUnavailable", f"the experiment has no task {task!r}", permanent=True) from None
        if executor is None:
            raise BackendError("LogsUnavailable", f"task {task!r} does not run on Slurm", permanent=True)
        namespace = exp.metadata.namespace or "default"
        login = self._login(self._cluster(executor.cluster).name, namespace)
        key = identity.idempotency_key(exp.metadata.uid or "", task, attempt)
        place = script.AttemptPlace(namespace, exp.metadata.name or "", task, attempt, key)
        return login, key, script.attempt_dir(login.workdir, place)

    def _observe_attempt(self, exp: ExperimentResource, task: str, ref: BackendRef, log_ref: LogRef | None) -> Observed | None:
        try:
            spec = exp.spec.task(task).executor.slurm
            poller = self._poller(self._cluster(spec.cluster if spec else ref.cluster).name, exp.metadata.namespace)
        except (KeyError, BackendError):
            return None  # reconcile re-submits; submit reports the configuration problem
        job_id = ref.id or poller.by_key.get(ref.idempotency_key)
        polled = poller.jobs.get(job_id or "")
        if polled is not None and polled.name != ref.idempotency_key:
            # The id in status names another job (a tampered or stale record): never adopt it.
            log.warning("Slurm job %s is not attempt %s (its name is %r): ignoring the recorded id",
                        job_id, ref.idempotency_key, polled.name)
            if poller.by_key.get(ref.idempotency_key) == job_id:
                poller.by_key.pop(ref.idempotency_key)
            other, job_id = job_id, poller.by_key.get(ref.idempotency_key)
            if job_id is None:
                # Ours is not among the jobs Slurm lists (its id was reused after a cold start, or the
                # record names someone else's): the attempt's job is gone, never submitted again.
                return lost(other, log_ref, f"Slurm job {other} is now another job ({polled.name!r}); ours was purged")
        if job_id is None:
            return None  # never submitted, or submitted without the id recorded: submit finds it by name
        poller.track(job_id, ref.idempotency_key, log_ref.path if log_ref else None)
        if log_ref is None and poller.tracked[job_id].log_path:
            log_ref = LogRef(kind="slurm", path=poller.tracked[job_id].log_path)
        job = poller.jobs.get(job_id)
        if job is not None and job.name and job.name != ref.idempotency_key:
            # Job ids restart after a controller's cold start: this id is another job now, ours is gone.
            return lost(job_id, log_ref, f"Slurm job {job_id} is now another job ({job.name!r}); ours was purged")
        if job is not None:
            return observed_from(job, log_ref)
        if poller.is_lost(job_id):
            return lost(job_id, log_ref)
        # Known id, not polled yet (just submitted, or the operator just restarted): waiting.
        return Observed("pending", backend_id=job_id, log_ref=log_ref)

    async def cancel(self, exp: ExperimentResource, task: TaskSpec, attempt: int, ref: BackendRef) -> None:
        executor = task.executor.slurm
        # The spec's cluster, not the one status names: status is not evidence of where the job is.
        cluster = self._cluster(executor.cluster if executor else ref.cluster)
        poller = self._poller(cluster.name, exp.metadata.namespace)
        job_id = ref.id or poller.by_key.get(ref.idempotency_key)
        try:  # the command itself checks that job `job_id` carries the key before cancelling it by id
            result = await self._transport(cluster.name, exp.metadata.namespace).run(
                script.cancel_command(ref.idempotency_key, job_id))
        except BackendError:
            poller.cancels[ref.idempotency_key] = job_id  # the poller keeps trying
            raise
        if result.exit_status != 0 and controller_down(result.stderr):
            poller.cancels[ref.idempotency_key] = job_id
            raise BackendError(UNAVAILABLE, f"Slurm cluster {cluster.name!r}: scancel will be retried: "
                               f"{result.stderr.strip()[:300]}", permanent=False)

    async def artifacts_stream(self, exp: ExperimentResource, task: str, attempt: int) -> AsyncIterator[bytes]:
        """ArtifactSource (recording/artifacts.py): the attempt's ``artifacts/`` as a tar over SSH."""
        login, _, directory = self._place(exp, task, attempt)
        async for chunk in self._transport(login.name, exp.metadata.namespace).stream(script.artifacts_command(directory)):
            yield chunk

    async def series_stream(self, exp: ExperimentResource, task: str, attempt: int) -> AsyncIterator[bytes]:
        """ArtifactSource: the attempt's ``metrics.jsonl`` (the full metric series) over SSH."""
        login, _, directory = self._place(exp, task, attempt)
        async for chunk in self._transport(login.name, exp.metadata.namespace).stream(script.series_command(directory)):
            yield chunk

    async def logs(self, exp: ExperimentResource, task: str, attempt: int, follow: bool = False,
                   tail: int | None = None, component: int | None = None) -> AsyncIterator[bytes]:
        """LogSource: the attempt's output (stdout and stderr), streamed; ``follow`` keeps going until the job ends.

        Where is computed as submit computed it (``_place``) and the job is known by its name (the
        key from the UID). Nothing is taken from status: a log path or job id written there by
        whoever may patch ``experiments/status`` could name another tenant's log. A het job's log
        is the batch script's and every component's, each line labelled (``hetlogs.py``), or only ``component``'s
        (``het-<i>/output.log``, unlabelled) when one is given."""
        login, key, directory = self._place(exp, task, attempt)
        executor = exp.spec.task(task).executor.slurm
        het = executor is not None and executor.heterogeneous
        size = len(executor.resource_group) if het else 0  # type: ignore[union-attr]
        problem = slurmhet.component_problem(task, het, size, component)
        if problem is not None:
            raise BackendError("LogsUnavailable", problem, permanent=True)
        transport = self._transport(login.name, exp.metadata.namespace)

        def one(index: int | None) -> AsyncIterator[bytes]:
            return transport.stream(script.logs_command(directory, key, follow, tail, index))

        chunks = one(component) if component is not None or not het else hetlogs.every_component(one, size, follow)
        async for chunk in chunks:
            yield chunk


def _files(task: TaskSpec, cluster: SlurmCluster, place: script.AttemptPlace, with_code: bool = False,
           after: Sequence[str] = ()) -> tuple[bytes, bytes, list[str]]:
    """task.json, job.sh and the sbatch flags of one attempt, or the permanent error they amount to."""
    from kuberun_operator.backends.code import refuse_code

    if not with_code:
        refuse_code(task, "Slurm (this operator has no API access to read the package)")
    if task.fiddle is not None and task.fiddle.data is None:
        raise BackendError("UnsupportedConfig", "the Slurm executor needs inline configs (this one is in ConfigMaps)",
                           permanent=True)
    try:
        # The package lands beside task.json; the runner reads it relative to the job's --chdir.
        document = json.dumps(task_document(task, code_files=[script.CODE_FILE] if with_code else None)).encode()
        batch = script.batch_script(task, cluster, place).encode()
        flags = script.sbatch_flags(task.executor.slurm, cluster, after)  # type: ignore[arg-type]
    except (BadTaskError, script.ScriptError) as exc:
        raise BackendError("InvalidJob", str(exc), permanent=True) from exc
    return document, batch, flags


def _submitted(result: CommandResult, cluster: SlurmCluster) -> tuple[str, str]:
    """The job id and attempt directory from the submit command, or the BackendError it amounts to."""
    words = result.stdout.split()
    if result.exit_status == 0 and len(words) >= 3 and words[0] in (script.FOUND, script.SUBMITTED) and words[1].isdigit():
        return words[1], " ".join(result.stdout.strip().split(" ")[2:])
    where = f"Slurm cluster {cluster.name!r}"
    detail = (result.stderr.strip() or result.stdout.strip())[:600]
    if result.exit_status == script.EXIT_SBATCH_FAILED and not controller_down(detail):
        return _reject(f"{where}: sbatch rejected the job: {detail}")
    if result.exit_status == script.EXIT_PARENT_MISMATCH:
        raise BackendError("InvalidDependency", f"{where}: {detail or 'a parent job id is not the parent attempt'}",
                           permanent=True)
    if result.exit_status == script.EXIT_WORKDIR_FAILED:
        raise BackendError(UNAVAILABLE, f"{where}: cannot write to workdir {cluster.workdir!r}: {detail}", permanent=False)
    if result.exit_status in (script.EXIT_LOOKUP_FAILED, script.EXIT_SBATCH_FAILED):
        raise BackendError(UNAVAILABLE, f"{where}: Slurm controller unavailable: {detail}", permanent=False)
    raise BackendError(UNAVAILABLE, f"{where}: submission failed (exit {result.exit_status}): {detail}", permanent=False)


def _reject(message: str) -> tuple[str, str]:
    raise BackendError("SubmissionRejected", message, permanent=True)
