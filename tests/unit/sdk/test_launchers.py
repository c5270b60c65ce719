"""``kr.FaultTolerance``: the executor fields it sets, NeMo Run's launcher converted, fields refused by name."""

from __future__ import annotations

import pytest

import kuberun as kr
from kuberun.errors import InvalidExecutorError
from kuberun.nemorun import convert_executor


def test_a_single_process_is_restarted_by_the_runner_and_several_by_torchrun():
    one = kr.SlurmExecutor(cluster="hpc", launcher=kr.FaultTolerance(max_restarts=3))
    assert (one.launcher, one.max_restarts) == ("none", 3)
    ranks = kr.SlurmExecutor(cluster="hpc", nodes=2, ntasks_per_node=8, launcher=kr.FaultTolerance(max_restarts=2))
    assert (ranks.launcher, ranks.max_restarts) == ("torchrun", 2)
    pods = kr.KubernetesExecutor(procs_per_node=4, launcher=kr.FaultTolerance(max_restarts=1))
    assert (pods.launcher, pods.max_restarts) == ("torchrun", 1)
    assert kr.KubernetesExecutor(launcher=kr.FaultTolerance()).max_restarts == 0  # NeMo Run's default: none


def test_the_cloud_executors_take_fault_tolerance_as_the_others_do():
    one = kr.LeptonExecutor(resource_shape="gpu", launcher=kr.FaultTolerance(max_restarts=3))
    assert (one.launcher, one.max_restarts) == ("none", 3)
    replicas = kr.LeptonExecutor(resource_shape="gpu", replicas=2, launcher=kr.FaultTolerance(max_restarts=2))
    assert (replicas.launcher, replicas.max_restarts) == ("torchrun", 2)
    sky = kr.SkypilotExecutor(launcher=kr.FaultTolerance(max_restarts=4))  # no launcher field: torchrun from 2 nodes
    assert (sky.launcher, sky.max_restarts) == ("none", 4) and "launcher" not in sky.model_dump()
    assert kr.SkypilotExecutor(num_nodes=2, launcher=kr.FaultTolerance(max_restarts=1)).launcher == "torchrun"


def test_the_task_document_asks_the_runner_to_restart_only_where_torchrun_does_not():
    from kuberun.resource import Executor, TaskSpec
    from kuberun.runner import task_document

    def doc(executor):
        return task_document(TaskSpec(name="t", executor=Executor.wrap(executor), script={"command": ["true"]}))

    assert doc(kr.SkypilotExecutor(launcher=kr.FaultTolerance(max_restarts=2)))["restarts"] == 2
    assert "restarts" not in doc(kr.SkypilotExecutor(num_nodes=2, launcher=kr.FaultTolerance(max_restarts=2)))
    assert doc(kr.LeptonExecutor(resource_shape="g", launcher=kr.FaultTolerance(max_restarts=1)))["restarts"] == 1
    assert "restarts" not in doc(kr.LeptonExecutor(resource_shape="g", replicas=3, launcher=kr.FaultTolerance(max_restarts=1)))


def test_the_restart_count_reaches_the_resource_and_round_trips():
    from kuberun.resource import Executor

    executor = kr.KubernetesExecutor(launcher=kr.FaultTolerance(max_restarts=2))
    wire = Executor(kubernetes=executor).to_dict()
    assert wire == {"kubernetes": {"maxRestarts": 2}}
    assert Executor.model_validate(wire).kubernetes.max_restarts == 2


@pytest.mark.parametrize(("make", "words"), [
    (lambda: kr.FaultTolerance(max_restarts=-1), "a whole number from 0 to 100"),
    (lambda: kr.FaultTolerance(max_restarts=101), "a whole number from 0 to 100"),
    (lambda: kr.FaultTolerance(rdzv_port=1234), "rdzv_backend/rdzv_port have no kuberun equivalent"),
    (lambda: kr.KubernetesExecutor(command=["python", "x.py"], launcher=kr.FaultTolerance(max_restarts=1)),
     "max_restarts needs the runner"),
    (lambda: kr.LeptonExecutor(resource_shape="gpu", replicas=2, launcher="none", max_restarts=1),
     "max_restarts with replicas > 1 needs launcher='torchrun'"),
])
def test_bad_fault_tolerance_is_one_clear_error(make, words):
    with pytest.raises(InvalidExecutorError, match=words):
        make()


nr = pytest.importorskip("nemo_run", reason="nemo-run (a dev dependency) is not installed: conversions need its objects")


def test_nemo_run_fault_tolerance_converts_with_its_max_restarts(monkeypatch):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    slurm = convert_executor(nr.SlurmExecutor(account="a", launcher=nr.FaultTolerance(max_restarts=3)))
    assert (slurm.launcher, slurm.max_restarts) == ("none", 3)
    ranks = convert_executor(nr.SlurmExecutor(account="a", ntasks_per_node=8, launcher=nr.FaultTolerance(max_restarts=1)))
    assert (ranks.launcher, ranks.max_restarts) == ("torchrun", 1)
    named = convert_executor(nr.SlurmExecutor(account="a", launcher="ft"))
    assert (named.launcher, named.max_restarts) == ("none", 0)


@pytest.mark.parametrize(("field", "value"), [("rank_heartbeat_timeout", 30.0), ("workload_check_interval", 5.0),
                                              ("job_results_file", "/r.json"), ("rank_termination_signal", "SIGKILL")])
def test_nemo_run_fault_tolerance_fields_without_an_equivalent_are_refused_by_name(monkeypatch, field, value):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    with pytest.raises(InvalidExecutorError, match=rf"FaultTolerance\({field}=...\) has no kuberun equivalent"):
        convert_executor(nr.SlurmExecutor(account="a", launcher=nr.FaultTolerance(max_restarts=1, **{field: value})))


def test_nemo_run_fault_tolerance_converts_on_lepton():
    lepton = convert_executor(nr.LeptonExecutor(container_image="i", nemo_run_dir="/d", resource_shape="s",
                                                launcher=nr.FaultTolerance(max_restarts=1)))
    assert (lepton.launcher, lepton.max_restarts) == ("none", 1)


def test_fault_tolerance_on_an_executor_without_in_job_restarts_is_refused():
    with pytest.raises(InvalidExecutorError, match="launcher has no kuberun equivalent \\(a local task runs one process\\)"):
        convert_executor(nr.LocalExecutor(launcher=nr.FaultTolerance(max_restarts=1)))
