"""The manage SDK (`kr.Experiment.get`, `kr.list_experiments`, `kr.Experiment.from_title`) and the
second-user story: someone given only a kubeconfig manages an experiment another user submitted.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import kuberun as kr
from kuberun.errors import ForbiddenError, InvalidOverrideError, NotFoundError, UnreachableError
from kuberun.resource import ExperimentPhase, ExperimentStatus, TaskPhase
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.manage import cli, submit, write_user_kubeconfig
from tests.helpers.operator import get_experiment, phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")


@pytest.fixture()
def alice(apiserver: Any, tmp_path: Any, namespace: str) -> Any:
    return write_user_kubeconfig(tmp_path / "alice" / "config", apiserver.url, "alice", namespace)


@pytest.fixture()
def bob(apiserver: Any, tmp_path: Any, namespace: str) -> Any:
    return write_user_kubeconfig(tmp_path / "bob" / "config", apiserver.url, "bob", namespace)


def _job(api: Any, ns: str, name: str) -> str:
    (job,) = wait_for(lambda: [j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}")], what="job")
    return job


def test_get_returns_typed_status_and_streams_logs(operator, kubeconfig, k8s_api_client, namespace, logserver):
    name = submit(kubeconfig, namespace, "sdk-get")
    job = _job(k8s_api_client, namespace, name)
    logserver.add(namespace, f"{job}-pod", ["epoch 1", "epoch 2"])
    finish_job(k8s_api_client, namespace, job)
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
    exp = kr.Experiment.get(name, namespace=namespace, kubeconfig=str(kubeconfig))
    status = exp.status()
    assert isinstance(status, ExperimentStatus) and status.phase is ExperimentPhase.SUCCEEDED
    train = status.task("train")
    assert train is not None and train.phase is TaskPhase.SUCCEEDED and train.attempts[0].backend_ref.id == job
    assert list(exp.logs("train")) == ["epoch 1", "epoch 2"]
    assert list(exp.logs(follow=True, tail=1)) == ["epoch 2"]
    assert exp.title == "sdk-get" and repr(exp) == f"RemoteExperiment({name!r}, namespace={namespace!r}, phase='Succeeded')"


def test_cancel_suspend_resume_delete_through_the_sdk(operator, kubeconfig, k8s_api_client, namespace):
    exp = kr.Experiment.get(submit(kubeconfig, namespace, "sdk-life"), namespace=namespace, kubeconfig=str(kubeconfig))
    exp.suspend()
    assert exp.raw["spec"]["suspend"] is True
    exp.resume()
    exp.cancel(stop=True)
    assert exp.resource().spec.shutdown == "Stop"
    exp.cancel()
    wait_for(lambda: exp.status().phase is ExperimentPhase.CANCELLED, what="Cancelled")
    exp.delete()
    with pytest.raises(NotFoundError, match="not found"):
        wait_for(lambda: exp.refresh() and False, timeout=5)


def test_reproduce_with_overrides_returns_the_linked_new_experiment(kubeconfig, namespace):
    exp = kr.Experiment.get(submit(kubeconfig, namespace, "sdk-repro"), namespace=namespace, kubeconfig=str(kubeconfig))
    child = exp.reproduce(**{"train.lr": 3e-4, "model.width": 32})
    config = kr.Experiment.from_resource(child.raw).tasks["train"].config
    assert (config.lr, config.model.width) == (3e-4, 32)
    assert child.raw["metadata"]["labels"]["kuberun.dev/reproduced-from"] == exp.name
    assert [c.name for c in exp.reproductions()] == [child.name]
    with pytest.raises(InvalidOverrideError, match="has no attribute 'nope'"):
        exp.reproduce(**{"train.nope": 1})


def test_list_experiments_filters_and_limits_and_from_title_is_the_latest(kubeconfig, namespace, bob):
    first = submit(kubeconfig, namespace, "sdk-list")
    time.sleep(1.1)  # creationTimestamp has one-second resolution
    latest = submit(kubeconfig, namespace, "sdk-list")
    by_bob = submit(bob, namespace, "other")
    kc = str(kubeconfig)
    assert [e.name for e in kr.list_experiments(title="sdk-list", namespace=namespace, kubeconfig=kc)] == [latest, first]
    assert [e.name for e in kr.list_experiments(user="bob", namespace=namespace, kubeconfig=kc)] == [by_bob]
    assert len(kr.list_experiments(namespace=namespace, kubeconfig=kc, limit=2)) == 2
    assert kr.list_experiments(phase="Failed", namespace=namespace, kubeconfig=kc) == []
    assert kr.list_experiments(selector="kuberun.dev/title=other", namespace=namespace, kubeconfig=kc)[0].name == by_bob
    assert kr.Experiment.from_title("sdk-list", namespace=namespace, kubeconfig=kc).name == latest
    with pytest.raises(NotFoundError, match='no experiment titled "absent"'):
        kr.Experiment.from_title("absent", namespace=namespace, kubeconfig=kc)


def test_sdk_errors_are_typed(kubeconfig, namespace, apiserver, tmp_path):
    with pytest.raises(NotFoundError, match=f'experiment "nope" not found in namespace "{namespace}"'):
        kr.Experiment.get("nope", namespace=namespace, kubeconfig=str(kubeconfig))
    apiserver.inject(status=403, verb="list", resource="experiments", namespace=namespace)
    with pytest.raises(ForbiddenError) as forbidden:
        kr.list_experiments(namespace=namespace, kubeconfig=str(kubeconfig))
    assert (forbidden.value.verb, forbidden.value.resource) == ("list", "experiments.kuberun.dev")
    dead = write_user_kubeconfig(tmp_path / "dead", "http://127.0.0.1:9", "x")
    with pytest.raises(UnreachableError, match="connection refused"):
        kr.Experiment.get("x", kubeconfig=str(dead))


def test_second_user_lists_describes_follows_cancels_and_reproduces_anothers_experiment(
        operator, alice, bob, k8s_api_client, namespace, logserver):
    # Alice submits; her identity comes from her kubeconfig's context user.
    name = submit(alice, namespace, "shared")
    assert get_experiment(k8s_api_client, namespace, name)["spec"]["submittedBy"] == "alice"
    job = _job(k8s_api_client, namespace, name)
    pod = f"{job}-pod"

    # Bob, with only his own kubeconfig: list (CLI and SDK) shows Alice's run and that she submitted it.
    listed = cli("list", "--user", "alice", kubeconfig=bob)
    assert name in listed.stdout and " alice " in listed.stdout
    (seen,) = kr.list_experiments(title="shared", kubeconfig=str(bob))
    assert seen.name == name and seen.resource().spec.submitted_by == "alice"

    # Describe.
    described = cli("describe", name, kubeconfig=bob)
    assert described.code == 0 and "Submitted by:    alice" in described.stdout

    # Follow the logs while the task runs; they stream until the pod's log ends.
    finish_job(k8s_api_client, namespace, job)
    logserver.add(namespace, pod, [f"alice step {i}" for i in range(20)])
    wait_for(lambda: (get_experiment(k8s_api_client, namespace, name).get("status") or {}).get("phase") == "Succeeded")
    followed = cli("logs", name, "-f", kubeconfig=bob)
    assert followed.code == 0 and followed.stdout.splitlines() == [f"alice step {i}" for i in range(20)]
    assert list(kr.Experiment.get(name, kubeconfig=str(bob)).logs(follow=True))[-1] == "alice step 19"

    # Reproduce with an override: the new run is Bob's, linked to Alice's.
    child = kr.Experiment.get(name, kubeconfig=str(bob)).reproduce(**{"train.lr": 0.01})
    assert child.resource().spec.submitted_by == "bob"
    assert child.raw["metadata"]["labels"]["kuberun.dev/reproduced-from"] == name
    again = cli("reproduce", name, "model.width=4", kubeconfig=bob)
    assert again.code == 0, again.stderr
    assert f"Reproduced from: {name}" in cli("describe", child.name, kubeconfig=bob).stdout

    # Cancel a run of Alice's while it is running.
    running = submit(alice, namespace, "shared")
    _job(k8s_api_client, namespace, running)
    assert cli("cancel", running, kubeconfig=bob).code == 0
    wait_for(lambda: phase(k8s_api_client, namespace, running) == "Cancelled", what="Cancelled")
    assert get_experiment(k8s_api_client, namespace, running)["spec"]["shutdown"] == "Terminate"


def test_following_logs_waits_for_the_jobs_pod_to_appear(operator, kubeconfig, k8s_api_client, namespace, logserver):
    import threading

    name = submit(kubeconfig, namespace, "sdk-wait")
    job = _job(k8s_api_client, namespace, name)
    exp = kr.Experiment.get(name, namespace=namespace, kubeconfig=str(kubeconfig))
    wait_for(lambda: exp.status().task("train") and exp.status().task("train").attempts, what="attempt recorded")
    with pytest.raises(Exception, match="has no pod yet"):
        list(exp.logs())  # without -f: one clear answer now
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(exp.logs(follow=True)))
    reader.start()
    time.sleep(0.5)
    logserver.add(namespace, f"{job}-pod", ["late line"])
    finish_job(k8s_api_client, namespace, job)  # the pod appears only now
    reader.join(30)
    assert got == ["late line"]
