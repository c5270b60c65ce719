"""Prometheus metrics and health endpoints, scraped over HTTP from a running operator."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.operator import phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).status == 200
    except urllib.error.HTTPError:
        return False


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_move_as_experiments_run_and_health_endpoints_answer(kubeconfig, k8s_api_client, namespace):
    port = _free_port()
    with running_operator(kubeconfig, metrics_port=port):
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
        wait_for(lambda: _ready(port), what="/readyz 200 (kopf started and the first list done)")
        before = _scrape(port)
        exp = kr.Experiment("metrics", namespace=namespace)
        exp.add(kr.Partial(tasks.add, a=1), name="t")
        name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
        job = wait_for(lambda: list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}"))[0]
        finish_job(k8s_api_client, namespace, job["metadata"]["name"])
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
        after = wait_for(lambda: (m := _scrape(port))[("kuberun_experiments", (("phase", "Succeeded"),))] >= 1 and m)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("kuberun_reconciles_total") >= 2
    assert moved("kuberun_reconcile_duration_seconds_count") >= 2
    assert moved("kuberun_api_requests_total", verb="create", resource="jobs", code="200") >= 1
    assert moved("kuberun_api_requests_total", verb="patch", resource="experiments/status", code="200") >= 2
    assert moved("kuberun_task_transitions_total", backend="kubernetes", phase="Succeeded") == 1
    assert ("kuberun_queue_depth", ()) in after
