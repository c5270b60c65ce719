"""Task pods under Pod Security ``restricted``, and squatted child names, on both control planes (#13.6, #13.4).

An attacker's view: a namespace enforces ``restricted``; kuberun's own pods must pass it without
the user writing a securityContext, and a user who loosens the template must get the admission
message as the attempt's reason (``FailedCreate``) instead of an attempt that sits Submitted
forever. Someone who creates an object under a child's deterministic name first must not get it
adopted (``NameConflict``). Same assertions on the emulator and on a real kube-apiserver + KCM
(the sandbox node is the kubelet on both; it runs task processes as its own user, see
docs/tenancy.md).
"""

from __future__ import annotations

import uuid
from typing import Any

import kuberun as kr
from kuberun.resource.constants import GROUP, PLURAL, VERSION
from tests.helpers.jobs import list_jobs
from tests.helpers.operator import get_experiment, phase, wait_for
from tests.realcluster import test_operator_e2e as e2e

# The e2e module's fixtures (a Sandbox with the operator per control plane, and its API client).
sandbox, api, RUN_TIMEOUT = e2e.sandbox, e2e.api, e2e.RUN_TIMEOUT

ENFORCE = "pod-security.kubernetes.io/enforce"


def _namespace(api: Any, labels: dict[str, str] | None = None) -> str:
    from kubernetes import client

    name = f"ten-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    return name


def _finished(api: Any, ns: str, name: str) -> str:
    return str(wait_for(lambda: phase(api, ns, name) in ("Succeeded", "Failed", "Cancelled") and phase(api, ns, name),
                        timeout=RUN_TIMEOUT, what=f"experiment {name} to finish"))


def _attempt(api: Any, ns: str, name: str) -> dict[str, Any]:
    (task,) = get_experiment(api, ns, name)["status"]["tasks"]
    (attempt,) = task["attempts"]
    return attempt


def _run(sandbox: Any, ns: str, executor: kr.KubernetesExecutor | None = None, name: str | None = None,
         padding: int = 0) -> str:
    exp = kr.Experiment("tenancy", namespace=ns, name=name)
    code = "print('ran restricted')" + (f"  # {'#' * padding}" if padding else "")
    exp.add(kr.Script(command=["python", "-c", code]), name="t", executor=executor)
    return str(exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"])


def test_default_task_pods_pass_pod_security_restricted_and_run(sandbox: Any, api: Any) -> None:
    ns = _namespace(api, {ENFORCE: "restricted"})
    name = _run(sandbox, ns)
    assert _finished(api, ns, name) == "Succeeded"
    (job,) = list_jobs(api, ns, f"kuberun.dev/experiment={name}")
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_a_pod_the_namespace_refuses_fails_the_attempt_failed_create_with_the_admission_message(sandbox: Any, api: Any) -> None:
    ns = _namespace(api, {ENFORCE: "restricted"})
    loosened = kr.KubernetesExecutor(pod_template={"spec": {"containers": [
        {"name": "task", "securityContext": {"allowPrivilegeEscalation": True}}]}})
    name = _run(sandbox, ns, loosened)
    assert _finished(api, ns, name) == "Failed"
    attempt = _attempt(api, ns, name)
    assert attempt["phase"] == "Failed" and attempt["reason"] == "FailedCreate"
    assert 'violates PodSecurity "restricted:latest"' in attempt["message"]
    assert "allowPrivilegeEscalation != false" in attempt["message"]
    assert list_jobs(api, ns, f"kuberun.dev/experiment={name}") == []  # asked first: no Job was created
    # The same template is fine where nothing is enforced (the refusal was the namespace's).
    open_ns = _namespace(api)
    assert _finished(api, open_ns, _run(sandbox, open_ns, loosened)) == "Succeeded"


def test_a_squatted_task_config_map_is_not_adopted_and_fails_the_task_name_conflict(sandbox: Any, api: Any) -> None:
    from kubernetes import client

    ns, name = _namespace(api), f"squat-{uuid.uuid4().hex[:6]}"
    squat = {"metadata": {"name": f"{name}-tasks"}, "data": {"t.json": '{"planted": true}'}}
    client.CoreV1Api(api).create_namespaced_config_map(ns, squat)
    # A document too large to travel in its Job: the task ConfigMap is what the squatter took.
    assert _run(sandbox, ns, name=name, padding=40_000) == name
    assert _finished(api, ns, name) == "Failed"
    attempt = _attempt(api, ns, name)
    assert attempt["reason"] == "NameConflict"
    assert f"ConfigMap {ns}/{name}-tasks already exists and has no controller ownerReference" in attempt["message"]
    assert list_jobs(api, ns, f"kuberun.dev/experiment={name}") == []  # no pod ever mounted the planted file
    kept = client.CoreV1Api(api).read_namespaced_config_map(f"{name}-tasks", ns)
    assert kept.data == squat["data"] and not kept.metadata.owner_references  # nothing lost or rewritten
    events = [e for e in client.CoreV1Api(api).list_namespaced_event(ns).items if e.involved_object.name == name]
    assert any(e.reason == "NameConflict" or "NameConflict" in (e.message or "") for e in events), \
        [(e.reason, e.message) for e in events]
    assert client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
