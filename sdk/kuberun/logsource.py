"""The contract between ``kuberun logs`` and the bridges (Slurm, SkyPilot, Lepton) that know where logs are.

The SDK must not import the operator, yet reading a Slurm task's output takes the operator's
bridge code (SSH, the cluster's layout). So the bridges announce themselves: the entry-point group
``kuberun.log_sources`` maps a backend kind (``slurm``) to a factory ``(config_file) -> LogSource``,
where ``config_file`` is the admin's backend config (``--backend-config``), and the SDK looks the
kind up only when such logs are asked for. A missing package is one clear sentence, and failures
of the bridge arrive as ``LogSourceError`` rather than as classes the SDK would recognise by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from kuberun.errors import LogSourceError, LogsUnavailableError

GROUP = "kuberun.log_sources"

__all__ = ["GROUP", "LogSource", "LogSourceError", "LogSourceFactory", "load_log_source"]


@runtime_checkable
class LogSource(Protocol):
    """Where one backend's attempts write their logs."""

    def logs(self, exp: dict[str, Any], task: str, attempt: int, *, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        """Chunks of the log of ``task``'s ``attempt`` of the Experiment ``exp`` (the object as read, status included).

        ``follow`` keeps streaming until the attempt ends; ``tail`` limits to the last lines.
        Raises LogSourceError (with a message for the user) when the backend cannot serve them;
        releases whatever it opened when the iteration ends or is closed.
        """
        ...


LogSourceFactory = Callable[[str | None], LogSource]


def load_log_source(kind: str, config_file: str | None) -> LogSource:
    """The log source registered for backend ``kind``, built from ``config_file``. Raises LogsUnavailableError."""
    found = tuple(entry_points(group=GROUP, name=kind))
    missing = LogsUnavailableError(f"logs of {kind} tasks need the {kind} bridge: pip install 'kuberun[{kind}]'")
    if not found:
        raise missing
    try:
        factory = found[0].load()
    except ImportError:
        raise missing from None
    try:
        source = factory(config_file)
    except LogSourceError as exc:
        raise LogsUnavailableError(str(exc)) from None
    if not isinstance(source, LogSource):
        raise LogsUnavailableError(f"the {kind} log source ({found[0].value}) does not implement kuberun.logsource.LogSource")
    return source
