"""``@entrypoint``: NeMo Run's ``run.cli.entrypoint`` for kuberun (``main`` lives in ``run``, which uses this).

The decorator returns the function itself (with ``cli_entrypoint`` attached), so the task a run
submits names the real, importable function and calling it directly still works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kuberun.entrypoints import registry
from kuberun.entrypoints.errors import CLIError

F = TypeVar("F", bound=Callable[..., Any])
_ENTRYPOINTS: dict[str, dict[str, Entrypoint]] = {}


@dataclass
class Entrypoint:
    """An entrypoint's settings: what ``kuberun run module:fn`` and ``main(fn)`` use."""

    fn: Callable[..., Any]
    name: str
    namespace: str
    help: str | None = None
    skip_confirmation: bool = False
    default_factory: Callable[..., Any] | None = None
    default_executor: Any = None
    default_plugins: list[Any] = field(default_factory=list)
    enable_executor: bool = True
    type: Literal["task", "experiment"] = "task"


def entrypoint(fn: F | None = None, *, name: str | None = None, namespace: str | None = None, help: str | None = None,
               skip_confirmation: bool = False, default_factory: Callable[..., Any] | None = None,
               default_executor: Any = None, default_plugins: list[Any] | None = None, enable_executor: bool = True,
               type: Literal["task", "experiment"] = "task") -> Any:
    """Make ``fn`` a command-line entrypoint (NeMo Run's ``@run.cli.entrypoint``).

    Example::

        @kr.cli.entrypoint(help="Train a model", default_factory=small_recipe)
        def train(model: Model, optim: Optim, steps: int = 10): ...

        if __name__ == "__main__":
            kr.cli.main(train)   # python train.py model=large_model steps*=2 --dryrun
    """
    if type != "task":
        raise CLIError("entrypoint(type='experiment') is not supported yet; an entrypoint makes one task")

    def wrap(f: F) -> F:
        ep = Entrypoint(fn=f, name=name or f.__name__, namespace=namespace or f.__module__, help=help or (f.__doc__ or "").strip() or None,
                        skip_confirmation=skip_confirmation, default_factory=default_factory, default_executor=default_executor,
                        default_plugins=list(default_plugins or []), enable_executor=enable_executor, type=type)
        if default_factory is not None:
            registry.factory(default_factory, target=f, is_target_default=True)
        f.cli_entrypoint = ep  # type: ignore[attr-defined]
        _ENTRYPOINTS.setdefault(ep.namespace, {})[ep.name] = ep
        return f

    return wrap if fn is None else wrap(fn)


def entrypoint_of(fn: Callable[..., Any]) -> Entrypoint:
    """The Entrypoint of ``fn`` (a plain function gets default settings, as ``main`` gives it)."""
    ep = getattr(fn, "cli_entrypoint", None)
    if isinstance(ep, Entrypoint):
        return ep
    if not callable(fn):
        raise CLIError(f"{fn!r} is not a function")
    return Entrypoint(fn=fn, name=getattr(fn, "__name__", "task"), namespace=getattr(fn, "__module__", "__main__"),
                      help=(getattr(fn, "__doc__", None) or "").strip() or None)


def list_entrypoints(namespace: str | None = None) -> dict[str, dict[str, Entrypoint]]:
    return {ns: dict(eps) for ns, eps in _ENTRYPOINTS.items() if namespace is None or ns == namespace}
