"""`kuberun reproduce`, `export` and `apply` against the API emulator: overrides checked in one line,
the origin linked, and an exported Experiment recreated with its ConfigMaps.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.manage import cli, submit
from tests.helpers.operator import get_experiment, wait_for

pytestmark = pytest.mark.usefixtures("crd")


# -- reproduce, apply, export -------------------------------------------------------------------
def _config(k8s_api_client: Any, namespace: str, name: str, task: str = "train") -> Any:
    obj = get_experiment(k8s_api_client, namespace, name)
    return kr.Experiment.from_resource(obj).tasks[task].config, obj


def test_reproduce_applies_overrides_links_origin_and_sets_image(kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, "repro")
    result = cli("reproduce", name, "train.lr=3e-4", "model.width=16", "train.model.depth=[1, 2]", "--executor-image", "img:2",
                 "--name", "repro-again", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0 and result.stdout == f"experiment repro-again created (reproduced from {name})\n"
    config, obj = _config(k8s_api_client, namespace, "repro-again")
    assert (config.lr, config.model.width, config.model.depth) == (3e-4, 16, [1, 2])
    assert obj["metadata"]["labels"]["kuberun.dev/reproduced-from"] == name
    origin_uid = get_experiment(k8s_api_client, namespace, name)["metadata"]["uid"]
    assert obj["metadata"]["annotations"]["kuberun.dev/reproduced-from-uid"] == origin_uid
    assert obj["spec"]["tasks"][0]["executor"]["kubernetes"]["image"] == "img:2"
    assert obj["spec"]["source"] == get_experiment(k8s_api_client, namespace, name)["spec"]["source"]
    assert cli("reproduce", name, "train.opt=adam", kubeconfig=kubeconfig, namespace=namespace).stderr == (
        "error: invalid override path 'train.opt': train has no attribute 'opt' (has: lr, model, steps)\n")


def test_reproduce_rejects_bad_override_paths_in_one_line(kubeconfig, namespace):
    def build(exp: kr.Experiment) -> None:
        exp.add(kr.Partial(tasks.add, a=1), name="a")
        exp.add(kr.Partial(tasks.add, a=2), name="b")
        exp.add(kr.Script(command=["true"]), name="s")

    name = submit(kubeconfig, namespace, "many", build=build)
    cases = {
        "a=1": "error: invalid override path 'a': start with a task name (a, b)\n",
        "b.a..x=1": "error: invalid override path 'b.a..x': use dotted names and [index] (e.g. train.model.width)\n",
        "s.x=1": "error: invalid override 's.x': task 's' is a script task; script tasks take no config overrides (tasks with a config: a, b)\n",
        "a.a.x=1": "error: invalid override path 'a.a.x': int has no attribute 'x'\n",
        "lr": "error: invalid override 'lr': expected KEY=VALUE (e.g. train.lr=3e-4)\n",
    }
    for override, message in cases.items():
        result = cli("reproduce", name, override, kubeconfig=kubeconfig, namespace=namespace)
        assert (result.code, result.stderr) == (1, message), override
    ok = cli("reproduce", name, "b.b=5", "a.a='x'", kubeconfig=kubeconfig, namespace=namespace)
    assert ok.code == 0, ok.stderr


def test_export_then_apply_recreates_the_experiment_with_its_config_maps(kubeconfig, k8s_api_client, namespace, tmp_path):
    blob = os.urandom(160 * 1024).hex()  # incompressible enough to spill to ConfigMaps
    name = submit(kubeconfig, namespace, "big", build=lambda e: e.add(kr.Partial(tasks.take_blob, blob=blob), name="t"))
    exported = cli("export", name, kubeconfig=kubeconfig, namespace=namespace).stdout
    docs = list(yaml.safe_load_all(exported))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Experiment"]
    assert "status" not in docs[-1] and "uid" not in docs[-1]["metadata"]
    original = get_experiment(k8s_api_client, namespace, name)
    assert cli("delete", name, kubeconfig=kubeconfig, namespace=namespace).code == 0
    wait_for(lambda: cli("describe", name, kubeconfig=kubeconfig, namespace=namespace).code == 1, what="deleted")
    path = tmp_path / "exported.yaml"
    path.write_text(exported)
    other = f"{namespace}-b"
    from kubernetes import client

    client.CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": other}})
    applied = cli("apply", "-f", str(path), "--user", "carol", kubeconfig=kubeconfig, namespace=other)
    assert applied.code == 0 and applied.stdout == f"experiment {name} created\n", applied.stderr
    again = get_experiment(k8s_api_client, other, name)
    assert again["spec"]["tasks"] == original["spec"]["tasks"] and again["spec"]["submittedBy"] == "carol"
    assert again["metadata"]["labels"]["kuberun.dev/submitted-by"] == "carol"
    config, _ = (kr.Experiment.from_resource(again, {d["metadata"]["name"]: d["data"]["config"] for d in docs[:1]}).tasks["t"].config, None)
    assert config.blob == blob


def test_apply_runs_a_python_file_and_records_the_context_user(kubeconfig, k8s_api_client, namespace, tmp_path):
    script = tmp_path / "exp.py"
    script.write_text(
        "import kuberun as kr\nfrom tests.fixtures import tasks\n"
        "with kr.Experiment('from-py') as exp:\n"
        "    exp.add(kr.Partial(tasks.add, a=5), name='t')\n"
        "    exp.run()\n"
    )
    result = cli("apply", "-f", str(script), kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0, result.stderr
    name = result.stdout.split()[1]
    config, obj = _config(k8s_api_client, namespace, name, "t")
    assert config.a == 5 and obj["spec"]["submittedBy"] == "kuberun-sandbox"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    assert cli("apply", "-f", str(bad), kubeconfig=kubeconfig, namespace=namespace).stderr == (
        "error: apply takes Experiments and their ConfigMaps, not Secret\n")
