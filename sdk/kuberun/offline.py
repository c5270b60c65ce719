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
from kuberun.runner import task_document


def run_offline(resource: ExperimentResource, workdir: Path | None = None, echo: bool = True) -> dict[str, TaskPhase]:
    """Run every task; returns each task's final phase."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="kuberun-offline-"))
    spec = resource.spec
    phases = {t.name: TaskPhase.PENDING for t in spec.tasks}
    running: dict[str, subprocess.Popen[bytes]] = {}
    while any(not p.finished for p in phases.values()):
        for task in spec.tasks:
            if phases[task.name] is not TaskPhase.PENDING:
                continue
            deps = [phases[d] for d in task.depends_on]
            if any(d.finished and d is not TaskPhase.SUCCEEDED for d in deps):
                phases[task.name] = TaskPhase.SKIPPED
                _say(echo, f"{task.name}: skipped (a dependency failed)")
            elif all(d is TaskPhase.SUCCEEDED for d in deps):
                doc = workdir / f"{task.name}.json"
                doc.write_text(json.dumps(task_document(task)))
                log = open(workdir / f"{task.name}.log", "wb")  # noqa: SIM115 - closed with the process
                running[task.name] = subprocess.Popen(
                    [sys.executable, "-m", "kuberun.runner", "--config", str(doc)], stdout=log, stderr=subprocess.STDOUT
                )
                phases[task.name] = TaskPhase.RUNNING
                _say(echo, f"{task.name}: started")
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
