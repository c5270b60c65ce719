"""Pure builders of the Kubernetes objects an attempt runs as: spec in, manifest dicts out, no I/O.

One ConfigMap per Experiment holds every Kubernetes task's runner document; each attempt is a
``batch/v1`` Job (Indexed, with a headless Service, when ``nodes > 1``). Their names and owner
metadata come from ``objectnames``; reading Job and pod state back into a task phase lives in
``status`` and is re-exported here.

Every user-supplied string goes into these manifests as data: no shell ever sees it, and ``$`` is
escaped so Kubernetes' own ``$(VAR)`` expansion leaves it byte-for-byte as written.
"""

from __future__ import annotations

from typing import Any

from kuberun.resource import results, upload
from kuberun.resource.code import CHUNK_KEY
from kuberun.resource.constants import LABEL_ATTEMPT, LABEL_EXPERIMENT, LABEL_TASK
from kuberun.resource.executors import KubernetesExecutor
from kuberun.resource.spec import TaskSpec
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.kubernetes import podtemplate, podupload
from kuberun_operator.backends.kubernetes.documents import (
    ANNOTATION_TASK_DOCUMENT,
    CODE_DIR,
    CONFIG_DIR,
    document_json,
    inline_document,
    inline_volume,
)
from kuberun_operator.backends.kubernetes.objectnames import (
    ExperimentRef,
    job_name,
    object_labels,
    owned_metadata,
    service_name,
    task_config_map_name,
)
from kuberun_operator.backends.kubernetes.podupload import UploadEndpoint
from kuberun_operator.backends.kubernetes.status import (
    CONTAINER,
    LABEL_KUEUE_QUEUE,
    ObservedJob,
    exit_code_from_pods,
    task_phase_from_job,
)
from kuberun_operator.settings import Settings

__all__ = [
    "CONFIG_DIR",
    "CONTAINER",
    "TASK_DIR",
    "ManifestError",
    "ObservedJob",
    "UploadEndpoint",
    "build_headless_service",
    "build_job",
    "exit_code_from_pods",
    "task_config_map",
    "task_file",
    "task_phase_from_job",
]

TASK_DIR = "/etc/kuberun/task"
# An emptyDir for what the task leaves behind: the metric series and the artifacts directory. The run
# summary goes to the termination message (no credentials in the pod; the kubelet carries it to the
# pod's status, where the operator reads it). The runner uploads the files to the record server with a
# pod-bound token (``UploadEndpoint``), when one is published; otherwise they die with the pod.
OUTPUTS_DIR = "/var/run/kuberun/outputs"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
GPU_RESOURCE = "nvidia.com/gpu"
RESERVED_ENV_PREFIX = "KUBERUN_"
CONFIG_MAP_LIMIT = 1024 * 1024  # the API server's limit on a ConfigMap's data

class ManifestError(BackendError):
    """The task cannot become a valid Job (a user mistake): the attempt fails, no retry."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message, permanent=True)


# --- names and metadata -------------------------------------------------------------------------


def task_file(task_name: str) -> str:
    """Where the runner finds the task's document inside the container."""
    return f"{TASK_DIR}/{task_name}.json"


def _escape(value: str) -> str:
    # Kubernetes expands $(VAR) in command, args and env values, and reduces '$$' to '$'.
    # Doubling every '$' makes any user string arrive exactly as written.
    return value.replace("$", "$$")


# --- the task ConfigMap -------------------------------------------------------------------------


def task_config_map(exp: ExperimentRef, tasks: list[TaskSpec]) -> dict[str, Any]:
    """One ConfigMap per Experiment, a '<task>.json' runner document per task given (the backend
    gives only the tasks whose documents are too large to travel in their Jobs: ``documents``).

    Configs too large for the spec stay in the SDK's chunk ConfigMaps; the document then lists
    the paths where `build_job` mounts those chunks, in order.
    """
    data = {f"{t.name}.json": document_json(t) for t in tasks}
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    if size > CONFIG_MAP_LIMIT:
        # Fail with a reason the user can act on rather than with the API server's bare 422.
        raise ManifestError("TaskDocumentsTooLarge",
                            f"the tasks' documents total {size} bytes, over a ConfigMap's {CONFIG_MAP_LIMIT}; "
                            "move large inline scripts into the image or a volume")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": owned_metadata(exp, task_config_map_name(exp), object_labels(exp)),
        # The spec (and so every document) is immutable; an immutable ConfigMap is not watched
        # by the kubelets, which matters with thousands of experiments.
        "immutable": True,
        "data": data,
    }


