"""The operator's API client against the sandbox's fault injection: 429 with Retry-After (APF), 5xx."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import list_jobs
from tests.helpers.operator import running_operator, wait_for


def _kube(kubeconfig: Any, metrics: Any) -> Any:
    from kuberun_operator.connection import api_client
    from kuberun_operator.kube import Kube
    from kuberun_operator.ratelimit import ClientLimits, Politeness
    from kuberun_operator.settings import Settings

    return Kube(api_client(Settings(kubeconfig=kubeconfig)), on_call=metrics.api_call,
                polite=Politeness(ClientLimits(qps=50, burst=10, base_backoff=0.05), metrics))


async def test_a_429_is_sent_again_after_retry_after(kubeconfig, apiserver, namespace):
    from kuberun_operator.metrics import Metrics

    metrics = Metrics()
    kube = _kube(kubeconfig, metrics)
    before = len(apiserver.request_log)
    fault = apiserver.inject(status=429, times=2, verb="list", resource="pods", namespace=namespace, retry_after=1)
    assert await kube.list_pods(namespace, "a=b") == []
    served = [r.code for r in apiserver.request_log[before:] if r.resource == "pods" and r.namespace == namespace]
    assert served == [429, 429, 200] and fault.hits == 2
    waits = [r for r in apiserver.request_log[before:] if r.resource == "pods" and r.namespace == namespace]
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(waits)), "Retry-After: 1 was not honoured"
    assert metrics.api_throttled.labels("server")._value.get() == 2
    assert metrics.api_retries.labels("list", "pods", "429")._value.get() == 2


async def test_a_5xx_on_a_create_is_retried_and_creates_once(kubeconfig, apiserver, namespace):
    from kuberun_operator.metrics import Metrics

    metrics = Metrics()
    kube = _kube(kubeconfig, metrics)
    apiserver.inject(status=503, times=1, verb="create", resource="configmaps", namespace=namespace)
    created = await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": namespace}})
    assert created["metadata"]["name"] == "cm"
    assert metrics.api_retries.labels("create", "configmaps", "503")._value.get() == 1


async def test_a_refusal_that_is_not_transient_is_not_retried(kubeconfig, apiserver, namespace):
    from kuberun_operator.kube import ApiError
    from kuberun_operator.metrics import Metrics

    kube = _kube(kubeconfig, Metrics())
    before = len(apiserver.request_log)
    with pytest.raises(ApiError) as err:
        await kube.get_job(namespace, "missing")
    assert err.value.status == 404
    assert len([r for r in apiserver.request_log[before:] if r.resource == "jobs"]) == 1


@pytest.mark.usefixtures("crd")
def test_the_operator_rides_out_apf_rejections(kubeconfig, k8s_api_client, apiserver, namespace):
    fault = apiserver.inject(status=429, times=3, verb="create", resource="jobs", namespace=namespace, retry_after=1)
    with running_operator(kubeconfig) as metrics:
        exp = kr.Experiment("apf", namespace=namespace)
        exp.add(kr.Partial(tasks.add, a=1), name="t")
        name = exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]
        wait_for(lambda: list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}"), 30, "the Job")
        assert fault.hits == 3
        assert metrics.api_throttled.labels("server")._value.get() >= 3
    assert len(list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}")) == 1
