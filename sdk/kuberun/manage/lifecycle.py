"""Change an Experiment's lifecycle: cancel (spec.shutdown), suspend/resume (spec.suspend), delete.

These are the only spec fields the CRD lets change after creation; the operator does the rest.
"""

from __future__ import annotations

from typing import Any, Literal

from kuberun.api import MERGE_PATCH, Kube, Op
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
