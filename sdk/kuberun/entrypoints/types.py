"""Parameters and their annotations, and checking a value against an annotation.

The override grammar is untyped text; the entrypoint's signature gives it types. Coercion is
deliberately narrow (``3`` is a fine float, ``2.5`` is not an int, ``"yes"`` is a bool only for a
bool), because a silently mistyped hyper-parameter costs a training run; each refusal says what was
expected. Annotations written as strings (``from __future__ import annotations``) are resolved.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fiddle as fdl

EMPTY = inspect.Parameter.empty
_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


class Mismatch(ValueError):
    """A value does not fit an annotation; the message says what was expected."""


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any = EMPTY
    default: Any = EMPTY
    var_keyword: bool = False


def params_of(target: Callable[..., Any]) -> dict[str, Param]:
    """The named parameters of a function or class, with resolved annotations and defaults."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return {}
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) and not _has_class_hints(target) else target)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        hints = {}
    factories = {}
    if inspect.isclass(target) and dataclasses.is_dataclass(target):
        factories = {f.name: f.default_factory for f in dataclasses.fields(target) if f.default_factory is not dataclasses.MISSING}
    out = {}
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        annotation = hints.get(p.name, p.annotation)
        # A dataclass field's default_factory: the value an instance would get (a fresh one per call).
        default = factories[p.name]() if p.name in factories else p.default
        out[p.name] = Param(p.name, annotation, default, p.kind is inspect.Parameter.VAR_KEYWORD)
    return out


def _has_class_hints(cls: type) -> bool:
    return dataclasses.is_dataclass(cls) or hasattr(cls, "model_fields")


def type_name(annotation: Any) -> str:
    if annotation is EMPTY or annotation is Any:
        return "any"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("fiddle._src.config.", "fdl.")


def _union_args(annotation: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return None


def configurable_types(annotation: Any) -> list[type]:
    """The classes a config-valued parameter accepts: ``Model``, ``fdl.Config[Model]``, ``Model | None``..."""
    if annotation is EMPTY or annotation is Any or isinstance(annotation, str):
        return []
    union = _union_args(annotation)
    if union is not None:
        return [t for arg in union for t in configurable_types(arg)]
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, fdl.Buildable):
        return [a for a in typing.get_args(annotation) if isinstance(a, type)]
    if isinstance(annotation, type) and is_configurable(annotation):
        return [annotation]
    return []


def is_configurable(cls: type) -> bool:
    """A class whose values a factory or a nested override (``model.depth=5``) makes: not a scalar or collection."""
    if cls in (str, bytes, int, float, bool, complex, type(None), object) or issubclass(cls, (enum.Enum, Path)):
        return False
    return not issubclass(cls, (Mapping, Sequence, set, frozenset))


def element_type(annotation: Any, key: Any = None) -> Any:
    """The annotation of an element of a list/dict annotation (``list[int]`` -> ``int``)."""
    union = _union_args(annotation)
    if union is not None:
        inner = [a for a in union if a is not type(None)]
        return element_type(inner[0], key) if len(inner) == 1 else EMPTY
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
        return args[1]
    if isinstance(origin, type) and issubclass(origin, Sequence) and args:
        return args[0]
    return EMPTY


def coerce(value: Any, annotation: Any, raw: str | None = None) -> Any:
    """``value`` checked against (and, where lossless, converted to) ``annotation``; Mismatch otherwise.

    ``raw`` is the text the value was parsed from, used when a ``str`` is expected (``name=123``).
    """
    if annotation is EMPTY or annotation is Any or annotation is object:
        return value
    if isinstance(annotation, str):  # an annotation that could not be resolved
        return value
    union = _union_args(annotation)
    if union is not None:
        if value is None and type(None) in union:
            return None
        for arg in union:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, raw)
            except Mismatch:
                continue
        raise Mismatch(f"expected {type_name(annotation)}, got {_show(value, raw)}")
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        for choice in typing.get_args(annotation):
            if value == choice or (raw is not None and str(choice) == raw):
                return choice
        raise Mismatch(f"expected one of {list(typing.get_args(annotation))}, got {_show(value, raw)}")
    if isinstance(origin, type) and issubclass(origin, fdl.Buildable):
        return _buildable(value, annotation, typing.get_args(annotation))
    if origin is not None:
        return _collection(value, annotation, origin)
    if not isinstance(annotation, type):
        return value
    return _scalar(value, annotation, raw)


def _scalar(value: Any, cls: type, raw: str | None) -> Any:
    if cls is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
    elif cls is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif cls is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif cls is str:
        if isinstance(value, str):
            return value
        if raw is not None:
            return raw
    elif issubclass(cls, Path):
        if isinstance(value, str | Path):
            return cls(value)
    elif issubclass(cls, enum.Enum):
        for member in cls:
            if value in (member, member.name, member.value):
                return member
        raise Mismatch(f"expected one of {[m.name for m in cls]}, got {_show(value, raw)}")
    elif is_configurable(cls):
        return _buildable(value, cls, (cls,))
    elif isinstance(value, cls):
        return value
    elif cls in (list, tuple, dict, set):
        return _collection(value, cls, cls)
    raise Mismatch(f"expected {type_name(cls)}, got {_show(value, raw)}")


def _collection(value: Any, annotation: Any, origin: Any) -> Any:
    args = typing.get_args(annotation)
    if issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise Mismatch(f"expected {type_name(annotation)}, got {_show(value)}")
        if len(args) != 2:
            return dict(value)
        return {coerce(k, args[0]): coerce(v, args[1]) for k, v in value.items()}
    if issubclass(origin, tuple):
        if not isinstance(value, list | tuple):
            raise Mismatch(f"expected {type_name(annotation)}, got {_show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise Mismatch(f"expected {type_name(annotation)} ({len(args)} items), got {len(value)} items")
        return tuple(coerce(v, a) for v, a in zip(value, args, strict=True)) if args else tuple(value)
    if issubclass(origin, Sequence | set | frozenset) and not issubclass(origin, str):
        if not isinstance(value, list | tuple | set | frozenset):
            raise Mismatch(f"expected {type_name(annotation)}, got {_show(value)}")
        items = [coerce(v, args[0]) for v in value] if args else list(value)
        return origin(items) if origin in (set, frozenset) else items
    return value


def _buildable(value: Any, annotation: Any, classes: tuple[Any, ...]) -> Any:
    wanted = [c for c in classes if isinstance(c, type)]
    if isinstance(value, fdl.Buildable):
        target = fdl.get_callable(value)
        if not wanted or any(target is c or (isinstance(target, type) and issubclass(target, c)) for c in wanted):
            return value
        raise Mismatch(f"expected a config of {type_name(annotation)}, got a config of {getattr(target, '__name__', target)}")
    if wanted and isinstance(value, tuple(wanted)):
        return value
    raise Mismatch(f"expected {type_name(annotation)} (name a factory), got {_show(value)}")


def _show(value: Any, raw: str | None = None) -> str:
    return repr(raw) if raw is not None else repr(value)
