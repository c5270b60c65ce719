"""The record server on a sandbox that runs work: a local-executor attempt's log followed live through it
(what a user on another machine gets), ending when the attempt ends."""

from __future__ import annotations

import time
from typing import Any

import pytest

import kuberun as kr
from kuberun.api import connect
from kuberun.manage.records import RecordClient

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")


def _attempt(kube: Any, name: str) -> dict[str, Any] | None:
    from kuberun.manage.query import get_experiment

    tasks = (get_experiment(kube, name, "team-a").get("status") or {}).get("tasks") or []
    attempts = tasks[0].get("attempts") if tasks else None
    return attempts[-1] if attempts else None


def test_a_running_local_attempts_log_is_followed_until_it_ends(tmp_path):
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path / "sb", operator=True) as sb:
        assert sb.record_server is not None and sb.operator_running, (sb.record_server_error, sb.operator_error)
        alice = sb.mint_user("alice", namespace="team-a")
        exp = kr.Experiment("followed", namespace="team-a")
        exp.add(kr.Script(command=["sh", "-c", "echo one; sleep 2; echo two"]), name="t", executor=kr.LocalExecutor())
        name = exp.run(kubeconfig=str(alice))["metadata"]["name"]
        kube = connect(str(alice))
        deadline = time.monotonic() + 60
        while (att := _attempt(kube, name)) is None or not att.get("logRef"):
            assert time.monotonic() < deadline, "the attempt never recorded its log"
            time.sleep(0.2)
        chunks = b"".join(RecordClient(kube).logs("team-a", name, "t", None, follow=True))
        assert chunks == b"one\ntwo\n"
        assert _attempt(kube, name)["phase"] == "Succeeded"  # the stream ended because the attempt did
