"""``AsyncArchive``: the archive for the asyncio operator, the synchronous core run in threads.

Why threads rather than SQLAlchemy's asyncio extension: the operator writes to the archive a few
times per experiment (finish, delete, attempt end), far from a hot path; one synchronous core
serves the operator, the CLI and the tests with one code path on both dialects; and the asyncio
extension would add greenlet and an async SQLite driver (itself a thread) for no gain. A small
private pool bounds how many archive calls run at once, so a slow database cannot exhaust the
event loop's default executor, and the event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kuberun_operator.archive.attempts import ArchivedAttempt
from kuberun_operator.archive.record import ArchivedExperiment
from kuberun_operator.archive.series import Location, MetricPoint
from kuberun_operator.archive.store import DEFAULT_URL, Archive

T = TypeVar("T")


class AsyncArchive:
    """The same methods as ``Archive``, awaitable."""

    def __init__(self, archive: Archive, pool: ThreadPoolExecutor) -> None:
        self.sync = archive
        self._pool = pool

    @classmethod
    async def open(cls, url: str = DEFAULT_URL, *, max_workers: int = 2, **options: Any) -> AsyncArchive:
        pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="kuberun-archive")
        try:
            archive = await asyncio.get_running_loop().run_in_executor(pool, functools.partial(Archive.open, url, **options))
        except BaseException:
            pool.shutdown(wait=False)
            raise
        return cls(archive, pool)

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def record(self, obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> ArchivedExperiment:
        return await self._run(self.sync.record, obj, events)

    async def get(self, namespace: str, name: str) -> ArchivedExperiment | None:
        return await self._run(self.sync.get, namespace, name)

    async def get_uid(self, uid: str) -> ArchivedExperiment | None:
        return await self._run(self.sync.get_uid, uid)

    async def query(self, namespace: str | None = None, **filters: Any) -> tuple[list[ArchivedExperiment], str | None]:
        return await self._run(self.sync.query, namespace, **filters)

    async def record_metrics(self, uid: str, task: str, attempt: int,
                             series: Iterable[MetricPoint | Mapping[str, Any]]) -> int:
        # Materialize here: a generator must not be consumed on another thread.
        return await self._run(self.sync.record_metrics, uid, task, attempt, list(series))

    async def metrics(self, uid: str, **filters: Any) -> list[MetricPoint]:
        return await self._run(self.sync.metrics, uid, **filters)

    async def record_attempts(self, uid: str, items: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        return await self._run(self.sync.record_attempts, uid, list(items))

    async def attempts(self, uid: str, **filters: Any) -> list[ArchivedAttempt]:
        return await self._run(self.sync.attempts, uid, **filters)

    async def record_location(self, uid: str, task: str, attempt: int, kind: str, url: str,
                              size: int | None = None, sha256: str | None = None) -> None:
        await self._run(self.sync.record_location, uid, task, attempt, kind, url, size, sha256)

    async def record_locations(self, uid: str, task: str, attempt: int,
                               items: Iterable[tuple[str, str, int | None, str | None]]) -> int:
        return await self._run(self.sync.record_locations, uid, task, attempt, list(items))

    async def locations(self, uid: str, **filters: Any) -> list[Location]:
        return await self._run(self.sync.locations, uid, **filters)

    async def record_config_maps(self, uid: str, items: Sequence[Mapping[str, Any]]) -> int:
        return await self._run(self.sync.record_config_maps, uid, items)

    async def config_map_names(self, uid: str) -> set[str]:
        return await self._run(self.sync.config_map_names, uid)

    async def blobs_held(self, sha256s: set[str]) -> set[str]:
        return await self._run(self.sync.blobs_held, sha256s)

    async def config_maps(self, uid: str, namespace: str) -> list[dict[str, Any]]:
        return await self._run(self.sync.config_maps, uid, namespace)

    async def close(self) -> None:
        """Wait for calls in flight (without blocking the loop), then release threads and connections."""
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)
        self.sync.close()

