"""The real kubectl binary against the emulator: apply, get (printer columns), describe, patch, replace, delete, -w."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.helpers.widgets import WIDGET_CRD, install_crd

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

GOOD = "apiVersion: test.kuberun.dev/v1\nkind: Widget\nmetadata: {name: kw}\nspec: {size: 3}\n"
BAD = "apiVersion: test.kuberun.dev/v1\nkind: Widget\nmetadata: {name: kbad}\nspec: {size: 3, tasks: [{name: Bad_Name}]}\n"
JOB = """apiVersion: batch/v1
kind: Job
metadata: {name: kjob}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox, command: [echo, hi]}]
"""


@pytest.fixture(scope="module")
def kubectl(kubeconfig: pathlib.Path, k8s_api_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    install_crd(k8s_api_client, WIDGET_CRD)
    cache = tmp_path_factory.mktemp("kubectl-cache")

    def run(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args]
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin"})
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run


def test_kubectl_apply_get_shows_printer_columns(kubectl: Any) -> None:
    assert "created" in kubectl("apply", "-f", "-", stdin=GOOD).stdout or "configured" in kubectl("apply", "-f", "-", stdin=GOOD).stdout
    header, row = kubectl("get", "widgets", "kw").stdout.splitlines()[:2]
    assert header.split() == ["NAME", "SIZE", "PHASE", "AGE"] and row.split()[:2] == ["kw", "3"]


def test_kubectl_apply_of_invalid_object_fails_like_a_real_server(kubectl: Any) -> None:
    result = kubectl("apply", "-f", "-", stdin=BAD, check=False)
    assert result.returncode != 0
    assert 'The Widget "kbad" is invalid: spec.tasks[0].name: Invalid value: "Bad_Name"' in result.stderr


def test_kubectl_apply_rejects_unknown_field_via_server_side_validation(kubectl: Any) -> None:
    result = kubectl("apply", "-f", "-", stdin=GOOD.replace("size: 3", "size: 3, bogus: 1"), check=False)
    assert result.returncode != 0 and 'unknown field "spec.bogus"' in result.stderr


def test_kubectl_get_yaml_patch_replace_describe_delete(kubectl: Any, tmp_path: pathlib.Path) -> None:
    kubectl("apply", "-f", "-", stdin=GOOD.replace("kw", "kw2"))
    kubectl("patch", "widget", "kw2", "--type", "merge", "-p", '{"spec":{"size":5}}')
    obj = yaml.safe_load(kubectl("get", "wd", "kw2", "-o", "yaml").stdout)
    assert obj["spec"]["size"] == 5 and obj["metadata"]["generation"] == 2
    obj["spec"]["size"] = 6
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(obj))
    kubectl("replace", "-f", str(tmp_path / "w.yaml"))
    assert "Size:      6" in kubectl("describe", "widget", "kw2").stdout
    kubectl("delete", "widget", "kw2")
    assert "NotFound" in kubectl("get", "widget", "kw2", check=False).stderr


def test_kubectl_describe_job_and_server_side_apply(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", stdin=JOB)
    assert "Pods Statuses:" in kubectl("describe", "job", "kjob").stdout
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", stdin=JOB.replace("kjob", "kjob-ssa")).stdout


def test_kubectl_get_watch_prints_first_events(kubectl: Any) -> None:
    kubectl("apply", "-f", "-", stdin=GOOD.replace("kw", "kw-watch"))
    result = kubectl("get", "widgets", "-w", "--request-timeout=2s", check=False, timeout=30)
    assert "kw-watch" in result.stdout
