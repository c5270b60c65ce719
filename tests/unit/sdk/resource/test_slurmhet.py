"""kr.SlurmExecutor(heterogeneous=True, resource_group=[kr.SlurmHetComponent(...)]): what makes one het job."""

from __future__ import annotations

import pytest

import kuberun as kr
from kuberun.errors import InvalidExecutorError
from kuberun.resource import TaskSpec


def _het(*components: kr.SlurmHetComponent, **fields: object) -> kr.SlurmExecutor:
    return kr.SlurmExecutor(cluster="c", heterogeneous=True, resource_group=list(components), **fields)


def test_a_het_executor_round_trips_through_the_resource_form():
    executor = _het(kr.SlurmHetComponent(nodes=2, gpus_per_node=8), kr.SlurmHetComponent(env={"ROLE": "data"}),
                    partition="batch")
    assert executor.to_dict() == {"cluster": "c", "partition": "batch", "heterogeneous": True,
                                  "resourceGroup": [{"nodes": 2, "gpusPerNode": 8}, {"env": {"ROLE": "data"}}]}
    spec = TaskSpec.model_validate({"name": "t", "script": {"command": ["true"]}, "executor": {"slurm": executor.to_dict()}})
    assert spec.executor.slurm == executor


@pytest.mark.parametrize(("fields", "message"), [
    ({"heterogeneous": True, "resource_group": [kr.SlurmHetComponent()]}, "needs 2 to 8 resource_group components (got 1)"),
    ({"heterogeneous": True}, "needs 2 to 8 resource_group components (got 0)"),
    ({"resource_group": [kr.SlurmHetComponent()] * 2}, "resource_group is set but heterogeneous is not"),
    ({"heterogeneous": True, "resource_group": [kr.SlurmHetComponent()] * 2, "nodes": 2, "memory": "1G"},
     "memory, nodes: set per component in resource_group"),
    ({"heterogeneous": True, "resource_group": [kr.SlurmHetComponent()] * 2, "array": "4"}, "a job array of het jobs"),
    ({"heterogeneous": True, "resource_group": [kr.SlurmHetComponent()] * 2, "launcher": "torchrun"},
     "launcher='torchrun'"),
])
def test_what_does_not_make_one_het_job_is_refused_saying_what_to_change(fields, message):
    with pytest.raises(InvalidExecutorError) as err:
        kr.SlurmExecutor(cluster="c", **fields)
    assert message in str(err.value)


def test_a_component_s_extra_flags_pass_the_executor_s_allow_list():
    with pytest.raises(ValueError, match="kuberun sets it from partition"):
        kr.SlurmHetComponent(sbatch_args=["--partition=prio"])
    with pytest.raises(ValueError, match="not in the allowed extra flags"):
        kr.SlurmHetComponent(srun_args=["--uid=0"])
    assert kr.SlurmHetComponent(sbatch_args=["--comment=x"], srun_args=["--label"]).srun_args == ["--label"]
