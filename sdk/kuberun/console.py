"""The ``kuberun`` console script: read commands on a fast path, everything else through the typer app.

``kuberun describe NAME`` and ``kuberun list`` are what people run most, and in a loop; they should
cost about what ``kubectl get`` costs (issue 18: within 2x). Building the typer app imports typer,
and typer coerces every parameter through pydantic: together about half of such a command's
start-up. So for those two commands this entry point parses the command line with the standard
library's ``argparse`` from the same option specs (``kuberun.manage.options``) and calls the same
body (``kuberun.manage.reads``) the typer command calls.

The fast path only ever takes a command line it reads exactly as typer would; anything else —
``--help``, an unknown or abbreviated flag, a missing value, a malformed number — goes to the
typer app untouched, so help and every usage error stay typer's own.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn


class _NotFast(Exception):
    """The command line is not one the fast path reads exactly as typer does."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's documented hook: raise instead of printing and exiting
        raise _NotFast(message)


def parser(command: str) -> argparse.ArgumentParser:
    """An argparse parser for a fast command, from its specs in ``kuberun.manage.options``."""
    from kuberun.manage.options import FAST_COMMANDS

    out = _Parser(prog=f"kuberun {command}", add_help=False, allow_abbrev=False)
    for opt in FAST_COMMANDS[command]:
        if opt.positional:
            out.add_argument(opt.dest)
        elif opt.kind is bool:
            out.add_argument(*opt.flags, dest=opt.dest, action="store_true", default=opt.default)
        else:
            out.add_argument(*opt.flags, dest=opt.dest, type=opt.kind, default=opt.default)
    return out


def fast_arguments(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``(command, keyword arguments)`` when ``argv`` is a read command the fast path takes, else None."""
    from kuberun.manage.options import FAST_COMMANDS

    if not argv or argv[0] not in FAST_COMMANDS:
        return None
    rest = argv[1:]
    flags = {flag for opt in FAST_COMMANDS[argv[0]] for flag in opt.flags}
    for arg in rest:  # only spellings both parsers read alike: no -h/--help, "--", -o=json, -An, -1 or prefixes
        if arg.startswith("-") and arg not in flags and not (arg.startswith("--") and arg.split("=", 1)[0] in flags):
            return None
    try:
        values = parser(argv[0]).parse_args(rest)
    except _NotFast:
        return None
    return argv[0], vars(values)


def main() -> None:
    """The console script ``kuberun``."""
    fast = fast_arguments(sys.argv[1:])
    if fast is not None:
        from kuberun.manage import reads

        command, kwargs = fast
        try:
            {"list": reads.list_experiments, "describe": reads.describe}[command](**kwargs)
        except KeyboardInterrupt:  # as click ends a command on Ctrl-C
            reads.say("Aborted!", err=True)
            raise SystemExit(1) from None
        return
    from kuberun.commandline import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
