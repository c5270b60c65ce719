"""Where an ended attempt's log is read from, chunk by chunk, for the copy into the log store.

The attempt's ``logRef`` says where (as for ``kuberun logs``): ``pod`` — the Job's pod through the
API server's ``pods/log`` (rank 0 of an Indexed Job, else the newest pod); ``file`` — the local
executor's output file on the operator's host; ``slurm``/``lepton``/``skypilot`` — the bridge's own
``logs()`` (the backends' ``LogSource`` capability). Every source yields bounded chunks, so a log of
any size passes through in constant memory. ``LogGone`` means the log no longer exists anywhere
(the pod was collected first): the copy is given up, not retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from kuberun.resource import AttemptStatus, ExperimentResource
from kuberun_operator.backends.base import Backend, BackendError, LogSource
from kuberun_operator.kube import ApiError, Kube
from kuberun_operator.recording.retry import Permanent

CHUNK = 256 * 1024
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


class LogGone(Permanent):
    """The attempt's log no longer exists at its source."""


def has_log(attempt: AttemptStatus) -> bool:
    """Whether an attempt ever had a log somewhere (it reached a backend)."""
    return attempt.backend_ref is not None and (attempt.log_ref is not None or attempt.backend_ref.backend == "kubernetes")


async def attempt_log(kube: Kube, backends: Mapping[str, Backend], namespace: str, attempt: AttemptStatus,
                      exp: ExperimentResource | None = None, task: str = "") -> AsyncIterator[bytes]:
    """The attempt's whole log (not followed: the attempt has ended).

    A bridge is handed the Experiment ``exp`` and ``task`` and finds the log itself (its
    ``LogSource``), not from the attempt's ``logRef``, which is status anyone allowed to patch
    ``experiments/status`` could point at another tenant's log."""
    ref, log_ref = attempt.backend_ref, attempt.log_ref
    if ref is None:
        raise LogGone("the attempt never reached a backend")
    kind = log_ref.kind if log_ref is not None else ("pod" if ref.backend == "kubernetes" else ref.backend)
    if kind == "pod":
        async for chunk in _pod_log(kube, namespace, ref.id, log_ref.pod if log_ref else None,
                                    (log_ref.container if log_ref else None) or "task"):
            yield chunk
    elif kind == "file":
        async for chunk in _file_log(Path(log_ref.path or "") if log_ref else Path()):
            yield chunk
    else:
        backend = backends.get(ref.backend)
        if not isinstance(backend, LogSource) or exp is None:
            raise LogGone(f"this operator has no {ref.backend!r} backend that serves logs")
        try:
            async for chunk in backend.logs(exp, task, attempt.attempt, False, None):
                yield chunk
        except BackendError as exc:
            if exc.permanent:
                raise LogGone(f"{ref.backend}: {exc.message}") from None
            raise


async def _pod_log(kube: Kube, namespace: str, job: str | None, pod: str | None, container: str) -> AsyncIterator[bytes]:
    if pod is None:
        if not job:
            raise LogGone("the attempt has no Job")
        pods = await kube.list_pods(namespace, f"job-name={job}")
        if not pods:
            raise LogGone(f"the pods of Job {job!r} are gone")
        pods.sort(key=lambda p: ((p["metadata"].get("annotations") or {}).get(COMPLETION_INDEX, "0") != "0",
                                 [-ord(c) for c in p["metadata"].get("creationTimestamp") or ""]))
        pod = str(pods[0]["metadata"]["name"])
    try:
        response = await kube.open_pod_log(namespace, pod, container)
    except ApiError as exc:
        if exc.status in (400, 404):  # collected, or its container never started: nothing to copy
            raise LogGone(f"pod {pod!r}: {exc.message}") from None
        raise
    try:
        while chunk := await kube.read_chunk(response, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(response.release_conn)


async def _file_log(path: Path) -> AsyncIterator[bytes]:
    if not path.is_file():
        raise LogGone(f"log file {path} does not exist")
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        f.close()