# --- the Job ------------------------------------------------------------------------------------


def _executor(task: TaskSpec) -> KubernetesExecutor:
    if task.executor.kubernetes is None:
        raise ManifestError("WrongBackend", f"task {task.name!r} has no kubernetes executor")
    return task.executor.kubernetes


def _master_addr(job: str) -> str:
    # Index 0's hostname is '<job>-0'; with subdomain=<service> it resolves in the namespace.
    return f"{job}-0.{service_name(job)}"


def _our_env(exp: ExperimentRef, task: TaskSpec, attempt: int, ex: KubernetesExecutor,
             job: str, settings: Settings, to: UploadEndpoint | None = None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "KUBERUN_EXPERIMENT", "value": exp.name},
        {"name": "KUBERUN_TASK", "value": task.name},
        {"name": "KUBERUN_ATTEMPT", "value": str(attempt)},
        {"name": "KUBERUN_TASK_FILE", "value": task_file(task.name)},
        {"name": results.SUMMARY_ENV, "value": results.TERMINATION_LOG},
        {"name": results.SUMMARY_LIMIT_ENV, "value": str(results.TERMINATION_MESSAGE_BYTES)},
        {"name": results.METRICS_ENV, "value": f"{OUTPUTS_DIR}/{results.METRICS_FILE}"},
        {"name": "KUBERUN_ARTIFACTS_DIR", "value": f"{OUTPUTS_DIR}/artifacts"},
    ]
    if to is not None:
        env += podupload.env(to, upload.attempt_path(exp.namespace, exp.name, task.name, attempt), _escape)
    if ex.nodes > 1:
        index = f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"
        env += [
            {"name": "MASTER_ADDR", "value": _master_addr(job)},
            {"name": "MASTER_PORT", "value": str(settings.torchrun_port)},
            {"name": "NNODES", "value": str(ex.nodes)},
            {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": index}}},
            {"name": "NPROC_PER_NODE", "value": str(ex.procs_per_node)},
        ]
    return env


def _env(exp: ExperimentRef, task: TaskSpec, attempt: int, ex: KubernetesExecutor,
         job: str, settings: Settings, to: UploadEndpoint | None = None) -> list[dict[str, Any]]:
    """Ours first, then the user's, sorted. A user variable may not shadow one of ours.

    The runner, torchrun and the backend rely on these values; a silently ignored or silently
    winning duplicate would make a run that is hard to explain, so the attempt fails with a
    reason naming the variable. Script env is not here: the runner applies it to the script.
    """
    ours = _our_env(exp, task, attempt, ex, job, settings, to)
    taken = {e["name"] for e in ours}
    clash = sorted(k for k in ex.env if k in taken or k.startswith(RESERVED_ENV_PREFIX))
    if clash:
        raise ManifestError("ReservedEnvironmentVariable",
                            f"task {task.name!r}: executor env may not set {', '.join(clash)}; "
                            f"kuberun sets {RESERVED_ENV_PREFIX}* (and the torchrun variables on multi-node tasks)")
    return ours + [{"name": k, "value": _escape(v)} for k, v in sorted(ex.env.items())]


def _command(task: TaskSpec, ex: KubernetesExecutor) -> list[str]:
    if ex.command is not None:
        # The user's own command replaces runner and launcher alike; the env still carries the
        # task file and, on multi-node tasks, the torchrun wiring.
        return [_escape(part) for part in ex.command]
    runner = ["-m", "kuberun.runner", "--config", task_file(task.name)]
    if ex.launcher != "torchrun":
        return ["python", *runner]  # in-job restarts, if any, are the runner's (the task document says how many)
    restarts = ["--max-restarts", str(ex.max_restarts)] if ex.max_restarts else []
    if ex.nodes == 1:
        return ["torchrun", "--standalone", "--nproc-per-node", str(ex.procs_per_node), *restarts, *runner]
    # $(VAR) is expanded by the kubelet from the container's env, so no shell is needed.
    return ["torchrun", "--nnodes", str(ex.nodes), "--nproc-per-node", str(ex.procs_per_node),
            "--node-rank", "$(NODE_RANK)", "--master-addr", "$(MASTER_ADDR)",
            "--master-port", "$(MASTER_PORT)", *restarts, *runner]


def _resources(ex: KubernetesExecutor) -> dict[str, Any]:
    # Requests equal limits: a training task should neither be throttled below nor burst above
    # what it asked for, and GPUs (extended resources) require requests == limits anyway.
    amounts: dict[str, str] = {}
    if ex.cpu is not None:
        amounts["cpu"] = ex.cpu
    if ex.memory is not None:
        amounts["memory"] = ex.memory
    if ex.gpus > 0:
        amounts[GPU_RESOURCE] = str(ex.gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


def _volumes(exp: ExperimentRef, task: TaskSpec, ex: KubernetesExecutor,
             to: UploadEndpoint | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    key = f"{task.name}.json"
    volumes: list[dict[str, Any]] = [inline_volume(key) if inline_document(task) is not None else {
        "name": "kuberun-task",
        # Only this task's document: the pod need not see its siblings' configs.
        "configMap": {"name": task_config_map_name(exp), "items": [{"key": key, "path": key}]},
    }]
    mounts: list[dict[str, Any]] = [{"name": "kuberun-task", "mountPath": TASK_DIR, "readOnly": True},
                                    {"name": "kuberun-outputs", "mountPath": OUTPUTS_DIR}]
    volumes.append({"name": "kuberun-outputs", "emptyDir": {}})
    if to is not None:
        volume, mount = podupload.volume()
        volumes.append(volume)
        mounts.append(mount)
    refs = task.fiddle.config_map_refs if task.fiddle is not None else None
    for i, chunk in enumerate(refs or []):
        volumes.append({"name": f"kuberun-config-{i}",
                        "configMap": {"name": chunk.name, "items": [{"key": chunk.key, "path": "config"}]}})
        mounts.append({"name": f"kuberun-config-{i}", "mountPath": f"{CONFIG_DIR}/{i}", "readOnly": True})
    # The code package's chunks (shared ConfigMaps named by digest); the runner joins and verifies them.
    for i, name in enumerate((task.code.storage.config_maps or []) if task.code is not None else []):
        volumes.append({"name": f"kuberun-code-{i}", "configMap": {"name": name, "items": [{"key": CHUNK_KEY, "path": CHUNK_KEY}]}})
        mounts.append({"name": f"kuberun-code-{i}", "mountPath": f"{CODE_DIR}/{i}", "readOnly": True})
    return volumes + list(ex.volumes), mounts + list(ex.volume_mounts)


def _container(exp: ExperimentRef, task: TaskSpec, attempt: int, ex: KubernetesExecutor,
               job: str, settings: Settings, mounts: list[dict[str, Any]],
               to: UploadEndpoint | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": ex.image or settings.default_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": _command(task, ex),
        "env": _env(exp, task, attempt, ex, job, settings, to),
        "terminationMessagePath": results.TERMINATION_LOG,  # the runner's summary (kuberun.resource.results)
        "volumeMounts": mounts,
    }
    if ex.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in ex.env_from_secrets]
    resources = _resources(ex)
    if resources:
        container["resources"] = resources
    return container


def _pod_spec(exp: ExperimentRef, task: TaskSpec, attempt: int, ex: KubernetesExecutor,
              job: str, settings: Settings, to: UploadEndpoint | None = None) -> dict[str, Any]:
    volumes, mounts = _volumes(exp, task, ex, to)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",  # a failed pod is a new pod (backoffLimit), never an in-place restart
        # Service links add env vars for every Service in the namespace; each multi-node attempt
        # adds a Service, so busy namespaces would bloat (and eventually break) every pod's env.
        "enableServiceLinks": False,
        "containers": [_container(exp, task, attempt, ex, job, settings, mounts, to)],
        "volumes": volumes,
    }
    if ex.nodes > 1:
        spec["subdomain"] = service_name(job)
    if ex.node_selector:
        spec["nodeSelector"] = dict(ex.node_selector)
    if ex.tolerations:
        spec["tolerations"] = list(ex.tolerations)
    if ex.service_account_name:
        spec["serviceAccountName"] = ex.service_account_name
    if ex.priority_class_name:
        spec["priorityClassName"] = ex.priority_class_name
    if ex.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in ex.image_pull_secrets]
    if ex.affinity:
        spec["affinity"] = dict(ex.affinity)
    return podtemplate.restrict(spec, service_account=ex.service_account_name is not None)


