"""An experiment's definition: tasks, executors and dependencies, emitted as an Experiment resource.

This is the configure half of ``kr.Experiment`` (``kuberun.experiment``), with nothing that needs a
cluster: ``build()`` validates and returns the resource and the ConfigMaps for large configs,
``dryrun()`` prints them, ``from_resource()`` reads one back with live Fiddle buildables. Keeping it
apart lets the manage layer (reproduce) build experiments without importing ``kr.Experiment``,
whose ``get``/``run`` import the manage layer: the import graph stays one-way.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from kuberun.configure import Buildable, Script
from kuberun.errors import InvalidExperimentError
from kuberun.naming import experiment_name, slug
from kuberun.resource import (
    ConfigMapChunk,
    Executor,
    ExperimentResource,
    ExperimentSpec,
    FiddleSource,
    KubernetesExecutor,
    ObjectMeta,
    RetryPolicy,
)
from kuberun.resource.constants import (
    FIDDLE_ENCODING,
    INLINE_BUDGET,
    INLINE_LIMIT,
    LABEL_PROJECT,
    LABEL_SUBMITTER,
    LABEL_TITLE,
)
from kuberun.resource.errors_format import format_validation_error
from kuberun.serialization import EncodedConfig, encode_config

ExecutorModel = Any  # one of kr.KubernetesExecutor, kr.SlurmExecutor, ... (pydantic models)


@dataclass
class ExperimentTask:
    """A task as the SDK holds it: the live buildable (or script), editable until emitted."""

    name: str
    config: Buildable | Script
    executor: ExecutorModel
    dependencies: list[str] = field(default_factory=list)
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    #: The code package the task ships (from its executor's packager, or carried over by reproduce).
    code: Any = None
    #: NeMo Run's ``tail_logs``: follow this task's log while ``run(wait=True)`` waits.
    tail_logs: bool = False
    #: Script sources the config shipped when it was read back (``from_resource``): they travel again.
    shipped_modules: dict[str, str] = field(default_factory=dict)


Self = TypeVar("Self", bound="ExperimentDefinition")


class ExperimentDefinition:
    """A set of tasks with dependencies, emitted as one ``Experiment`` resource (no cluster involved).

    ``kr.Experiment`` adds running and finding experiments in a cluster to this; reproduce builds
    on the definition alone, so the manage layer never needs ``kr.Experiment``.
    """

    def __init__(
        self,
        title: str,
        *,
        executor: ExecutorModel | None = None,
        description: str | None = None,
        project: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        ttl_seconds_after_finished: int | None = None,
    ) -> None:
        self.title = title
        self.executor = _checked_executor(executor)
        self.description = description
        self.project = project
        self.name = name or experiment_name(title)
        self.namespace = namespace
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.tasks: dict[str, ExperimentTask] = {}
        self.labels: dict[str, str] = {}
        self.annotations: dict[str, str] = {}
        self.submitted_by: str | None = None
        #: NeMo Run's job groups: a group's name -> its member tasks (a dependency on the group waits for all).
        self.groups: dict[str, list[str]] = {}
        self._encoded: dict[str, EncodedConfig] = {}

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.title!r}, name={self.name!r}, tasks={list(self.tasks)})"

    def add(
        self,
        task: Buildable | Script | list[Buildable | Script],
        executor: ExecutorModel | list[ExecutorModel] | None = None,
        name: str | None = None,
        *,
        dependencies: list[str] | None = None,
        retries: int = 0,
        backoff_seconds: int = 10,
        plugins: Any = None,
        tail_logs: bool = False,
    ) -> str:
        """Add a task; returns its name, to use in another task's ``dependencies``.

        NeMo Run's signature: ``executor`` and ``name`` may be positional; ``plugins`` (objects with
        ``setup(task, executor)``, NeMo Run's ``ExperimentPlugin`` included) run here, before the task
        is recorded, and may change both; a ``nemo_run.Script`` or NeMo Run executor is converted.
        """
        from kuberun.nemorun import convert_executor, convert_task, run_plugins

        if isinstance(task, list | tuple):
            return self._add_group(list(task), executor, name, dependencies=dependencies, retries=retries,
                                   backoff_seconds=backoff_seconds, plugins=plugins, tail_logs=tail_logs)
        if isinstance(executor, list | tuple):
            raise InvalidExperimentError("a list of executors goes with a list of tasks (a job group), one each")
        dependencies = self._expand_groups(dependencies)
        task = convert_task(task)
        executor = convert_executor(executor)
        if not isinstance(task, Buildable | Script):
            raise InvalidExperimentError(f"a task is a kr.Config, kr.Partial or kr.Script, got {type(task).__name__}")
        task_name = name or self._default_name(task)
        if task_name in self.tasks or task_name in self.groups:
            raise InvalidExperimentError(f"duplicate task name {task_name!r}")
        try:
            policy = RetryPolicy(limit=retries, backoff_seconds=backoff_seconds)
        except ValidationError as exc:  # name the argument of add(), not RetryPolicy's field
            problem = format_validation_error(exc, []).removeprefix("invalid experiment: ").replace("limit:", "retries:", 1)
            raise InvalidExperimentError(f"invalid task {task_name!r}: {problem}") from None
        chosen = _checked_executor(executor) or self.executor or KubernetesExecutor()
        if plugins:
            packager = chosen.packager
            chosen = chosen.model_copy(deep=True)  # a plugin edits this task's executor, not a shared one
            chosen.packager = packager  # ...but a shared packager still packages once
            run_plugins(plugins, task, chosen)
        self.tasks[task_name] = ExperimentTask(
            name=task_name,
            config=task,
            executor=chosen,
            dependencies=list(dependencies or []),
            retries=policy,
            tail_logs=tail_logs,
        )
        return task_name

    def _add_group(self, members: list[Any], executor: Any, name: str | None, **options: Any) -> str:
        """NeMo Run's job group: ``add([t1, t2], executor=e or [e1, e2], name="g")`` adds ``g-0``,
        ``g-1``, ... with the group's dependencies, run in parallel (each its own Job: they are not
        co-scheduled into one heterogeneous Slurm job); a later ``dependencies=["g"]`` waits for all."""
        if not members:
            raise InvalidExperimentError("a job group needs at least one task")
        executors = list(executor) if isinstance(executor, list | tuple) else [executor] * len(members)
        if len(executors) != len(members):
            raise InvalidExperimentError(f"a job group of {len(members)} tasks was given {len(executors)} executors: "
                                         "give one executor for all or one per task")
        group = name or self._default_name(members[0], suffix="group")
        if group in self.tasks or group in self.groups:
            raise InvalidExperimentError(f"duplicate task name {group!r}")
        names = [f"{group}-{i}" for i in range(len(members))]
        taken = [n for n in names if n in self.tasks or n in self.groups]
        if taken:
            raise InvalidExperimentError(f"job group {group!r}: task name {taken[0]!r} is already used")
        added = []
        try:
            for member, member_executor, member_name in zip(members, executors, names, strict=True):
                added.append(self.add(member, member_executor, member_name, **options))
        except Exception:
            for done in added:  # all of the group or none of it
                del self.tasks[done]
            raise
        self.groups[group] = added
        return group

    def _expand_groups(self, dependencies: list[str] | None) -> list[str]:
        expanded: list[str] = []
        for dep in dependencies or []:
            for name in self.groups.get(dep, [dep]):
                if name not in expanded:
                    expanded.append(name)
        return expanded

    def _default_name(self, task: Buildable | Script, suffix: str = "") -> str:
        import fiddle as fdl

        base = slug(getattr(fdl.get_callable(task), "__name__", "task"), 50) if isinstance(task, Buildable) else "script"
        if suffix:
            base = f"{base}-{suffix}"
        name, n = base, 1
        while name in self.tasks or name in self.groups:
            n += 1
            name = f"{base}-{n}"
        return name

    # -- emitting -------------------------------------------------------------------------

    def _encode_all(self) -> dict[str, EncodedConfig]:
        encoded = {}
        for task in self.tasks.values():
            if isinstance(task.config, Buildable):
                encoded[task.name] = encode_config(task.config, task.name, task.shipped_modules)
        return encoded

    def _spilled(self, encoded: dict[str, EncodedConfig]) -> set[str]:
        """Tasks whose configs go to ConfigMaps: each over INLINE_LIMIT, then the largest until under budget."""
        spilled = {name for name, enc in encoded.items() if enc.size > INLINE_LIMIT}
        inline = sorted((enc.size, name) for name, enc in encoded.items() if name not in spilled)
        while inline and sum(size for size, _ in inline) > INLINE_BUDGET:
            spilled.add(inline.pop()[1])
        return spilled

    def _config_map_name(self, task: str, index: int) -> str:
        from kuberun.naming import bounded

        return bounded(f"{self.name}-{task}-config-{index}", 253)

    def _task_spec(self, task: ExperimentTask, encoded: EncodedConfig | None, spill: bool, code: Any = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": task.name,
            "executor": Executor.wrap(task.executor),
            "dependsOn": task.dependencies,
            "retries": task.retries,
        }
        if code is not None:
            spec["code"] = code
        if isinstance(task.config, Script):
            spec["script"] = task.config.to_source()
        else:
            assert encoded is not None
            location: dict[str, Any] = (
                {"configMapRefs": [ConfigMapChunk(name=self._config_map_name(task.name, i)) for i in range(len(encoded.chunks()))]}
                if spill else {"data": encoded.data}
            )
            spec["fiddle"] = FiddleSource(encoding=FIDDLE_ENCODING, sha256=encoded.sha256, size=encoded.size, target=encoded.target, **location)
        return spec

    def build(self) -> tuple[ExperimentResource, list[dict[str, Any]]]:
        """The validated resource and the ConfigMaps it needs. Raises InvalidExperimentError."""
        if not self.tasks:
            raise InvalidExperimentError(f"experiment {self.title!r} has no tasks; add one with exp.add(...)")
        from kuberun import __version__
        from kuberun.gitinfo import capture_source
        from kuberun.packaging.ship import package_tasks

        encoded = self._encode_all()
        spilled = self._spilled(encoded)
        code_refs, code_maps = package_tasks(self.tasks, self.namespace)
        try:
            spec = ExperimentSpec(
                title=self.title,
                description=self.description,
                project=self.project,
                tasks=[self._task_spec(t, encoded.get(t.name), t.name in spilled, code_refs.get(t.name)) for t in self.tasks.values()],
                ttl_seconds_after_finished=self.ttl_seconds_after_finished,
                source=capture_source(),
                submitted_by=self.submitted_by or getpass.getuser(),
                sdk_version=__version__,
            )
        except ValidationError as exc:
            raise InvalidExperimentError(format_validation_error(exc, [t for t in self.tasks])) from None
        labels = {LABEL_TITLE: slug(self.title), LABEL_SUBMITTER: slug(spec.submitted_by or "unknown")}
        if self.project:
            labels[LABEL_PROJECT] = slug(self.project)
        meta = ObjectMeta(name=self.name, namespace=self.namespace, labels={**labels, **self.labels}, annotations=dict(self.annotations))
        resource = ExperimentResource(metadata=meta, spec=spec)
        return resource, [*code_maps, *self._config_maps(encoded, spilled)]

    def _config_maps(self, encoded: dict[str, EncodedConfig], spilled: set[str]) -> list[dict[str, Any]]:
        from kuberun.resource.constants import LABEL_CONFIG_DIGEST, LABEL_EXPERIMENT, LABEL_TASK

        maps = []
        for task in sorted(spilled):
            for i, chunk in enumerate(encoded[task].chunks()):
                meta: dict[str, Any] = {
                    "name": self._config_map_name(task, i),
                    "labels": {LABEL_EXPERIMENT: self.name, LABEL_TASK: task, LABEL_CONFIG_DIGEST: encoded[task].sha256[:63]},
                }
                if self.namespace:
                    meta["namespace"] = self.namespace
                maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"config": chunk}})
        return maps

    def to_resource(self) -> dict[str, Any]:
        """The Experiment resource as a dict (ConfigMaps for large configs: see ``to_manifests``)."""
        return self.build()[0].to_dict()

    def to_manifests(self) -> list[dict[str, Any]]:
        """Every object to create: the ConfigMaps holding large configs, then the Experiment."""
        resource, config_maps = self.build()
        return [*config_maps, resource.to_dict()]

    def dryrun(self, print_: bool = False) -> str:
        """The resources as multi-document YAML that ``kubectl apply -f`` accepts."""
        import yaml

        text = yaml.safe_dump_all(self.to_manifests(), sort_keys=False, width=120)
        if print_:
            print(text)
        return text

    # -- reading back ---------------------------------------------------------------------

    @classmethod
    def from_resource(cls: type[Self], obj: dict[str, Any] | str, config_maps: dict[str, str] | None = None) -> Self:
        """Rebuild an experiment from its resource (dict or YAML), tasks as live Fiddle buildables.

        ``config_maps`` maps ConfigMap names to their ``config`` data, for configs not inline.
        """
        import tempfile
        from pathlib import Path

        from kuberun.serialization import decode_config, decode_envelope

        if isinstance(obj, str):
            import yaml

            docs = [d for d in yaml.safe_load_all(obj) if d]
            config_maps = {**{d["metadata"]["name"]: d["data"]["config"] for d in docs if d.get("kind") == "ConfigMap" and "config" in (d.get("data") or {})}, **(config_maps or {})}
            obj = next(d for d in docs if d.get("kind") == "Experiment")
        try:
            resource = ExperimentResource.parse(obj)
        except ValidationError as exc:
            raise InvalidExperimentError(format_validation_error(exc, [])) from None
        spec = resource.spec
        shipped: dict[str, dict[str, str]] = {}
        exp = cls(spec.title, description=spec.description, project=spec.project, namespace=resource.metadata.namespace,
                  ttl_seconds_after_finished=spec.ttl_seconds_after_finished)
        for task in spec.tasks:
            if task.script is not None:
                config: Buildable | Script = Script.from_source(task.script)
            else:
                assert task.fiddle is not None
                data = task.fiddle.data
                if data is None:
                    missing = [c.name for c in task.fiddle.config_map_refs or [] if c.name not in (config_maps or {})]
                    if missing:
                        raise InvalidExperimentError(f"task {task.name!r}: config is in ConfigMaps {missing}; pass their data")
                    data = "".join((config_maps or {})[c.name] for c in task.fiddle.config_map_refs or [])
                with tempfile.TemporaryDirectory(prefix="kuberun-modules-") as modules_dir:
                    config = decode_config(data, task.fiddle.sha256, Path(modules_dir))
                shipped[task.name] = dict(decode_envelope(data, task.fiddle.sha256).get("modules") or {})
            exp.add(config, executor=task.executor.config, name=task.name, dependencies=list(task.depends_on),
                    retries=task.retries.limit, backoff_seconds=task.retries.backoff_seconds)
            exp.tasks[task.name].code = task.code  # the shipped code carries over
            exp.tasks[task.name].shipped_modules = shipped.get(task.name, {})
        return exp


def _checked_executor(executor: ExecutorModel | None) -> ExecutorModel | None:
    """``executor`` if it is one of kuberun's executors (or None); else an InvalidExecutorError, now, not at build."""
    from kuberun.errors import InvalidExecutorError
    from kuberun.resource.executors import EXECUTOR_TYPES

    if executor is None or isinstance(executor, tuple(EXECUTOR_TYPES.values())):
        return executor
    kinds = ", ".join(f"kr.{t.__name__}" for t in EXECUTOR_TYPES.values())
    raise InvalidExecutorError(f"invalid executor: expected one of {kinds}, got {type(executor).__name__} {executor!r}"[:300])
