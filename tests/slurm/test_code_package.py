"""A packaged task runs on real Slurm (the operator copies its code over the existing SSH connection), and is
reproduced from another directory with an override, importing nothing, running the same package.

The project module exists only in the package (the batch job's environment comes from sshd, not
from this test), so a Succeeded task whose output names the module's data proves the archive was
read from its ConfigMaps, written beside ``task.json`` in the same submit command, verified and
unpacked by the runner on the Slurm node.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import kuberun as kr
from kuberun.packaging import PatternPackager
from tests.helpers.operator import get_experiment, phase, wait_for

from .bridge import attempts

pytestmark = pytest.mark.usefixtures("crd")

LIB = '''\
import pathlib


def shout(word: str) -> str:
    line = f"{word.upper()} from {pathlib.Path('origin.txt').read_text().strip()}"
    print(line)
    return line
'''


def test_a_packaged_task_runs_on_slurm_with_its_code_copied_over_ssh(
        operator, kubeconfig, k8s_api_client, namespace, slurm_cluster, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "slurm_lib.py").write_text(LIB)
    (project / "origin.txt").write_text("the package\n")
    monkeypatch.syspath_prepend(str(project))
    import slurm_lib

    packager = PatternPackager(include_pattern=["*.py", "*.txt"], relative_path=str(project))
    exp = kr.Experiment("slurm-code", namespace=namespace, executor=kr.SlurmExecutor(cluster="main", packager=packager))
    exp.add(kr.Partial(slurm_lib.shout, word="hi"), name="t")
    name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    sys.modules.pop("slurm_lib", None)

    def finished() -> str | None:
        p = phase(k8s_api_client, namespace, name)
        return p if p in ("Succeeded", "Failed") else None

    assert wait_for(finished, 60, what="the packaged Slurm task") == "Succeeded", \
        get_experiment(k8s_api_client, namespace, name).get("status")
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    log = Path(attempt["logRef"]["path"])
    assert "HI from the package" in log.read_text()
    code = get_experiment(k8s_api_client, namespace, name)["spec"]["tasks"][0]["code"]
    import hashlib

    assert hashlib.sha256((log.parent / "code.tar.gz").read_bytes()).hexdigest() == code["sha256"]

    # A teammate elsewhere reproduces it with an override: nothing imported here, the same package there.
    monkeypatch.chdir(tmp_path)
    sys.path.remove(str(project))
    child = kr.Experiment.get(name, namespace=namespace, kubeconfig=str(kubeconfig)).reproduce(**{"word": "again"})
    assert "slurm_lib" not in sys.modules
    assert child.raw["spec"]["tasks"][0]["code"] == code

    def child_finished() -> str | None:
        p = phase(k8s_api_client, namespace, child.name)
        return p if p in ("Succeeded", "Failed") else None

    assert wait_for(child_finished, 60, what="the reproduction on Slurm") == "Succeeded", \
        get_experiment(k8s_api_client, namespace, child.name).get("status")
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, child.name), "t")
    assert "AGAIN from the package" in Path(attempt["logRef"]["path"]).read_text()
