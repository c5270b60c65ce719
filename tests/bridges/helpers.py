"""Shared by the bridge tests: tool venvs built by .ci/install-*.sh, config files, Experiments, Events."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import kuberun as kr

ROOT = Path(__file__).resolve().parents[2]


def tool_python(name: str, script: str) -> Path:
    """The interpreter of a tool venv under .tools/, or a skip that says how to build it."""
    python = ROOT / ".tools" / name / "bin" / "python"
    if not python.exists():
        pytest.skip(f".tools/{name} is absent: run {script} (CI's .ci/run does, before the offline test run)")
    return python


def run_in(python: Path, code: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([str(python), "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env}, cwd=ROOT)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def submit(kubeconfig: Path, namespace: str, executor: Any, payload: Any = None, **add: Any) -> str:
    exp = kr.Experiment("br", namespace=namespace)
    exp.add(payload or kr.Script(command=["true"]), name="t", executor=executor, **add)
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


def task_status(api: Any, namespace: str, name: str) -> dict[str, Any]:
    from tests.helpers.operator import get_experiment

    return ((get_experiment(api, namespace, name).get("status") or {}).get("tasks") or [{}])[0]


def event_reasons(api: Any, namespace: str) -> set[str]:
    from kubernetes import client

    return {e.reason for e in client.CoreV1Api(api).list_namespaced_event(namespace).items}


def runner_output(env: dict[str, str], prefix: str = "", timeout: float = 60) -> str:
    """What the task's log holds on a cloud backend: the real runner (``python -m kuberun.runner``) run
    with the environment the bridge gave the job, stdout and stderr as one stream, each line prefixed
    as the service prefixes it (SkyPilot: ``(task, pid=N) ``)."""
    import os
    import sys

    done = subprocess.run([sys.executable, "-m", "kuberun.runner", "--config-env", "KUBERUN_TASK_B64"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=ROOT,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")},
                               "PYTHONPATH": str(ROOT), **env})
    return "".join(prefix + line for line in done.stdout.splitlines(keepends=True))
