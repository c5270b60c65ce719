"""Active/standby through kopf peering, and watching only the namespaces asked for."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.operator import phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")
PEERING_CRDS = Path(__file__).resolve().parents[2] / "helm" / "kuberun" / "crds" / "kopf.dev_peerings.yaml"


def _submit(kubeconfig: Any, namespace: str) -> str:
    exp = kr.Experiment("ha", namespace=namespace)
    exp.add(kr.Partial(tasks.add, a=1), name="t")
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


def _jobs(api: Any, ns: str, name: str) -> list[dict[str, Any]]:
    return list_jobs(api, ns, f"kuberun.dev/experiment={name}")


def _ensure_peering(api: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    for crd in yaml.safe_load_all(PEERING_CRDS.read_text()):
        try:
            client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:
                raise
    try:
        client.CustomObjectsApi(api).create_cluster_custom_object(
            "kopf.dev", "v1", "clusterkopfpeerings", {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "kuberun"}})
    except ApiException as exc:
        if exc.status != 409:
            raise


def test_standby_takes_over_when_the_active_operator_stops(kubeconfig, k8s_api_client, namespace):
    _ensure_peering(k8s_api_client)
    with running_operator(kubeconfig, peering="kuberun", priority=0):
        with running_operator(kubeconfig, peering="kuberun", priority=100):
            name = _submit(kubeconfig, namespace)
            (job,) = wait_for(lambda: _jobs(k8s_api_client, namespace, name), timeout=30)
        # the active (priority 100) replica is gone; the standby must finish the record
        finish_job(k8s_api_client, namespace, job["metadata"]["name"])
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", timeout=60, what="standby to take over")
        assert len(_jobs(k8s_api_client, namespace, name)) == 1


def test_operator_watching_one_namespace_leaves_others_alone(kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    other = f"{namespace}-other"
    client.CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": other}})
    with running_operator(kubeconfig, namespaces=(namespace,)):
        mine, theirs = _submit(kubeconfig, namespace), _submit(kubeconfig, other)
        wait_for(lambda: _jobs(k8s_api_client, namespace, mine))
        time.sleep(1.0)
        assert _jobs(k8s_api_client, other, theirs) == []
        assert phase(k8s_api_client, other, theirs) is None
