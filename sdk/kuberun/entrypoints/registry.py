"""Factories: named functions that make configs, registered per type or per entrypoint parameter.

As in NeMo Run, ``@factory`` with no target registers under the return annotation's type
(``-> kr.Config[Model]`` registers for ``Model``); ``target=fn`` registers for the whole entrypoint
(``--factory``), ``target=fn, target_arg="model"`` for one parameter; ``is_target_default`` makes a
factory what an unset parameter gets. Unlike NeMo Run, a parameter annotated with a base class also
finds factories registered for its subclasses, so ``model: Model`` lists ``gpt_small`` made for
``GPT(Model)``. The registry is a module-level dict (no global ``catalogue`` state is shared with
NeMo Run, so both can be imported side by side).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import fiddle as fdl

from kuberun.entrypoints.errors import CLIError
from kuberun.entrypoints.types import EMPTY, configurable_types

F = TypeVar("F", bound=Callable[..., Any])
EXECUTOR_NAMESPACE = "kuberun.executor"

_FACTORIES: dict[str, dict[str, Callable[..., Any]]] = {}
_DEFAULTS: dict[str, Callable[..., Any]] = {}
_TYPES: dict[str, type] = {}


def namespace_of(target: Any) -> str:
    """The registry key of a function or class: ``module.qualname``."""
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', getattr(target, '__name__', repr(target)))}"


def _return_type(fn: Callable[..., Any]) -> type:
    try:
        annotation = typing.get_type_hints(fn).get("return", EMPTY)
    except Exception:
        annotation = getattr(fn, "__annotations__", {}).get("return", EMPTY)
    types = configurable_types(annotation)
    if not types:
        raise CLIError(f"factory {fn.__name__}: annotate what it returns (-> kr.Config[Model]) or pass target=")
    return types[0]


def factory(fn: F | None = None, target: Any = None, *, target_arg: str | None = None, is_target_default: bool = False,
            name: str | None = None, namespace: str | None = None) -> Any:
    """Register ``fn`` as a factory (NeMo Run's ``run.cli.factory``); returns ``fn`` unchanged.

    Example::

        @kr.cli.factory
        def small_model() -> kr.Config[Model]:
            return kr.Config(Model, depth=2)
    """
    if target_arg and target is None:
        raise CLIError("factory: target_arg needs target")

    def register(f: F) -> F:
        if namespace:
            key = namespace
        elif target is not None:
            key = namespace_of(target)
        else:
            cls = _return_type(f)
            key = namespace_of(cls)
            _TYPES[key] = cls
        if target_arg:
            key = f"{key}.{target_arg}"
        _FACTORIES.setdefault(key, {})[name or f.__name__] = f
        if is_target_default:
            _DEFAULTS[key] = f
        f.__factory__ = True  # type: ignore[attr-defined]
        return f

    return register if fn is None else register(fn)


def _type_namespaces(annotation: Any) -> list[str]:
    out: list[str] = []
    for cls in configurable_types(annotation):
        out.append(namespace_of(cls))
        out.extend(k for k, t in _TYPES.items() if t is not cls and issubclass(t, cls))
    return out


def namespaces_for(parent: Any, arg: str | None, annotation: Any) -> list[str]:
    """Where to look, most specific first: the parameter of ``parent``, then the annotation's types."""
    first = [f"{namespace_of(parent)}.{arg}"] if parent is not None and arg else []
    return list(dict.fromkeys([*first, *_type_namespaces(annotation)]))


def factories_in(namespaces: list[str]) -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for key in namespaces:
        for fname, fn in _FACTORIES.get(key, {}).items():
            found.setdefault(fname, fn)
    return found


def default_in(namespaces: list[str]) -> Callable[..., Any] | None:
    return next((_DEFAULTS[k] for k in namespaces if k in _DEFAULTS), None)


def lookup(name: str, namespaces: list[str], arg: str) -> Callable[..., Any] | None:
    """The factory ``name`` in ``namespaces``, or a dotted import path (``pkg.recipes.llama3_8b``), or None."""
    found = factories_in(namespaces).get(name)
    if found is not None or "." not in name:
        return found
    module, _, attr = name.rpartition(".")
    try:
        value = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    if not callable(value):
        raise CLIError(f"{name} is not callable", arg)
    return value


def resolve_factory(target: Any, name: str) -> Callable[..., Any]:
    """The factory registered as ``name`` for ``target`` (a type, an entrypoint or a namespace string)."""
    key = target if isinstance(target, str) else namespace_of(target)
    keys = [key, *(_type_namespaces(target) if isinstance(target, type) else [])]
    found = factories_in(keys).get(name)
    if found is None:
        raise CLIError(f"no factory {name!r} for {key} (registered: {', '.join(sorted(factories_in(keys))) or 'none'})")
    return found


def list_factories(target: Any) -> list[Callable[..., Any]]:
    key = target if isinstance(target, str) else namespace_of(target)
    keys = [key, *(_type_namespaces(target) if isinstance(target, type) else [])]
    return list(factories_in(keys).values())


def executor_namespaces(parent: Any) -> list[str]:
    """Executor factories: ``@factory(namespace="kuberun.executor")``, for the entrypoint, or by executor type."""
    from kuberun.resource.executors import EXECUTOR_TYPES

    return list(dict.fromkeys([f"{namespace_of(parent)}.executor", EXECUTOR_NAMESPACE,
                               *(namespace_of(t) for t in EXECUTOR_TYPES.values())]))


def is_buildable(value: Any) -> bool:
    return isinstance(value, fdl.Buildable)
