"""Pod Security Standards checks, one field at a time, with pod-security-admission's wording."""

from __future__ import annotations

import pytest

from kuberun_sandbox.apiserver.auth import podsecurity
from kuberun_sandbox.apiserver.errors import ApiError

RESTRICTED_CONTAINER = {"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
RESTRICTED_POD = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}


def pod(container: dict | None = None, **spec) -> dict:
    c = {**RESTRICTED_CONTAINER, **(container or {})}
    return {"metadata": {"name": "p"}, "spec": {**RESTRICTED_POD, "containers": [c], **spec}}


def sc(**fields) -> dict:
    return {"securityContext": {**RESTRICTED_CONTAINER["securityContext"], **fields}}


@pytest.mark.parametrize(("level", "p", "expected"), [
    ("restricted", pod(), []),
    ("baseline", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}, []),
    ("baseline", pod(hostNetwork=True, hostIPC=True), ["host namespaces (hostNetwork=true, hostIPC=true)"]),
    ("baseline", pod(sc(privileged=True)), ['privileged (container "c" must not set securityContext.privileged=true)']),
    ("baseline", pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), ['hostPath volumes (volume "h")']),
    ("restricted", pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
     ['restricted volume types (volume "h" uses restricted volume type "hostPath")']),
    ("restricted", pod(volumes=[{"name": "e", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x"}}]), []),
    ("baseline", pod({"ports": [{"containerPort": 80, "hostPort": 8080}]}), ['hostPort (container "c" uses hostPort 8080)']),
    ("restricted", pod(sc(allowPrivilegeEscalation=True)),
     ['allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)']),
    ("restricted", pod(sc(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})), []),
    ("restricted", pod(sc(capabilities={"drop": ["ALL"], "add": ["CHOWN"]})),
     ['unrestricted capabilities (container "c" must not include "CHOWN" in securityContext.capabilities.add)']),
    ("baseline", pod(sc(capabilities={"add": ["CHOWN"]})), []),
    ("restricted", pod(sc(runAsUser=0)), ['runAsUser=0 (container "c" must not set runAsUser=0)']),
    ("restricted", pod(sc(runAsNonRoot=False)),
     ['runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)']),
    ("restricted", pod(securityContext={"runAsNonRoot": True}),
     ['seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")']),
    ("baseline", pod(sc(seccompProfile={"type": "Unconfined"})),
     ['seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")']),
    ("baseline", pod(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}), ["forbidden sysctls (kernel.msgmax)"]),
    ("privileged", pod(sc(privileged=True)), []),
])
def test_checks(level, p, expected):
    assert podsecurity.violations(level, p) == expected


def test_two_containers_are_named_together():
    p = {"metadata": {"name": "p"}, "spec": {**RESTRICTED_POD, "containers": [{"name": "a"}, {"name": "b"}]}}
    found = podsecurity.violations("restricted", p)
    assert found[0] == ('allowPrivilegeEscalation != false (containers "a", "b" must set '
                        "securityContext.allowPrivilegeEscalation=false)")


def test_enforce_raises_the_real_message_and_metadata_updates_are_not_rechecked():
    ns = {"metadata": {"name": "n", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    bad = pod(sc(privileged=True))
    with pytest.raises(ApiError) as err:
        podsecurity.admit(ns, bad, None)
    assert (err.value.code, err.value.message) == (403, 'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
                                                        'privileged (container "c" must not set securityContext.privileged=true)')
    relabelled = {**bad, "metadata": {"name": "p", "labels": {"x": "y"}}}
    assert podsecurity.admit(ns, relabelled, bad) == []  # only a spec change is judged again
    assert podsecurity.admit({"metadata": {"name": "n"}}, bad, None) == []
