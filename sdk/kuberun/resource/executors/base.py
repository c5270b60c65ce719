"""What every backend's executor shares: user-facing errors, quantities, launcher objects.

Each backend's executor lives in its own module beside this one (``kubernetes.py``, ``slurm.py``...);
what they have in common is written once here, so that a bad field reads the same on every
backend and ``kr.FaultTolerance`` fills the same fields wherever it is given.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from kuberun.resource.base import KubeModel

MAX_RESTARTS_HELP = ("In-job restarts (kr.FaultTolerance): a failed task is restarted inside its attempt this many "
                     "times — by torchrun (--max-restarts) under launcher='torchrun', else by the runner; each "
                     "attempt records its count.")


def quantity(value: Any) -> Any:
    """A field validator (mode ``before``): ``cpu=2`` becomes ``"2"``, as Kubernetes quantities are strings."""
    if isinstance(value, bool):
        raise ValueError("a quantity must be a number or a string such as '500m' or '8Gi'")
    return str(value) if isinstance(value, int | float) else value


def launcher_object(data: Any, nodes: str, procs: str) -> Any:
    """A launcher given as an object (``kr.FaultTolerance``) sets the fields it stands for.

    The trait is a method ``executor_fields(processes) -> dict``, so the executors (the SDK's lowest
    layer) need no import of the launchers themselves.
    """
    launcher = data.get("launcher") if isinstance(data, dict) else None
    if launcher is None or isinstance(launcher, str) or not hasattr(launcher, "executor_fields"):
        return data
    processes = int(data.get(nodes) or 1) * int(data.get(procs) or 1)
    return {**data, **launcher.executor_fields(processes)}


def _invalid(exc: ValidationError) -> Exception:
    from kuberun.errors import InvalidExecutorError
    from kuberun.resource.errors_format import format_validation_error

    return InvalidExecutorError(format_validation_error(exc, [], what="executor"))


class UserExecutor(KubeModel):
    """An executor a user constructs: a bad field is one ``InvalidExecutorError`` line naming it.

    Only direct construction (``kr.KubernetesExecutor(cpu="banana")``) and assignment are reworded;
    parsing a resource (the operator's path) still raises pydantic's error inside the resource's own.
    """

    #: NeMo Run's ``executor.packager``: a ``kuberun.packaging`` packager whose package ships with the
    #: task. Client-side only: never in the resource (``exclude``) nor the CRD; the spec records the
    #: package as ``tasks[].code`` (a CodeRef) instead.
    packager: SkipJsonSchema[Any] = Field(None, exclude=True, repr=False)

    @property
    def env_vars(self) -> dict[str, str]:
        """NeMo Run's name for ``env`` (the same dict: a plugin's ``executor.env_vars[k] = v`` sets it)."""
        return self.env  # type: ignore[attr-defined, no-any-return]

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _invalid(exc) from None

    # Marks this __init__ as pydantic's own, so validating a whole resource does not call it (a nested
    # executor stays a plain field error with its full path); only a user's direct call goes through it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _invalid(exc) from None
