"""Play the Job controller by hand: finish a Job (and its pod) as Kubernetes would report it.

Operator tests use this where the outcome must be chosen by the test (a failure with a given
exit code, a success at a given moment); the sandbox node runs real processes elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_jobs(api_client: Any, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    from kubernetes import client

    jobs = client.BatchV1Api(api_client).list_namespaced_job(namespace, label_selector=selector)
    return [api_client.sanitize_for_serialization(j) for j in jobs.items]


def start_job(api_client: Any, namespace: str, name: str) -> None:
    from kubernetes import client

    client.BatchV1Api(api_client).patch_namespaced_job_status(name, namespace, {"status": {"startTime": _now(), "active": 1}})


def finish_job(api_client: Any, namespace: str, name: str, exit_code: int = 0) -> None:
    """Mark the Job Complete (exit 0) or Failed (BackoffLimitExceeded) with a pod carrying ``exit_code``."""
    from kubernetes import client

    now = _now()
    core, batch = client.CoreV1Api(api_client), client.BatchV1Api(api_client)
    pod_name = f"{name}-pod"
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": pod_name, "labels": {"job-name": name}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "x"}]},
    })
    terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error", "finishedAt": now, "startedAt": now}
    core.patch_namespaced_pod_status(pod_name, namespace, {"status": {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "containerStatuses": [{"name": "task", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
                               "state": {"terminated": terminated}}]}})
    condition = ({"type": "Complete", "status": "True", "reason": "Completed"} if exit_code == 0
                 else {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"})
    status: dict[str, Any] = {"startTime": now, "active": 0, "conditions": [{**condition, "lastTransitionTime": now}]}
    status.update({"succeeded": 1, "completionTime": now} if exit_code == 0 else {"failed": 1})
    batch.patch_namespaced_job_status(name, namespace, {"status": status})
