"""Reproduce: a new Experiment from an old one's spec, with NeMo Run-style dotted overrides.

Override rule (``KEY=VALUE``):

- ``task.path=value``: when the first segment of ``KEY`` names a task, the rest is an attribute
  path in that task's Fiddle config: ``train.lr=3e-4``, ``train.model.width=16``,
  ``train.layers[0].size=8`` (``[i]`` indexes lists and tuples, ``['k']`` dict keys).
- ``path=value``: in an experiment with exactly one Fiddle task the task name may be left out:
  ``model.width=16``. A first segment that names a task always means the task.
- ``VALUE`` is read as a Python literal (``ast.literal_eval``: ``3e-4``, ``[1, 2]``, ``None``,
  ``'text'``); anything that is not a literal is taken as a string (``opt=adam``).

The record is data: the overrides are applied to the serialized configs loaded with inert
stand-ins for the user's callables (``kuberun.manage.record``), so nothing from the record is
imported or executed here unless ``allow_import=True`` (``--import-code``), which also checks the
values against the real signatures. Everything else is copied from the old spec: executors,
dependencies, retries, the shipped script sources and the code package (``code``: same digest,
same ConfigMaps, now also owned by the new Experiment), so the new run runs the same code.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from kuberun.api import Kube
from kuberun.errors import InvalidOverrideError
from kuberun.manage import record
from kuberun.manage.query import Obj, config_map_data
from kuberun.naming import experiment_name
from kuberun.resource.constants import ANNOTATION_REPRODUCED_FROM_UID, LABEL_PREFIX, LABEL_REPRODUCED_FROM

_SEGMENT = re.compile(r"\.?([A-Za-z_]\w*)|\[(-?\d+)\]|\[(['\"])(.*?)\3\]")


def parse_value(text: str) -> Any:
    """A Python literal if ``text`` is one, else the text itself: '3e-4' -> 0.0003, 'adam' -> 'adam'."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_path(key: str) -> list[str | int]:
    """'model.layers[0].size' -> ['model', 'layers', 0, 'size']. Raises InvalidOverrideError."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(key):
        m = _SEGMENT.match(key, pos)
        if m is None or (pos == 0 and key.startswith(".")):
            raise InvalidOverrideError(f"invalid override path {key!r}: use dotted names and [index] (e.g. train.model.width)")
        attr, index, _, dict_key = m.groups()
        parts.append(attr if attr is not None else int(index) if index is not None else dict_key)
        pos = m.end()
    if not parts:
        raise InvalidOverrideError("empty override path")
    return parts


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """['train.lr=3e-4', 'steps=10'] -> {'train.lr': 0.0003, 'steps': 10}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidOverrideError(f"invalid override {item!r}: expected KEY=VALUE (e.g. train.lr=3e-4)")
        out[key.strip()] = parse_value(value.strip())
    return out


def _split_task(key: str, tasks: dict[str, Any]) -> tuple[str, list[str | int]]:
    path = parse_path(key)
    fiddle_tasks = [name for name, t in tasks.items() if _is_buildable(t.config)]
    if isinstance(path[0], str) and path[0] in tasks and path[0] not in fiddle_tasks:
        raise InvalidOverrideError(f"invalid override {key!r}: task {path[0]!r} is a script task; script tasks take no config overrides"
                                   + (f" (tasks with a config: {', '.join(fiddle_tasks)})" if fiddle_tasks else ""))
    if isinstance(path[0], str) and path[0] in tasks and len(path) > 1:
        return path[0], path[1:]
    if len(fiddle_tasks) == 1:
        return fiddle_tasks[0], path
    if not fiddle_tasks:
        raise InvalidOverrideError(f"invalid override {key!r}: every task here is a script task, and script tasks take no config overrides")
    raise InvalidOverrideError(f"invalid override path {key!r}: start with a task name ({', '.join(fiddle_tasks)})")


def _is_buildable(value: Any) -> bool:
    import fiddle as fdl

    return isinstance(value, fdl.Buildable)


def _child(node: Any, part: str | int, where: str) -> Any:
    import fiddle as fdl

    try:
        if isinstance(node, fdl.Buildable) and isinstance(part, str):
            return getattr(node, part)
        return node[part]
    except (AttributeError, KeyError, IndexError, TypeError):
        raise InvalidOverrideError(f"invalid override path {where!r}: {_describe(node)} has no {_show(part)}{_choices(node)}") from None


