"""What was asked: the Experiment's spec, its tasks, and each task's payload."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from kuberun.resource.base import KubeModel
from kuberun.resource.code import CodeRef
from kuberun.resource.constants import (
    DNS1123_LABEL,
    INLINE_LIMIT,
    MAX_DEPENDENCIES,
    MAX_NAME,
    MAX_RETRIES,
    MAX_TASKS,
)
from kuberun.resource.executors import Executor
from kuberun.resource.types import EnvVars


class ConfigMapChunk(KubeModel):
    """One piece of a serialized config too large to sit inline in the spec."""

    name: str = Field(..., max_length=253)
    key: str = Field("config", max_length=253)


class FiddleSource(KubeModel):
    """A Fiddle buildable, serialized: JSON, zlib-compressed, base64, with its sha256 digest.

    Small configs are inline (``data``); large ones are split over ConfigMaps (``configMapRefs``)
    that the SDK creates beside the Experiment, and the digest ties them together.
    """

    encoding: Literal["fiddle-json+zlib+base64"]
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    size: int = Field(..., ge=0, description="Length of the encoded data in bytes.")
    target: str | None = Field(None, max_length=512, description="The callable the config builds, for people reading the resource.")
    data: str | None = Field(None, max_length=INLINE_LIMIT, description="The encoded config, when inline.")
    config_map_refs: list[ConfigMapChunk] | None = Field(None, max_length=8, description="ConfigMaps holding the encoded config, in order.")

    @model_validator(mode="after")
    def _exactly_one_location(self) -> FiddleSource:
        if (self.data is None) == (self.config_map_refs is None):
            raise ValueError("a fiddle config is either inline (data) or in ConfigMaps (configMapRefs), exactly one")
        return self


class ScriptSource(KubeModel):
    """A command or an inline script, NeMo Run's ``run.Script``."""

    command: list[str] | None = Field(None, max_length=256, description="argv to execute, no shell.")
    inline: str | None = Field(None, max_length=128 * 1024, description="Script text, run by `entrypoint`.")
    entrypoint: str = Field("bash", max_length=64, description="Interpreter for `inline`: bash, sh or python.")
    args: list[str] = Field(default_factory=list, max_length=256)
    env: EnvVars = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one_form(self) -> ScriptSource:
        if (self.command is None) == (self.inline is None):
            raise ValueError("a script has exactly one of command or inline")
        return self


class RetryPolicy(KubeModel):
    """Retry a failed task up to ``limit`` more times, waiting ``backoffSeconds`` doubled each time (capped)."""

    limit: int = Field(0, ge=0, le=MAX_RETRIES)
    backoff_seconds: int = Field(10, ge=0, le=3600)


class TaskSpec(KubeModel):
    """One unit of work: a payload (a Fiddle config or a script) and where to run it."""

    name: str = Field(..., min_length=1, max_length=MAX_NAME, pattern=DNS1123_LABEL)
    fiddle: FiddleSource | None = None
    script: ScriptSource | None = None
    executor: Executor
    # Bounded items, not only a bounded list: a real API server refuses the CRD's dependsOn CEL rule
    # when its estimated cost (which grows with the longest possible string) exceeds the budget.
    depends_on: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=DNS1123_LABEL)]] = Field(
        default_factory=list, max_length=MAX_DEPENDENCIES)
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    code: CodeRef | None = Field(None, description="Code shipped with the task (a packager's archive), unpacked into its working directory.")

    @model_validator(mode="after")
    def _exactly_one_payload(self) -> TaskSpec:
        if (self.fiddle is None) == (self.script is None):
            raise ValueError(f"task {self.name!r}: exactly one of fiddle or script is required")
        if self.name in self.depends_on:
            raise ValueError(f"task {self.name!r} depends on itself")
        return self


class SourceInfo(KubeModel):
    """Where the submitting code came from, so a run can be traced to a revision."""

    remote: str | None = Field(None, max_length=1024)
    commit: str | None = Field(None, max_length=64)
    branch: str | None = Field(None, max_length=256)
    dirty: bool | None = None


class TaskCancel(KubeModel):
    """A request to cancel one task (``kuberun cancel NAME --task T``, ``exp.cancel("T")``).

    A spec entry rather than an annotation or a status write: a user who may ``patch experiments``
    may add it, the CRD lets only ``shutdown``, ``suspend`` and ``cancelTasks`` change, and the
    operator, level-triggered, acts on it after any restart. Listed once per task (the list is
    keyed by ``task``), so asking twice changes nothing; a task that already finished stays as it
    finished. ``by`` names who asked; the chart's admission policy holds it to the authenticated user.
    """

    task: str = Field(..., min_length=1, max_length=MAX_NAME, pattern=DNS1123_LABEL)
    by: str | None = Field(None, max_length=253, description="Who asked (the authenticated user).")


class ExperimentSpec(KubeModel):
    """The experiment as asked. Immutable once created, except ``shutdown``, ``suspend`` and ``cancelTasks``."""

    title: str = Field(..., min_length=1, max_length=253)
    description: str | None = Field(None, max_length=4096)
    project: str | None = Field(None, max_length=MAX_NAME)
    tasks: list[TaskSpec] = Field(..., min_length=1, max_length=MAX_TASKS)
    shutdown: Literal["Stop", "Terminate"] | None = Field(
        None, description="Stop: start nothing new, let running tasks finish. Terminate: cancel running tasks."
    )
    suspend: bool | None = Field(None, description="Suspend running Kubernetes Jobs and start nothing new until unset.")
    cancel_tasks: list[TaskCancel] | None = Field(None, max_length=MAX_TASKS, description=(
        "Tasks to cancel, each once: a running attempt is cancelled, a pending task never starts, dependents are skipped."))
    ttl_seconds_after_finished: int | None = Field(None, ge=0, description="Delete the Experiment this long after it finished.")
    source: SourceInfo | None = None
    submitted_by: str | None = Field(None, max_length=253)
    sdk_version: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _valid_graph(self) -> ExperimentSpec:
        from kuberun.resource.graph import check_task_graph

        check_task_graph(self.tasks)
        return self

    def cancel_request(self, name: str) -> TaskCancel | None:
        """The request to cancel task ``name``, if one was made."""
        return next((c for c in self.cancel_tasks or () if c.task == name), None)

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)
