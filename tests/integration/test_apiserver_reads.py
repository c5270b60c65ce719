"""What reads look like on a real server: Tables, field selectors, Events through both APIs (issue 12, item 3).

Written against the ``kubernetes`` client only: tests/cluster/test_apiserver_reads.py runs the same
functions against a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.helpers.strict import job, pod, raw, refused
from tests.helpers.widgets import make_namespace, unique

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture(scope="module")
def ns(k8s_api_client: Any) -> Iterator[str]:
    name = make_namespace(k8s_api_client)
    yield name
    client.CoreV1Api(k8s_api_client).delete_namespace(name)


@pytest.fixture(scope="module")
def core(k8s_api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_api_client)


def table(api_client: Any, path: str) -> dict[str, Any]:
    resp = api_client.call_api(path, "GET", header_params={"Accept": TABLE}, _preload_content=False,
                               auth_settings=["BearerToken"])
    body: dict[str, Any] = json.loads(resp.data)
    return body


def columns(t: dict[str, Any], wide: bool = True) -> list[str]:
    return [c["name"] for c in t["columnDefinitions"] if wide or c["priority"] == 0]


def test_pod_table_has_kubectls_columns(k8s_api_client: Any, core: Any, ns: str) -> None:
    core.create_namespaced_pod(ns, pod(unique("p")))
    t = table(k8s_api_client, f"/api/v1/namespaces/{ns}/pods")
    assert columns(t, wide=False) == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert columns(t)[5:] == ["IP", "Node", "Nominated Node", "Readiness Gates"]
    assert t["rows"][0]["cells"][1] == "0/1"


def test_job_table_has_kubectls_columns_and_selector(k8s_api_client: Any, ns: str) -> None:
    client.BatchV1Api(k8s_api_client).create_namespaced_job(ns, job(unique("j"), restartPolicy="Never"))
    t = table(k8s_api_client, f"/apis/batch/v1/namespaces/{ns}/jobs")
    assert columns(t) == ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    assert t["rows"][0]["cells"][7].startswith("batch.kubernetes.io/controller-uid=")


def test_event_table_has_kubectls_columns(k8s_api_client: Any, core: Any, ns: str) -> None:
    core.create_namespaced_event(ns, _core_event(ns, unique("e")))
    t = table(k8s_api_client, f"/api/v1/namespaces/{ns}/events")
    assert columns(t, wide=False) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert columns(t) == ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen",
                          "Count", "Name"]


def test_unsupported_field_selector_is_400(core: Any, ns: str) -> None:
    code, status = refused(core.list_namespaced_config_map, ns, field_selector="data.a=1")
    assert code == 400 and status["message"] == '"data.a" is not a known field selector: only "metadata.name", "metadata.namespace"'
    code, status = refused(core.list_namespaced_pod, ns, field_selector="spec.bogus=1")
    assert code == 400 and status["message"] == "field label not supported: spec.bogus"


def test_pod_field_selector_on_phase_and_node(core: Any, ns: str) -> None:
    name = unique("p")
    core.create_namespaced_pod(ns, pod(name))
    names = [p.metadata.name for p in core.list_namespaced_pod(ns, field_selector="status.phase=Pending").items]
    assert name in names
    assert core.list_namespaced_pod(ns, field_selector="spec.nodeName=kuberun-no-such-node").items == []


def _core_event(ns: str, name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "type": "Normal", "reason": "Tested", "message": "hello from core",
            "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": ns, "apiVersion": "v1"},
            "source": {"component": "kuberun-test"}, "count": 1,
            "firstTimestamp": "2026-12-01T10:00:00Z", "lastTimestamp": "2026-12-01T10:00:00Z"}


def test_core_and_events_api_share_one_event(k8s_api_client: Any, core: Any, ns: str) -> None:
    events = client.EventsV1Api(k8s_api_client)
    name = unique("e")
    core.create_namespaced_event(ns, _core_event(ns, name))
    seen = raw(events.read_namespaced_event, name, ns)
    assert seen["apiVersion"] == "events.k8s.io/v1"
    assert seen["note"] == "hello from core" and seen["regarding"]["name"] == "x"
    assert seen["deprecatedSource"] == {"component": "kuberun-test"} and seen["deprecatedCount"] == 1
    other = unique("e")
    events.create_namespaced_event(ns, {"metadata": {"name": other}, "type": "Warning", "reason": "Tested",
                                        "note": "hello from events", "eventTime": "2026-12-01T10:00:00.000000Z",
                                        "reportingController": "kuberun.dev/test", "reportingInstance": "t-1",
                                        "action": "Test", "regarding": {"kind": "Pod", "name": "p", "namespace": ns}})
    got = raw(core.read_namespaced_event, other, ns)
    assert got["message"] == "hello from events" and got["involvedObject"]["kind"] == "Pod"
    assert got["reportingComponent"] == "kuberun.dev/test"
    selected = core.list_namespaced_event(ns, field_selector="involvedObject.kind=Pod").items
    assert [e.metadata.name for e in selected] == [other]
