"""Apply parsed overrides to a Fiddle config: walk the path, find the annotation, set the value.

The walk creates what a path needs and copies what it must not mutate: an unset config-typed
parameter gets its default factory (or an empty ``fdl.Config`` of its class) so ``model.depth=5``
works without ``model=...`` first; a dataclass default becomes a ``fdl.Config`` of it; lists, dicts and
pydantic defaults are copied before they change, so a function's default values are never edited
in place. Every refusal names the override as typed and what the path expected.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import fiddle as fdl

from kuberun.entrypoints import registry
from kuberun.entrypoints.errors import CLIError
from kuberun.entrypoints.grammar import OPS, Attr, FactoryCall, Index, Override, factory_reference, literal
from kuberun.entrypoints.types import (
    EMPTY,
    Mismatch,
    coerce,
    configurable_types,
    element_type,
    params_of,
    type_name,
)

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Slot:
    """What sits at one path element: its value (or _MISSING), annotation, and the callable that owns it."""

    value: Any
    annotation: Any
    owner: Any
    name: str | None


def slot(container: Any, element: Attr | Index, container_annotation: Any, ov: Override) -> Slot:
    if isinstance(element, Attr) and isinstance(container, fdl.Buildable):
        target = fdl.get_callable(container)
        params = params_of(target)
        param = params.get(element.name)
        if param is None or param.var_keyword:
            if not any(p.var_keyword for p in params.values()):
                names = ", ".join(n for n, p in params.items() if not p.var_keyword) or "none"
                raise CLIError(f"{_name(target)} has no parameter {element.name!r} (parameters: {names})", ov.text)
            param = None
        if element.name in container.__arguments__:
            value = container.__arguments__[element.name]
        else:
            value = param.default if param is not None and param.default is not EMPTY else _MISSING
        return Slot(value, param.annotation if param else EMPTY, target, element.name)
    if isinstance(container, dict):
        key = element.name if isinstance(element, Attr) else element.key
        return Slot(container.get(key, _MISSING), element_type(container_annotation, key), None, None)
    if isinstance(element, Index):
        if not isinstance(container, list):
            raise CLIError(f"[{element.key!r}]: {type(container).__name__} is not a list or dict", ov.text)
        if not isinstance(element.key, int) or not -len(container) <= element.key < len(container):
            raise CLIError(f"index [{element.key!r}] out of range (the list has {len(container)} items)", ov.text)
        return Slot(container[element.key], element_type(container_annotation), None, None)
    params = params_of(type(container))
    if element.name not in params and not hasattr(container, element.name):
        raise CLIError(f"{type(container).__name__} has no field {element.name!r}", ov.text)
    param = params.get(element.name)
    return Slot(getattr(container, element.name, _MISSING), param.annotation if param else EMPTY, type(container), element.name)


def store(container: Any, element: Attr | Index, value: Any, ov: Override) -> None:
    try:
        if isinstance(container, dict | list):
            container[element.name if isinstance(element, Attr) else element.key] = value
        else:
            setattr(container, element.name, value)  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError) as exc:
        raise CLIError(_first_line(exc), ov.text) from None


def descend(container: Any, element: Attr | Index, annotation: Any, ov: Override) -> tuple[Any, Any]:
    """The child at ``element``, made writable (created, converted or copied) and stored back."""
    here = slot(container, element, annotation, ov)
    child = here.value
    if child is _MISSING or child is None:
        types = configurable_types(here.annotation)
        if not types:
            raise CLIError(f"{element_label(element)} is not set and is not a config to fill in", ov.text)
        made = registry.default_in(registry.namespaces_for(here.owner, here.name, here.annotation))
        child = made() if made is not None else fdl.Config(types[0])
    elif isinstance(child, fdl.Buildable):
        child = child if _owned(container, element) else copy.deepcopy(child)
    elif dataclasses.is_dataclass(child) and not isinstance(child, type):
        fields = {f.name: getattr(child, f.name) for f in dataclasses.fields(child) if f.init}
        child = fdl.Config(type(child), **fields)
    elif hasattr(child, "model_copy"):
        child = child.model_copy(deep=True)
    elif isinstance(child, list | dict):
        child = copy.copy(child)
    else:
        raise CLIError(f"{element_label(element)} is a {type(child).__name__}; its attributes cannot be set", ov.text)
    store(container, element, child, ov)
    return child, here.annotation


def _owned(container: Any, element: Attr | Index) -> bool:
    """Whether the value was set on this config (ours to edit), not a parameter's shared default."""
    return not (isinstance(container, fdl.Buildable) and isinstance(element, Attr) and element.name not in container.__arguments__)


