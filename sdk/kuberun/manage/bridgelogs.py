"""A bridged attempt's log (Slurm, SkyPilot, Lepton): through the record server, or the bridge's own source.

Users read bridged logs through the operator's record server (``bridge_served``). An administrator
holding the backend config may read them directly with the log source the bridge registers under the
``kuberun.log_sources`` entry points (``kuberun.resource.logsource``), which ``bridge_log`` loads by
name, never by module path, and drives from synchronous code. Apart from ``logs`` because only bridged
tasks need it, and it is what pulls in pydantic and the entry-point machinery.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from kuberun.errors import LogsUnavailableError
from kuberun.manage.query import Obj

BACKEND_CONFIG_ENV = "KUBERUN_BACKEND_CONFIG"


def bridge_served(kind: str, served: Callable[[], Iterator[bytes]]) -> Iterator[bytes]:
    """A bridged attempt's log from the record server; without one, say both ways to get it."""
    from kuberun.manage.records import NoRecordServer

    try:
        chunks = served()
        first = next(chunks, None)
    except NoRecordServer as exc:
        raise LogsUnavailableError(f"logs of {kind} tasks are served by the operator's record server, and {exc}; "
                                   "an administrator can read them with --backend-config FILE") from None
    if first is not None:
        yield first
    yield from chunks


def bridge_log(kind: str, obj: Obj, task: str, attempt: int, follow: bool, tail: int | None,
                backend_config: str | None, component: int | None = None) -> Iterator[bytes]:
    """The bridge's log source (entry point ``kuberun.log_sources``), built from the admin's backend config.

    It is handed the Experiment (metadata and spec; its status is left out) and finds the log itself."""
    from pydantic import ValidationError

    from kuberun.resource import ExperimentResource

    path = backend_config or os.environ.get(BACKEND_CONFIG_ENV)
    if not path:
        raise LogsUnavailableError(f"logs of {kind} tasks need the backend config: --backend-config FILE or ${BACKEND_CONFIG_ENV}")
    source = load_log_source(kind, path)
    try:
        exp = ExperimentResource.model_validate({k: obj[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in obj})
    except ValidationError as exc:
        raise LogsUnavailableError(f"this kuberun cannot read the experiment's spec (a newer version wrote it?): "
                                   f"{str(exc).splitlines()[0]}") from None
    chosen = {} if component is None else {"component": component}  # a source of before components takes none
    return _drive(_reworded(source.logs(exp, task, attempt, follow, tail, **chosen)))


def load_log_source(kind: str, config_file: str | None) -> Any:
    """The ``LogSource`` registered for backend ``kind`` (``kuberun.resource.logsource``). Raises LogsUnavailableError.

    Looked up by name in the entry-point group, never imported by module path: the SDK does not
    know which package serves a kind, only that it keeps the contract.
    """
    from importlib.metadata import entry_points

    from kuberun.resource.logsource import ENTRY_POINT_GROUP, LogSource, LogSourceError

    found = tuple(entry_points(group=ENTRY_POINT_GROUP, name=kind))
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
        raise LogsUnavailableError(f"the {kind} log source ({found[0].value}) does not implement kuberun.resource.logsource.LogSource")
    return source


async def _reworded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The source's chunks; its LogSourceError becomes the one-line LogsUnavailableError the CLI prints."""
    from kuberun.resource.logsource import LogSourceError

    try:
        async for chunk in chunks:
            yield chunk
    except LogSourceError as exc:
        raise LogsUnavailableError(str(exc)) from None
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _drive(agen: AsyncIterator[bytes]) -> Iterator[bytes]:
    """Iterate an async generator from synchronous code, one chunk at a time."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            loop.run_until_complete(aclose())
        loop.close()
