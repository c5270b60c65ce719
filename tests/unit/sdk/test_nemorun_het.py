"""NeMo Run's heterogeneous SlurmExecutor (``resource_group`` of ``ResourceRequest``) as kuberun's het executor."""

from __future__ import annotations

import pytest

import kuberun as kr
from kuberun.errors import InvalidExecutorError
from kuberun.nemorun import convert_executor

nr = pytest.importorskip("nemo_run", reason="nemo-run (a dev dependency) is not installed: conversions need its objects")


def _request(**fields):
    base = {"packager": nr.Packager(), "nodes": 1, "ntasks_per_node": 1, "container_image": "img", "env_vars": {},
            "container_mounts": [], "job_details": None}
    return nr.core.execution.slurm.SlurmExecutor.ResourceRequest(**{**base, **fields})


def _het(*requests, **executor):
    slurm = nr.SlurmExecutor(account="a", heterogeneous=True, **executor)
    slurm.resource_group = list(requests)  # as NeMo Run's own merge of a job group's executors does
    return slurm


@pytest.fixture(autouse=True)
def _cluster(monkeypatch):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")


def test_resource_requests_become_het_components_with_the_executor_s_shared_resources_on_each():
    converted = convert_executor(_het(_request(env_vars={"ROLE": "trainer"}, gpus_per_node=2, srun_args=["--mpi=pmix"]),
                                      _request(nodes=2, ntasks_per_node=4, gpus_per_task=1, container_env=["A", "B"]),
                                      mem="8G", cpus_per_task=2, time="00:30:00"))
    assert converted == kr.SlurmExecutor(
        cluster="hpc", account="a", container_image="img", heterogeneous=True, resource_group=[
            kr.SlurmHetComponent(gpus_per_node=2, env={"ROLE": "trainer"}, srun_args=["--mpi=pmix"], memory="8G",
                                 cpus_per_task=2, time_limit="00:30:00"),
            kr.SlurmHetComponent(nodes=2, ntasks_per_node=4, sbatch_args=["--gpus-per-task=1"],
                                 srun_args=["--container-env=A,B"], memory="8G", cpus_per_task=2, time_limit="00:30:00")])


def test_the_merged_executor_s_own_nodes_yield_to_the_group():
    # NeMo Run's merge copies the first task's executor (nodes=4 here) and sets resource_group: the group wins.
    converted = convert_executor(_het(_request(nodes=2), _request(), nodes=4, ntasks_per_node=8))
    assert [c.nodes for c in converted.resource_group] == [2, 1]
    assert "nodes" not in converted.model_fields_set


@pytest.mark.parametrize(("executor", "message"), [
    (_het(_request(container_image="a"), _request(container_image="b")),
     "resource_group.container_image has no kuberun equivalent as different images per component"),
    (_het(_request(container_mounts=["/a:/a"]), _request()), "resource_group.container_mounts has no kuberun equivalent"),
    (_het(_request(het_group_index=1), _request()), "resource_group.het_group_index has no kuberun equivalent"),
    (_het(_request(), _request(), het_group_indices=[0, 1]), "het_group_indices has no kuberun equivalent"),
    (_het(_request()), "heterogeneous=True needs 2 to 8 resource_group components (got 1)"),
])
def test_what_a_kuberun_het_job_cannot_say_is_refused_by_name(executor, message):
    with pytest.raises(InvalidExecutorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        convert_executor(executor)


def test_a_group_without_heterogeneous_is_refused():
    slurm = nr.SlurmExecutor(account="a")
    slurm.resource_group = [_request(), _request()]
    with pytest.raises(InvalidExecutorError, match="resource_group has no kuberun equivalent without heterogeneous=True"):
        convert_executor(slurm)
