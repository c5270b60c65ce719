"""Lease leader election: the standby finishes a killed leader's run; a partitioned leader stops writing.

Short leases (3 s, deadline 2 s, retry 0.5 s) keep the waits small; the rules are client-go's and
are checked step by step on a fake clock in tests/unit/operator/leadership.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.operator import phase, running_operator, wait_for
from tests.helpers.operator_process import operator_process

pytestmark = pytest.mark.usefixtures("crd")
LEASE = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.5}
LEASE_ARGS = ["--leader-elect", "--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5",
              "--workers", "2", "--log-level", "INFO"]
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def _submit(kubeconfig: Any, namespace: str, title: str = "ha") -> str:
    exp = kr.Experiment(title, namespace=namespace)
    exp.add(kr.Partial(tasks.add, a=1), name="t")
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


def _jobs(api: Any, ns: str, name: str) -> list[dict[str, Any]]:
    return list_jobs(api, ns, f"kuberun.dev/experiment={name}")


def holder(api: Any, namespace: str, name: str = "kuberun-operator") -> str | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        return client.CoordinationV1Api(api).read_namespaced_lease(name, namespace).spec.holder_identity
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _writes_by(log: list[Any], identity: str, since: int = 0) -> list[Any]:
    return [r for r in log[since:] if r.verb in WRITES and f"({identity})" in r.user_agent and r.resource != "leases"]


def test_standby_finishes_the_run_when_the_leader_is_killed(kubeconfig, k8s_api_client, apiserver, namespace,
                                                            tmp_path: Path):
    args = [*LEASE_ARGS, "--lease-namespace", namespace]
    with operator_process(kubeconfig, tmp_path / "a.log", *args, "--identity", "op-a") as a:
        wait_for(lambda: holder(k8s_api_client, namespace) == "op-a", 60, "op-a to lead")
        with operator_process(kubeconfig, tmp_path / "b.log", *args, "--identity", "op-b"):
            name = _submit(kubeconfig, namespace)
            (job,) = wait_for(lambda: _jobs(k8s_api_client, namespace, name), 30, "the leader to create the Job")
            wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running", 30, "the leader to record Running")
            a.kill()  # SIGKILL: no release of the lease, no goodbye
            a.wait(10)
            finish_job(k8s_api_client, namespace, job["metadata"]["name"])
            wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 60, "the standby to finish the run")
            assert holder(k8s_api_client, namespace) == "op-b"
    assert len(_jobs(k8s_api_client, namespace, name)) == 1
    creates = [r for r in apiserver.request_log
               if r.verb == "create" and r.resource == "jobs" and r.namespace == namespace and r.code == 201]
    assert len(creates) == 1 and "(op-a)" in creates[0].user_agent, "only the leader created the Job, once"
    assert _writes_by(apiserver.request_log, "op-b"), "the standby wrote the record after taking over"
    assert not [r for r in _writes_by(apiserver.request_log, "op-b") if r.resource == "jobs"], "no duplicate Job"
    # least privilege: exactly what the chart's leader-election Role grants (tests/helm/test_chart_replicas.py)
    lease_verbs = {r.verb for r in apiserver.request_log if r.resource == "leases" and r.namespace == namespace
                   and r.user_agent.startswith("kuberun-operator/")}
    assert lease_verbs == {"get", "create", "update"}


def test_a_partitioned_leader_stops_writing_by_its_deadline(kubeconfig, k8s_api_client, apiserver, namespace):
    lease = dict(LEASE, leader_election=True, lease_namespace=namespace)
    with running_operator(kubeconfig, identity="part-a", **lease) as a_metrics:
        wait_for(lambda: holder(k8s_api_client, namespace) == "part-a", 30, "part-a to lead")
        with running_operator(kubeconfig, identity="part-b", **lease):
            first = _submit(kubeconfig, namespace, "before")
            wait_for(lambda: _jobs(k8s_api_client, namespace, first), 30, "the leader to act")
            # part-a can reach the API for everything but its lease: only its renewals fail
            fault = apiserver.inject(status=503, times=10**6, resource="leases", user_agent="(part-a)")
            try:
                wait_for(lambda: holder(k8s_api_client, namespace) == "part-b", 30, "part-b to take over")
                taken = len(apiserver.request_log)
                second = _submit(kubeconfig, namespace, "after")  # work part-a sees through its watch
                wait_for(lambda: _jobs(k8s_api_client, namespace, second), 30, "the new leader to act")
                wait_for(lambda: phase(k8s_api_client, namespace, second) in ("Pending", "Running"), 30,
                         "a status from the new leader")
                assert a_metrics.leader.labels("kuberun-operator")._value.get() == 0, "part-a knows it lost"
                # a snapshot: once the fault is lifted and part-b has released the lease, part-a may lead again
                everything = list(apiserver.request_log)
            finally:
                apiserver.faults.remove(fault)
        log = [r for r in everything if r.namespace == namespace]
        renewals = [r for r in log if r.resource == "leases" and r.verb in ("create", "update") and r.code in (200, 201)
                    and "(part-a)" in r.user_agent]
        deadline = renewals[-1].at + LEASE["renew_deadline"]
        late = [r for r in log if r.verb in WRITES and "(part-a)" in r.user_agent and r.resource != "leases"
                and r.at > deadline]
        assert late == [], f"part-a wrote after its renew deadline: {late}"
        assert not _writes_by(everything, "part-a", since=taken), "part-a wrote after part-b took over"
        assert fault.hits > 0, "part-a kept trying to renew"
    owners = [r.user_agent for r in everything[taken:] if r.verb == "create" and r.resource == "jobs" and r.code == 201]
    assert owners and all("(part-b)" in ua for ua in owners)
