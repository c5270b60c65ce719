"""Results and metrics reach the record in the sandbox, on the Kubernetes route and the local one.

Kubernetes: the runner writes its summary to ``terminationMessagePath``; the sandbox node (as a
kubelet does) copies it into the pod's ``state.terminated.message``; the operator reads it from the
pod and records it on the attempt. Local: the operator reads ``summary.json`` from the attempt's
directory. Either way nothing but the API and the operator's own files carries the values.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from kubernetes import config

import kuberun as kr
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks
from tests.helpers.operator import get_experiment, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    # The pods' processes are this interpreter: they must import tests.fixtures.tasks as the test does.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with Sandbox(data_dir=tmp_path, operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        yield sb


def _finished(api, name):
    def check():
        status = get_experiment(api, "default", name).get("status") or {}
        return status if status.get("phase") in ("Succeeded", "Failed") else None
    return wait_for(check, timeout=90, what=f"experiment {name} to finish")


def test_results_and_metrics_of_every_task_are_in_its_attempt_record(sandbox):
    exp = kr.Experiment("results")
    exp.add(kr.Partial(tasks.report, steps=3, result={"best": 0.5}), name="pod")
    exp.add(kr.Partial(tasks.report, steps=2, result=[1, 2]), name="proc", executor=kr.LocalExecutor())
    exp.add(kr.Partial(tasks.report, steps=1, fail=True), name="broken", retries=0)
    exp.add(kr.Config(tasks.Model, width=2), name="opaque")
    name = exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]
    with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api:
        status = _finished(api, name)
    by_task = {t["name"]: t["attempts"][-1] for t in status["tasks"]}
    pod, proc, broken, opaque = by_task["pod"], by_task["proc"], by_task["broken"], by_task["opaque"]
    assert json.loads(pod["result"]) == {"best": 0.5}, pod
    assert pod["metrics"]["loss"] == {"value": pytest.approx(1 / 3), "step": 2}
    assert pod["metrics"]["diverged"] == {"special": "NaN"}
    assert json.loads(proc["result"]) == [1, 2] and proc["metrics"]["acc"]["value"] == pytest.approx(0.1)
    # A failed task keeps what it reported, and its failure message is not the summary.
    assert broken["phase"] == "Failed" and broken["metrics"]["loss"]["value"] == 1.0 and "result" not in broken
    assert "kuberun.dev/summary" not in (broken.get("message") or "")
    # A return value that is not JSON is a note, and the task still Succeeded.
    assert opaque["phase"] == "Succeeded" and "not JSON-serialisable" in opaque["resultNote"]


def _sweep(lr: float, steps: int) -> kr.Experiment:
    exp = kr.Experiment("sweep")
    exp.add(kr.Partial(tasks.report, steps=steps, result={"lr": lr}), name="train", executor=kr.LocalExecutor())
    return exp


def test_list_shows_metric_columns_and_compare_sets_configs_and_metrics_side_by_side(sandbox):
    from tests.helpers.manage import cli

    kubeconfig = str(sandbox.kubeconfig)
    a = _sweep(0.1, 2).run(kubeconfig=kubeconfig)["metadata"]["name"]
    b = _sweep(0.1, 4).run(kubeconfig=kubeconfig)["metadata"]["name"]
    with config.new_client_from_config(config_file=kubeconfig) as api:
        _finished(api, a), _finished(api, b)
    listed = cli("list", "--columns", "loss,train.acc,missing", kubeconfig=kubeconfig)
    assert listed.code == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[-3:] == ["LOSS", "TRAIN.ACC", "MISSING"]
    by_name = {row.split()[0]: row.split()[-3:] for row in rows}
    assert by_name[a] == ["0.5", "0.1", "-"] and by_name[b] == ["0.25", "0.3", "-"]

    machine = cli("compare", a, b, "-o", "json", kubeconfig=kubeconfig)
    assert machine.code == 0, machine.stderr
    doc = json.loads(machine.stdout)
    assert doc["experiments"] == [a, b] and doc["phases"] == ["Succeeded", "Succeeded"]
    assert doc["config"] == [{"path": "train.steps", "values": ["2", "4"]}]  # only what differs, by path
    metrics = {row["metric"]: row["values"] for row in doc["metrics"]}
    assert metrics["train.loss"] == [0.5, 0.25] and metrics["train.diverged"] == ["NaN", "NaN"]
    assert [r["train"]["result"] for r in doc["results"]] == ['{"lr":0.1}', '{"lr":0.1}']

    text = cli("compare", a, b, kubeconfig=kubeconfig)
    assert text.code == 0, text.stderr
    assert any(line.split() == ["train.steps", "2", "4"] for line in text.stdout.splitlines()), text.stdout
    assert any(line.split() == ["train.loss", "0.5", "0.25"] for line in text.stdout.splitlines()), text.stdout
    assert cli("compare", a, kubeconfig=kubeconfig).code == 1  # one experiment: a usage error, one line

    described = cli("describe", b, kubeconfig=kubeconfig)
    assert described.code == 0, described.stderr
    assert '    result: {"lr":0.1}' in described.stdout.splitlines()
    assert "    metrics: loss=0.25@3, acc=0.3@3, diverged=nan" in described.stdout.splitlines()


def test_artifacts_of_a_local_task_are_synced_listed_and_downloaded_verified(sandbox, tmp_path):
    import hashlib

    from tests.helpers.manage import cli

    files = {"model.ckpt": "weights" * 100, "eval/report.txt": "acc=0.9\n"}
    exp = kr.Experiment("artifacts")
    exp.add(kr.Partial(tasks.write_artifacts, files=files), name="train", executor=kr.LocalExecutor())
    name = exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]
    with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api:
        _finished(api, name)

        def recorded():
            attempt = get_experiment(api, "default", name)["status"]["tasks"][0]["attempts"][-1]
            return attempt.get("artifacts") if (attempt.get("artifacts") or {}).get("complete") else None
        record = wait_for(recorded, timeout=30, what="the artifacts record")
    assert record["count"] == 2 and record["totalBytes"] == sum(len(t) for t in files.values())
    assert {f["path"]: f["sha256"] for f in record["files"]} == {
        p: hashlib.sha256(t.encode()).hexdigest() for p, t in files.items()}
    assert record["location"].startswith("file://" + str(sandbox.data_dir))  # the sandbox's own log store

    listed = cli("artifacts", name, kubeconfig=str(sandbox.kubeconfig))
    assert listed.code == 0, listed.stderr
    assert "train (attempt 1, Succeeded): 2 file(s)" in listed.stdout and "eval/report.txt" in listed.stdout
    described = cli("describe", name, kubeconfig=str(sandbox.kubeconfig))
    assert f"artifacts: 2 file(s), {record['totalBytes']} bytes (kuberun artifacts {name} train)" in described.stdout
    got = cli("artifacts", name, "train", "--download", str(tmp_path / "out"), kubeconfig=str(sandbox.kubeconfig))
    assert got.code == 0, got.stderr
    assert {p: (tmp_path / "out" / p).read_text() for p in files} == files
    # A tampered object is refused, not written.
    (pathlib.Path(record["location"][len("file://"):]) / "model.ckpt").write_text("tampered")
    bad = cli("artifacts", name, "train", "--download", str(tmp_path / "again"), kubeconfig=str(sandbox.kubeconfig))
    assert bad.code == 1 and "do not match the manifest" in bad.stderr and not (tmp_path / "again" / "model.ckpt").exists()
    assert cli("artifacts", name, "nope", kubeconfig=str(sandbox.kubeconfig)).code == 1
