"""The options of the read commands (``list``, ``describe``) as plain data: their one home.

Two parsers read them. The typer app (``manage/commands.py``) builds its ``typer.Option``s from
these specs, for ``--help``, completion and every error message; the fast path of the console
script (``kuberun/console.py``) reads the command line with ``getopt`` from the same specs, so a read
command runs without importing typer — whose parameter coercion loads pydantic, together about
half of ``kuberun describe``'s start-up (issue 18). ``tests/unit/sdk/test_console.py`` checks
that both parsers accept the same flags with the same defaults.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Opt(NamedTuple):
    """One command-line parameter: ``flags`` empty for a positional argument (then ``dest`` names it).

    A NamedTuple, not a dataclass: ``dataclasses`` loads ``inspect``, ~10 ms of a read command's start-up."""

    dest: str
    flags: tuple[str, ...]
    help: str
    kind: type = str  # str, int or bool (a flag)
    default: Any = None

    @property
    def positional(self) -> bool:
        return not self.flags


KUBECONFIG = Opt("kubeconfig", ("--kubeconfig",), "Path of the kubeconfig (default: $KUBECONFIG, ~/.kube/config).")
CONTEXT = Opt("context", ("--context",), "The kubeconfig context to use.")
NAMESPACE = Opt("namespace", ("--namespace", "-n"), "Namespace (default: the context's).")
NAME = Opt("name", (), "The Experiment's name.")
CONNECTION = (KUBECONFIG, CONTEXT, NAMESPACE)

DESCRIBE_OUTPUT = Opt("output", ("--output", "-o"), "json or yaml (for machines); default: text.")

LIST = (
    Opt("title", ("--title",), "Only this title."),
    Opt("user", ("--user",), "Only experiments this user submitted."),
    Opt("phase", ("--phase",), "Only this phase (Pending, Running, Succeeded, Failed, Cancelled)."),
    Opt("selector", ("--selector", "-l"), "Label selector, as in kubectl."),
    Opt("since", ("--since",), "Only created within this long (30m, 2h, 7d)."),
    Opt("limit", ("--limit",), "Page size (server-side pagination); 0 reads all.", int, 50),
    Opt("continue_", ("--continue",), "Continue token printed by the previous page."),
    Opt("output", ("--output", "-o"), "json, yaml or wide."),
    Opt("all_namespaces", ("--all-namespaces", "-A"), "List in every namespace.", bool, False),
    Opt("archived", ("--archived",), "List the archive (experiments whose objects may be gone) "
                                     "through the operator's record server.", bool, False),
    Opt("columns", ("--columns",), "Metric columns: NAME or TASK.NAME, comma-separated (loss,eval.acc)."),
    *CONNECTION,
)
DESCRIBE = (NAME, DESCRIBE_OUTPUT, *CONNECTION)

# The commands the console script may run without typer, and their parameters in order.
FAST_COMMANDS: dict[str, tuple[Opt, ...]] = {"list": LIST, "describe": DESCRIBE}


def by_dest(opts: tuple[Opt, ...]) -> dict[str, Opt]:
    return {opt.dest: opt for opt in opts}
