"""The Kubernetes backend mounts a task's code package chunks and lists their paths in the task document."""

from __future__ import annotations

import json
from pathlib import Path

import kuberun as kr
from kuberun.packaging import PatternPackager
from kuberun_operator.backends.kubernetes import manifests


def _packager(tmp_path: Path) -> PatternPackager:
    (tmp_path / "lib.py").write_text("X = 1\n")
    return PatternPackager(include_pattern="*.py", relative_path=str(tmp_path))


def test_the_job_mounts_the_chunks_and_the_document_lists_them(tmp_path):
    exp = kr.Experiment("pkg", executor=kr.KubernetesExecutor(packager=_packager(tmp_path)))
    exp.add(kr.Script(inline="true"), name="a")
    resource, _ = exp.build()
    task = resource.spec.tasks[0]
    ref = manifests.ExperimentRef(name="pkg-1", namespace="ns", uid="u", title="pkg")
    cm = manifests.task_config_map(ref, [task])
    doc = json.loads(cm["data"]["a.json"])
    assert doc["code"] == {"sha256": task.code.sha256, "files": [f"{manifests.CODE_DIR}/0/chunk"]}
    volumes, mounts = manifests._volumes(ref, task, task.executor.kubernetes)
    code = [v for v in volumes if v["name"].startswith("kuberun-code-")]
    assert code == [{"name": "kuberun-code-0", "configMap": {"name": task.code.storage.config_maps[0],
                                                            "items": [{"key": "chunk", "path": "chunk"}]}}]
    assert {"name": "kuberun-code-0", "mountPath": f"{manifests.CODE_DIR}/0", "readOnly": True} in mounts


def test_a_task_without_code_mounts_no_chunks(tmp_path):
    exp = kr.Experiment("plain")
    exp.add(kr.Script(inline="true"), name="a")
    task = exp.build()[0].spec.tasks[0]
    ref = manifests.ExperimentRef(name="plain-1", namespace="ns", uid="u", title="plain")
    assert "code" not in json.loads(manifests.task_config_map(ref, [task])["data"]["a.json"])
    assert not [v for v in manifests._volumes(ref, task, task.executor.kubernetes)[0] if v["name"].startswith("kuberun-code")]
