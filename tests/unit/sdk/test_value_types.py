"""Env var names and resource quantities are checked before anything is created, as the API server would.

Regression for: ``env={"A=B": "c"}`` left the pod Pending forever and the experiment Running; ``cpu: banana``
was accepted by the SDK and the CRD.
"""

from __future__ import annotations

import pytest
import yaml

import kuberun as kr
from kuberun.errors import KuberunError
from kuberun.resource.crd import crd_yaml

EXECUTORS = {
    "kubernetes": lambda env: kr.KubernetesExecutor(env=env),
    "slurm": lambda env: kr.SlurmExecutor(cluster="c", env=env),
    "skypilot": lambda env: kr.SkypilotExecutor(env=env),
    "lepton": lambda env: kr.LeptonExecutor(resource_shape="cpu.small", node_group="ng", env=env),
    "local": lambda env: kr.LocalExecutor(env=env),
    "script": lambda env: _built(kr.Script(inline="true", env=env)),
}


def _built(task):
    exp = kr.Experiment("values")
    exp.add(task, name="t", executor=kr.LocalExecutor())
    return exp.build()


@pytest.mark.parametrize("make", EXECUTORS.values(), ids=EXECUTORS.keys())
@pytest.mark.parametrize("name", ["A=B", "1ABC", "has space", "", "x" * 300], ids=["equals", "digit", "space", "empty",
                                                                                  "long"])
def test_an_env_name_kubernetes_would_refuse_is_refused_naming_the_field(make, name: str) -> None:
    with pytest.raises((ValueError, KuberunError), match=r"env"):
        make({name: "v"})


@pytest.mark.parametrize("make", EXECUTORS.values(), ids=EXECUTORS.keys())
@pytest.mark.parametrize("name", ["PATH", "_x", "my.var", "my-var", "A1"])
def test_valid_env_names_are_kept(make, name: str) -> None:
    assert make({name: "v"}) is not None


@pytest.mark.parametrize("value", ["banana", "lots", "12 Gi", "", "Gi"])
def test_a_quantity_that_is_not_one_is_refused(value: str) -> None:
    for field in ("cpu", "memory"):
        with pytest.raises(ValueError, match=field):
            kr.KubernetesExecutor(**{field: value})


@pytest.mark.parametrize("value", ["500m", "2", "16Gi", "1e3", "0.5", "128Mi"])
def test_real_quantities_are_accepted(value: str) -> None:
    assert kr.KubernetesExecutor(cpu=value, memory=value).cpu == value


def test_the_crd_states_the_quantity_grammar_and_bounds_env_maps() -> None:
    crd = yaml.safe_load(crd_yaml())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    kube = schema["properties"]["spec"]["properties"]["tasks"]["items"]["properties"]["executor"]["properties"][
        "kubernetes"]["properties"]
    assert kube["cpu"]["pattern"] == kube["memory"]["pattern"]
    assert kube["env"]["maxProperties"] == 256 and kube["env"]["additionalProperties"] == {"type": "string"}
