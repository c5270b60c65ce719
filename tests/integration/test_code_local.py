"""A packaged task runs on the local backend: the operator reads the package's ConfigMaps and the
runner unpacks it into the attempt's own directory.

The project module is importable only in this test process (the operator's child processes get a
PYTHONPATH without it), so a Succeeded task whose result names the package's data file proves the
archive travelled: ConfigMaps → the local backend (size and sha256 checked) → ``code.tar.gz`` beside
``task.json`` → verified and unpacked by the runner into ``<attempt>/code``, its working directory.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

import pytest
from kubernetes import config

import kuberun as kr
from kuberun.packaging import PatternPackager
from kuberun_sandbox import Sandbox
from tests.helpers.operator import get_experiment, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]

LIB = '''\
import pathlib


def greet(who: str) -> str:
    return f"hello {who} from {pathlib.Path('origin.txt').read_text().strip()} in {pathlib.Path.cwd().name}"
'''


def _finished(api: object, name: str) -> str | None:
    phase = (get_experiment(api, "default", name).get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def test_a_packaged_local_task_runs_its_shipped_code_unpacked_in_the_attempt_directory(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "local_lib.py").write_text(LIB)
    (project / "origin.txt").write_text("the package\n")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # kuberun and the tests, never the project
    monkeypatch.syspath_prepend(str(project))
    import local_lib

    with Sandbox(data_dir=tmp_path / "sandbox", operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        packager = PatternPackager(include_pattern=["*.py", "*.txt"], relative_path=str(project))
        exp = kr.Experiment("local-code", executor=kr.LocalExecutor(packager=packager))
        exp.add(kr.Partial(local_lib.greet, who="local"), name="t")
        created = exp.run(kubeconfig=str(sb.kubeconfig))
        sys.modules.pop("local_lib", None)
        name, code = created["metadata"]["name"], created["spec"]["tasks"][0]["code"]
        with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
            assert wait_for(lambda: _finished(api, name), timeout=60, what="the packaged local task") == "Succeeded", \
                get_experiment(api, "default", name).get("status")
            (attempt,) = get_experiment(api, "default", name)["status"]["tasks"][0]["attempts"]
    where = pathlib.Path(attempt["logRef"]["path"]).parent
    assert "hello local from the package in code" in (where / "output.log").read_text()
    assert hashlib.sha256((where / "code.tar.gz").read_bytes()).hexdigest() == code["sha256"]
    assert (where / "code" / "local_lib.py").read_text() == LIB  # unpacked into the attempt's own directory
