"""The ``kuberun`` console script: read commands on a fast path, everything else through the typer app.

``kuberun describe NAME`` and ``kuberun list`` are what people run most, and in a loop; they should
cost about what ``kubectl get`` costs (issue 18: within 2x). Building the typer app imports typer,
and typer coerces every parameter through pydantic: together about half of such a command's
start-up. So for those two commands this entry point parses the command line with the standard
library's ``getopt`` (lighter than ``argparse``, whose help formatter alone loads ``shutil``,
``bz2`` and ``lzma``) from the same option specs (``kuberun.manage.options``) and calls the same
body (``kuberun.manage.reads``) the typer command calls.

The fast path only ever takes a command line it reads exactly as typer would; anything else —
``--help``, an unknown or abbreviated flag, a missing value, a malformed number — goes to the
typer app untouched, so help and every usage error stay typer's own.
"""

from __future__ import annotations

import getopt
import sys
from typing import Any


def fast_arguments(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``(command, keyword arguments)`` when ``argv`` is a read command the fast path takes, else None."""
    from kuberun.manage.options import FAST_COMMANDS

    if not argv or argv[0] not in FAST_COMMANDS:
        return None
    specs, rest = FAST_COMMANDS[argv[0]], argv[1:]
    by_flag = {flag: opt for opt in specs for flag in opt.flags}
    for arg in rest:  # only spellings both parsers read alike: no -h/--help, "--", -o=json, -An, -1 or prefixes
        if arg.startswith("-") and arg not in by_flag and not (arg.startswith("--") and arg.split("=", 1)[0] in by_flag):
            return None
    takes_value = {flag: opt.kind is not bool for flag, opt in by_flag.items()}
    short = "".join(f[1] + (":" if v else "") for f, v in takes_value.items() if not f.startswith("--"))
    long = [f[2:] + ("=" if v else "") for f, v in takes_value.items() if f.startswith("--")]
    try:
        found, positional = getopt.gnu_getopt(rest, short, long)
    except getopt.GetoptError:
        return None  # a flag without its value: typer says so
    names = [opt.dest for opt in specs if opt.positional]
    if len(positional) != len(names):
        return None
    values: dict[str, Any] = {opt.dest: opt.default for opt in specs if not opt.positional}
    values.update(zip(names, positional, strict=True))
    for flag, value in found:  # in order, so the last of a repeated option wins, as in click
        opt = by_flag[flag]
        if opt.kind is bool:
            values[opt.dest] = True
        else:
            try:
                values[opt.dest] = opt.kind(value)
            except ValueError:
                return None  # --limit many: typer's message
    return argv[0], values


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
