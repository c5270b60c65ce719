"""The archive holds what status lets go of, end to end in the sandbox, read with a user's own kubeconfig.

1. A task retried until the status budget drops its earlier attempts: every attempt — times, phase,
   reason, exit code — is an archive row, and ``kuberun describe`` shows the whole history, of the
   live object (merged from the record server) and, once the object is deleted, of the archived one.
2. ``kuberun compare`` of experiments whose objects are deleted reads both from the archive (through
   the record server, as describe does) and prints the config difference and the metrics.

The budget is made small for the test (the operator runs in this process): reaching the real
512 KiB takes hundreds of tasks, and the mechanism is the same.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
from typing import Any

import pytest

import kuberun as kr
from kuberun.api import Op, connect
from kuberun.errors import ObjectNotFoundError
from kuberun_operator.archive import Archive
from tests.fixtures import tasks
from tests.helpers.manage import cli
from tests.helpers.operator import wait_for

pytest.importorskip("kuberun_operator.recording", reason="the operator's recorder is part of the operator extra")

ROOT = pathlib.Path(__file__).resolve().parents[2]
NS = "team-a"
BASE = f"/apis/kuberun.dev/v1alpha1/namespaces/{NS}/experiments"
SMALL_BUDGET = 1500  # bytes: a one-task status with two or more attempts is over it


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> int:
    from kuberun_operator import controller
    from kuberun_operator.policy import budget

    monkeypatch.setattr(controller, "compact", functools.partial(budget.compact, budget=SMALL_BUDGET))
    return SMALL_BUDGET


@pytest.fixture
def sandbox(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    from kuberun_sandbox import Sandbox

    # Pods and local tasks are this interpreter: they import tests.fixtures.tasks as the test does.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with Sandbox(data_dir=tmp_path / "sb", operator=True) as sb:
        assert sb.record_server is not None and sb.operator_running, (sb.record_server_error, sb.operator_error)
        yield sb


def _wait(what: str, check: Any, timeout: float = 90.0) -> Any:
    return wait_for(check, timeout, what, interval=0.2)


def _get(kube: Any, name: str) -> dict[str, Any] | None:
    try:
        return kube.get(f"{BASE}/{name}", Op("get", "experiments", NS, name))
    except ObjectNotFoundError:
        return None


def _finished(kube: Any, name: str) -> dict[str, Any]:
    return _wait(f"{name} to finish", lambda: (o := _get(kube, name)) is not None
                 and (o.get("status") or {}).get("phase") in ("Succeeded", "Failed") and o)


def _archived_row(url: str, uid: str, deleted: bool = False) -> Any:
    with Archive.open(url) as archive:
        row = archive.get_uid(uid)
    return row if row is not None and (row.deleted is not None or not deleted) else None


def _delete(user: pathlib.Path, kube: Any, name: str) -> None:
    assert cli("delete", name, kubeconfig=user).code == 0
    _wait(f"{name} to be gone", lambda: _get(kube, name) is None)


def _attempt_rows(text: str) -> dict[int, list[str]]:
    """describe's attempts table rows: {attempt: cells}."""
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 6 and cells[0].isdigit() and cells[1] in ("Failed", "Succeeded"):
            rows[int(cells[0])] = cells
    return rows


