"""NeMo Run's API on kuberun: ``import kuberun as run`` in a NeMo Run script, the rest unchanged.

What is here is the translation layer, kept apart from ``kr.Experiment`` so the core stays kuberun's
own: NeMo Run objects (``nemo_run.Script``, its executors and packagers) are converted to kuberun's
— field by field, and a field set to something kuberun has no equivalent for is an error naming
it, never silently dropped;
``sequential``, ``direct`` and plugins (``setup(task, executor)``) are the ``Experiment``
arguments of the same names (``kr.run`` and ``tail_logs`` live in ``kuberun.quickrun``, which sits
above ``kr.Experiment``; this module sits below it). nemo_run itself is never imported: objects are
recognised by their module, so kuberun works without it installed.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

from kuberun.errors import InvalidExecutorError, InvalidExperimentError

SLURM_CLUSTER_ENV = "KUBERUN_SLURM_CLUSTER"


def is_nemo_run(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "nemo_run"


def _set_fields(obj: Any) -> dict[str, Any]:
    """The dataclass fields of ``obj`` that differ from their defaults (what the user asked for)."""
    out = {}
    for f in dataclasses.fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            out[f.name] = value
            continue
        if value != default and not (type(value) is type(default) and type(value).__name__ == "Packager" and _set_fields(value) == {}):
            out[f.name] = value
    return out


def _refuse(kind: str, fields: dict[str, Any], why: str = "") -> None:
    if fields:
        names = ", ".join(sorted(fields))
        raise InvalidExecutorError(f"nemo_run.{kind}: {names} {'has' if len(fields) == 1 else 'have'} no kuberun equivalent"
                                   f"{why}; drop {'it' if len(fields) == 1 else 'them'} or use the kr.{kind} fields "
                                   "(docs/nemo-run.md lists the mapping)")


# --- tasks ---------------------------------------------------------------------------------


def convert_task(task: Any) -> Any:
    """A ``nemo_run.Script`` as ``kr.Script``; anything else as given (a job group's list is split by ``add``)."""
    if not is_nemo_run(task) or type(task).__name__ != "Script":
        return task
    from kuberun.configure import Script

    env, args = dict(task.env), [str(a) for a in task.args]
    if task.m:  # python -m <module>
        return Script(task.path, m=True, args=args, env=env)
    if task.inline:
        return Script(inline=task.inline, args=args, env=env, entrypoint=task.entrypoint or "bash")
    if task.path:
        return Script(path=task.path, args=args, env=env, entrypoint=task.entrypoint if task.entrypoint != "bash" else None)
    raise InvalidExperimentError("nemo_run.Script has neither path nor inline")


# --- packagers -----------------------------------------------------------------------------


def convert_packager(packager: Any) -> Any:
    """A NeMo Run packager as kuberun's (``kuberun.packaging``); ``Packager()`` (ship nothing) is None."""
    if packager is None or not is_nemo_run(packager):
        return packager
    from kuberun import packaging

    kind, given = type(packager).__name__, _set_fields(packager)
    given.pop("debug", None)
    if "symlink_from_remote_dir" in given:
        _refuse(kind, {"symlink_from_remote_dir": 1}, " (the runner unpacks a verified copy; it never links a remote dir)")
    if kind == "Packager":
        return None
    if kind == "GitArchivePackager":
        if given.get("include_pattern"):
            _refuse(kind, {"include_pattern": 1}, " (combine kr.GitArchivePackager and kr.PatternPackager in a HybridPackager)")
        strict = packager.check_uncommitted_changes or packager.check_untracked_files
        return packaging.GitArchivePackager(basepath=packager.basepath, subpath=packager.subpath, ref=packager.ref,
                                            include_submodules=packager.include_submodules,
                                            uncommitted="refuse" if strict else "warn")
    if kind == "PatternPackager":
        return packaging.PatternPackager(include_pattern=packager.include_pattern, relative_path=packager.relative_path)
    if kind == "HybridPackager":
        return packaging.HybridPackager(sub_packagers={k: convert_packager(v) for k, v in packager.sub_packagers.items()},
                                        extract_at_root=packager.extract_at_root)
    raise InvalidExecutorError(f"nemo_run.{kind} has no kuberun equivalent (packagers: GitArchivePackager, PatternPackager, HybridPackager)")


# --- executors -----------------------------------------------------------------------------

# NeMo Run field -> kuberun field, per executor; fields in _IGNORED are NeMo Run bookkeeping.
_FIELDS = {
    "LocalExecutor": ("LocalExecutor", {"env_vars": "env"}),
    "SlurmExecutor": ("SlurmExecutor", {"env_vars": "env", "account": "account", "partition": "partition", "qos": "qos",
                                        "time": "time_limit", "nodes": "nodes", "ntasks_per_node": "ntasks_per_node",
                                        "cpus_per_task": "cpus_per_task", "gpus_per_node": "gpus_per_node", "mem": "memory",
                                        "container_image": "container_image", "container_mounts": "container_mounts",
                                        "setup_lines": "setup", "gres": "gres", "constraint": "constraint",
                                        "exclude": "exclude", "srun_args": "srun_args", "array": "array"}),
    "SkypilotExecutor": ("SkypilotExecutor", {"env_vars": "env", "container_image": "image", "cloud": "cloud", "region": "region",
                                              "zone": "zone", "cpus": "cpus", "memory": "memory", "num_nodes": "num_nodes",
                                              "use_spot": "use_spot", "disk_size": "disk_size", "cluster_name": "cluster_name",
                                              "infra": "infra", "setup": "setup", "instance_type": "instance_type",
                                              "ports": "ports", "file_mounts": "file_mounts",
                                              "storage_mounts": "storage_mounts", "autodown": "autodown",
                                              "idle_minutes_to_autostop": "idle_minutes_to_autostop"}),
    "LeptonExecutor": ("LeptonExecutor", {"env_vars": "env", "container_image": "image", "nodes": "replicas",
                                          "resource_shape": "resource_shape", "node_group": "node_group", "mounts": "mounts",
                                          "shared_memory_size": "shared_memory_size", "node_reservation": "node_reservation",
                                          "image_pull_secrets": "image_pull_secrets"}),
    "KubeflowExecutor": ("KubernetesExecutor", {"env_vars": "env", "image": "image", "nodes": "nodes", "num_nodes": "nodes",
                                                "nproc_per_node": "procs_per_node", "nprocs_per_node": "procs_per_node",
                                                "gpus_per_node": "gpus", "namespace": None}),
}
_IGNORED = {"experiment_id", "job_dir", "job_name_prefix", "tunnel", "nemo_run_dir", "launched_from_cluster", "job_details"}


def _launcher(name: str, value: Any) -> Any:
    """NeMo Run's launcher (a name or an object) as kuberun's: ``"torchrun"``, or a ``kr.FaultTolerance``."""
    text = value if isinstance(value, str) else type(value).__name__
    if text.lower() == "torchrun":
        if not isinstance(value, str):
            _refuse(f"{name}.launcher=Torchrun", {k: v for k, v in _set_fields(value).items() if k not in ("rdzv_backend", "rdzv_port")
                                                  or v != {"rdzv_backend": "c10d", "rdzv_port": 29500}[k]})
        return "torchrun"
    if text.lower() in ("ft", "faulttolerance"):
        from kuberun.launchers import from_nemo_run

        if name not in ("SlurmExecutor", "KubeflowExecutor", "LeptonExecutor", "SkypilotExecutor"):
            raise InvalidExecutorError(f"nemo_run.{name}: FaultTolerance has no kuberun equivalent on this executor "
                                       "(in-job restarts run on the Kubernetes, Slurm, Lepton and SkyPilot executors)")
        return from_nemo_run(value, f"nemo_run.{name}")
    raise InvalidExecutorError(f"nemo_run.{name}: launcher {text!r} has no kuberun equivalent (kuberun has torchrun "
                               "and FaultTolerance)")


def convert_executor(executor: Any) -> Any:
    """A NeMo Run executor as kuberun's; ``retries`` is refused here (give ``retries=`` to ``exp.add``)."""
    if executor is None or not is_nemo_run(executor):
        return executor
    import kuberun.resource.executors as kr_executors

    kind = type(executor).__name__
    if kind not in _FIELDS:
        raise InvalidExecutorError(f"nemo_run.{kind} has no kuberun equivalent "
                                   f"(convertible: {', '.join(sorted(_FIELDS))}; or use kr.KubernetesExecutor)")
    target, mapping = _FIELDS[kind]
    given = {k: v for k, v in _set_fields(executor).items() if k not in _IGNORED}
    kwargs: dict[str, Any] = {}
    if "packager" in given:
        kwargs["packager"] = convert_packager(given.pop("packager"))
    if "launcher" in given:
        launcher = given.pop("launcher")
        if launcher is not None:
            if kind == "LocalExecutor":
                _refuse(kind, {"launcher": launcher}, " (a local task runs one process)")
            kwargs["launcher"] = _launcher(kind, launcher)
    for field, dest in mapping.items():
        if field in given:
            value = given.pop(field)
            if dest is not None:
                kwargs[dest] = dict(value) if isinstance(value, dict) else value
    if kind == "SkypilotExecutor":
        _skypilot_fields(given, kwargs)
    if kind == "SlurmExecutor":
        _slurm_flags(given, kwargs)
        _het_group(executor, given, kwargs)
        cluster = os.environ.get(SLURM_CLUSTER_ENV)
        if not cluster:
            raise InvalidExecutorError(f"nemo_run.SlurmExecutor: kuberun's operator holds the SSH connection, so name its "
                                       f"Slurm cluster: set ${SLURM_CLUSTER_ENV} or use kr.SlurmExecutor(cluster=...)")
        kwargs["cluster"] = cluster
    if kind == "LocalExecutor" and (getattr(executor, "ntasks_per_node", 1) != 1 or getattr(executor, "nodes", 1) != 1):
        _refuse(kind, {k: 1 for k in ("ntasks_per_node", "nodes") if getattr(executor, k) != 1}, " (a local task runs one process)")
    given.pop("ntasks_per_node", None) if kind == "LocalExecutor" else None
    given.pop("nodes", None) if kind == "LocalExecutor" else None
    _refuse(kind, given)
    return getattr(kr_executors, target)(**kwargs)


def _skypilot_fields(given: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """NeMo Run's ``gpus="H100", gpus_per_node=8`` is SkyPilot's ``accelerators="H100:8"``; its ``setup`` is one string."""
    gpus = given.pop("gpus", None)
    per_node = given.pop("gpus_per_node", None)
    if gpus is not None:
        if not isinstance(gpus, str):
            _refuse("SkypilotExecutor", {"gpus": gpus}, " as a list (SkyPilot's any-of accelerators; name one type)")
        kwargs["accelerators"] = f"{gpus}:{per_node or 1}"
    elif per_node is not None:
        _refuse("SkypilotExecutor", {"gpus_per_node": per_node}, " without gpus (name the accelerator type)")
    if isinstance(kwargs.get("setup"), str):
        kwargs["setup"] = [line for line in kwargs["setup"].splitlines() if line.strip()]


# NeMo Run SlurmExecutor fields that are plain sbatch options: kuberun passes them as extra flags.
_SBATCH_FIELDS = ("cpus_per_gpu", "gpus_per_task", "mem_per_gpu", "mem_per_cpu", "comment", "signal", "open_mode")


# A ResourceRequest's fields that are one het component's in kuberun (kr.SlurmHetComponent), and the
# executor's that NeMo Run repeats on every component; nodes/ntasks/gpus of the executor itself are
# the resource_group's first entry when NeMo Run merged a job group, so the group's values win.
_COMPONENT_FIELDS = {"nodes": "nodes", "ntasks_per_node": "ntasks_per_node", "gpus_per_node": "gpus_per_node",
                     "env_vars": "env", "srun_args": "srun_args"}
_PER_COMPONENT_OF_EXECUTOR = ("cpus_per_task", "memory", "time_limit", "gres")


def _het_group(executor: Any, given: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """NeMo Run's ``heterogeneous=True, resource_group=[ResourceRequest(...)]`` as kuberun's het executor."""
    from kuberun.resource.slurmhet import SlurmHetComponent

    heterogeneous = given.pop("heterogeneous", False)
    group = getattr(executor, "resource_group", None) or []  # not an __init__ field: set after construction
    if given.get("het_group_indices"):
        _refuse("SlurmExecutor", {"het_group_indices": given["het_group_indices"]},
                " (every task of a kuberun het job runs all of its components)")
    if not heterogeneous:
        if group:
            _refuse("SlurmExecutor", {"resource_group": group}, " without heterogeneous=True")
        return
    for field in ("nodes", "ntasks_per_node", "gpus_per_node"):
        kwargs.pop(field, None)
    shared = {f: kwargs.pop(f) for f in _PER_COMPONENT_OF_EXECUTOR if f in kwargs}
    images = {getattr(r, "container_image", None) for r in group}
    if len(images) > 1:
        _refuse("SlurmExecutor", {"resource_group.container_image": sorted(map(str, images))},
                " as different images per component (kuberun runs one container image for the whole het job)")
    if images - {None}:
        kwargs["container_image"] = images.pop()
    mounts = {tuple(getattr(r, "container_mounts", None) or ()) for r in group}
    if len(mounts) > 1:
        _refuse("SlurmExecutor", {"resource_group.container_mounts": 1}, " as different mounts per component")
    if mounts - {()}:
        kwargs["container_mounts"] = list(mounts.pop())
    kwargs["heterogeneous"] = True
    kwargs["resource_group"] = [SlurmHetComponent(**shared, **_component(r)) for r in group]


def _component(request: Any) -> dict[str, Any]:
    """One ``SlurmExecutor.ResourceRequest`` as ``kr.SlurmHetComponent`` fields; what has no equivalent is refused."""
    fields = {k: v for k, v in _set_fields(request).items() if k not in ("job_details", "container_image",
                                                                       "container_mounts", "packager")}
    out = {dest: fields.pop(src) for src, dest in _COMPONENT_FIELDS.items() if fields.get(src) is not None}
    if isinstance(out.get("env"), dict):
        out["env"] = dict(out["env"])
    out["srun_args"] = list(out.get("srun_args") or [])
    if fields.get("container_env"):
        out["srun_args"].append("--container-env=" + ",".join(fields.pop("container_env")))
    if fields.get("gpus_per_task") is not None:
        out["sbatch_args"] = [f"--gpus-per-task={fields.pop('gpus_per_task')}"]
    packager = getattr(request, "packager", None)
    if packager is not None and (type(packager).__name__ != "Packager" or _set_fields(packager)):
        fields["packager"] = packager  # one package ships with the task: set it on the executor
    _refuse("SlurmExecutor", {f"resource_group.{k}": v for k, v in fields.items() if v is not None},
            " (a het component has nodes, ntasks_per_node, gpus_per_node, gpus_per_task, env_vars, srun_args, "
            "container_env; one container_image and packager for the job)")
    return out


def _slurm_flags(given: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """NeMo Run's Slurm options without a field of their own, as kuberun's (allow-listed) extra flags.

    ``exclusive=True``, ``container_env`` (srun ``--container-env``), ``additional_parameters`` and
    the plain sbatch fields; ``dependency_type="afterok"`` is what ``dependsOn`` between Slurm tasks
    does already. Whatever the allow-list refuses is refused by name when the executor is built.
    """
    sbatch = [f"--{name.replace('_', '-')}={given.pop(name)}" for name in _SBATCH_FIELDS if name in given]
    for key, value in (given.pop("additional_parameters", None) or {}).items():
        flag = f"--{str(key).replace('_', '-')}"
        sbatch.append(flag if value is True or value == "" else f"{flag}={value}")
    if sbatch:
        kwargs["sbatch_args"] = sbatch
    if "exclusive" in given and given["exclusive"] in (True, False, None):
        kwargs["exclusive"] = bool(given.pop("exclusive"))
    if given.get("container_env"):
        kwargs["srun_args"] = [*kwargs.get("srun_args", []), "--container-env=" + ",".join(given.pop("container_env"))]
    if given.get("dependency_type") == "afterok":
        given.pop("dependency_type")  # what dependsOn does; any other type stays in `given` and is refused by name
    if given.get("dependencies"):
        _refuse("SlurmExecutor", {"dependencies": 1}, " (dependencies between tasks are dependsOn; kuberun queues a "
                "Slurm task behind its Slurm parents with afterok itself)")


# --- running -------------------------------------------------------------------------------


class Plugin:
    """NeMo Run's ``run.Plugin`` (``ExperimentPlugin``): subclass it and override ``setup``.

    ``setup(task, executor)`` runs in ``exp.add`` before the task is recorded; it may change the
    task's config and its executor (``executor.env_vars`` is the executor's ``env``).
    """

    def setup(self, task: Any, executor: Any) -> None:
        return None


def run_plugins(plugins: Any, task: Any, executor: Any) -> None:
    """Call each plugin's ``setup(task, executor)`` (NeMo Run's ``ExperimentPlugin`` hook) before the task is recorded."""
    for plugin in plugins if isinstance(plugins, list | tuple) else [plugins]:
        setup = getattr(plugin, "setup", None)
        if not callable(setup):
            raise InvalidExperimentError(f"plugin {type(plugin).__name__} has no setup(task, executor) method")
        setup(task, executor)


def chain_sequential(tasks: dict[str, Any], groups: dict[str, list[str]] | None = None) -> None:
    """NeMo Run's ``run(sequential=True)``: each task (or job group) without dependencies waits for
    the one added before it; a job group's members still run in parallel with each other."""
    group_of = {member: group for group, members in (groups or {}).items() for member in members}
    previous: list[str] = []
    units: list[list[Any]] = []
    for task in tasks.values():
        group = group_of.get(task.name)
        if group is not None and units and group_of.get(units[-1][0].name) == group:
            units[-1].append(task)
        else:
            units.append([task])
    for unit in units:
        if previous and not any(t.dependencies for t in unit):
            for task in unit:
                task.dependencies = list(previous)
        previous = [t.name for t in unit]


def run_direct(tasks: dict[str, Any]) -> None:
    """NeMo Run's ``run(direct=True)``: call each task here, in order (the user's own code, on their machine)."""
    import fiddle as fdl

    from kuberun.configure import Script

    for task in tasks.values():
        if isinstance(task.config, Script):
            source = task.config.to_source()
            argv = source.command or [*{"python": [sys.executable], "sh": ["sh"]}.get(source.entrypoint, ["bash"]), "-c", source.inline]
            code = subprocess.run([*argv, *source.args], env={**os.environ, **source.env}, check=False).returncode
            if code != 0:
                raise InvalidExperimentError(f"task {task.name!r} exited with {code}")
            continue
        built = fdl.build(task.config)
        if isinstance(task.config, fdl.Partial):
            built()
