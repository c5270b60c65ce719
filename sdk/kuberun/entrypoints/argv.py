"""Split an entrypoint's argv into its options and its overrides (click parses; nothing runs).

The options are NeMo Run's: ``--yaml FILE``, ``--dryrun``, ``--factory/-f NAME``, ``--executor NAME``,
``--name/-n``, ``-y/--yes/--no-confirm``, ``--detach``, ``--help/-h``. (NeMo Run gives ``-y`` to both
``--yaml`` and ``--yes``, and ``--yes`` wins; here ``-y`` is only ``--yes``.) Everything else is an
override, and an unknown ``--option`` is an error rather than an override.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import click

from kuberun.entrypoints.errors import CLIError


@dataclass
class Invocation:
    overrides: list[str] = field(default_factory=list)
    yaml: str | None = None
    dryrun: bool = False
    factory: str | None = None
    executor: str | None = None
    name: str | None = None
    yes: bool = False
    detach: bool = False
    help: bool = False


@click.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
@click.option("--yaml", "yaml_path", metavar="FILE")
@click.option("--dryrun", is_flag=True)
@click.option("--factory", "-f", "factory_name")
@click.option("--executor", "executor_name")
@click.option("--name", "-n", "run_name")
@click.option("--yes", "-y", "--no-confirm", "yes", is_flag=True)
@click.option("--detach", is_flag=True)
@click.option("--help", "-h", "show_help", is_flag=True)
def _command(**_: object) -> None:
    """Never invoked: only its parser is used."""


def parse_argv(argv: Sequence[str], prog: str = "entrypoint") -> Invocation:
    try:
        ctx = _command.make_context(prog, list(argv), resilient_parsing=False)
    except click.ClickException as exc:
        raise CLIError(exc.format_message()) from None
    p = ctx.params
    for arg in ctx.args:
        if arg.startswith("-"):  # an override starts with a name, never a dash
            raise CLIError("unknown option (see --help)", arg)
    return Invocation(overrides=list(ctx.args), yaml=p["yaml_path"], dryrun=p["dryrun"], factory=p["factory_name"],
                      executor=p["executor_name"], name=p["run_name"], yes=p["yes"], detach=p["detach"], help=p["show_help"])
