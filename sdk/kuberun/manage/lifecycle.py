"""Change an Experiment's lifecycle: cancel (spec.shutdown), cancel one task (spec.cancelTasks),
suspend/resume (spec.suspend), delete.

These are the only spec fields the CRD lets change after creation; the operator does the rest.
"""

from __future__ import annotations

from typing import Any, Literal

from kuberun.api import JSON_PATCH, MERGE_PATCH, Kube, Op
from kuberun.errors import ApiError, ConflictError, InvalidError, NotFoundError
from kuberun.manage.query import RESOURCE, Obj, experiment_path, finished, get_experiment, phase_of

Shutdown = Literal["Stop", "Terminate"]


def _patch(kube: Kube, name: str, namespace: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    ns = namespace or kube.namespace
    return kube.request("PATCH", experiment_path(ns, name), Op("patch", RESOURCE, ns, name),
                        body={"spec": spec}, content_type=MERGE_PATCH)


def cancel_noop(obj: Obj, *, stop: bool = False) -> str | None:
    """Why cancelling ``obj`` would change nothing (a finished run, a Terminate already asked), or None.

    ``shutdown`` only escalates (Stop -> Terminate, never back), so a Stop after a Terminate is a
    no-op; saying so beats printing "stopping" for a request that did nothing.
    """
    if finished(obj):
        return f"has already finished ({phase_of(obj)}): nothing to cancel"
    current = (obj.get("spec") or {}).get("shutdown")
    if current == "Terminate":
        return "is already terminating" + (": --stop cannot undo a cancel" if stop else "")
    if current == "Stop" and stop:
        return "is already stopping"
    return None


def cancel(kube: Kube, name: str, namespace: str | None = None, *, stop: bool = False) -> dict[str, Any]:
    """Terminate running tasks (or, with ``stop``, start nothing new and let running tasks finish).

    A request that would change nothing (see ``cancel_noop``) writes nothing.
    """
    wanted: Shutdown = "Stop" if stop else "Terminate"
    obj = get_experiment(kube, name, namespace)
    if cancel_noop(obj, stop=stop) is not None:
        return obj
    return _patch(kube, name, namespace, {"shutdown": wanted})


def cancel_task_noop(obj: Obj, task: str) -> str | None:
    """Why cancelling ``task`` of ``obj`` would change nothing (it finished, it was asked already), or None.

    Raises ``NotFoundError`` when the experiment has no such task.
    """
    spec = obj.get("spec") or {}
    names = [t.get("name") for t in spec.get("tasks") or []]
    if task not in names:
        raise NotFoundError(f"experiment {obj['metadata']['name']!r} has no task {task!r} (tasks: {', '.join(map(str, names))})")
    record = next((t for t in (obj.get("status") or {}).get("tasks") or [] if t.get("name") == task), {})
    if record.get("phase") in ("Succeeded", "Failed", "Cancelled", "Skipped"):
        return f"task {task} has already finished ({record['phase']}): nothing to cancel"
    if any(c.get("task") == task for c in spec.get("cancelTasks") or []):
        return f"task {task} is already being cancelled"
    if finished(obj):
        return f"has already finished ({phase_of(obj)}): nothing to cancel"
    return None


def cancel_task(kube: Kube, name: str, task: str, namespace: str | None = None, *, by: str | None = None,
                attempts: int = 5) -> dict[str, Any]:
    """Cancel one task (``spec.cancelTasks``): its running attempt is cancelled, its dependents are skipped,
    the other tasks go on. ``by`` (default: the kubeconfig's user) is who asked, as the record will say.

    The entry is appended with a JSON patch that first tests the resourceVersion it read, so two people
    cancelling two tasks at once both land (a merge patch would replace the whole list); a lost race is
    read again, up to ``attempts`` times. Asking for a task already asked for, or finished, writes nothing.
    """
    ns = namespace or kube.namespace
    last: ApiError | None = None
    for _ in range(attempts):
        obj = get_experiment(kube, name, ns)
        if cancel_task_noop(obj, task) is not None:
            return obj
        entry = {"task": task, **({"by": by or kube.user} if (by or kube.user) else {})}
        current = (obj.get("spec") or {}).get("cancelTasks")
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
               {"op": "add", "path": "/spec/cancelTasks/-", "value": entry} if current is not None
               else {"op": "add", "path": "/spec/cancelTasks", "value": [entry]}]
        try:
            return kube.request("PATCH", experiment_path(ns, name), Op("patch", RESOURCE, ns, name), body=ops,
                                content_type=JSON_PATCH)
        except (ConflictError, InvalidError) as err:  # the test failed: someone wrote in between
            last = err
    assert last is not None
    raise last


def suspend(kube: Kube, name: str, namespace: str | None = None) -> dict[str, Any]:
    """Suspend running Kubernetes Jobs and start nothing new until resumed."""
    return _patch(kube, name, namespace, {"suspend": True})


def resume(kube: Kube, name: str, namespace: str | None = None) -> dict[str, Any]:
    """Undo ``suspend``."""
    return _patch(kube, name, namespace, {"suspend": None})


def delete(kube: Kube, name: str, namespace: str | None = None) -> None:
    """Delete the Experiment; its Jobs and ConfigMaps go with it (owner references), remote work via the finalizer."""
    ns = namespace or kube.namespace
    kube.request("DELETE", experiment_path(ns, name), Op("delete", RESOURCE, ns, name),
                 body={"propagationPolicy": "Background"})
