"""The bridges' log sources for ``kuberun logs``: entry points of the group ``kuberun.log_sources``.

The CLI runs on a user's machine and must not import the operator, so each bridge offers its
``logs()`` through the typed contract ``kuberun.resource.logsource.LogSource``, registered in pyproject
under its backend kind. Each factory builds the bridge from the admin's backend config file, as
the operator does, and the source starts and stops it around one stream. Bridge failures
(``BackendError``) leave as ``LogSourceError``, the one error the SDK knows.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kuberun.resource import BackendRef, LogRef
from kuberun.resource.logsource import LogSourceError

# Backend kind -> (module under kuberun_operator.backends, class). The class is looked up when a
# source is built, so the bridge's optional dependencies load only for the kind asked for.
_BRIDGES = {"slurm": ("slurm", "SlurmBackend"), "skypilot": ("skypilot", "SkypilotBackend"),
            "lepton": ("lepton", "LeptonBackend")}


class BridgeLogSource:
    """One bridge backend, started for one log stream and stopped after it."""

    def __init__(self, kind: str, backend: Any) -> None:
        self.kind, self.backend = kind, backend

    async def logs(self, ref: BackendRef, where: LogRef, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        from kuberun_operator.backends.base import BackendError

        # Slurm's start() launches the operator's squeue pollers; its logs() opens its own connection.
        if self.kind != "slurm":
            await self.backend.start()
        try:
            async for chunk in self.backend.logs(ref, where, follow, tail):
                yield chunk
        except BackendError as exc:
            raise LogSourceError(f"{self.kind}: {exc.message}") from None
        finally:
            await self.backend.stop()


def _source(kind: str, config_file: str | None) -> BridgeLogSource:
    from kuberun_operator.backend_config import BackendConfig
    from kuberun_operator.settings import Settings

    if not config_file:
        raise LogSourceError(f"logs of {kind} tasks need the backend config file")
    module_name, class_name = _BRIDGES[kind]
    try:
        module = importlib.import_module(f"kuberun_operator.backends.{module_name}")
    except ImportError:
        raise LogSourceError(f"logs of {kind} tasks need the {kind} bridge: pip install 'kuberun[{kind}]'") from None
    try:
        config = BackendConfig.load(Path(config_file))
    except (OSError, ValueError) as exc:
        raise LogSourceError(f"backend config {config_file}: {str(exc).splitlines()[0]}") from None
    section = getattr(config, kind, None)
    if section is None:
        raise LogSourceError(f"backend config {config_file} has no {kind!r} section")
    return BridgeLogSource(kind, getattr(module, class_name)(section, Settings(config_file=Path(config_file))))


def slurm(config_file: str | None) -> BridgeLogSource:
    return _source("slurm", config_file)


def skypilot(config_file: str | None) -> BridgeLogSource:
    return _source("skypilot", config_file)


def lepton(config_file: str | None) -> BridgeLogSource:
    return _source("lepton", config_file)