def _assign(node: Any, part: str | int, value: Any, where: str) -> None:
    import fiddle as fdl

    try:
        if isinstance(node, fdl.Buildable) and isinstance(part, str):
            allowed = _arguments(node)
            if part not in allowed and "*" not in allowed:  # "*": the callable takes **kwargs (a record's stand-in does)
                raise AttributeError(part)
            setattr(node, part, value)
        elif isinstance(node, (list, dict)):
            if isinstance(node, list) and not -len(node) <= int(part) < len(node):
                raise IndexError(part)
            node[part] = value  # type: ignore[index]
        else:
            raise TypeError(part)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise InvalidOverrideError(f"invalid override path {where!r}: {_describe(node)} has no {_show(part)}{_choices(node)}") from None


def _arguments(node: Any) -> set[str]:
    import inspect

    import fiddle as fdl

    names = set(node.__arguments__)
    try:
        params = inspect.signature(fdl.get_callable(node)).parameters.values()
    except (TypeError, ValueError):
        return names
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return names | {"*"}
    return names | {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _describe(node: Any) -> str:
    import fiddle as fdl

    if isinstance(node, fdl.Buildable):
        return getattr(fdl.get_callable(node), "__name__", type(node).__name__)
    return type(node).__name__


def _show(part: str | int) -> str:
    return f"index {part}" if isinstance(part, int) else f"attribute {part!r}"


def _choices(node: Any) -> str:
    import fiddle as fdl

    if isinstance(node, fdl.Buildable):
        names = sorted(_arguments(node) - {"*"})
        return f" (has: {', '.join(names)})" if names else ""
    return ""


def apply_overrides(tasks: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Set each override on the tasks' live configs (``tasks``: name -> ExperimentTask). Raises InvalidOverrideError."""
    for key, value in overrides.items():
        task, path = _split_task(key, tasks)
        node = tasks[task].config  # a Fiddle buildable: _split_task refuses script tasks
        for part in path[:-1]:
            node = _child(node, part, key)
        if isinstance(node, tuple):
            raise InvalidOverrideError(f"invalid override path {key!r}: tuples cannot change; override the whole tuple")
        _assign(node, path[-1], value, key)


def set_image(executor: Any, image: str) -> Any:
    """``executor`` pointed at ``image``: the Kubernetes/Lepton image, Slurm's container image (SkyPilot: none)."""
    for field in ("image", "container_image"):
        if field in type(executor).model_fields:
            return executor.model_copy(update={field: image})
    return executor


def build_reproduction(kube: Kube, old: Obj, overrides: dict[str, Any], *, name: str | None = None,
                       image: str | None = None, user: str | None = None,
                       allow_import: bool = False, kept_config_maps: list[Obj] | None = None) -> tuple[Obj, list[Obj]]:
    """The new Experiment (and its ConfigMaps) from ``old`` with ``overrides``, linked to ``old`` by label.

    ``kept_config_maps``: for an archived ``old`` whose ConfigMaps went with it, the copies the archive
    kept (``RecordClient.config_maps``): configs are read from them, code chunks created again."""
    from types import SimpleNamespace

    from pydantic import ValidationError

    from kuberun.errors import InvalidExperimentError
    from kuberun.resource import ExperimentResource
    from kuberun.resource.errors_format import format_validation_error

    try:
        resource = ExperimentResource.parse(old)
    except ValidationError as exc:
        raise InvalidExperimentError(format_validation_error(exc, [])) from None
    meta = old["metadata"]
    new_name = name or experiment_name(resource.spec.title)
    ns = meta["namespace"]
    if kept_config_maps is None:
        envelopes = _envelopes(resource.spec.tasks, config_map_data(kube, old))
    else:
        envelopes = _envelopes(resource.spec.tasks, kept_config_data(old, kept_config_maps))
    names = list(envelopes)
    with record.loaded([envelopes[n] for n in names], allow_import=allow_import) as buildables:
        tasks = {t.name: SimpleNamespace(config=None) for t in resource.spec.tasks}
        for task_name, buildable in zip(names, buildables, strict=True):
            tasks[task_name].config = buildable
        apply_overrides(tasks, overrides)
        changed = {n: record.dump(tasks[n].config, envelopes[n]) for n in names}
    maps: list[Obj] = list(kept_code_chunks(kept_config_maps or []))  # same names (by digest): created again if gone
    new_tasks = []
    for task in resource.spec.tasks:
        update: dict[str, Any] = {}
        if task.name in changed:
            fiddle, task_maps = _encoded(changed[task.name], task, new_name, ns)
            update["fiddle"], maps = fiddle, maps + task_maps
        if image:
            update["executor"] = type(task.executor)(**{k: set_image(v, image) for k, v in _executors(task.executor)})
        new_tasks.append(task.model_copy(update=update))
    spec = resource.spec.model_copy(update={"tasks": new_tasks, "shutdown": None, "suspend": None, "cancel_tasks": None,
                                            "submitted_by": user or kube.user or resource.spec.submitted_by})
    from kuberun.naming import slug
    from kuberun.resource.constants import LABEL_PROJECT, LABEL_SUBMITTER, LABEL_TITLE

    labels = {k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith(LABEL_PREFIX)}
    labels.update({LABEL_TITLE: slug(spec.title), LABEL_SUBMITTER: slug(spec.submitted_by or "unknown"),
                   LABEL_REPRODUCED_FROM: meta["name"]})
    if spec.project:
        labels[LABEL_PROJECT] = slug(spec.project)
    annotations = {ANNOTATION_REPRODUCED_FROM_UID: meta.get("uid", "")}
    out = {"apiVersion": old.get("apiVersion"), "kind": old.get("kind"),
           "metadata": {"name": new_name, "namespace": ns, "labels": labels, "annotations": annotations},
           "spec": spec.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")}
    ExperimentResource.parse(out)  # the copy must be as valid as the original
    return out, maps


def _executors(executor: Any) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in executor if v is not None]


def kept_config_data(old: Obj, kept: list[Obj]) -> dict[str, str]:
    """``{ConfigMap name: config data}`` of ``old``'s task configs, from the archive's copies."""
    by_name = {(cm.get("metadata") or {}).get("name"): cm for cm in kept}
    out: dict[str, str] = {}
    for task in (old.get("spec") or {}).get("tasks") or []:
        for ref in (task.get("fiddle") or {}).get("configMapRefs") or []:
            cm = by_name.get(ref["name"])
            if cm is not None:
                out[ref["name"]] = (cm.get("data") or {}).get(ref.get("key", "config"), "")
    return out


def kept_code_chunks(kept: list[Obj]) -> list[Obj]:
    """The code package chunks among the archive's copies, ready to create again (no owners, no namespace)."""
    from kuberun.packaging.ship import is_code_config_map

    out = []
    for cm in kept:
        if is_code_config_map(cm):
            meta = {k: v for k, v in (cm.get("metadata") or {}).items() if k in ("name", "labels", "annotations")}
            out.append({**cm, "metadata": meta})
    return out


def _envelopes(tasks: list[Any], config_maps: dict[str, str]) -> dict[str, dict[str, Any]]:
    from kuberun.serialization import decode_envelope

    out = {}
    for task in tasks:
        if task.fiddle is None:
            continue
        data = task.fiddle.data
        if data is None:
            missing = [c.name for c in task.fiddle.config_map_refs or [] if c.name not in config_maps]
            if missing:
                raise InvalidOverrideError(f"task {task.name!r}: its config's ConfigMaps {missing} are gone")
            data = "".join(config_maps[c.name] for c in task.fiddle.config_map_refs or [])
        out[task.name] = decode_envelope(data, task.fiddle.sha256)
    return out


def _encoded(envelope: dict[str, Any], task: Any, experiment: str, ns: str) -> tuple[Any, list[Obj]]:
    """The FiddleSource of a changed envelope: inline when small, else ConfigMaps named after the new experiment."""
    import base64
    import json
    import zlib

    from kuberun.naming import bounded
    from kuberun.resource import ConfigMapChunk, FiddleSource
    from kuberun.resource.constants import (
        FIDDLE_ENCODING,
        INLINE_LIMIT,
        LABEL_CONFIG_DIGEST,
        LABEL_EXPERIMENT,
        LABEL_TASK,
    )
    from kuberun.serialization import EncodedConfig, digest

    text = json.dumps(envelope, sort_keys=True)
    data = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
    enc = EncodedConfig(data=data, sha256=digest(data), target=task.fiddle.target)
    if enc.size <= INLINE_LIMIT:
        return FiddleSource(encoding=FIDDLE_ENCODING, sha256=enc.sha256, size=enc.size, target=enc.target, data=data), []
    maps, refs = [], []
    for i, chunk in enumerate(enc.chunks()):
        cm_name = bounded(f"{experiment}-{task.name}-config-{i}", 253)
        refs.append(ConfigMapChunk(name=cm_name))
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "data": {"config": chunk},
                     "metadata": {"name": cm_name, "namespace": ns, "labels": {
                         LABEL_EXPERIMENT: experiment, LABEL_TASK: task.name, LABEL_CONFIG_DIGEST: enc.sha256[:63]}}})
    return FiddleSource(encoding=FIDDLE_ENCODING, sha256=enc.sha256, size=enc.size, target=enc.target, config_map_refs=refs), maps


def reproduce(kube: Kube, old: Obj, overrides: dict[str, Any], **kwargs: Any) -> Obj:
    """Create the reproduction; returns it as the API server stored it."""
    from kuberun.manage.submit import create

    resource, maps = build_reproduction(kube, old, overrides, **kwargs)
    return create(kube, resource, maps)
