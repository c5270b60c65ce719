"""Stream an attempt's logs from wherever it ran, chunk by chunk (never a whole log in memory).

The attempt's ``logRef`` in status says where: ``pod`` (the Job's pod, through the API server's
``pods/log``), ``file`` (the local executor's output file), or a bridge (``slurm``, ``skypilot``,
``lepton``: the operator's record server, as the user — or, with an explicit ``--backend-config``,
the log source the bridge registers under ``kuberun.log_sources``; see ``kuberun.resource.logsource``).
A pod that is gone, a local file on the operator's host and any log of an archived experiment are
read through the record server too (``kuberun.manage.records``).
"""

from __future__ import annotations

import codecs
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kuberun.api import Kube, Op
from kuberun.apipath import api_path
from kuberun.errors import ApiError, LogsUnavailableError, NotFoundError
from kuberun.manage import bridgelogs
from kuberun.manage.query import Obj, get_experiment

CHUNK = 64 * 1024
POD_WAIT = 300.0  # seconds `logs -f` waits for a Job's pod to appear and its container to start


def pick_task(obj: Obj, task: str | None) -> str:
    """The named task, or the only task of a single-task experiment."""
    names = [t["name"] for t in (obj.get("spec") or {}).get("tasks") or []]
    if task is None:
        if len(names) == 1:
            return names[0]
        raise NotFoundError(f"experiment {obj['metadata']['name']!r} has tasks {', '.join(names)}: name one")
    if task not in names:
        raise NotFoundError(f"task {task!r} not found in experiment {obj['metadata']['name']!r} (tasks: {', '.join(names)})")
    return task


def pick_attempt(obj: Obj, task: str, attempt: int | None) -> Obj:
    """The attempt's status (latest when ``attempt`` is None). Raises LogsUnavailableError before the first."""
    status = next((t for t in (obj.get("status") or {}).get("tasks") or [] if t["name"] == task), None)
    attempts = (status or {}).get("attempts") or []
    if not attempts:
        raise LogsUnavailableError(f"task {task!r} has not started yet: no logs")
    if attempt is None:
        return max(attempts, key=lambda a: a["attempt"])
    found = next((a for a in attempts if a["attempt"] == attempt), None)
    if found is None:
        raise NotFoundError(f"task {task!r} has no attempt {attempt} (attempts: {', '.join(str(a['attempt']) for a in attempts)})")
    return found


def stream_logs(kube: Kube, obj: Obj, task: str | None = None, attempt: int | None = None, *, follow: bool = False,
                tail: int | None = None, backend_config: str | None = None, component: int | None = None) -> Iterator[bytes]:
    """Chunks of the attempt's log, following it until the attempt ends when ``follow``.

    A heterogeneous Slurm job's log is every component's, each line labelled ``[het-<i>] ``
    (``kuberun.resource.slurmhet``); ``component`` picks one (its lines as written)."""
    from kuberun.resource.slurmhet import record_problem

    name = pick_task(obj, task)
    if (problem := record_problem(obj, name, component)) is not None:  # before any request, naming those there are
        raise LogsUnavailableError(problem)
    att = pick_attempt(obj, name, attempt)
    log_ref, backend_ref = att.get("logRef") or {}, att.get("backendRef") or {}
    kind = log_ref.get("kind") or ("pod" if backend_ref.get("backend") == "kubernetes" else backend_ref.get("backend"))

    def served() -> Iterator[bytes]:
        return server_log(kube, obj, name, att["attempt"], follow=follow, tail=tail, component=component)

    if is_archived(obj):  # the object is gone: only the record server still has its logs
        return served()
    if kind == "pod":
        try:
            return _pod_log(kube, obj["metadata"]["namespace"], log_ref, backend_ref, follow, tail, gone=_finished_phase(att))
        except LogsUnavailableError as gone:
            return _or_raise(served, gone)  # the pod was collected: its archived copy, if the operator kept one
    if kind == "file":
        ns, exp_name, number = obj["metadata"]["namespace"], obj["metadata"]["name"], att["attempt"]
        path = Path(log_ref.get("path") or "")
        if not path.is_file():  # the local executor writes on the operator's host: ask the operator
            return served()
        return _file_log(path, follow, tail, lambda: _attempt_finished(kube, ns, exp_name, name, number))
    if kind in ("slurm", "skypilot", "lepton"):
        if backend_config:  # the admin's own path: build the bridge here, with the backend credentials
            return bridgelogs.bridge_log(kind, obj, name, att["attempt"], follow, tail, backend_config, component)
        return bridgelogs.bridge_served(kind, served)
    raise LogsUnavailableError(f"task {name!r} attempt {att['attempt']}: no log location recorded yet")


