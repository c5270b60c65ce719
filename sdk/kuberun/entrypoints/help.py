"""``--help`` for an entrypoint: its parameters with types and defaults, and the factories for each.

NeMo Run renders this with rich tables; plain aligned text is enough here and reads the same in a
pipe, which is where help text usually ends up (``| less``, a CI log).
"""

from __future__ import annotations

from kuberun.entrypoints import registry
from kuberun.entrypoints.entrypoint import Entrypoint
from kuberun.entrypoints.types import EMPTY, params_of, type_name

OVERRIDES = """\
Overrides:
  name=value              a Python literal, else a string (lr=3e-4, name=run1, tags=['a','b'], opts={'k': 1})
  model=factory           a registered factory; model=factory(depth=3) calls it with arguments
  model.depth=5           a nested field; layers[0]=64 and opts['k']=2 index lists and dicts
  steps*=2 steps+=1 lr/=10 warmup-=1 opts|={'k': 2}   arithmetic on the current value
  executor=NAME executor.field=value                  an executor factory and its fields"""

OPTIONS = """\
Options:
  --yaml FILE             overrides from a YAML file (applied before the command line's)
  --factory, -f NAME      start from this entrypoint factory instead of the default
  --executor NAME         an executor factory (same as executor=NAME)
  --name, -n NAME         the experiment's title (default: the entrypoint's name)
  --dryrun                print the resolved config and the Experiment YAML, submit nothing
  --yes, -y               submit without asking
  --detach                return once submitted instead of following progress
  --help, -h              this help"""


def help_text(ep: Entrypoint, prog: str | None = None) -> str:
    lines = [f"usage: {prog or ep.name} [OPTIONS] [OVERRIDES...]", ""]
    if ep.help:
        lines += [ep.help, ""]
    params = [p for p in params_of(ep.fn).values() if not p.var_keyword]
    rows = []
    for p in params:
        namespaces = registry.namespaces_for(ep.fn, p.name, p.annotation)
        factories = sorted(registry.factories_in(namespaces))
        default_factory = registry.default_in(namespaces)
        default = "required" if p.default is EMPTY else f"default {p.default!r}"
        if default_factory is not None:
            default = f"default factory {default_factory.__name__}"
        extra = f"factories: {', '.join(factories)}" if factories else ""
        rows.append((p.name, type_name(p.annotation), default, extra))
    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines.append(f"Parameters of {ep.name}:")
        lines += [f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
        lines.append("")
    top = sorted(registry.factories_in([registry.namespace_of(ep.fn)]))
    if top:
        lines += [f"Entrypoint factories (--factory): {', '.join(top)}", ""]
    if ep.enable_executor:
        executors = sorted(registry.factories_in(registry.executor_namespaces(ep.fn)))
        lines += [f"Executor factories (--executor): {', '.join(executors) or 'none registered'}", ""]
    lines += [OVERRIDES, "", OPTIONS]
    return "\n".join(lines)
