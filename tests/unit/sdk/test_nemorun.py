"""NeMo Run objects converted to kuberun's, field by field; fields with no equivalent are refused by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kuberun as kr
from kuberun.errors import InvalidExecutorError, InvalidExperimentError
from kuberun.nemorun import convert_executor, convert_packager, convert_task

nr = pytest.importorskip("nemo_run", reason="nemo-run (a dev dependency) is not installed: conversions need its objects")

ROOT = Path(__file__).resolve().parents[3]


def test_nemo_run_executors_become_kuberun_executors():
    local = convert_executor(nr.LocalExecutor(env_vars={"A": "1"}))
    assert local == kr.LocalExecutor(env={"A": "1"})
    lepton = convert_executor(nr.LeptonExecutor(container_image="img:1", nemo_run_dir="/nemo-run", nodes=2,
                                                resource_shape="gpu.8xh100", node_group="ng", env_vars={"B": "2"}))
    assert lepton == kr.LeptonExecutor(image="img:1", replicas=2, resource_shape="gpu.8xh100", node_group="ng", env={"B": "2"})
    # (nemo_run.SkypilotExecutor cannot be constructed without skypilot installed; it converts by the same table.)
    tuned = convert_executor(nr.LeptonExecutor(container_image="img:1", nemo_run_dir="/nemo-run", resource_shape="gpu",
                                               shared_memory_size=1024, node_reservation="res-1",
                                               image_pull_secrets=["ngc"]))
    assert (tuned.shared_memory_size, tuned.node_reservation, tuned.image_pull_secrets) == (1024, "res-1", ["ngc"])


def test_slurm_needs_the_operator_s_cluster_name(monkeypatch):
    executor = nr.SlurmExecutor(account="acct", partition="batch", nodes=2, ntasks_per_node=8, time="01:00:00",
                                container_image="img", setup_lines="module load x")
    monkeypatch.delenv("KUBERUN_SLURM_CLUSTER", raising=False)
    with pytest.raises(InvalidExecutorError, match=r"set \$KUBERUN_SLURM_CLUSTER or use kr.SlurmExecutor\(cluster=...\)"):
        convert_executor(executor)
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    executor = nr.SlurmExecutor(account="acct", partition="batch", nodes=2, ntasks_per_node=8, time="01:00:00", container_image="img")
    assert convert_executor(executor) == kr.SlurmExecutor(cluster="hpc", account="acct", partition="batch", nodes=2,
                                                          ntasks_per_node=8, time_limit="01:00:00", container_image="img")


@pytest.mark.parametrize(("executor", "fields"), [
    (lambda: nr.SlurmExecutor(account="a", gres="gpu:8", exclusive="user"), "exclusive"),
    (lambda: nr.SlurmExecutor(account="a", dependency_type="afterany"), "dependency_type"),
    (lambda: nr.LeptonExecutor(container_image="i", nemo_run_dir="/d", resource_shape="s", pre_launch_commands=["x"]),
     "pre_launch_commands"),
    (lambda: nr.LocalExecutor(ntasks_per_node=2), "ntasks_per_node"),
])
def test_fields_without_an_equivalent_are_refused_by_name(monkeypatch, executor, fields):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    with pytest.raises(InvalidExecutorError, match=f"{fields} ha(s|ve) no kuberun equivalent"):
        convert_executor(executor())


def test_slurm_parity_fields_convert_to_fields_and_allow_listed_flags(monkeypatch):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    executor = nr.SlurmExecutor(account="a", gres="gpu:a100:8", constraint="a100&ib", exclude="node[1-3]", exclusive=True,
                                srun_args=["--mpi=pmix"], container_env=["WANDB_KEY", "HF_TOKEN"], mem_per_gpu="40G",
                                signal="USR1@90", additional_parameters={"mail_type": "END", "requeue": True})
    assert convert_executor(executor) == kr.SlurmExecutor(
        cluster="hpc", account="a", gres="gpu:a100:8", constraint="a100&ib", exclude=["node[1-3]"], exclusive=True,
        sbatch_args=["--mem-per-gpu=40G", "--signal=USR1@90", "--mail-type=END", "--requeue"],
        srun_args=["--mpi=pmix", "--container-env=WANDB_KEY,HF_TOKEN"])


@pytest.mark.parametrize(("extra", "words"), [({"partition": "prio"}, "kuberun sets it from partition"),
                                              ({"uid": "0"}, "not in the allowed extra flags")])
def test_nemo_run_additional_parameters_cannot_walk_around_the_grants(monkeypatch, extra, words):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    with pytest.raises(InvalidExecutorError, match=words):
        convert_executor(nr.SlurmExecutor(account="a", additional_parameters=extra))


def test_nemo_run_explicit_job_dependencies_are_refused_for_depends_on(monkeypatch):
    monkeypatch.setenv("KUBERUN_SLURM_CLUSTER", "hpc")
    with pytest.raises(InvalidExecutorError, match="dependencies between tasks are dependsOn"):
        convert_executor(nr.SlurmExecutor(account="a", dependencies=["1234"]))


def test_an_unconvertible_executor_names_the_ones_that_convert():
    with pytest.raises(InvalidExecutorError, match=r"nemo_run\.DockerExecutor has no kuberun equivalent"):
        convert_executor(nr.DockerExecutor(container_image="x"))


def test_packagers_convert_and_keep_their_meaning():
    git = convert_packager(nr.GitArchivePackager(subpath="src", check_uncommitted_changes=True))
    assert (type(git).__name__, git.subpath, git.uncommitted) == ("GitArchivePackager", "src", "refuse")
    assert convert_packager(nr.GitArchivePackager()).uncommitted == "warn"  # NeMo Run ships HEAD without checking
    pattern = convert_packager(nr.PatternPackager(include_pattern="*.py", relative_path="/p"))
    assert (pattern.include_pattern, pattern.relative_path) == ("*.py", "/p")
    assert convert_packager(nr.Packager()) is None
    executor = convert_executor(nr.LocalExecutor(packager=nr.GitArchivePackager(subpath="src")))
    assert executor.packager.subpath == "src"


def test_scripts_convert_inline_path_and_module(tmp_path):
    assert convert_task(nr.Script(inline="echo hi", env={"A": "1"})) == kr.Script(inline="echo hi", env={"A": "1"}, entrypoint="bash")
    (tmp_path / "run.sh").write_text("echo from file\n")
    from_file = convert_task(nr.Script(path=str(tmp_path / "run.sh"), args=["x"]))
    assert (from_file.inline, from_file.args) == ("echo from file\n", ["x"])
    assert convert_task(nr.Script(path="trainer.main", m=True, entrypoint="python")).command == ["python", "-m", "trainer.main"]


def test_add_takes_nemo_run_objects_and_a_positional_executor():
    exp = kr.Experiment("nr")
    name = exp.add(nr.Script(inline="echo hi"), nr.LocalExecutor(env_vars={"A": "1"}), "hi")
    assert name == "hi" and exp.tasks["hi"].executor == kr.LocalExecutor(env={"A": "1"})
    from tests.fixtures import tasks

    exp.add(nr.Partial(tasks.write_marker, path="/tmp/x"), kr.LocalExecutor(), "marker")
    assert exp.build()[0].spec.tasks[1].fiddle is not None


def test_sequential_chains_tasks_without_their_own_dependencies(monkeypatch):
    monkeypatch.setenv("KUBERUN_DRYRUN", "1")
    exp = kr.Experiment("seq")
    for name in ("a", "b", "c"):
        exp.add(kr.Script(inline="true"), name=name)
    exp.add(kr.Script(inline="true"), name="d", dependencies=["a"])
    exp.run(sequential=True)
    assert [exp.tasks[n].dependencies for n in "abcd"] == [[], ["a"], ["b"], ["a"]]


def test_a_job_group_becomes_its_members_and_a_dependency_on_it_waits_for_all():
    exp = kr.Experiment("groups")
    prep = exp.add(kr.Script(inline="true"), name="prep")
    group = exp.add([nr.Script(inline="echo a"), kr.Script(inline="echo b")],
                    executor=[kr.LocalExecutor(), kr.KubernetesExecutor()], name="pair", dependencies=[prep])
    after = exp.add(kr.Script(inline="true"), name="after", dependencies=[group, prep])
    assert group == "pair" and exp.groups == {"pair": ["pair-0", "pair-1"]}
    assert list(exp.tasks) == ["prep", "pair-0", "pair-1", "after"]
    assert [exp.tasks[n].dependencies for n in ("pair-0", "pair-1")] == [["prep"], ["prep"]]
    assert exp.tasks[after].dependencies == ["pair-0", "pair-1", "prep"]
    assert isinstance(exp.tasks["pair-0"].executor, kr.LocalExecutor)  # one executor each, in order
    assert exp.tasks["pair-0"].config == kr.Script(inline="echo a", entrypoint="bash")  # NeMo Run's Script converted
    spec = exp.build()[0].spec
    assert [(t.name, t.depends_on) for t in spec.tasks][1:3] == [("pair-0", ["prep"]), ("pair-1", ["prep"])]


def test_a_job_group_is_added_whole_or_not_at_all():
    exp = kr.Experiment("groups")
    with pytest.raises(InvalidExperimentError, match="2 tasks was given 3 executors"):
        exp.add([kr.Script(inline="a"), kr.Script(inline="b")], [kr.LocalExecutor()] * 3, "g")
    with pytest.raises(InvalidExperimentError, match="at least one task"):
        exp.add([], name="g")
    exp.add(kr.Script(inline="x"), name="g-1")
    with pytest.raises(InvalidExperimentError, match="'g-1' is already used"):
        exp.add([kr.Script(inline="a"), kr.Script(inline="b")], name="g")
    with pytest.raises(InvalidExperimentError, match="a list of executors goes with a list of tasks"):
        exp.add(kr.Script(inline="a"), [kr.LocalExecutor()], "single")
    with pytest.raises(InvalidExperimentError, match=r"a task is a kr\.Config"):
        exp.add([kr.Script(inline="a"), 42], name="h")
    assert list(exp.tasks) == ["g-1"] and exp.groups == {}  # nothing of the failed groups stayed


def test_sequential_keeps_a_job_group_parallel_and_chains_around_it(monkeypatch):
    monkeypatch.setenv("KUBERUN_DRYRUN", "1")
    exp = kr.Experiment("seq-groups")
    exp.add(kr.Script(inline="true"), name="a")
    exp.add([kr.Script(inline="true"), kr.Script(inline="true")], name="g")
    exp.add(kr.Script(inline="true"), name="z")
    exp.run(sequential=True)
    assert [exp.tasks[n].dependencies for n in ("a", "g-0", "g-1", "z")] == [[], ["a"], ["a"], ["g-0", "g-1"]]


def test_reset_before_a_run_is_the_same_experiment():
    exp = kr.Experiment("later")
    assert exp.reset() is exp


def test_direct_calls_the_tasks_in_this_process(tmp_path):
    marker = tmp_path / "direct"
    from tests.fixtures import tasks

    exp = kr.Experiment("direct")
    exp.add(kr.Partial(tasks.write_marker, path=str(marker), text="here"), name="w")
    assert exp.run(direct=True) is None
    assert marker.read_text() == "here"


def test_the_handle_methods_need_a_run_first():
    exp = kr.Experiment("later")
    for call in (exp.status, exp.logs, exp.cancel):
        with pytest.raises(kr.KuberunError, match="has not run yet"):
            call()


def test_kr_cli_is_the_entrypoints_namespace_and_python_m_kuberun_cli_is_the_command_line():
    assert kr.cli.entrypoint is __import__("kuberun.entrypoints", fromlist=["entrypoint"]).entrypoint
    assert kr.cli.main.__module__ == "kuberun.entrypoints.run"
    done = subprocess.run([sys.executable, "-m", "kuberun.cli", "version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == kr.__version__


def test_kuberun_run_dry_runs_a_recipe_entrypoint_with_overrides():
    done = subprocess.run([sys.executable, "-m", "kuberun.commandline", "run", "tests.unit.sdk.recipe:train",
                           "model=large_model", "model.depth=5", "optim.lr=3e-4", "steps*=2", "--executor", "gpu(gpus=2)",
                           "--dryrun"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "model.depth: int = 5" in done.stdout and "optim.lr: float = 0.0003" in done.stdout
    assert "steps: int = 20" in done.stdout and "gpus: 2" in done.stdout


@pytest.mark.parametrize(("target", "message"), [
    ("tests.unit.sdk.nope:train", "cannot import tests.unit.sdk.nope"),
    ("tests.unit.sdk.recipe:absent", "has no function 'absent'"),
    ("tests.unit.sdk.recipe", "has 3 @entrypoint functions"),
])
def test_kuberun_run_names_a_bad_target(target, message):
    done = subprocess.run([sys.executable, "-m", "kuberun.commandline", "run", target, "--dryrun"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_nemo_run_skypilot_and_kubeflow_executors_convert(monkeypatch):
    # NeMo Run's constructors check for skypilot and load a kubeconfig: what they would reach is not ours to
    # test; the fields the user set are, and they convert by the table.
    import nemo_run.core.execution.kubeflow as nr_kubeflow
    import nemo_run.core.execution.skypilot as nr_skypilot

    monkeypatch.setattr(nr_skypilot, "_SKYPILOT_AVAILABLE", True)
    monkeypatch.setattr(nr_kubeflow.KubeflowExecutor, "_load_kube_clients", lambda self: None)
    sky = convert_executor(nr.SkypilotExecutor(container_image="docker:img", cloud="aws", gpus="H100", gpus_per_node=8,
                                               num_nodes=2, use_spot=True, setup="pip list\n\nnvidia-smi",
                                               env_vars={"A": "1"}))
    assert sky == kr.SkypilotExecutor(image="docker:img", cloud="aws", accelerators="H100:8", num_nodes=2, use_spot=True,
                                      setup=["pip list", "nvidia-smi"], env={"A": "1"})
    with pytest.raises(InvalidExecutorError, match="gpus has no kuberun equivalent as a list"):
        convert_executor(nr.SkypilotExecutor(gpus=["H100", "A100"], gpus_per_node=8))
    kubeflow = convert_executor(nr.KubeflowExecutor(image="nvcr.io/nvidia/pytorch:24.05", num_nodes=2, nprocs_per_node=4,
                                                    gpus_per_node=4, launcher="torchrun", env_vars={"B": "2"}))
    assert kubeflow == kr.KubernetesExecutor(image="nvcr.io/nvidia/pytorch:24.05", nodes=2, procs_per_node=4, gpus=4,
                                             launcher="torchrun", env={"B": "2"})
    ft = convert_executor(nr.KubeflowExecutor(num_nodes=2, launcher=nr.FaultTolerance(max_restarts=2)))
    assert (ft.nodes, ft.launcher, ft.max_restarts) == (2, "torchrun", 2)
