"""The resource models: valid experiments parse, each kind of bad input names its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kuberun.resource import ExperimentResource, ExperimentSpec, KubernetesExecutor, TaskSpec


def _task(name: str, deps: list[str] | None = None, **kw) -> dict:
    return {"name": name, "script": {"command": ["true"]}, "executor": kw.pop("executor", {"local": {}}),
            "dependsOn": deps or [], **kw}


def _spec(*tasks: dict) -> dict:
    return {"title": "t", "tasks": list(tasks)}


def test_yaml_is_camel_case_and_python_is_snake_case():
    spec = ExperimentSpec.model_validate(_spec(_task("a", executor={"kubernetes": {"procsPerNode": 2, "launcher": "torchrun"}})))
    assert spec.tasks[0].executor.kubernetes.procs_per_node == 2
    assert spec.to_dict()["tasks"][0]["executor"]["kubernetes"]["procsPerNode"] == 2


def test_quantities_accept_numbers_and_strings():
    assert KubernetesExecutor(cpu=2, memory="8Gi").cpu == "2"
    assert KubernetesExecutor(cpu=0.5).cpu == "0.5"
    with pytest.raises(ValueError, match=r"^invalid executor: cpu: a quantity must be a number or a string"):
        KubernetesExecutor(cpu=True)  # a user's direct call: one line naming the field (issue 16 item 9)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (_spec(_task("Bad_Name")), "tasks.0.name"),
        (_spec(_task("a"), _task("a")), "duplicate task name 'a'"),
        (_spec(_task("a", ["nope"])), "depends on unknown task 'nope'"),
        (_spec(_task("a", ["b"]), _task("b", ["a"])), "dependency cycle: a -> b -> a"),
        (_spec(_task("a", ["a"])), "depends on itself"),
        (_spec(_task("a", executor={})), "exactly one executor is required, got none"),
        (_spec(_task("a", executor={"local": {}, "kubernetes": {}})), "exactly one executor is required, got ['kubernetes', 'local']"),
        (_spec(_task("a", executor={"slurm": {}})), "tasks.0.executor.slurm.cluster"),
        (_spec(), "tasks"),
        (_spec(_task("a", executor={"kubernetes": {"procsPerNode": 4}})), "procs_per_node > 1 needs launcher='torchrun'"),
        (_spec(_task("a", executor={"skypilot": {"mode": "cluster"}})), "mode='cluster' needs cluster_name"),
        (_spec(_task("a", executor={"kubernetes": {"gpuz": 1}})), "gpuz"),
        (_spec(_task("a", retries={"limit": 11})), "retries.limit"),
    ],
)
def test_bad_spec_is_rejected_naming_the_problem(spec, needle):
    with pytest.raises(ValidationError) as info:
        ExperimentSpec.model_validate(spec)
    assert needle in str(info.value)


def test_task_needs_exactly_one_payload():
    with pytest.raises(ValidationError, match="exactly one of fiddle or script"):
        TaskSpec.model_validate({"name": "a", "executor": {"local": {}}})
    with pytest.raises(ValidationError, match="exactly one of command or inline"):
        TaskSpec.model_validate({"name": "a", "executor": {"local": {}}, "script": {"command": ["x"], "inline": "y"}})


def test_resource_round_trips_through_yaml():
    obj = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": "x", "uid": "u1",
           "ownerReferences": [{"kind": "Foo"}]}, "spec": _spec(_task("a"), _task("b", ["a"]))}
    resource = ExperimentResource.parse(obj)
    again = resource.to_dict()
    assert again["metadata"]["ownerReferences"] == [{"kind": "Foo"}]
    assert ExperimentResource.parse(again) == resource
