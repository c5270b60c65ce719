"""Run an experiment offline: its tasks on this machine with the runner, no cluster, dependencies first.

This is what ``python examples/hello.py --offline`` does: real processes, no API server, no
operator. ("Offline" is this; "local" is only ``kr.LocalExecutor``, a process on the operator's host;
the "sandbox" is the embedded control plane.) Each task is
a ``python -m kuberun.runner`` subprocess; a task starts once all its dependencies succeeded, and
dependents of a failed task are skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kuberun.resource import ExperimentResource, TaskPhase
from kuberun.resource.graph import ready_tasks
from kuberun.runner import task_document


def run_offline(resource: ExperimentResource, workdir: Path | None = None, echo: bool = True) -> dict[str, TaskPhase]:
    """Run every task; returns each task's final phase."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="kuberun-offline-"))
    spec = resource.spec
    phases = {t.name: TaskPhase.PENDING for t in spec.tasks}
    running: dict[str, subprocess.Popen[bytes]] = {}
    by_name = {t.name: t for t in spec.tasks}
    while any(not p.finished for p in phases.values()):
        readiness = ready_tasks(spec.tasks, phases)  # the operator's reconcile uses the same rule
        for name, dependency in readiness.blocked.items():
            phases[name] = TaskPhase.SKIPPED
            _say(echo, f"{name}: skipped (dependency {dependency} did not succeed)")
        for name in readiness.ready:
            doc = workdir / f"{name}.json"
            doc.write_text(json.dumps(task_document(by_name[name])))
            log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            running[name] = subprocess.Popen(
                [sys.executable, "-m", "kuberun.runner", "--config", str(doc)], stdout=log, stderr=subprocess.STDOUT
            )
            phases[name] = TaskPhase.RUNNING
            _say(echo, f"{name}: started")
        for name, proc in list(running.items()):
            code = proc.poll()
            if code is not None:
                del running[name]
                phases[name] = TaskPhase.SUCCEEDED if code == 0 else TaskPhase.FAILED
                _say(echo, f"{name}: {phases[name].value} (exit {code}); log {workdir / (name + '.log')}")
        time.sleep(0.05)
    return phases


def _say(echo: bool, line: str) -> None:
    if echo:
        print(f"[kuberun] {line}", flush=True)