def test_attempts_the_budget_dropped_are_archived_and_described_live_and_after_deletion(small_budget, sandbox, tmp_path):
    user = sandbox.mint_user("alice", namespace=NS)
    kube = connect(str(user))
    counter = tmp_path / "tries"
    # Attempt n exits 10+n until the fifth, which succeeds.
    script = f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; ' \
             'echo "try $n"; [ "$n" -ge 5 ] && exit 0; exit $((10+n))'
    exp = kr.Experiment("retried", namespace=NS)
    exp.add(kr.Script(command=["sh", "-c", script]), name="flaky", retries=6, backoff_seconds=0)
    created = exp.run(kubeconfig=str(user))
    name, uid = created["metadata"]["name"], created["metadata"]["uid"]
    obj = _finished(kube, name)
    task = obj["status"]["tasks"][0]
    assert obj["status"]["phase"] == "Succeeded" and task["attempt"] == 5, task
    assert task.get("attemptsOmitted"), f"the budget was meant to drop attempts: {task}"
    kept = [a["attempt"] for a in task.get("attempts") or []]
    assert len(kept) < 5

    def all_attempts() -> list[Any] | None:
        with Archive.open(sandbox.archive_url) as archive:
            rows = archive.attempts(uid)
        return rows if len(rows) == 5 else None

    rows = _wait("every attempt in the archive", all_attempts)
    assert [(r.task, r.attempt, r.phase, r.exit_code) for r in rows] == [
        ("flaky", 1, "Failed", 11), ("flaky", 2, "Failed", 12), ("flaky", 3, "Failed", 13), ("flaky", 4, "Failed", 14),
        ("flaky", 5, "Succeeded", 0)]
    assert all(r.start_time and r.finish_time and r.finish_time >= r.start_time and r.reason for r in rows)

    live = cli("describe", name, kubeconfig=user)
    assert live.code == 0, live.stderr
    shown = _attempt_rows(live.stdout)
    assert sorted(shown) == [1, 2, 3, 4, 5], live.stdout
    assert [shown[n][5] for n in range(1, 6)] == ["11", "12", "13", "14", "0"]  # the EXIT column
    machine = json.loads(cli("describe", name, "-o", "json", kubeconfig=user).stdout)
    history = machine["experiment"]["status"]["tasks"][0]
    assert [a["exitCode"] for a in history["attempts"]] == [11, 12, 13, 14, 0] and "attemptsOmitted" not in history

    # The log of an attempt the live status no longer lists is still read (its copy in the log store).
    early = cli("logs", name, "flaky", "--attempt", "2", kubeconfig=user)
    assert early.code == 0 and "try 2" in early.stdout, (early.stdout, early.stderr)

    _wait("the finished record", lambda: _archived_row(sandbox.archive_url, uid))
    _delete(user, kube, name)
    row = _wait("the record marked deleted", lambda: _archived_row(sandbox.archive_url, uid, deleted=True))
    # What the stored record lacks, the archive's attempt rows put back. The operator may compact again after the
    # Succeeded read above (the status keeps growing: archived-log references, lineage), so count from the record.
    in_record = len(row.status["tasks"][0].get("attempts") or [])
    assert in_record <= len(kept)
    gone = cli("describe", name, "-o", "json", kubeconfig=user)
    assert gone.code == 0, gone.stderr
    doc = json.loads(gone.stdout)
    archived_task = doc["experiment"]["status"]["tasks"][0]
    assert [a["exitCode"] for a in archived_task["attempts"]] == [11, 12, 13, 14, 0]
    assert doc["archived"]["attemptsRestored"] == 5 - in_record
    # Each restored attempt names its archived log, so `kuberun logs --attempt N` reads it.
    assert all(a.get("archivedLog", {}).get("url") for a in archived_task["attempts"]), archived_task
    text = cli("describe", name, kubeconfig=user)
    assert "ARCHIVED" in text.stderr and sorted(_attempt_rows(text.stdout)) == [1, 2, 3, 4, 5], text.stdout
    first = cli("logs", name, "flaky", "--attempt", "1", kubeconfig=user)
    assert first.code == 0 and "try 1" in first.stdout, (first.stdout, first.stderr)


def _sweep(steps: int) -> kr.Experiment:
    exp = kr.Experiment("sweep", namespace=NS)
    exp.add(kr.Partial(tasks.report, steps=steps, result={"steps": steps}), name="train", executor=kr.LocalExecutor())
    return exp


def test_compare_reads_experiments_whose_objects_are_deleted_from_the_archive(sandbox):
    user = sandbox.mint_user("bob", namespace=NS)
    kube = connect(str(user))
    runs = [_sweep(steps).run(kubeconfig=str(user))["metadata"] for steps in (2, 4)]
    (a, b), uids = [m["name"] for m in runs], [m["uid"] for m in runs]
    for name, uid in zip((a, b), uids, strict=True):
        assert _finished(kube, name)["status"]["phase"] == "Succeeded"
        _wait(f"{name}'s finished record", lambda uid=uid: _archived_row(sandbox.archive_url, uid))
    live = json.loads(cli("compare", a, b, "-o", "json", kubeconfig=user).stdout)
    for name in (a, b):
        _delete(user, kube, name)

    machine = cli("compare", a, b, "-o", "json", kubeconfig=user)
    assert machine.code == 0, machine.stderr
    assert f"ARCHIVED {a}" in machine.stderr and f"ARCHIVED {b}" in machine.stderr
    doc = json.loads(machine.stdout)
    assert doc == live  # the same comparison as while the objects existed
    assert doc["experiments"] == [a, b] and doc["phases"] == ["Succeeded", "Succeeded"]
    assert sorted(doc["config"], key=lambda row: row["path"]) == [
        {"path": "train.result", "values": ["{'steps': 2}", "{'steps': 4}"]}, {"path": "train.steps", "values": ["2", "4"]}]
    assert [r["train"]["result"] for r in doc["results"]] == ['{"steps":2}', '{"steps":4}']
    metrics = {row["metric"]: row["values"] for row in doc["metrics"]}
    assert metrics["train.loss"] == [0.5, 0.25]
    text = cli("compare", a, b, kubeconfig=user)
    assert text.code == 0, text.stderr
    assert any(line.split() == ["train.steps", "2", "4"] for line in text.stdout.splitlines()), text.stdout
    assert any(line.split() == ["train.loss", "0.5", "0.25"] for line in text.stdout.splitlines()), text.stdout
    # A name in neither the cluster nor the archive is a one-line error, not a traceback.
    missing = cli("compare", a, "never-existed", kubeconfig=user)
    assert missing.code != 0 and "never-existed" in (missing.stderr + missing.stdout)