def is_archived(obj: Obj) -> bool:
    """Whether ``obj`` came from the archive (the record server adds an ``archive`` block)."""
    return isinstance(obj.get("archive"), dict)


def server_log(kube: Kube, obj: Obj, task: str, attempt: int, *, follow: bool, tail: int | None,
               component: int | None = None) -> Iterator[bytes]:
    """The attempt's log through the operator's record server, as this kubeconfig's user."""
    from kuberun.manage.records import RecordClient

    meta = obj["metadata"]
    client = RecordClient(kube)
    try:
        chunks = client.logs(meta["namespace"], meta["name"], task, attempt, follow=follow, tail=tail, uid=meta.get("uid"),
                             component=component)
        first = next(chunks, None)  # errors (401/403/404) surface here, before anything is printed
    except NotFoundError as exc:
        raise LogsUnavailableError(f"task {task!r} attempt {attempt}: {exc}") from None
    if first is not None:
        yield first
    yield from chunks


def _or_raise(served: Callable[[], Iterator[bytes]], original: LogsUnavailableError) -> Iterator[bytes]:
    """The served log; when there is no server or no copy, the original reason."""
    from kuberun.manage.records import NoRecordServer

    try:
        chunks = served()
        first = next(chunks, None)
    except (NoRecordServer, LogsUnavailableError):
        raise original from None
    if first is not None:
        yield first
    yield from chunks


def follow_task(kube: Kube, obj: Obj, task: str | None = None, *, tail: int | None = None, backend_config: str | None = None,
                on_attempt: Callable[[int], None] = lambda _: None, poll: float = 1.0,
                component: int | None = None) -> Iterator[bytes]:
    """``logs -f`` without ``--attempt``: the task's log across its attempts, until the task has finished.

    A retried task's first attempt ends long before the task does; stopping there (exit 0) looked
    like success. After each attempt's stream ends, the record is read again: a newer attempt is
    followed next (``on_attempt(n)`` before each attempt's first chunk), and the loop ends only when
    the task's phase is final with no newer attempt, or the experiment has finished.
    """
    name = pick_task(obj, task)
    meta = obj["metadata"]
    streamed = 0
    while True:
        att = _latest_attempt(obj, name)
        if att is not None and att["attempt"] > streamed:
            on_attempt(att["attempt"])
            yield from stream_logs(kube, obj, name, att["attempt"], follow=True, tail=None if streamed else tail,
                                   backend_config=backend_config, component=component)
            streamed = att["attempt"]
        obj = get_experiment(kube, meta["name"], meta["namespace"])
        latest = _latest_attempt(obj, name)
        newer = latest is not None and latest["attempt"] > streamed
        if not newer and (_task_finished(obj, name) or _experiment_finished(obj)):
            return
        if not newer:
            time.sleep(poll)


def _latest_attempt(obj: Obj, task: str) -> Obj | None:
    status = next((t for t in (obj.get("status") or {}).get("tasks") or [] if t["name"] == task), None)
    attempts = (status or {}).get("attempts") or []
    return max(attempts, key=lambda a: a["attempt"]) if attempts else None


def _task_finished(obj: Obj, task: str) -> bool:
    status = next((t for t in (obj.get("status") or {}).get("tasks") or [] if t["name"] == task), None)
    return _finished_phase(status or {})


def _finished_phase(record: Obj) -> bool:
    """Whether a task's or an attempt's recorded phase is final."""
    from kuberun.resource.status import TaskPhase

    try:
        return TaskPhase(record.get("phase")).finished
    except ValueError:
        return False


def _experiment_finished(obj: Obj) -> bool:
    from kuberun.manage.query import finished

    return finished(obj)


def json_lines(chunks: Iterator[bytes], task: str, attempt: Callable[[], int | None],
               het: bool = False) -> Iterator[bytes]:
    """``logs -o json``: each log line as one JSON object ``{"task", "attempt", "line"}`` and a newline;
    ``het``: the lines of a het job's components, each labelled: ``component`` and the line without its label."""
    import json

    from kuberun.resource.slurmhet import split_label

    for line in lines(chunks):
        record: dict[str, Any] = {"task": task, "attempt": attempt()}
        if het:
            record["component"], line = split_label(line)
        yield json.dumps({**record, "line": line}).encode() + b"\n"


def lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Decode chunks into lines (without their newline), holding at most one partial line."""
    decoder, pending = codecs.getincrementaldecoder("utf-8")(errors="replace"), ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        yield from complete
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


# -- Kubernetes pods ------------------------------------------------------------------------------


def _pod_log(kube: Kube, ns: str, log_ref: Obj, backend_ref: Obj, follow: bool, tail: int | None, *,
             gone: bool = False) -> Iterator[bytes]:
    """``gone``: the attempt has finished, so a missing pod will not appear (the Job was deleted)."""
    deadline = time.monotonic() + (POD_WAIT if follow and not gone else 0)
    pod = log_ref.get("pod") or _job_pod(kube, ns, backend_ref.get("id"), deadline, gone=gone)
    query: dict[str, Any] = {"follow": "true" if follow else None, "tailLines": tail, "container": log_ref.get("container")}
    path, op = api_path("", "v1", "pods", ns, pod, "log"), Op("get", "pods/log", ns, pod)
    return _stream_once_started(kube, path, op, query, deadline)


def _stream_once_started(kube: Kube, path: str, op: Op, query: dict[str, Any], deadline: float) -> Iterator[bytes]:
    """The pod's log; with -f, a container still starting (400 'waiting to start') is waited for."""
    while True:
        try:
            yield from kube.stream(path, op, **query)
            return
        except ApiError as exc:
            if exc.code != 400 or "waiting to start" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _job_pod(kube: Kube, ns: str, job: str | None, deadline: float, *, gone: bool = False) -> str:
    """The Job's pod to read (rank 0 of an Indexed Job, else the newest), waiting until ``deadline`` for one."""
    if not job:
        raise LogsUnavailableError("the attempt has no Job yet: no logs")
    while True:
        pods = kube.get(api_path("", "v1", "pods", ns), Op("list", "pods", ns), labelSelector=f"job-name={job}").get("items") or []
        if pods:
            break
        if gone:
            raise LogsUnavailableError(f"the pod of Job {job!r} is gone (the attempt finished and its Job was deleted) "
                                       "and its log was not archived: no logs")
        if time.monotonic() > deadline:
            raise LogsUnavailableError(f"Job {job!r} has no pod yet: no logs (try again, or -f to wait for it)")
        time.sleep(1.0)
    pods.sort(key=lambda p: ((p["metadata"].get("annotations") or {}).get("batch.kubernetes.io/job-completion-index", "0") != "0",
                             _negated(p["metadata"].get("creationTimestamp") or "")))
    return str(pods[0]["metadata"]["name"])


def _negated(timestamp: str) -> tuple[int, ...]:
    """Sort key putting later RFC 3339 timestamps first."""
    return tuple(-ord(c) for c in timestamp)


# -- local files ----------------------------------------------------------------------------------


def _attempt_finished(kube: Kube, ns: str, name: str, task: str, attempt: int) -> bool:
    return _finished_phase(pick_attempt(get_experiment(kube, name, ns), task, attempt))


def _tail_offset(path: Path, lines_wanted: int) -> int:
    """Byte offset where the last ``lines_wanted`` lines start, reading backwards in chunks."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        pos, newlines = end, 0
        while pos > 0:
            step = min(CHUNK, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            if pos + step == end and block.endswith(b"\n"):
                block = block[:-1]
            for i in range(len(block) - 1, -1, -1):
                if block[i] == 10:
                    newlines += 1
                    if newlines == lines_wanted:
                        return pos + i + 1
        return 0


def _file_log(path: Path, follow: bool, tail: int | None, finished: Callable[[], bool]) -> Iterator[bytes]:
    if not path.is_file():
        raise LogsUnavailableError(f"log file {path} is not readable from this machine (the local executor writes it on the operator's host)")
    return _read_file(path, follow, tail, finished)


def _read_file(path: Path, follow: bool, tail: int | None, finished: Callable[[], bool]) -> Iterator[bytes]:
    with path.open("rb") as f:
        if tail is not None:
            f.seek(_tail_offset(path, tail) if tail > 0 else os.path.getsize(path))
        while True:
            chunk = f.read(CHUNK)
            if chunk:
                yield chunk
                continue
            if not follow or finished():
                rest = f.read()  # written between the last read and the attempt finishing
                if rest:
                    yield rest
                return
            time.sleep(0.5)
