"""What a real API server refuses and fills in for built-in kinds and CRD schemas (issue 12, item 1).

Written against the ``kubernetes`` client only: tests/cluster/test_apiserver_validation.py runs the
same functions against a real cluster, so every assertion here is one a cluster also meets.
Creates that only need the answer use ``dryRun=All`` so a real cluster starts no pods.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.helpers.strict import (
    GADGET_CRD,
    GADGET_GROUP,
    GADGET_PLURAL,
    GADGET_VERSION,
    causes,
    job,
    pod,
    raw,
    refused,
)
from tests.helpers.widgets import GROUP, PLURAL, VERSION, install_crd, make_namespace, unique, widget

DRY = {"dry_run": "All"}


@pytest.fixture(scope="module")
def ns(k8s_api_client: Any) -> Iterator[str]:
    install_crd(k8s_api_client)
    install_crd(k8s_api_client, GADGET_CRD)
    name = make_namespace(k8s_api_client)
    yield name
    client.CoreV1Api(k8s_api_client).delete_namespace(name)


@pytest.fixture(scope="module")
def core(k8s_api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_api_client)


@pytest.fixture(scope="module")
def batch(k8s_api_client: Any) -> client.BatchV1Api:
    return client.BatchV1Api(k8s_api_client)


@pytest.fixture(scope="module")
def co(k8s_api_client: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_api_client)


# --- Jobs ----------------------------------------------------------------------------------------
def test_job_without_restart_policy_is_422_naming_the_field(batch: Any, ns: str) -> None:
    code, status = refused(batch.create_namespaced_job, ns, job(unique("j")), **DRY)
    assert code == 422 and status["reason"] == "Invalid"
    assert causes(status) == {"spec.template.spec.restartPolicy": 'Required value: valid values: "OnFailure", "Never"'}
    assert status["message"].startswith('Job.batch "') and " is invalid: spec.template.spec.restartPolicy" in status["message"]


def test_job_with_restart_policy_always_is_refused_too(batch: Any, ns: str) -> None:
    code, status = refused(batch.create_namespaced_job, ns, job(unique("j"), restartPolicy="Always"), **DRY)
    assert code == 422 and "spec.template.spec.restartPolicy" in causes(status)


def test_job_gets_selector_labels_and_counts_by_default(batch: Any, ns: str) -> None:
    got = raw(batch.create_namespaced_job, ns, job(unique("j"), restartPolicy="Never"), **DRY)
    spec, uid, name = got["spec"], got["metadata"]["uid"], got["metadata"]["name"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["controller-uid"] == labels["batch.kubernetes.io/controller-uid"] == uid
    assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == name
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (6, 1, 1)
    assert spec["completionMode"] == "NonIndexed" and spec["manualSelector"] is False
    assert spec["template"]["spec"]["containers"][0]["terminationMessagePolicy"] == "File"


def test_job_template_is_immutable(batch: Any, ns: str) -> None:
    name = unique("j")
    batch.create_namespaced_job(ns, job(name, restartPolicy="Never"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "command": ["false"]}]}}}}
    code, status = refused(batch.patch_namespaced_job, name, ns, patch)
    assert code == 422
    assert causes(status)["spec.template"].endswith("field is immutable")


# --- Pods ----------------------------------------------------------------------------------------
def test_pod_comes_back_pending_with_its_qos_class(core: Any, ns: str) -> None:
    got = raw(core.create_namespaced_pod, ns, pod(unique("p")), **DRY)
    assert got["status"]["phase"] == "Pending" and got["status"]["qosClass"] == "BestEffort"
    limits = {"cpu": "100m", "memory": "64Mi"}
    got = raw(core.create_namespaced_pod, ns, pod(unique("p"), resources={"limits": limits}), **DRY)
    assert got["status"]["qosClass"] == "Guaranteed"
    assert got["spec"]["containers"][0]["resources"]["requests"] == limits  # requests default to limits


def test_env_name_with_equals_sign_is_422(core: Any, ns: str) -> None:
    code, status = refused(core.create_namespaced_pod, ns, pod(unique("p"), env=[{"name": "A=B", "value": "1"}]), **DRY)
    assert code == 422
    assert causes(status)["spec.containers[0].env[0].name"].startswith('Invalid value: "A=B": ')


@pytest.mark.parametrize("quantity", ["banana", "lots"])
def test_unparseable_quantity_is_a_400_decode_error(core: Any, ns: str, quantity: str) -> None:
    body = pod(unique("p"), resources={"limits": {"cpu": quantity, "memory": quantity}})
    code, status = refused(core.create_namespaced_pod, ns, body, **DRY)
    assert code == 400 and status["reason"] == "BadRequest"
    assert "quantities must match the regular expression" in status["message"]


def test_pod_without_image_is_422(core: Any, ns: str) -> None:
    body = pod(unique("p"))
    del body["spec"]["containers"][0]["image"]
    code, status = refused(core.create_namespaced_pod, ns, body, **DRY)
    assert code == 422 and causes(status)["spec.containers[0].image"] == "Required value"


def test_pod_spec_is_immutable_but_image_is_not(core: Any, ns: str) -> None:
    name = unique("p")
    core.create_namespaced_pod(ns, pod(name))
    core.patch_namespaced_pod(name, ns, {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}})
    code, status = refused(core.patch_namespaced_pod, name, ns, {"spec": {"containers": [
        {"name": "main", "command": ["sleep", "1"]}]}})
    assert code == 422
    assert causes(status)["spec"].startswith("Forbidden: pod updates may not change fields other than")
    core.delete_namespaced_pod(name, ns, grace_period_seconds=0)


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-lead"])
def test_names_must_be_dns_subdomains(core: Any, co: Any, ns: str, name: str) -> None:
    code, status = refused(core.create_namespaced_config_map, ns, {"metadata": {"name": name}}, **DRY)
    assert code == 422 and causes(status)["metadata.name"].startswith(f'Invalid value: "{name}": a lowercase RFC 1123')
    code, status = refused(co.create_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, widget(name))
    assert code == 422 and "metadata.name" in causes(status)


def test_namespace_name_must_be_a_dns_label(core: Any) -> None:
    code, status = refused(core.create_namespace, {"metadata": {"name": "has.dots"}}, **DRY)
    assert code == 422 and causes(status)["metadata.name"] == 'Invalid value: "has.dots": must not contain dots'


def test_label_keys_and_values_are_checked(core: Any, ns: str) -> None:
    body = {"metadata": {"name": unique("cm"), "labels": {"bad key": "v", "ok": "bad value!"}}}
    code, status = refused(core.create_namespaced_config_map, ns, body, **DRY)
    messages = [c["message"] for c in status["details"]["causes"] if c["field"] == "metadata.labels"]
    assert code == 422 and len(messages) == 2
    assert any(m.startswith('Invalid value: "bad key": name part must consist of') for m in messages)
    assert any(m.startswith('Invalid value: "bad value!": a valid label must be') for m in messages)


# --- ConfigMaps, Secrets, Services ---------------------------------------------------------------
def test_secret_string_data_is_folded_into_data(core: Any, ns: str) -> None:
    body = {"metadata": {"name": unique("s")}, "stringData": {"token": "hunter2"}, "data": {"a": "YQ=="}}
    got = raw(core.create_namespaced_secret, ns, body, **DRY)
    assert got["data"] == {"a": "YQ==", "token": base64.b64encode(b"hunter2").decode()}
    assert "stringData" not in got and got["type"] == "Opaque"


def test_bad_base64_is_a_400_decode_error(core: Any, ns: str) -> None:
    code, status = refused(core.create_namespaced_secret, ns, {"metadata": {"name": unique("s")},
                                                               "data": {"k": "not base64!"}}, **DRY)
    assert code == 400 and "illegal base64 data at input byte" in status["message"]
    code, status = refused(core.create_namespaced_config_map, ns, {"metadata": {"name": unique("cm")},
                                                                   "binaryData": {"k": "%%%"}}, **DRY)
    assert code == 400 and "illegal base64 data at input byte 0" in status["message"]


def test_immutable_config_map_refuses_data_changes(core: Any, ns: str) -> None:
    name = unique("cm")
    core.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"a": "1"}, "immutable": True})
    code, status = refused(core.patch_namespaced_config_map, name, ns, {"data": {"a": "2"}})
    assert code == 422 and causes(status)["data"] == "Forbidden: field is immutable when `immutable` is set"


def test_service_gets_cluster_ip_type_and_status_and_keeps_its_ip(core: Any, ns: str) -> None:
    name = unique("svc")
    body = {"metadata": {"name": name}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
    got = raw(core.create_namespaced_service, ns, body)
    spec = got["spec"]
    assert spec["type"] == "ClusterIP" and spec["clusterIP"] and spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ports"][0]["protocol"] == "TCP" and spec["ports"][0]["targetPort"] == 80
    assert got["status"] == {"loadBalancer": {}}
    code, status = refused(core.patch_namespaced_service, name, ns, {"spec": {"clusterIP": "10.96.200.200",
                                                                              "clusterIPs": ["10.96.200.200"]}})
    assert code == 422 and causes(status)["spec.clusterIPs[0]"].endswith("may not change once set")


def test_unknown_fields_are_refused_under_strict_validation(core: Any, ns: str) -> None:
    body = {"metadata": {"name": unique("cm")}, "data": {"a": "1"}, "bogus": 1}
    code, status = refused(core.create_namespaced_config_map, ns, body, field_validation="Strict", **DRY)
    assert code == 400 and 'unknown field "bogus"' in status["message"]


# --- CRD schemas ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"title": ""}, "spec.title", 'Invalid value: "": spec.title in body should be at least 1 chars long'),
    ({"title": "x" * 11}, "spec.title", "Too long: may not be more than 10 bytes"),
    ({"retries": -1}, "spec.retries", "Invalid value: -1: spec.retries in body should be greater than or equal to 0"),
    ({"retries": 6}, "spec.retries", "Invalid value: 6: spec.retries in body should be less than or equal to 5"),
    ({"tasks": []}, "spec.tasks", "Invalid value: 0: spec.tasks in body should have at least 1 items"),
    ({"tasks": ["a", "b", "c", "d"]}, "spec.tasks", "Too many: 4: must have at most 3 items"),
    ({"deadline": "tomorrow"}, "spec.deadline",
     'Invalid value: "tomorrow": spec.deadline in body must be of type date-time: "tomorrow"'),
])
def test_crd_schema_bounds_are_422_with_the_field(co: Any, ns: str, spec: dict[str, Any], field: str,
                                                  message: str) -> None:
    body = {"apiVersion": f"{GADGET_GROUP}/{GADGET_VERSION}", "kind": "Gadget", "metadata": {"name": unique("g")},
            "spec": spec}
    code, status = refused(co.create_namespaced_custom_object, GADGET_GROUP, GADGET_VERSION, ns, GADGET_PLURAL, body)
    assert code == 422 and causes(status) == {field: message}


def test_crd_date_time_accepts_rfc3339(co: Any, ns: str) -> None:
    body = {"apiVersion": f"{GADGET_GROUP}/{GADGET_VERSION}", "kind": "Gadget", "metadata": {"name": unique("g")},
            "spec": {"deadline": "2026-12-01T10:00:00Z", "tasks": ["a"], "title": "ok"}}
    got = co.create_namespaced_custom_object(GADGET_GROUP, GADGET_VERSION, ns, GADGET_PLURAL, body)
    assert got["spec"]["deadline"] == "2026-12-01T10:00:00Z"


@pytest.mark.parametrize(("spec", "field"), [
    ({"title": "", "tasks": [{"name": "t", "script": {"inline": "true"}}]}, "spec.title"),
    ({"title": "x", "tasks": []}, "spec.tasks"),
    ({"title": "x", "tasks": [{"name": "t" * 70, "script": {"inline": "true"}}]}, "spec.tasks[0].name"),
])
def test_kuberuns_own_crd_bounds_are_422_not_500(k8s_api_client: Any, co: Any, ns: str, spec: dict[str, Any],
                                                 field: str) -> None:
    from tests.helpers.operator import ensure_crd

    ensure_crd(k8s_api_client)
    body = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": unique("exp")},
            "spec": spec}
    code, status = refused(co.create_namespaced_custom_object, "kuberun.dev", "v1alpha1", ns, "experiments", body)
    assert code == 422 and field in causes(status)


def _exp(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": unique("exp")}, "spec": spec}


def test_duplicate_task_names_are_422_by_the_list_type(k8s_api_client: Any, co: Any, ns: str) -> None:
    from tests.helpers.operator import ensure_crd

    ensure_crd(k8s_api_client)
    task = {"name": "t", "script": {"inline": "true"}, "executor": {"kubernetes": {}}}
    body = _exp({"title": "x", "tasks": [task, dict(task)]})
    code, status = refused(co.create_namespaced_custom_object, "kuberun.dev", "v1alpha1", ns, "experiments", body)
    assert code == 422 and "spec.tasks[1]" in causes(status)
    assert any(c.get("reason") == "FieldValueDuplicate" for c in status["details"]["causes"])


def test_a_thousand_task_fan_out_fan_in_experiment_is_accepted(k8s_api_client: Any, co: Any, ns: str) -> None:
    # No size cliff: the CRD's bounds and the cost of its CEL rules allow 999 tasks and one that
    # depends on all of them (a real API server refuses CRDs whose rules' estimated cost is too high).
    from kuberun.resource.constants import MAX_TASKS
    from tests.helpers.operator import ensure_crd

    ensure_crd(k8s_api_client)
    tasks = [{"name": f"t{i}", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}} for i in range(MAX_TASKS - 1)]
    tasks.append({"name": "join", "script": {"command": ["true"]}, "executor": {"kubernetes": {}},
                  "dependsOn": [t["name"] for t in tasks]})
    got = co.create_namespaced_custom_object("kuberun.dev", "v1alpha1", ns, "experiments", _exp({"title": "x", "tasks": tasks}))
    assert len(got["spec"]["tasks"]) == MAX_TASKS == 1000 and len(got["spec"]["tasks"][-1]["dependsOn"]) == 999
