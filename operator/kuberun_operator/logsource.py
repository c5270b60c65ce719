"""The operator's side of ``kuberun logs`` for bridged attempts: one entry point per bridge kind.

Registered in the ``kuberun.log_sources`` entry-point group (see ``kuberun.resource.logsource``):
``slurm``, ``lepton`` and ``skypilot`` each build that bridge from the admin's backend config file,
exactly as the operator would, and stream through its ``logs()``, which is handed the Experiment
and finds the attempt's log itself (never from a location in status). The SDK looks the kind up in
the group and never imports this package; errors reach it as ``LogSourceError``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kuberun.resource import ExperimentResource
from kuberun.resource.logsource import LogSource, LogSourceError
from kuberun_operator.backends.base import BackendError, Lifecycle

# kind -> the backend class, looked up on kuberun_operator.backends.<kind> when a log is asked for.
_BRIDGES = {"slurm": "SlurmBackend", "lepton": "LeptonBackend", "skypilot": "SkypilotBackend"}


class BridgeLogs:
    """A LogSource over one bridge: built on first use, started around one stream, stopped after."""

    def __init__(self, kind: str, config_file: str | None, *, start: bool) -> None:
        self.kind, self.config_file, self._start = kind, config_file, start

    def _build(self) -> Any:
        from kuberun_operator.backend_config import BackendConfig
        from kuberun_operator.settings import Settings

        kind, path = self.kind, self.config_file
        if not path:
            raise LogSourceError(f"logs of {kind} tasks need the backend config file")
        try:
            module = importlib.import_module(f"kuberun_operator.backends.{kind}")
        except ImportError:
            raise LogSourceError(f"logs of {kind} tasks need the {kind} bridge: pip install 'kuberun[{kind}]'") from None
        import yaml

        try:
            config = BackendConfig.load(Path(path))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise LogSourceError(f"backend config {path}: {str(exc).splitlines()[0]}") from None
        section = getattr(config, kind, None)
        if section is None:
            raise LogSourceError(f"backend config {path} has no {kind!r} section")
        return getattr(module, _BRIDGES[kind])(section, Settings(config_file=Path(path)))

    async def logs(self, exp: ExperimentResource, task: str, attempt: int, follow: bool,
                   tail: int | None, component: int | None = None) -> AsyncIterator[bytes]:
        if component is not None and self.kind != "slurm":
            raise LogSourceError(f"task {task!r} runs on {self.kind}: only heterogeneous Slurm jobs have components")
        backend = self._build()
        lifecycle = isinstance(backend, Lifecycle)
        if self._start and lifecycle:
            await backend.start()
        try:
            chosen = {} if component is None else {"component": component}  # a het job's one component (Slurm)
            async for chunk in backend.logs(exp, task, attempt, follow, tail, **chosen):
                yield chunk
        except BackendError as exc:
            raise LogSourceError(f"{self.kind}: {exc.message}") from None
        finally:
            if lifecycle:
                await backend.stop()


def slurm(config_file: str | None) -> LogSource:
    # start() would launch the operator's squeue pollers, which a log stream does not need:
    # the Slurm bridge's logs() opens its own connection.
    return BridgeLogs("slurm", config_file, start=False)


def lepton(config_file: str | None) -> LogSource:
    return BridgeLogs("lepton", config_file, start=True)  # start() opens the HTTP session


def skypilot(config_file: str | None) -> LogSource:
    return BridgeLogs("skypilot", config_file, start=True)  # start() opens the HTTP session


_OPENERS = {"slurm": slurm, "lepton": lepton, "skypilot": skypilot}


def open_log_source(kind: str, config_file: str | None) -> LogSource:
    """The log source of bridge ``kind``, configured by the admin's backend config file."""
    opener = _OPENERS.get(kind)
    if opener is None:
        raise LogSourceError(f"no log source for backend {kind!r} (known: {', '.join(sorted(_OPENERS))})")
    return opener(config_file)
