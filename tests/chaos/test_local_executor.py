"""A local-executor task that ends while the operator is dead is recorded with its real exit code
(issue 19.5): the operator process is SIGKILLed mid-task and started again after the tasks ended.

Before, the exit file was written by an operator thread, so such a task was recorded
``Failed/ProcessLost`` whatever it exited with; now the attempt's own wrapper writes it
(``backends/local_child.py``).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.workload import EXPERIMENTS, NAMESPACE
from tests.harness.components import Cluster
from tests.helpers.operator import wait_for

pytestmark = pytest.mark.timeout(180)


def _task(name: str, ledger: Path, code: int, run_id: str) -> dict[str, Any]:
    log = shlex.quote(str(ledger))
    script = f"echo start {name} >> {log}; sleep 3; echo end {name} >> {log}; exit {code}"
    return {"name": name, "script": {"command": ["sh", "-c", script]}, "retries": {"limit": 0},
            "executor": {"local": {"env": {"CHAOS_RUN": run_id}}}}


def _tasks(cluster: Cluster, name: str) -> dict[str, dict[str, Any]]:
    exp = cluster.api.retrying("GET", f"{EXPERIMENTS}/{name}")
    return {t["name"]: t for t in (exp.get("status") or {}).get("tasks") or []}


def test_local_tasks_that_end_while_the_operator_is_dead_keep_their_real_exit_codes(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, operator_args=("--enable-local-executor", "--local-workdir", str(tmp_path / "local"),
                                               "--resync-seconds", "2"))
    ledger = tmp_path / "ledger.txt"
    try:
        cluster.start()
        body = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment",
                "metadata": {"name": "local-survivor", "namespace": NAMESPACE},
                "spec": {"title": "local", "tasks": [_task("ok", ledger, 0, cluster.run_id),
                                                     _task("bad", ledger, 3, cluster.run_id)]}}
        cluster.api.retrying("POST", EXPERIMENTS, body, ok=(201,))
        wait_for(lambda: all(t.get("phase") == "Running" and t["attempts"][0]["backendRef"].get("uid")
                             for t in _tasks(cluster, "local-survivor").values())
                 and len(_tasks(cluster, "local-survivor")) == 2, timeout=60, what="both tasks running, recorded")
        assert cluster.operator is not None
        cluster.operator.kill()
        wait_for(lambda: ledger.exists() and ledger.read_text().count("end ") == 2, timeout=30,
                 what="both tasks to end while the operator is dead")
        time.sleep(0.5)  # their wrappers write the exit files right after
        cluster.start_operator()
        wait_for(lambda: all(t.get("phase") in ("Succeeded", "Failed") for t in _tasks(cluster, "local-survivor").values()),
                 timeout=60, what="the restarted operator to record both outcomes")
        tasks = _tasks(cluster, "local-survivor")
        got = {n: [(a["attempt"], a["phase"], a.get("exitCode"), a.get("reason")) for a in t["attempts"]]
               for n, t in tasks.items()}
        assert got == {"ok": [(1, "Succeeded", 0, "Completed")], "bad": [(1, "Failed", 3, "Error")]}, cluster.tails()
        assert sorted(ledger.read_text().split("\n")) == ["", "end bad", "end ok", "start bad", "start ok"]
    finally:
        cluster.stop()
