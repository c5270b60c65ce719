"""The contract between ``kuberun logs`` and whatever can stream a bridged attempt's output.

The SDK never imports the operator: a package that can read Slurm, SkyPilot or Lepton logs
announces one entry point per backend kind in the ``kuberun.log_sources`` group, each a callable
``(config_file: str | None) -> LogSource``. Both sides depend only on this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from kuberun.resource.status import BackendRef, LogRef

ENTRY_POINT_GROUP = "kuberun.log_sources"


class LogSourceError(Exception):
    """The logs cannot be streamed; the message says why in terms the user can act on."""


@runtime_checkable
class LogSource(Protocol):
    """Streams an attempt's output (stdout and stderr), chunk by chunk; ``follow`` keeps going until it ends.

    Failures are raised as ``LogSourceError``.
    """

    def logs(self, ref: BackendRef, log_ref: LogRef, follow: bool, tail: int | None) -> AsyncIterator[bytes]: ...


OpenLogSource = Callable[[str | None], LogSource]
