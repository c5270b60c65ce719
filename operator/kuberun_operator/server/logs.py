"""Where one attempt's log is read from: the log store once archived, else the backend that ran it.

The attempt is found in the record the server itself read (the live object, or the archive when the
object is gone) — never from anything the caller sends — and its log comes from, in order:

1. the log store, when the attempt has finished and its log was copied there (the attempt's
   ``archivedLog``, the archive's location for it, or the store's deterministic key) — only keys
   under the attempt's own prefix, since status can be patched to point at another tenant's log;
2. the live source: a bridge's log source (``kuberun_operator.logsource``, built from the admin's
   backend config, so the caller never needs those credentials; it is handed the Experiment and
   computes the log's place itself, nothing from status), or the local executor's file on
   the operator's host — only inside the local executor's work directory, since ``logRef.path``
   is status that whoever may patch ``experiments/status`` can write.

Pod logs are not served live: the API server's ``pods/log`` serves them with the caller's own
RBAC; the server serves their archived copy once the pod is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberun.resource.slurmhet import record_components, record_problem
from kuberun.resource.status import TaskPhase
from kuberun_operator.backends.slurm import hetlogs
from kuberun_operator.logstore import LogNotFoundError, LogStore, LogStoreError, UnsafePathError, paths

BRIDGES = ("slurm", "lepton", "skypilot")
FOLLOW_POLL = 0.5  # seconds between reads of a followed local file


class LogUnavailable(Exception):
    """No log can be served for this attempt; the message says why (404 unless ``code`` says otherwise)."""

    def __init__(self, message: str, code: int = 404) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LogRequest:
    task: str | None
    attempt: int | None
    follow: bool
    tail: int | None
    component: int | None = None  # one component of a het Slurm job; None: all of them, labelled


def pick(obj: dict[str, Any], task: str | None, attempt: int | None) -> tuple[str, dict[str, Any]]:
    """(task name, attempt status) of the request, from the record."""
    names = [t.get("name") for t in (obj.get("spec") or {}).get("tasks") or []]
    if task is None:
        if len(names) != 1:
            raise LogUnavailable(f"the experiment has tasks {', '.join(map(str, names))}: name one", 400)
        task = str(names[0])
    if task not in names:
        raise LogUnavailable(f"task {task!r} not found in the experiment")
    status = next((t for t in (obj.get("status") or {}).get("tasks") or [] if t.get("name") == task), None)
    attempts = [a for a in (status or {}).get("attempts") or [] if isinstance(a.get("attempt"), int)]
    if not attempts:
        raise LogUnavailable(f"task {task!r} has not started yet: no logs")
    if attempt is None:
        return task, max(attempts, key=lambda a: a["attempt"])
    found = next((a for a in attempts if a["attempt"] == attempt), None)
    if found is None:
        raise LogUnavailable(f"task {task!r} has no attempt {attempt}")
    return task, found


def _spec_backend(obj: dict[str, Any], task: str) -> str | None:
    """The backend key the spec gives ``task`` (``slurm``, ``lepton``...), or None."""
    spec = next((t for t in (obj.get("spec") or {}).get("tasks") or [] if t.get("name") == task), None)
    executor = (spec or {}).get("executor") or {}
    return next((k for k in executor if k in BRIDGES), None)


def _check_component(obj: dict[str, Any], task: str, component: int | None) -> None:
    """A 400 naming the task's components when ``component`` is not one of them (from the spec, not status)."""
    problem = record_problem(obj, task, component)
    if problem is not None:
        raise LogUnavailable(problem, 400)


def finished(att: dict[str, Any]) -> bool:
    try:
        return TaskPhase(att.get("phase")).finished
    except ValueError:
        return False