def apply_override(root: Any, ov: Override, root_annotation: Any = EMPTY) -> None:
    container, annotation = root, root_annotation
    for element in ov.path[:-1]:
        container, annotation = descend(container, element, annotation, ov)
    last = ov.path[-1]
    here = slot(container, last, annotation, ov)
    if ov.op == "=":
        value = resolve_value(ov, here)
    else:
        if here.value is _MISSING:
            raise CLIError(f"'{ov.op}' needs a current value, and {ov.key} is not set and has no default", ov.text)
        operand = literal(ov.raw) if ov.raw is not None else ov.value
        try:
            value = OPS[ov.op](here.value, operand)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise CLIError(f"cannot apply '{ov.op}' to {here.value!r} and {operand!r}: {exc}", ov.text) from None
        if here.annotation is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        value = _checked(value, here, ov, None)
    store(container, last, value, ov)


def resolve_value(ov: Override, here: Slot) -> Any:
    raw = ov.raw if ov.raw is not None else (ov.value if isinstance(ov.value, str) else None)
    types = configurable_types(here.annotation) or configurable_types(element_type(here.annotation))
    untyped = here.annotation is EMPTY or here.annotation is Any
    if raw is not None and (types or untyped):
        ref = factory_reference(raw, ov.text)
        namespaces = registry.namespaces_for(here.owner, here.name, here.annotation)
        if isinstance(ref, FactoryCall):
            fn = registry.lookup(ref.name, namespaces, ov.text)
            if fn is not None:
                return _checked(call_factory(fn, ref, ov.text), here, ov, None)
            if types and (ref.called or literal(raw) is not None):
                known = ", ".join(sorted(registry.factories_in(namespaces))) or "none registered"
                raise CLIError(f"no factory {ref.name!r} for {type_name(here.annotation)} (factories: {known})", ov.text)
        elif isinstance(ref, list) and types:
            made = []
            for item in ref:
                fn = registry.lookup(item.name, registry.namespaces_for(None, None, types[0]), ov.text)
                if fn is None:
                    raise CLIError(f"no factory {item.name!r} for {type_name(types[0])}", ov.text)
                made.append(call_factory(fn, item, ov.text))
            return _checked(made, here, ov, None)
    value = literal(ov.raw) if ov.raw is not None else ov.value
    return _checked(value, here, ov, ov.raw)


def call_factory(fn: Callable[..., Any], ref: FactoryCall, text: str) -> Any:
    params = params_of(fn)
    kwargs = {}
    for key, value in ref.kwargs:
        param = params.get(key)
        if param is None and not any(p.var_keyword for p in params.values()):
            raise CLIError(f"factory {ref.name} has no parameter {key!r} (parameters: {', '.join(params) or 'none'})", text)
        try:
            kwargs[key] = coerce(value, param.annotation if param else EMPTY)
        except Mismatch as exc:
            raise CLIError(f"{ref.name}({key}=...): {exc}", text) from None
    try:
        return fn(**kwargs)
    except TypeError as exc:
        raise CLIError(f"factory {ref.name}: {exc}", text) from None


def _checked(value: Any, here: Slot, ov: Override, raw: str | None) -> Any:
    try:
        return coerce(value, here.annotation, raw)
    except Mismatch as exc:
        raise CLIError(str(exc), ov.text) from None


def element_label(element: Attr | Index) -> str:
    return element.name if isinstance(element, Attr) else f"[{element.key!r}]"


def _name(target: Any) -> str:
    return getattr(target, "__name__", repr(target))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
