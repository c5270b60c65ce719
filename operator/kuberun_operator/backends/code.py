"""Backends that cannot deliver a task's code package refuse it, permanently and by name.

A packaged task (``tasks[].code``) needs its archive next to the runner. The Kubernetes backend mounts
the chunk ConfigMaps, and the other backends read the package (``kuberun_operator.codestore``) and
hand it over their own transport; a backend that has no way to deliver it must fail the attempt with
a reason the user can act on, not start a runner that would fail on a missing module (or, worse,
import an older copy of the module from the image).
"""

from __future__ import annotations

from kuberun.resource import TaskSpec
from kuberun.resource.code import CONFIGMAP_CODE_LIMIT
from kuberun_operator.backends.base import BackendError


def refuse_code(task: TaskSpec, backend: str) -> None:
    """A permanent ``CodeNotDelivered`` error when ``task`` ships a code package."""
    if task.code is not None:
        raise BackendError("CodeNotDelivered",
                           f"task {task.name!r} ships a code package ({task.code.sha256[:12]}), which the {backend} backend "
                           "cannot deliver yet: run it with kr.KubernetesExecutor, or put the code in the image and drop the packager",
                           permanent=True)


def refuse_unmountable_code(task: TaskSpec) -> None:
    """A permanent ``CodeNotDelivered`` error when a pod could not mount ``task``'s package (over the ConfigMap limit).

    Such a package is in the operator's log store; a pod has no credentials to fetch it from there.
    """
    code = task.code
    if code is not None and code.storage.config_maps is None:
        raise BackendError("CodeNotDelivered",
                           f"task {task.name!r} ships a code package of {code.size} bytes ({code.sha256[:12]}), over the "
                           f"{CONFIGMAP_CODE_LIMIT}-byte limit of ConfigMaps a pod can mount; pods cannot fetch larger "
                           "packages from the log store yet: package less (exclude data and checkpoints), or run it with "
                           "the Slurm, SkyPilot, Lepton or local executor", permanent=True)
