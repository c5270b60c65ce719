"""The operator's safety rules against the API emulator over HTTP (issues 16 and 19).

- any valid Experiment name works, also past the 63 characters a label value holds;
- at most once: a Job deleted behind the operator's back ends its attempt Failed/JobLost and the
  retry runs as a new attempt (a new Job), the first kept in the record — never the same Job again.

The tests play the Job controller (tests/helpers/jobs.py) so each outcome is chosen, not hoped for.
"""

from __future__ import annotations

from typing import Any

import pytest

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs, start_job
from tests.helpers.operator import get_experiment, phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")


def _owned_jobs(api: Any, ns: str, name: str) -> list[str]:
    """Jobs owned by the Experiment (the label is hashed for long names; the owner reference is not)."""
    uid = get_experiment(api, ns, name)["metadata"]["uid"]
    return sorted(j["metadata"]["name"] for j in list_jobs(api, ns)
                  if any(o.get("uid") == uid for o in j["metadata"].get("ownerReferences") or []))


def test_an_experiment_named_with_200_characters_runs_to_succeeded(operator, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    from kuberun.resource.constants import GROUP, PLURAL, VERSION

    exp = kr.Experiment("long", namespace=namespace)
    exp.add(kr.Partial(tasks.add, a=1), name="t")
    body = exp.to_resource()
    created = body["metadata"]["name"] = "long-" + "n" * 195  # valid (<= 253); the SDK's own names are shorter
    body["metadata"].pop("generateName", None)
    client.CustomObjectsApi(k8s_api_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    (job,) = wait_for(lambda: _owned_jobs(k8s_api_client, namespace, created), what="the task's Job")
    finish_job(k8s_api_client, namespace, job)
    wait_for(lambda: phase(k8s_api_client, namespace, created) == "Succeeded", what="Succeeded")


def test_a_running_job_deleted_behind_the_operator_s_back_is_lost_and_retried_as_a_new_attempt(
        operator, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    exp = kr.Experiment("lost", namespace=namespace)
    exp.add(kr.Partial(tasks.add, a=1), name="t", retries=1, backoff_seconds=0)
    name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
    (first,) = wait_for(lambda: _owned_jobs(k8s_api_client, namespace, name), what="attempt 1's Job")
    start_job(k8s_api_client, namespace, first)

    def uid_recorded() -> bool:
        tasks_ = (get_experiment(k8s_api_client, namespace, name).get("status") or {}).get("tasks") or []
        return bool(tasks_ and tasks_[0]["attempts"] and tasks_[0]["attempts"][0]["backendRef"].get("uid"))

    wait_for(uid_recorded, what="attempt 1's Job UID in the record")
    client.BatchV1Api(k8s_api_client).delete_namespaced_job(first, namespace, propagation_policy="Background")
    jobs = wait_for(lambda: (j := _owned_jobs(k8s_api_client, namespace, name)) and first not in j and j,
                    what="attempt 2's Job")
    assert jobs == [f"{name}-t-2"]  # attempt 1's Job is never re-created
    finish_job(k8s_api_client, namespace, jobs[0])
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    attempts = get_experiment(k8s_api_client, namespace, name)["status"]["tasks"][0]["attempts"]
    assert [(a["attempt"], a["phase"], a.get("reason")) for a in attempts] == [
        (1, "Failed", "JobLost"), (2, "Succeeded", "Completed")]
    assert _owned_jobs(k8s_api_client, namespace, name) == [f"{name}-t-2"]
