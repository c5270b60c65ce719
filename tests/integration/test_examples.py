"""The examples a newcomer starts with are accepted by the API and run to Succeeded in the sandbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")
def test_kubectl_apply_of_the_yaml_example_runs_it_to_succeeded(tmp_path, control_plane):
    from kuberun_sandbox import Sandbox
    from tests.helpers.operator import wait_for

    with Sandbox(data_dir=tmp_path, operator=True, control_plane=control_plane) as sandbox:
        kubectl = [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig)]
        applied = subprocess.run([*kubectl, "apply", "-f", str(ROOT / "examples" / "hello.yaml")],
                                 capture_output=True, text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr
        assert "experiment.kuberun.dev/hello-yaml created" in applied.stdout

        def phase() -> str:
            out = subprocess.run([*kubectl, "get", "krexp", "hello-yaml", "-o", "jsonpath={.status.phase}"],
                                 capture_output=True, text=True, timeout=30).stdout
            return out if out in ("Succeeded", "Failed") else ""

        assert wait_for(phase, timeout=60, what="hello-yaml to finish") == "Succeeded"
        table = subprocess.run([*kubectl, "get", "exp"], capture_output=True, text=True, timeout=30).stdout
        header, row = table.splitlines()[:2]
        assert header.split() == ["NAME", "TITLE", "PHASE", "TASKS", "AGE"]
        assert row.split()[:4] == ["hello-yaml", "hello-yaml", "Succeeded", "3/3"]
        logs = subprocess.run([*kubectl, "logs", "-l", "kuberun.dev/task=primes"], capture_output=True, text=True, timeout=30)
        assert "5133 primes below 50000" in logs.stdout


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")
@pytest.mark.parametrize(("break_it", "message"), [
    (lambda spec: spec["tasks"][1].update(name="Bad_Name"),
     'spec.tasks[1].name: Invalid value: "Bad_Name": spec.tasks[1].name in body should match'),
    (lambda spec: spec["tasks"][2].update(executor={"kubernetes": {}, "slurm": {"cluster": "c"}}),
     "exactly one of kubernetes, slurm, skypilot, lepton, local is required"),
    # Unique task names by the CRD's list type. (A dependsOn naming no task is no longer refused at
    # admission — a CEL graph rule over 1,000 x 1,000 costs too much — but by the operator: InvalidSpec.)
    (lambda spec: spec["tasks"][2].update(name=spec["tasks"][0]["name"]), "Duplicate value"),
])
def test_invalid_experiment_is_rejected_at_apply_like_a_real_server(tmp_path, break_it, message, control_plane):
    from kuberun_sandbox import Sandbox

    bad = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
    break_it(bad["spec"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with Sandbox(data_dir=tmp_path / "sb", operator=False, control_plane=control_plane) as sandbox:
        done = subprocess.run([KUBECTL, "--kubeconfig", str(sandbox.kubeconfig), "apply", "-f", str(path)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert 'The Experiment "hello-yaml" is invalid' in done.stderr and message in done.stderr
