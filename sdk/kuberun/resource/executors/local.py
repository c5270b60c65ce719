"""The local executor: a task run as a process of the operator (the sandbox; off by default elsewhere)."""

from __future__ import annotations

from pydantic import Field

from kuberun.resource.executors import base
from kuberun.resource.types import EnvVars


class LocalExecutor(base.UserExecutor):
    """Run the task as a local process of the operator (the sandbox; off by default elsewhere).

    Example::

        kr.LocalExecutor(env={"OMP_NUM_THREADS": "1"})
    """

    env: EnvVars = Field(default_factory=dict)
