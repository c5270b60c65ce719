"""Drive the recorder through the controller against the in-memory API (tests/helpers/fake_kube.py):
a bridge backend whose one attempt succeeds with a multi-chunk log it serves, and helpers to run an
experiment to its end and wait for the record's writes."""

from __future__ import annotations

from typing import Any

from kuberun.resource import LogRef
from kuberun_operator.actions import Observed
from kuberun_operator.logstore import LogStore
from kuberun_operator.recording import Recorder, RetryQueue
from tests.helpers.controller import KEY, Harness, Recording

UID = "8d3c3a4e-1f2b-4c5d-9e6f-0a1b2c3d4e5f"  # the log store refuses what is not a Kubernetes UID
LOG = b"".join(b"line %06d of a long training log\n" % i for i in range(100_000))  # ~3.3 MiB: many chunks


class Bridge(Recording):
    """A bridge whose one attempt has succeeded, and which serves that attempt's log (LogSource)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_reads = 0

    async def observe(self, exp: Any) -> dict[tuple[str, int], Observed]:
        if not self.submitted:
            return {}
        return {("t", 1): Observed("succeeded", backend_id="job-7", exit_code=0,
                                   log_ref=LogRef(kind="slurm", path="/scratch/t.log"))}

    async def logs(self, exp: Any, task: str, attempt: int, follow: bool, tail: int | None):
        assert (exp.metadata.uid, task, attempt) == (UID, "t", 1)  # handed the Experiment, not a status path
        self.log_reads += 1
        for i in range(0, len(LOG), 100_000):
            yield LOG[i:i + 100_000]


def task() -> dict[str, Any]:
    return {"name": "t", "script": {"command": ["true"]}, "executor": {"slurm": {"cluster": "c"}}}


def add_experiment(h: Harness) -> None:
    h.kube.add_experiment("exp", [task()])
    h.kube.experiments[KEY]["metadata"].update(uid=UID, creationTimestamp="2026-01-01T11:59:00Z")


def add_event(h: Harness, reason: str) -> None:
    h.kube.events.append({"metadata": {"uid": f"ev-{reason}", "name": f"exp.{reason}"}, "reason": reason,
                          "involvedObject": {"uid": UID, "name": "exp"}, "message": reason, "count": 1})


def recorder_for(h: Harness, url: Any, store: LogStore | None, metrics: Any = None) -> Recorder:
    recorder = Recorder(h.kube, h.controller.backends, archive_url=url, store=store, wake=h.controller.queue.add,
                        warn=h.controller.events.warn, metrics=metrics, queue=RetryQueue(first_delay=0.02, max_delay=0.2))
    h.controller.recorder = recorder
    return recorder


async def run_to_the_end(h: Harness, recorder: Recorder) -> None:
    await h.reconcile()  # submits
    await h.reconcile()  # observes success: the attempt and the experiment are finished
    assert h.status()["phase"] == "Succeeded"
    assert await recorder.queue.drain(20)
    await h.reconcile()  # folds the copied log's location into the status
    assert await recorder.queue.drain(20)
