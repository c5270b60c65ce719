"""Reads from a resourceVersion the server has not reached, as kube-apiserver answers them.

Written against the ``kubernetes`` client only, so tests/cluster/test_api_resource_versions.py runs
the same functions against a real cluster. Measured on kube-apiserver 1.35: a get or list with
``resourceVersion`` above the current one waits (3 s) and then answers 504 ``Timeout`` with the
cause ``ResourceVersionTooLarge``; it answers normally if the version is reached meanwhile; a watch
from such a version is accepted and delivers only the events after it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.helpers.widgets import make_namespace, unique

FAR = 10**9  # far beyond any resourceVersion a test server reaches


@pytest.fixture(scope="module")
def ns(k8s_api_client: Any) -> Iterator[str]:
    name = make_namespace(k8s_api_client)
    yield name
    client.CoreV1Api(k8s_api_client).delete_namespace(name)


@pytest.fixture(scope="module")
def core(k8s_api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_api_client)


def current_rv(core: client.CoreV1Api, ns: str) -> int:
    return int(core.list_namespaced_config_map(ns).metadata.resource_version)


def create_cm(core: client.CoreV1Api, ns: str, name: str) -> int:
    """Create a ConfigMap; its resourceVersion."""
    return int(core.create_namespaced_config_map(ns, {"metadata": {"name": name}}).metadata.resource_version)


def assert_too_large(e: ApiException, rv: int) -> None:
    body = json.loads(e.body)
    assert e.status == 504
    assert body["reason"] == "Timeout"
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert f"Too large resource version: {rv}" in body["message"]


@pytest.mark.parametrize("match", [None, "NotOlderThan", "Exact"])
def test_list_from_a_resource_version_not_reached_answers_504_too_large(
        core: client.CoreV1Api, ns: str, match: str | None) -> None:
    rv = current_rv(core, ns) + FAR
    extra = {"resource_version_match": match} if match else {}
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(ns, resource_version=str(rv), **extra)
    assert_too_large(err.value, rv)


def test_get_from_a_resource_version_not_reached_answers_504_too_large(
        core: client.CoreV1Api, k8s_api_client: Any, ns: str) -> None:
    name = unique("cm")
    create_cm(core, ns, name)
    rv = current_rv(core, ns) + FAR
    with pytest.raises(ApiException) as err:  # the typed client's read_* takes no resourceVersion
        k8s_api_client.call_api(f"/api/v1/namespaces/{ns}/configmaps/{name}", "GET",
                                query_params=[("resourceVersion", str(rv))], response_types_map={200: "object"},
                                auth_settings=["BearerToken"])
    assert_too_large(err.value, rv)


def test_list_from_a_resource_version_reached_meanwhile_answers_it(core: client.CoreV1Api, ns: str) -> None:
    wanted = current_rv(core, ns) + 1
    answers: list[Any] = []
    lister = threading.Thread(target=lambda: answers.append(
        core.list_namespaced_config_map(ns, resource_version=str(wanted), resource_version_match="NotOlderThan")))
    lister.start()  # whether it reaches the server before or after the create, it must answer 200
    name = unique("cm")
    created_rv = create_cm(core, ns, name)
    lister.join(timeout=30)
    assert answers, "the list did not answer"
    assert created_rv >= wanted
    assert int(answers[0].metadata.resource_version) >= wanted


def test_watch_from_a_resource_version_not_reached_delivers_only_later_events(
        core: client.CoreV1Api, ns: str) -> None:
    since = current_rv(core, ns) + 2
    resp = core.list_namespaced_config_map(ns, watch=True, resource_version=str(since), timeout_seconds=10,
                                           _preload_content=False)  # returns once the watch is established
    try:
        rvs = {unique("cm"): 0 for _ in range(3)}
        for name in rvs:
            rvs[name] = create_cm(core, ns, name)
        later = {name for name, rv in rvs.items() if rv > since}
        delivered: dict[str, int] = {}
        for line in resp:  # ends at the latest with timeoutSeconds
            event = json.loads(line)
            assert event["type"] != "ERROR", event
            meta = event["object"]["metadata"]
            delivered[meta["name"]] = int(meta["resourceVersion"])
            if later <= set(delivered):
                break
    finally:
        resp.release_conn()
    assert all(rv > since for rv in delivered.values()), (since, delivered)
    assert {n for n in delivered if n in rvs} == later


def test_resource_version_that_is_not_a_number_is_a_400_on_list(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(ns, resource_version="abc")
    assert err.value.status == 400
    assert json.loads(err.value.body)["reason"] == "BadRequest"