class LogReader:
    """Serves attempts' logs from a log store (optional) and the live sources the operator can reach."""

    def __init__(self, store: LogStore | None, archive: Any | None, config_file: Path | None,
                 local_workdir: Path | None) -> None:
        self.store, self.archive = store, archive
        self.config_file = config_file
        self.local_workdir = local_workdir.expanduser().resolve() if local_workdir is not None else None
        self._local = LogStore.from_url(str(self.local_workdir)) if self.local_workdir is not None else None

    async def open(self, obj: dict[str, Any], req: LogRequest,
                   still_running: Callable[[int], Awaitable[bool]]) -> tuple[int, AsyncIterator[bytes]]:
        """(attempt number, chunks). ``still_running(n)`` re-reads the record while a local file is followed."""
        task, att = pick(obj, req.task, req.attempt)
        number = att["attempt"]
        _check_component(obj, task, req.component)
        if finished(att):
            # A het job's log was archived as its components' labelled lines: a component, and the last N
            # lines of each, are found again by the labels.
            het = record_components(obj, task) > 0 and (req.component is not None or req.tail is not None)
            archived = await self._archived(obj, task, att, None if het else req.tail)
            if archived is not None:
                return number, hetlogs.archived_view(archived, req.component, req.tail) if het else archived
        return number, await self._live(obj, task, att, req, lambda: still_running(number))

    async def _archived(self, obj: dict[str, Any], task: str, att: dict[str, Any],
                        tail: int | None) -> AsyncIterator[bytes] | None:
        if self.store is None:
            return None
        attempt = att["attempt"]
        meta = obj.get("metadata") or {}
        try:
            own = paths.attempt_prefix(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""), task, attempt)
        except UnsafePathError:
            return None
        urls = [str((att.get("archivedLog") or {}).get("url") or "")]  # what the status says (patchable)
        if self.archive is not None:
            urls += [loc.url for loc in await self.archive.locations(meta["uid"], kind="log")
                     if loc.task == task and loc.attempt == attempt]
        root = self.store.url + "/"
        # Only keys under this attempt's own prefix: a status pointing at another experiment's log is ignored.
        keys = [url[len(root):] for url in urls if url.startswith(root) and url[len(root):].startswith(own + "/")]
        keys.append(f"{own}/{paths.LOG_NAME}")
        for key in dict.fromkeys(keys):
            try:
                return await self.store.open_log(key, tail_lines=tail)
            except (LogNotFoundError, UnsafePathError):
                continue
            except LogStoreError as exc:
                raise LogUnavailable(f"the archived log cannot be read now: {exc}", 503) from None
        return None

    async def _live(self, obj: dict[str, Any], task: str, att: dict[str, Any], req: LogRequest,
                    still_running: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
        log_ref, backend_ref = att.get("logRef") or {}, att.get("backendRef") or {}
        kind = log_ref.get("kind") or backend_ref.get("backend")
        where = f"task {task!r} attempt {att['attempt']}"
        bridge = _spec_backend(obj, task)  # the spec's backend: status could claim another one
        if bridge in BRIDGES:
            return self._bridge(bridge, obj, task, att["attempt"], req)
        if kind == "file":
            return await self._file(str(log_ref.get("path") or ""), req, still_running, where)
        if kind in ("pod", "kubernetes"):
            raise LogUnavailable(f"{where}: its pod's log is served by the Kubernetes API (kubectl logs) and no "
                                 "archived copy exists")
        raise LogUnavailable(f"{where}: no log location recorded yet")

    def _bridge(self, kind: str, obj: dict[str, Any], task: str, attempt: int, req: LogRequest) -> AsyncIterator[bytes]:
        """The bridge's LogSource, handed the Experiment (metadata and spec, never status): the bridge
        recomputes where this attempt's log is, so a log path or id patched into status reads nothing else."""
        from kuberun_operator.decode import metadata_and_spec
        from kuberun_operator.logsource import open_log_source

        if self.config_file is None:
            raise LogUnavailable(f"this operator has no backend config: it cannot read {kind} logs", 503)
        decoded = metadata_and_spec(obj)
        if decoded.resource is None:
            raise LogUnavailable(f"the experiment's spec cannot be read by this operator: {decoded.error}")
        return open_log_source(kind, str(self.config_file)).logs(decoded.resource, task, attempt, req.follow, req.tail,
                                                                  req.component)

    async def _file(self, path: str, req: LogRequest, still_running: Callable[[], Awaitable[bool]],
                    where: str) -> AsyncIterator[bytes]:
        if self._local is None or self.local_workdir is None:
            raise LogUnavailable(f"{where}: this operator runs no local executor")
        try:
            relative = Path(path).resolve().relative_to(self.local_workdir)
        except (ValueError, OSError):
            # Status can be patched: a path outside the work directory is never opened.
            raise LogUnavailable(f"{where}: its log file is not in the local executor's work directory", 403) from None
        key = relative.as_posix()
        try:
            size = await self._local.size(key)
            first = await self._local.open_log(key, length=size, tail_lines=req.tail)
        except (LogNotFoundError, UnsafePathError):
            raise LogUnavailable(f"{where}: its log file is gone") from None
        return _followed(self._local, key, first, size, req.follow, still_running)


async def _followed(store: LogStore, key: str, first: AsyncIterator[bytes], offset: int, follow: bool,
                    still_running: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
    """The file's bytes up to ``offset``; with ``follow``, what is appended after, until the attempt has finished."""
    async for chunk in first:
        yield chunk
    while follow:
        running = await still_running()
        size = await store.size(key)
        if size > offset:
            async for chunk in await store.open_log(key, offset=offset, length=size - offset):
                yield chunk
            offset = size
            continue
        if not running:
            return
        await asyncio.sleep(FOLLOW_POLL)
