"""The cached view of one Slurm cluster's jobs: one ``squeue --me`` per interval for every tracked job.

Kept apart from the backend because it is the one long-lived, stateful part: reconciles only read
its cache (``jobs``), submits and observes ``track`` ids in it, and failed polls back off (doubling,
capped) while keeping the last known states. Cancels that could not reach the cluster are kept here
and delivered on the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from kuberun.aiowait import wait_for
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.slurm import script
from kuberun_operator.backends.slurm.state import SlurmJob, parse_sacct, parse_squeue
from kuberun_operator.backends.slurm.transport import UNAVAILABLE, Transport

log = logging.getLogger("kuberun.operator.slurm")
# sbatch/squeue say these when slurmctld is down or busy: worth retrying, not the job's fault.
CONTROLLER_DOWN = ("Unable to contact slurm controller", "Socket timed out", "Zero Bytes were transmitted",
                   "Connection refused", "temporarily unable", "Resource temporarily unavailable")
FORGET_AFTER = 300.0  # seconds an id stays tracked after reconcile last asked about it
LOST_AFTER = 2  # polls that must all miss a job before it counts as lost


def controller_down(stderr: str) -> bool:
    return any(marker.lower() in stderr.lower() for marker in CONTROLLER_DOWN)


@dataclass
class _Tracked:
    key: str
    log_path: str | None
    wanted: float = field(default_factory=time.monotonic)
    misses: int = 0


class ClusterPoller:
    """The cached view of one cluster's jobs, refreshed by one batched call per interval."""

    def __init__(self, cluster: SlurmCluster, transport: Transport, interval: float, max_interval: float) -> None:
        self.cluster, self.transport = cluster, transport
        self.interval, self.max_interval = interval, max_interval
        self.jobs: dict[str, SlurmJob] = {}
        self.tracked: dict[str, _Tracked] = {}
        self.by_key: dict[str, str] = {}
        self.cancels: dict[str, str | None] = {}  # key -> job id: cancels still to deliver
        self.polls = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"kuberun-slurm-poll-{self.cluster.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def track(self, job_id: str, key: str, log_path: str | None) -> None:
        entry = self.tracked.get(job_id)
        if entry is None:
            self.tracked[job_id] = _Tracked(key, log_path)
            self.by_key[key] = job_id
            self._wake.set()  # a job we know nothing about yet: look soon
        else:
            entry.wanted = time.monotonic()
            entry.log_path = entry.log_path or log_path

    def is_lost(self, job_id: str) -> bool:
        entry = self.tracked.get(job_id)
        return entry is not None and entry.misses >= LOST_AFTER

    async def _loop(self) -> None:
        delay = self.interval
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.poll()
            except BackendError as exc:
                delay = min(delay * 2, self.max_interval)
                if exc.message != self.last_error:
                    log.warning("%s; polling again in %.0fs", exc.message, delay)
                self.last_error = exc.message
            except Exception:  # never let the poller die: the next tick may succeed
                log.exception("polling Slurm cluster %s failed", self.cluster.name)
                delay = min(delay * 2, self.max_interval)
            else:
                delay, self.last_error = self.interval, None

    async def poll(self) -> None:
        await self._deliver_cancels()
        self._forget_stale()
        if not self.tracked:
            return
        result = await self.transport.run(script.poll_command())
        if result.exit_status != 0:
            raise BackendError(UNAVAILABLE, f"Slurm cluster {self.cluster.name!r}: squeue failed: "
                               f"{result.stderr.strip()[:300]}", permanent=False)
        seen = {i: j for i, j in parse_squeue(result.stdout).items() if i in self.tracked}
        missing = [i for i in self.tracked if i not in seen]
        if missing:
            seen.update(await self._accounting(missing))
        for job_id, entry in self.tracked.items():
            entry.misses = 0 if job_id in seen else entry.misses + 1
        self.jobs.update(seen)
        self.polls += 1

    async def _accounting(self, job_ids: list[str]) -> dict[str, SlurmJob]:
        result = await self.transport.run(script.sacct_command(job_ids))
        if result.exit_status != 0:  # no accounting at all: jobs are simply not found there
            return {}
        return {i: j for i, j in parse_sacct(result.stdout).items() if i in job_ids}

    async def _deliver_cancels(self) -> None:
        for key, job_id in list(self.cancels.items()):
            result = await self.transport.run(script.cancel_command(key, job_id))
            if result.exit_status == 0 or not controller_down(result.stderr):
                self.cancels.pop(key, None)

    def _forget_stale(self) -> None:
        cutoff = time.monotonic() - FORGET_AFTER
        for job_id in [i for i, t in self.tracked.items() if t.wanted < cutoff]:
            entry = self.tracked.pop(job_id)
            self.jobs.pop(job_id, None)
            self.by_key.pop(entry.key, None)
