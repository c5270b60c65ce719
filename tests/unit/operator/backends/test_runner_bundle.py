"""The SkyPilot task ships kuberun's runner instead of installing a package by name (issue 16.13).

The generated task's setup and run scripts are executed, as a node would, with a Python that has
no kuberun: the shipped runner runs a script task; a Fiddle task without fiddle fails in setup
with a message saying how to provide it; nothing is installed from any index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource import BackendRef
from kuberun_operator.backends.runner_bundle import BUNDLE_ENV, bundle
from kuberun_operator.backends.skypilot import backend as skypilot_backend
from tests.fixtures import tasks

BARE_PYTHON = "/usr/bin/python3"  # Debian's interpreter: no kuberun, no fiddle


def _task(entry: Any) -> dict[str, Any]:
    exp = kr.Experiment("sky", namespace="ns")
    exp.add(entry, name="t", executor=kr.SkypilotExecutor(cpus=2))
    resource, _ = exp.build()
    return skypilot_backend.build_task(resource, resource.spec.tasks[0], 1,
                                       BackendRef(backend="skypilot", idempotency_key="uid-t-1"))


def _bare(tmp_path: Path) -> dict[str, str]:
    """An environment whose `python` is a bare interpreter, with a fresh HOME."""
    if not Path(BARE_PYTHON).exists():
        pytest.skip(f"{BARE_PYTHON} is missing: no bare interpreter to play the rented node")
    probe = subprocess.run([BARE_PYTHON, "-c", "import kuberun"], capture_output=True, timeout=30)
    if probe.returncode == 0:
        pytest.skip(f"{BARE_PYTHON} can import kuberun: it cannot play a node without it")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(BARE_PYTHON)
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home)}


def _sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("bash") or "/bin/bash", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_task_installs_nothing_by_name_and_carries_the_runner():
    task = _task(kr.Script(command=["true"]))
    assert "pip install" not in task["setup"] and "pip install" not in task["run"]
    assert task["envs"][BUNDLE_ENV] == bundle()[0]


def test_a_script_task_runs_on_a_node_without_kuberun(tmp_path):
    task = _task(kr.Script(command=["echo", "ran-on-a-bare-node"]))
    env = {**_bare(tmp_path), **{k: str(v) for k, v in task["envs"].items()}}
    setup = _sh(task["setup"], env)
    assert setup.returncode == 0, setup.stderr
    assert list((Path(env["HOME"]) / ".kuberun").glob("runner-*/kuberun/runner.py"))
    run = _sh(task["run"], env)
    assert run.returncode == 0, run.stderr
    assert "ran-on-a-bare-node" in run.stdout


def test_a_fiddle_task_without_fiddle_fails_in_setup_saying_how_to_provide_it(tmp_path):
    task = _task(kr.Partial(tasks.add, a=1))
    assert "pip install" not in task["setup"]
    env = {**_bare(tmp_path), **{k: str(v) for k, v in task["envs"].items()}}
    setup = _sh(task["setup"], env)
    assert setup.returncode == 1
    assert "needs the fiddle package" in setup.stderr and "repository" in setup.stderr
    assert not os.path.exists(Path(env["HOME"]) / ".local" / "lib")  # nothing was installed
