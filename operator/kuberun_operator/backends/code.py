"""Backends that cannot yet deliver a task's code package refuse it, permanently and by name.

A packaged task (``tasks[].code``) needs its archive next to the runner. The Kubernetes backend mounts
the chunk ConfigMaps; a backend that has no way to deliver them must fail the attempt with a reason
the user can act on, not start a runner that would fail on a missing module (or, worse, import an
older copy of the module from the image).
"""

from __future__ import annotations

from kuberun.resource import TaskSpec
from kuberun_operator.backends.base import BackendError


def refuse_code(task: TaskSpec, backend: str) -> None:
    """A permanent ``CodeNotDelivered`` error when ``task`` ships a code package."""
    if task.code is not None:
        raise BackendError("CodeNotDelivered",
                           f"task {task.name!r} ships a code package ({task.code.sha256[:12]}), which the {backend} backend "
                           "cannot deliver yet: run it with kr.KubernetesExecutor, or put the code in the image and drop the packager",
                           permanent=True)