def _template(exp: ExperimentRef, task: TaskSpec, attempt: int, ex: KubernetesExecutor, job: str,
              settings: Settings, labels: dict[str, str], to: UploadEndpoint | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": {**ex.pod_labels, **labels}}
    if ex.pod_annotations:
        metadata["annotations"] = dict(ex.pod_annotations)
    generated = {"metadata": metadata, "spec": _pod_spec(exp, task, attempt, ex, job, settings, to)}
    template = podtemplate.apply_template(generated, ex.pod_template, labels)
    if (document := inline_document(task)) is not None:  # a small document travels in the Job (documents.py)
        template["metadata"].setdefault("annotations", {})[ANNOTATION_TASK_DOCUMENT] = document
    return template


def build_job(exp: ExperimentRef, task: TaskSpec, attempt: int, settings: Settings, *,
              suspend: bool = False, upload_to: UploadEndpoint | None = None) -> dict[str, Any]:
    """The ``batch/v1`` Job of one attempt. Raises ManifestError when the task cannot be one.
    ``upload_to``: the record server the runner uploads series and artifacts to (None: they stay in the pod)."""
    ex = _executor(task)
    name = job_name(exp, task.name, attempt)
    labels = object_labels(exp, task.name, attempt)
    job_labels = dict(labels)
    if ex.queue:
        # Kueue's contract: a labelled Job is created suspended and Kueue unsuspends it on
        # admission (and suspends it again on preemption). The operator therefore never patches
        # `suspend` of a queue-managed Job, not even for spec.suspend, or it would fight Kueue.
        job_labels[LABEL_KUEUE_QUEUE] = ex.queue
        suspend = True
    spec: dict[str, Any] = {
        "backoffLimit": ex.backoff_limit,
        "completions": ex.nodes,
        "parallelism": ex.nodes,
        "suspend": suspend,
        # No ttlSecondsAfterFinished: the Experiment owns the lifecycle and status points at the Job.
        "template": _template(exp, task, attempt, ex, name, settings, labels, upload_to),
    }
    if ex.nodes > 1:
        spec["completionMode"] = "Indexed"  # stable per-pod index -> hostname -> MASTER_ADDR, NODE_RANK
    if ex.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = ex.active_deadline_seconds
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": owned_metadata(exp, name, job_labels), "spec": spec}


def build_headless_service(exp: ExperimentRef, task: TaskSpec, attempt: int) -> dict[str, Any] | None:
    """The headless Service giving a multi-node attempt's pods DNS names; None for one node."""
    ex = _executor(task)
    if ex.nodes <= 1:
        return None
    name = job_name(exp, task.name, attempt)
    labels = object_labels(exp, task.name, attempt)
    selector = {k: labels[k] for k in (LABEL_EXPERIMENT, LABEL_TASK, LABEL_ATTEMPT)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owned_metadata(exp, service_name(name), labels),
        "spec": {
            "clusterIP": "None",
            "selector": selector,
            # Rendezvous happens before any pod is Ready: peers must resolve immediately.
            "publishNotReadyAddresses": True,
        },
    }
