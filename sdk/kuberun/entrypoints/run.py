"""From argv to a task: resolve an entrypoint's config, then dry-run it or submit it as an Experiment.

``resolve`` is pure (no cluster, no prompt): factory, ``--yaml`` overrides, then the command line's,
then the executor. ``run_entrypoint`` adds the effects: help, dry run, confirmation, and
``kr.Experiment(...).add(task).run()``. A prompt needs a terminal: without one, and without ``-y``,
it refuses instead of waiting for input that never comes.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fiddle as fdl

from kuberun.entrypoints import registry
from kuberun.entrypoints.apply import apply_override, call_factory
from kuberun.entrypoints.argv import Invocation, parse_argv
from kuberun.entrypoints.entrypoint import Entrypoint, entrypoint_of
from kuberun.entrypoints.errors import CLIError
from kuberun.entrypoints.grammar import FactoryCall, Override, factory_reference, parse_args, yaml_overrides
from kuberun.entrypoints.types import EMPTY, configurable_types, params_of, type_name
from kuberun.errors import KuberunError


@dataclass
class Resolved:
    """What a command line asks for: the task (a ``fdl.Partial`` of the entrypoint) and where to run it."""

    task: fdl.Partial
    executor: Any
    title: str
    invocation: Invocation


def _factory_call(name: str, namespaces: list[str], what: str) -> Any:
    ref = factory_reference(name, what)
    if not isinstance(ref, FactoryCall):
        raise CLIError("expected a factory name, e.g. llama3_8b or llama3_8b(nodes=2)", f"{what} {name}")
    fn = registry.lookup(ref.name, namespaces, what)
    if fn is None:
        known = ", ".join(sorted(registry.factories_in(namespaces))) or "none registered"
        raise CLIError(f"no factory {ref.name!r} (factories: {known})", f"{what} {name}")
    return call_factory(fn, ref, f"{what} {name}")


def _as_task(value: Any, ep: Entrypoint, what: str) -> fdl.Partial:
    if not isinstance(value, fdl.Buildable) or fdl.get_callable(value) is not ep.fn:
        got = fdl.get_callable(value).__name__ if isinstance(value, fdl.Buildable) else type(value).__name__
        raise CLIError(f"returned {got}, not a config of {ep.name}", what)
    if isinstance(value, fdl.Partial):
        return value
    return fdl.Partial.__unflatten__(*value.__flatten__())


def _base_task(ep: Entrypoint, factory: str | None) -> fdl.Partial:
    own = [registry.namespace_of(ep.fn)]
    if factory:
        return _as_task(_factory_call(factory, own, "--factory"), ep, f"--factory {factory}")
    default = registry.default_in(own)
    if default is not None:
        return _as_task(default(), ep, f"default factory {default.__name__}")
    task = fdl.Partial(ep.fn)
    for name, param in params_of(ep.fn).items():
        if param.default is EMPTY and not param.var_keyword and configurable_types(param.annotation):
            made = registry.default_in(registry.namespaces_for(ep.fn, name, param.annotation))
            if made is not None:
                setattr(task, name, made())
    return task


def _load_yaml(path: str) -> tuple[str | None, list[Override]]:
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise CLIError(f"cannot read: {exc.strerror or exc}", f"--yaml {path}") from None
    except yaml.YAMLError as exc:
        raise CLIError(f"not valid YAML: {str(exc).splitlines()[0]}", f"--yaml {path}") from None
    return yaml_overrides(doc, path)


def _missing(task: fdl.Partial, ep: Entrypoint) -> list[str]:
    out = []
    for name, param in params_of(ep.fn).items():
        if param.var_keyword or param.default is not EMPTY or name in task.__arguments__:
            continue
        factories = sorted(registry.factories_in(registry.namespaces_for(ep.fn, name, param.annotation)))
        hint = f"; factories: {', '.join(factories)}" if factories else ""
        out.append(f"{name} ({type_name(param.annotation)}{hint})")
    return out


def _executor(ep: Entrypoint, chosen: str | None, overrides: list[Override], default: Any) -> Any:
    from kuberun.resource.executors import EXECUTOR_TYPES, KubernetesExecutor

    if chosen:
        executor = _factory_call(chosen, registry.executor_namespaces(ep.fn), "--executor")
    elif default is not None:
        executor = copy.deepcopy(default)
    elif overrides:
        executor = KubernetesExecutor()
    else:
        return None
    for ov in overrides:
        apply_override(executor, Override(ov.text, ov.path[1:], ov.op, ov.raw, ov.value))
    if isinstance(executor, fdl.Buildable):
        try:
            executor = fdl.build(executor)
        except Exception as exc:
            raise CLIError(f"building the executor failed: {str(exc).splitlines()[0]}", "--executor") from None
    if not isinstance(executor, tuple(EXECUTOR_TYPES.values())):
        raise CLIError(f"{type(executor).__name__} is not a kuberun executor", f"--executor {chosen or ''}".strip())
    return executor


def resolve(argv: Sequence[str] | Invocation, fn: Callable[..., Any], *, default_executor: Any = None) -> Resolved:
    """The task and executor ``argv`` asks for. Raises CLIError naming the argument at fault."""
    ep = entrypoint_of(fn)
    inv = argv if isinstance(argv, Invocation) else parse_argv(argv, ep.name)
    yaml_factory, from_yaml = _load_yaml(inv.yaml) if inv.yaml else (None, [])
    task = _base_task(ep, inv.factory or yaml_factory)
    params = params_of(ep.fn)
    executor_key = ep.enable_executor and "executor" not in params
    positional = [n for n, p in params.items() if not p.var_keyword]
    overrides = [*from_yaml, *parse_args(inv.overrides, positional)]
    chosen, executor_overrides = inv.executor, []
    for ov in overrides:
        if executor_key and ov.head == "executor":
            if len(ov.path) == 1:
                chosen = ov.raw if ov.raw is not None else str(ov.value)
            else:
                executor_overrides.append(ov)
            continue
        apply_override(task, ov)
    missing = _missing(task, ep)
    if missing:
        raise CLIError(f"{ep.name}: missing required argument(s): {'; '.join(missing)}")
    executor = _executor(ep, chosen, executor_overrides, ep.default_executor if default_executor is None else default_executor)
    return Resolved(task=task, executor=executor, title=inv.name or ep.name, invocation=inv)


def build_experiment(resolved: Resolved, namespace: str | None = None) -> Any:
    from kuberun.experiment import Experiment

    exp = Experiment(resolved.title, executor=resolved.executor, namespace=namespace)
    exp.add(resolved.task)
    return exp


def run_entrypoint(argv: Sequence[str], fn: Callable[..., Any], *, default_executor: Any = None,
                   out: IO[str] | None = None, err: IO[str] | None = None, kubeconfig: str | None = None,
                   context: str | None = None, namespace: str | None = None,
                   confirm: Callable[[str], bool] | None = None) -> int:
    """Run an entrypoint's command line; returns the exit status (0 ok, 1 failed, 2 bad usage)."""
    from fiddle import printing

    out, err = out or sys.stdout, err or sys.stderr
    ep = entrypoint_of(fn)
    try:
        inv = parse_argv(argv, ep.name)
        if inv.help:
            from kuberun.entrypoints.help import help_text

            print(help_text(ep), file=out)
            return 0
        resolved = resolve(inv, fn, default_executor=default_executor)
        exp = build_experiment(resolved, namespace)
    except CLIError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except KuberunError as exc:
        print(f"error: {exc}", file=err)
        return 1
    if inv.dryrun:
        print(f"# {ep.name}, resolved:", file=out)
        print("\n".join(f"#   {line}" for line in printing.as_str_flattened(resolved.task).splitlines()), file=out)
        try:
            print(exp.dryrun(), file=out, end="")
        except KuberunError as exc:
            print(f"error: {exc}", file=err)
            return 1
        return 0
    if not (inv.yes or ep.skip_confirmation):
        if confirm is None:
            if not sys.stdin.isatty():
                print("error: not a terminal, so no one can confirm: pass -y to submit", file=err)
                return 2
            import click

            confirm = lambda prompt: click.confirm(prompt, default=True)  # noqa: E731
        if not confirm(f"Submit experiment {resolved.title!r} ({ep.name})?"):
            print("not submitted", file=err)
            return 1
    try:
        created = exp.run(kubeconfig=kubeconfig, context=context, wait=not inv.detach)
    except KuberunError as exc:
        print(f"error: {exc}", file=err)
        return 1
    if created is None:  # $KUBERUN_DRYRUN printed it instead
        return 0
    meta = created.get("metadata", {})
    print(f"experiment {meta.get('namespace')}/{meta.get('name')} created", file=out)
    phase = (created.get("status") or {}).get("phase")
    return 0 if inv.detach or phase == "Succeeded" else 1


def main(fn: Callable[..., Any], default_factory: Callable[..., Any] | None = None, default_executor: Any = None,
         argv: Sequence[str] | None = None, **kwargs: Any) -> None:
    """Run ``fn`` from the command line and exit with its status (NeMo Run's ``run.cli.main``)."""
    ep = entrypoint_of(fn)
    if default_factory is not None:
        registry.factory(default_factory, target=ep.fn, is_target_default=True)
    code = run_entrypoint(list(sys.argv[1:] if argv is None else argv), ep.fn,
                          default_executor=default_executor, **kwargs)
    raise SystemExit(code)
