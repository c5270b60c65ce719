"""What a new user hit (issue 16, SDK/CLI items): each test reproduces one report against the API emulator.

4: ``kuberun apply -f examples/hello.py`` created nothing (the script's SystemExit escaped);
5: a task function defined in the applied script could not be found (``__main__`` had moved on);
6: ``cancel`` said "cancelled"/"stopping" for requests that did nothing, ``list --phase Bogus`` listed
nothing instead of refusing, and running one ``kr.Experiment`` twice was a raw 409;
7: ``logs -f`` of a retried task stopped after attempt 1, and a deleted Job's log was "no pod yet".
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.errors import AlreadyExistsError, ConflictError
from kuberun.resource import ExperimentResource, TaskPhase
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.manage import cli, run_to_success, submit
from tests.helpers.operator import get_experiment, phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")
ROOT = Path(__file__).resolve().parents[2]


def _created(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("experiment ") and line.endswith(" created")]


# -- 4, 5: apply -f a Python file -----------------------------------------------------------------


def test_apply_of_the_hello_example_creates_it_despite_its_system_exit(kubeconfig, k8s_api_client, namespace):
    result = cli("apply", "-f", str(ROOT / "examples" / "hello.py"), kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0, result.stderr
    (name,) = _created(result.stdout)
    obj = get_experiment(k8s_api_client, namespace, name)
    assert [t["name"] for t in obj["spec"]["tasks"]] == ["pi", "primes", "report"]


def test_apply_of_a_script_that_exits_non_zero_is_an_error_not_silence(kubeconfig, namespace, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit(3)\n")
    result = cli("apply", "-f", str(script), kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 1 and result.stderr == f"error: {script} exited with status 3 before creating anything\n"


def test_apply_ships_a_task_function_defined_in_the_script_itself(kubeconfig, k8s_api_client, namespace, tmp_path):
    script = tmp_path / "trainer.py"
    script.write_text(
        "import kuberun as kr\n\n"
        "def train(steps: int = 1) -> int:\n"
        "    print(f'trained {steps} steps')\n"
        "    return steps\n\n"
        "if __name__ == '__main__':\n"
        "    with kr.Experiment('own-fn') as exp:\n"
        "        exp.add(kr.Partial(train, steps=3), name='train')\n"
        "        exp.run()\n"
    )
    result = cli("apply", "-f", str(script), kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0, result.stderr
    (name,) = _created(result.stdout)
    from kuberun.offline import run_offline

    resource = ExperimentResource.parse(get_experiment(k8s_api_client, namespace, name))
    # The stored config runs on a machine that never saw the script: its source travels with the task.
    assert run_offline(resource, tmp_path, echo=False) == {"train": TaskPhase.SUCCEEDED}


# -- 6: lifecycle requests that change nothing say so --------------------------------------------


def test_cancel_stop_after_terminate_says_already_terminating_and_writes_nothing(operator, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, "noop-stop")
    wait_for(lambda: list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}"), what="job")
    assert cli("cancel", name, kubeconfig=kubeconfig, namespace=namespace).stdout == f"experiment {name} cancelled\n"
    # The CLI answers from the phase it reads; the operator may finish the cancel meanwhile, so the phase is
    # read on both sides of the call and the message must fit what the CLI can have seen.
    before = phase(k8s_api_client, namespace, name)
    again = cli("cancel", name, "--stop", kubeconfig=kubeconfig, namespace=namespace)
    after = phase(k8s_api_client, namespace, name)
    finished = f"experiment {name} has already finished (Cancelled): nothing to cancel\n"
    terminating = f"experiment {name} is already terminating: --stop cannot undo a cancel\n"
    expected = {finished} if before == "Cancelled" else {terminating} if after != "Cancelled" else {finished, terminating}
    assert again.stdout in expected
    assert again.code == 0 and get_experiment(k8s_api_client, namespace, name)["spec"]["shutdown"] == "Terminate"


def test_cancel_of_a_succeeded_experiment_says_it_already_finished(operator, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, "noop-cancel")
    run_to_success(k8s_api_client, namespace, name)
    result = cli("cancel", name, kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0 and result.stdout == f"experiment {name} has already finished (Succeeded): nothing to cancel\n"
    assert "shutdown" not in get_experiment(k8s_api_client, namespace, name)["spec"]


def test_list_with_an_unknown_phase_is_a_usage_error_listing_the_phases(kubeconfig, namespace):
    result = cli("list", "--phase", "Bogus", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 2 and result.stdout == ""
    assert result.stderr == "error: invalid value for --phase: 'Bogus' is not one of Pending, Running, Succeeded, Failed, Cancelled\n"
    assert cli("list", "--phase", "running", kubeconfig=kubeconfig, namespace=namespace).code == 0  # case as before


def test_running_one_experiment_twice_is_a_clear_already_exists_error(kubeconfig, namespace):
    exp = kr.Experiment("twice", namespace=namespace)
    exp.add(kr.Script(command=["true"]), name="t")
    exp.run(kubeconfig=str(kubeconfig))
    with pytest.raises(AlreadyExistsError) as caught:
        exp.run(kubeconfig=str(kubeconfig))
    assert isinstance(caught.value, ConflictError) and caught.value.code == 409
    assert str(caught.value) == (f"experiment {exp.name!r} already exists in namespace {namespace!r}: each kr.Experiment "
                                 "runs once; exp = exp.reset() (or a new one) runs it again")


# -- 7: logs across attempts, and after the Job is gone ------------------------------------------


def _jobs(api: Any, ns: str, name: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}"))


def test_logs_follow_streams_every_attempt_of_a_retried_task_until_it_finishes(operator, kubeconfig, k8s_api_client, namespace,
                                                                                logserver):
    name = submit(kubeconfig, namespace, "retried",
                  build=lambda e: e.add(kr.Partial(tasks.add, a=1), name="t", retries=1, backoff_seconds=0))
    (first,) = wait_for(lambda: _jobs(k8s_api_client, namespace, name), what="attempt 1 job")
    failures: list[BaseException] = []

    def play_two_attempts() -> None:
        try:
            logserver.add(namespace, f"{first}-pod", ["attempt one"])
            finish_job(k8s_api_client, namespace, first, exit_code=1)
            second = wait_for(lambda: [j for j in _jobs(k8s_api_client, namespace, name) if j != first], what="attempt 2 job")[0]
            logserver.add(namespace, f"{second}-pod", ["attempt two"])
            finish_job(k8s_api_client, namespace, second)
        except BaseException as exc:  # surfaced in the test's thread
            failures.append(exc)

    player = threading.Thread(target=play_two_attempts)
    player.start()
    result = cli("logs", name, "-f", kubeconfig=kubeconfig, namespace=namespace)
    player.join(timeout=60)
    assert not failures and not player.is_alive()
    assert result.code == 0, result.stderr
    assert result.stdout == "attempt one\nattempt two\n" and "--- attempt 2 ---" in result.stderr
    assert phase(k8s_api_client, namespace, name) == "Succeeded"


def test_logs_after_the_job_is_gone_say_the_pod_is_gone_not_that_it_has_none_yet(operator, kubeconfig, k8s_api_client, namespace,
                                                                                  logserver):
    from kubernetes import client

    name = submit(kubeconfig, namespace, "deleted-job")
    run_to_success(k8s_api_client, namespace, name, logserver)
    (job,) = _jobs(k8s_api_client, namespace, name)
    client.CoreV1Api(k8s_api_client).delete_namespaced_pod(f"{job}-pod", namespace)
    client.BatchV1Api(k8s_api_client).delete_namespaced_job(job, namespace)
    wait_for(lambda: not _jobs(k8s_api_client, namespace, name), what="job deleted")
    for args in ((), ("-f",)):
        result = cli("logs", name, *args, kubeconfig=kubeconfig, namespace=namespace)
        assert result.code == 1 and result.stderr == (
            f"error: the pod of Job {job!r} is gone (the attempt finished and its Job was deleted) and its log was not archived: no logs\n")
