"""The contract between ``kuberun logs`` and whatever can stream a bridged attempt's output.

The SDK never imports the operator: a package that can read Slurm, SkyPilot or Lepton logs
announces one entry point per backend kind in the ``kuberun.log_sources`` group, each a callable
``(config_file: str | None) -> LogSource``. Both sides depend only on this module.

A source is handed the Experiment (its namespace, name, UID and spec) and the task and attempt,
never a location read from status: ``status`` is writable by whoever may patch
``experiments/status``, so a log path or job id there could name another tenant's log. Each
bridge recomputes where the attempt's log is from its own layout (docs/tenancy.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from kuberun.resource.experiment import ExperimentResource

ENTRY_POINT_GROUP = "kuberun.log_sources"


class LogSourceError(Exception):
    """The logs cannot be streamed; the message says why in terms the user can act on."""


@runtime_checkable
class LogSource(Protocol):
    """Streams one attempt's output (stdout and stderr), chunk by chunk; ``follow`` keeps going until it ends.

    ``exp`` is the Experiment as stored (only its metadata and spec are used); ``task`` and
    ``attempt`` name the attempt; ``component``: one component of a heterogeneous Slurm job (without
    it, a het job's log is every component's, each line labelled ``[het-<i>] ``, ``resource.slurmhet``).
    Failures are raised as ``LogSourceError``.
    """

    def logs(self, exp: ExperimentResource, task: str, attempt: int, follow: bool,
             tail: int | None, component: int | None = None) -> AsyncIterator[bytes]: ...


OpenLogSource = Callable[[str | None], LogSource]
