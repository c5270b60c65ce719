"""Reproduce: a new Experiment from an old one's spec, with NeMo Run-style dotted overrides.

Override rule (``KEY=VALUE``):

- ``task.path=value``: when the first segment of ``KEY`` names a task, the rest is an attribute
  path in that task's Fiddle config: ``train.lr=3e-4``, ``train.model.width=16``,
  ``train.layers[0].size=8`` (``[i]`` indexes lists and tuples, ``['k']`` dict keys).
- ``path=value``: in an experiment with exactly one Fiddle task the task name may be left out:
  ``model.width=16``. A first segment that names a task always means the task.
- ``VALUE`` is read as a Python literal (``ast.literal_eval``: ``3e-4``, ``[1, 2]``, ``None``,
  ``'text'``); anything that is not a literal is taken as a string (``opt=adam``).

Applying overrides needs the live Fiddle buildables, so reproduce imports the task callables
(``ExperimentDefinition.from_resource``), like the runner does: run it where the code is importable.
``describe`` never does this: it renders the serialized JSON without importing user code.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from kuberun.api import Kube
from kuberun.errors import InvalidOverrideError
from kuberun.manage.query import Obj, config_map_data
from kuberun.naming import experiment_name
from kuberun.resource.constants import LABEL_PREFIX, LABEL_REPRODUCED_FROM

ANNOTATION_REPRODUCED_FROM_UID = f"{LABEL_PREFIX}/reproduced-from-uid"
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
            if part not in _arguments(node):
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


def set_image(tasks: dict[str, Any], image: str) -> None:
    """Point every task's executor at ``image``: the Kubernetes/Lepton image, Slurm's container image, SkyPilot's image_id."""
    for task in tasks.values():
        for field in ("image", "container_image"):
            if field in type(task.executor).model_fields:
                task.executor = task.executor.model_copy(update={field: image})
                break


def _load(experiment_cls: Any, old: Obj, config_maps: dict[str, str]) -> Any:
    from kuberun.errors import KuberunError

    try:
        return experiment_cls.from_resource(old, config_maps)
    except KuberunError:
        raise
    except Exception as exc:  # the callables' modules are user code: any import error can surface here
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidOverrideError(
            f"cannot load the configs of {old['metadata']['name']!r} ({type(exc).__name__}: {text}); reproduce imports "
            "the tasks' callables, so run it where their modules are importable (e.g. set PYTHONPATH)") from None


def build_reproduction(kube: Kube, old: Obj, overrides: dict[str, Any], *, name: str | None = None,
                       image: str | None = None, user: str | None = None) -> tuple[Obj, list[Obj]]:
    """The new Experiment (and its ConfigMaps) from ``old`` with ``overrides``, linked to ``old`` by label."""
    from kuberun.definition import ExperimentDefinition

    exp = _load(ExperimentDefinition, old, config_map_data(kube, old))
    apply_overrides(exp.tasks, overrides)
    if image:
        set_image(exp.tasks, image)
    meta = old["metadata"]
    exp.name = name or experiment_name(exp.title)
    exp.namespace = meta["namespace"]
    exp.labels = {k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith(LABEL_PREFIX)}
    exp.labels[LABEL_REPRODUCED_FROM] = meta["name"]
    exp.annotations[ANNOTATION_REPRODUCED_FROM_UID] = meta.get("uid", "")
    exp.submitted_by = user or kube.user
    resource, maps = exp.build()
    out = resource.to_dict()
    if (old.get("spec") or {}).get("source"):
        out["spec"]["source"] = old["spec"]["source"]  # the code that runs is the original's, not this checkout's
    return out, maps


def reproduce(kube: Kube, old: Obj, overrides: dict[str, Any], **kwargs: Any) -> Obj:
    """Create the reproduction; returns it as the API server stored it."""
    from kuberun.manage.submit import create

    resource, maps = build_reproduction(kube, old, overrides, **kwargs)
    return create(kube, resource, maps)
