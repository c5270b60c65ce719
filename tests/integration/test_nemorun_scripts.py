"""NeMo Run-style scripts, with only the import changed (``import kuberun as run``), run to Succeeded.

Each script in ``nemorun_scripts/`` is run as its user would run it (``python hello_fn.py``) with
``$KUBECONFIG`` pointing at a sandbox (API server, node, operator); the test then reads what the
cluster recorded: each experiment the script made, its phase, and what its tasks printed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import kuberun as kr
from kuberun_sandbox import Sandbox
from tests.helpers.operator import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = pathlib.Path(__file__).with_name("nemorun_scripts")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    with Sandbox(data_dir=tmp_path_factory.mktemp("nemorun-sandbox"), operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        yield sb


def _run_script(sb: Sandbox, script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, script], cwd=SCRIPTS, env=env, capture_output=True, text=True, timeout=120)


def _finished(sb: Sandbox, title: str) -> kr.RemoteExperiment:
    def done() -> kr.RemoteExperiment | None:
        found = kr.list_experiments(title=title, kubeconfig=str(sb.kubeconfig))
        if found and found[0].status().phase in ("Succeeded", "Failed"):
            return found[0]
        return None

    return wait_for(done, timeout=90, what=f"the experiment titled {title!r} to finish")


def _log(exp: kr.RemoteExperiment, task: str) -> str:
    return "\n".join(exp.logs(task))


def test_quick_start_run_run_waits_and_tails_the_log(sandbox):
    done = _run_script(sandbox, "hello_fn.py")
    assert done.returncode == 0, done.stderr
    assert "2 + 3 = 5" in done.stdout  # run.run waited and tailed the task's log
    exp = _finished(sandbox, "add")
    assert exp.status().phase == "Succeeded"


def test_hello_experiments_runs_its_tasks_in_order(sandbox):
    done = _run_script(sandbox, "hello_experiments.py")
    assert done.returncode == 0, done.stderr
    exp = _finished(sandbox, "hello_experiments")
    assert exp.status().phase == "Succeeded", exp.status()
    spec = {t["name"]: t for t in exp.raw["spec"]["tasks"]}
    assert spec["second"]["dependsOn"] == ["first"] and "local" in spec["second"]["executor"]  # sequential=True
    assert "training hidden=16 layers=2 lr=0.01" in _log(exp, "first")
    assert "training hidden=32 layers=2 lr=0.01" in _log(exp, "second")


def test_hello_scripts_runs_a_script_file_and_an_inline_script(sandbox):
    done = _run_script(sandbox, "hello_scripts.py")
    assert done.returncode == 0, done.stderr
    exp = _finished(sandbox, "script_example")
    assert exp.status().phase == "Succeeded", exp.status()
    names = [t["name"] for t in exp.raw["spec"]["tasks"]]
    assert len(names) == 2
    assert "Hello from echo.sh, task " + names[0] in _log(exp, names[0])  # the file's text travelled inline
    assert "Goodbye" in _log(exp, names[1])


def test_a_plugin_sets_the_executor_env_in_setup(sandbox):
    done = _run_script(sandbox, "hello_plugins.py")
    assert done.returncode == 0, done.stderr
    exp = _finished(sandbox, "hello_plugins")
    assert exp.status().phase == "Succeeded", exp.status()
    assert exp.raw["spec"]["tasks"][0]["executor"]["local"]["env"] == {"GREETING": "hello"}
    assert "hello world" in _log(exp, "greet")


def test_a_job_group_runs_its_members_before_its_dependents_and_reset_runs_it_again(sandbox):
    done = _run_script(sandbox, "hello_groups.py")
    assert done.returncode == 0, done.stderr
    first_name, again_name = done.stdout.split("RUNS", 1)[1].split()
    first = kr.Experiment.get(first_name, kubeconfig=str(sandbox.kubeconfig))
    again = kr.Experiment.get(again_name, kubeconfig=str(sandbox.kubeconfig))
    for exp in (first, again):
        assert exp.status().phase == "Succeeded", exp.status()
        spec = {t["name"]: t for t in exp.raw["spec"]["tasks"]}
        assert list(spec) == ["pair-0", "pair-1", "after"] and spec["after"]["dependsOn"] == ["pair-0", "pair-1"]
        assert "member-a" in _log(exp, "pair-0") and "member-b" in _log(exp, "pair-1")
        tasks = {t.name: t for t in exp.status().tasks}
        assert tasks["after"].attempts[0].submit_time >= max(tasks[m].attempts[0].finish_time for m in ("pair-0", "pair-1"))
    assert first_name != again_name
    assert again.raw["metadata"]["labels"]["kuberun.dev/reproduced-from"] == first_name  # reset keeps the lineage
    assert again.raw["metadata"]["annotations"]["kuberun.dev/reproduced-from-uid"] == first.raw["metadata"]["uid"]


def test_the_experiment_that_ran_answers_status_logs_and_is_found_by_id_and_catalog(sandbox, monkeypatch):
    from tests.fixtures import tasks

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the local task's runner imports tests.fixtures

    exp = kr.Experiment("handle-after-run", executor=kr.LocalExecutor())
    exp.add(kr.Partial(tasks.write_marker, path=str(sandbox.data_dir / "handle-marker"), text="line-one"), name="write")
    done = exp.run(kubeconfig=str(sandbox.kubeconfig), detach=False, live=False, timeout=90)
    assert done["status"]["phase"] == "Succeeded"
    assert exp.status().phase == "Succeeded"
    assert exp.status(return_dict=True) == {"write": {"status": "Succeeded", "exit_code": 0}}
    assert exp.logs("write", regex=r"task returned 'line-one'") and not exp.logs("write", regex="no such line")
    assert kr.Experiment.from_id(exp.name, kubeconfig=str(sandbox.kubeconfig)).title == "handle-after-run"
    assert kr.Experiment.catalog("handle-after-run", kubeconfig=str(sandbox.kubeconfig)) == [exp.name]
    version = exp._handle().refresh().raw["metadata"]["resourceVersion"]
    exp.cancel("write")  # NeMo Run's cancel(task) on a task that already finished: nothing to do, nothing written
    assert exp._handle().refresh().raw["metadata"]["resourceVersion"] == version
    assert "cancelTasks" not in exp._handle().raw["spec"]


def test_tail_logs_prints_a_task_s_lines_while_it_runs(sandbox, tmp_path):
    """The task prints, then waits for a file this test creates only once the line has reached the
    script's stdout: a log printed after the run (not live) would leave the task waiting (bounded)."""
    release = tmp_path / "release"
    script = (
        "import kuberun as run\n"
        "with run.Experiment('tail-live', executor=run.LocalExecutor()) as exp:\n"
        f"    exp.add(run.Script(inline='echo tick; n=0; while [ ! -e {release} ] && [ $n -lt 600 ]; "
        f"do sleep 0.1; n=$((n+1)); done; [ -e {release} ] && echo released || echo never-released'), "
        "name='slow', tail_logs=True)\n"
        "    exp.run(detach=False, live=False)\n")
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig), "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # blocks until the first line; the task's loop bounds it (60 s)
            assert first.strip() == "[slow] tick", first
            release.touch()
            rest, err = proc.communicate(timeout=90)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    assert rest.splitlines()[-1] == "[slow] released"  # released: the first line came while the task ran
    exp = kr.list_experiments(title="tail-live", kubeconfig=str(sandbox.kubeconfig))[0]
    assert exp.status().phase == "Succeeded"
