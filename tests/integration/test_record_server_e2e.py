"""The whole record, end to end: the operator's recorder archives an experiment and copies its log; the
object is deleted; the user still lists, describes and reads it — through the record server, with
their own kubeconfig only. Active once the recorder (``kuberun_operator.recording``) is part of the operator."""

from __future__ import annotations

from typing import Any

import pytest

import kuberun as kr
from kuberun.api import Op, connect
from tests.helpers.manage import cli
from tests.helpers.operator import wait_for

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")
pytest.importorskip("kuberun_operator.recording", reason="the operator's recorder (archive write side) is not in this build")

BASE = "/apis/kuberun.dev/v1alpha1/namespaces/team-a/experiments"


def _wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    return wait_for(check, timeout, what, interval=0.2)


def _archived_log(kube: Any, name: str) -> bool:
    obj = kube.get(f"{BASE}/{name}", Op("get", "experiments", "team-a", name))
    tasks = (obj.get("status") or {}).get("tasks") or []
    return bool(tasks and tasks[0].get("attempts") and tasks[0]["attempts"][-1].get("archivedLog"))


def test_a_deleted_experiment_is_still_listed_described_and_its_log_read(tmp_path):
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path / "sb", operator=True) as sb:
        assert sb.record_server is not None and sb.operator_running, (sb.record_server_error, sb.operator_error)
        alice = sb.mint_user("alice", namespace="team-a")
        exp = kr.Experiment("kept", namespace="team-a")
        exp.add(kr.Script(command=["sh", "-c", "echo kept after deletion"]), name="t", executor=kr.LocalExecutor())
        name = exp.run(kubeconfig=str(alice))["metadata"]["name"]
        kube = connect(str(alice))
        _wait("the attempt's log in the log store", lambda: _archived_log(kube, name))
        assert cli("delete", name, kubeconfig=alice).code == 0
        _wait("the object to go", lambda: _gone(kube, name))
        listed = _wait("the archived record", lambda: (r := cli("list", "--archived", kubeconfig=alice)).code == 0
                       and name in r.stdout and r)
        assert "ARCHIVED" in listed.stderr
        described = cli("describe", name, kubeconfig=alice)
        assert described.code == 0 and "ARCHIVED" in described.stderr, described.stderr
        logs = cli("logs", name, "t", kubeconfig=alice)
        assert logs.code == 0, logs.stderr
        assert "kept after deletion" in logs.stdout


def _gone(kube: Any, name: str) -> bool:
    from kuberun.errors import ObjectNotFoundError

    try:
        kube.get(f"{BASE}/{name}", Op("get", "experiments", "team-a", name))
    except ObjectNotFoundError:
        return True
    return False
