"""The one error type of the CLI layer: it names the argument at fault, as the user typed it."""

from __future__ import annotations

from kuberun.errors import KuberunError


class CLIError(KuberunError, ValueError):
    """A command line (or ``--yaml`` file) that cannot become a task: ``lr=abc: expected float, got 'abc'``."""

    def __init__(self, message: str, arg: str | None = None) -> None:
        super().__init__(f"{arg}: {message}" if arg else message)
        self.arg = arg
        self.reason = message
