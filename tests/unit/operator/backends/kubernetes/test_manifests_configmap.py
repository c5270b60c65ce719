"""The task ConfigMap: one runner document per task, owned by the Experiment, loaded by the runner as
written, bounded in size, and chunked configs mounted in order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuberun import runner
from kuberun_operator.backends.kubernetes.manifests import (
    ManifestError,
    task_config_map,
)
from tests.helpers.builders import make_task
from tests.helpers.manifests import EXP, container, job, pod_spec, valid


# --- the task ConfigMap -------------------------------------------------------------------------
def test_task_config_map_holds_one_runner_document_per_task_owned_by_the_experiment():
    tasks = [make_task("prep").script(inline="echo hi", env={"A": "1"}).obj(), make_task("train").fiddle_inline().obj()]
    cm = valid(task_config_map(EXP, tasks))
    assert cm["metadata"]["name"] == "hello-x7k2p-tasks" and cm["immutable"] is True
    assert cm["metadata"]["ownerReferences"][0]["controller"] is True
    assert cm["metadata"]["labels"]["kuberun.dev/experiment"] == "hello-x7k2p"
    assert set(cm["data"]) == {"prep.json", "train.json"}
    assert json.loads(cm["data"]["prep.json"])["script"]["env"] == {"A": "1"}
    assert json.loads(cm["data"]["train.json"])["fiddle"]["data"] == tasks[1].fiddle.data


def test_task_document_in_the_config_map_is_what_the_runner_loads(tmp_path: Path):
    cm = task_config_map(EXP, [make_task("prep").script(command=["echo", "$(HOME) stays"]).obj()])
    path = tmp_path / "prep.json"
    path.write_text(cm["data"]["prep.json"])
    assert runner.load_task(path)["script"]["command"] == ["echo", "$(HOME) stays"]


def test_task_documents_too_large_for_one_config_map_fail_with_a_reason():
    tasks = [make_task(f"t{i}").script(inline="x" * 128 * 1024).obj() for i in range(9)]
    with pytest.raises(ManifestError) as caught:
        task_config_map(EXP, tasks)
    assert caught.value.reason == "TaskDocumentsTooLarge" and caught.value.permanent
    valid(task_config_map(EXP, tasks[:7]))


def test_chunked_configs_are_mounted_in_order_where_the_task_document_says():
    task = make_task("train").fiddle_chunks("hello-x7k2p-train-cfg-0", "hello-x7k2p-train-cfg-1").obj()
    document = json.loads(valid(task_config_map(EXP, [task]))["data"]["train.json"])
    built = job(task)
    mounts = {m["name"]: m["mountPath"] for m in container(built)["volumeMounts"]}
    volumes = {v["name"]: v.get("configMap") for v in pod_spec(built)["volumes"]}
    for i, cm_name in enumerate(["hello-x7k2p-train-cfg-0", "hello-x7k2p-train-cfg-1"]):
        assert volumes[f"kuberun-config-{i}"] == {"name": cm_name, "items": [{"key": "config", "path": "config"}]}
        assert document["fiddle"]["dataFiles"][i] == f"{mounts[f'kuberun-config-{i}']}/config"
    assert all(m["readOnly"] for m in container(built)["volumeMounts"] if m["name"] != "kuberun-outputs")
