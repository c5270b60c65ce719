"""Backends that cannot deliver a task's code package refuse it, permanently and by name.

A packaged task (``tasks[].code``) needs its archive next to the runner. The Kubernetes backend mounts
the chunk ConfigMaps (a larger package the pod downloads from the record server), and the other backends read the package (``kuberun_operator.codestore``) and
hand it over their own transport; a backend that has no way to deliver it must fail the attempt with
a reason the user can act on, not start a runner that would fail on a missing module (or, worse,
import an older copy of the module from the image).
"""

from __future__ import annotations

from kuberun.resource import TaskSpec
from kuberun.resource.code import CONFIGMAP_CODE_LIMIT, in_store
from kuberun_operator.backends.base import BackendError


def refuse_code(task: TaskSpec, backend: str) -> None:
    """A permanent ``CodeNotDelivered`` error when ``task`` ships a code package."""
    if task.code is not None:
        raise BackendError("CodeNotDelivered",
                           f"task {task.name!r} ships a code package ({task.code.sha256[:12]}), which the {backend} backend "
                           "cannot deliver yet: run it with kr.KubernetesExecutor, or put the code in the image and drop the packager",
                           permanent=True)


def refuse_unmountable_code(task: TaskSpec, downloadable: bool) -> None:
    """A permanent error when a pod could neither mount nor download ``task``'s package.

    A package over the ConfigMap limit is in the operator's log store; a pod downloads it from the record
    server with its bound token (``kuberun.packaging.fetch``), which needs the server published over https
    (``downloadable``: the pod gets an upload endpoint). A storage URL that is not the operator's store is
    never fetched.
    """
    code = task.code
    if code is None or code.storage.config_maps is not None:
        return
    if not in_store(code.storage, code.sha256):
        raise BackendError("CodeUnavailable", f"task {task.name!r}: code package {code.sha256[:12]} is stored at "
                           f"{code.storage.url!r:.120}, not in the operator's store; only packages uploaded through "
                           "the record server are delivered", permanent=True)
    if not downloadable:
        raise BackendError("CodeNotDelivered",
                           f"task {task.name!r} ships a code package of {code.size} bytes ({code.sha256[:12]}), over the "
                           f"{CONFIGMAP_CODE_LIMIT}-byte limit of ConfigMaps a pod can mount; a pod downloads larger "
                           "packages from the operator's record server, which this cluster does not publish over https "
                           "(the chart's recordServer.tls): package less (exclude data and checkpoints), ask the "
                           "administrator to serve the record server with TLS, or run it with the Slurm, SkyPilot, "
                           "Lepton or local executor", permanent=True)
