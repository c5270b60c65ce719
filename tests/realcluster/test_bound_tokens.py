"""Pod-bound ServiceAccount tokens, emulator and real kube-apiserver side by side.

The pod upload route (kuberun.resource.upload) trusts exactly this behaviour: a TokenRequest bound
to a pod yields a token for one audience; a TokenReview for that audience names the ServiceAccount
and carries the pod's name and UID in ``extra``; a review for another audience, or after the pod is
deleted, is refused; the API server itself refuses a token minted for another audience. Pods stay
Pending (no node), which is all a bound token needs.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kuberun.resource import upload
from tests.realcluster.test_differences import target  # noqa: F401 - the emulator/real fixture

EXTRA = "authentication.kubernetes.io/"


def _namespace_with_default_account(api: Any) -> str:
    core = client.CoreV1Api(api)
    name = f"bt-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while True:  # the real serviceaccount controller creates it shortly after the namespace
        try:
            core.read_namespaced_service_account("default", name)
            return name
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _pod(api: Any, namespace: str, name: str = "p") -> Any:
    return client.CoreV1Api(api).create_namespaced_pod(namespace, {
        "metadata": {"name": name},
        "spec": {"automountServiceAccountToken": False, "nodeName": "nowhere",  # never runs
                 "containers": [{"name": "c", "image": "busybox"}]}})


def _token(api: Any, namespace: str, pod: Any, audiences: list[str] | None = None, seconds: int = 3600) -> str:
    spec: dict[str, Any] = {"expirationSeconds": seconds,
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name,
                                               "uid": pod.metadata.uid}}
    if audiences:
        spec["audiences"] = audiences
    answer = client.CoreV1Api(api).create_namespaced_service_account_token("default", namespace, {"spec": spec})
    return str(answer.status.token)


def _review(api: Any, token: str, audiences: list[str] | None = None) -> Any:
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = audiences
    return client.AuthenticationV1Api(api).create_token_review({"spec": spec}).status


def test_a_token_bound_to_a_pod_names_the_pod_for_its_audience_only(target):  # noqa: F811
    api, _ = target
    ns = _namespace_with_default_account(api)
    pod = _pod(api, ns)
    token = _token(api, ns, pod, [upload.AUDIENCE])
    review = _review(api, token, [upload.AUDIENCE])
    assert review.authenticated is True, review.error
    assert review.audiences == [upload.AUDIENCE]
    assert review.user.username == f"system:serviceaccount:{ns}:default"
    assert {"system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"} <= set(review.user.groups)
    assert review.user.extra[EXTRA + "pod-name"] == [pod.metadata.name]
    assert review.user.extra[EXTRA + "pod-uid"] == [pod.metadata.uid]
    # Another audience, or the API server's own (no audiences asked), is refused.
    for audiences in (["someone-else"], None):
        assert not _review(api, token, audiences).authenticated
    # And once the pod is deleted, the token is dead.
    client.CoreV1Api(api).delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    deadline = time.monotonic() + 30
    while _review(api, token, [upload.AUDIENCE]).authenticated:
        assert time.monotonic() < deadline, "a token bound to a deleted pod still authenticates"
        time.sleep(0.2)


def test_the_api_server_refuses_a_token_minted_for_another_audience(target):  # noqa: F811
    api, url = target
    ns = _namespace_with_default_account(api)
    token = _token(api, ns, _pod(api, ns), [upload.AUDIENCE])
    request = urllib.request.Request(f"{url}/api/v1/namespaces/{ns}/pods", headers={"Authorization": f"Bearer {token}"})
    import ssl

    ctx = ssl.create_default_context(cafile=api.configuration.ssl_ca_cert)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=ctx, timeout=30)
    assert refused.value.code == 401


def test_a_user_token_is_not_good_for_the_upload_audience(target):  # noqa: F811
    api, _ = target
    ns = _namespace_with_default_account(api)
    # A token for the API server's own audience (what a user's kubeconfig holds), reviewed for ours.
    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        "default", ns, {"spec": {"expirationSeconds": 3600}}).status.token
    assert _review(api, token).authenticated is True
    assert not _review(api, token, [upload.AUDIENCE]).authenticated


@pytest.mark.parametrize("case", ["no-such-pod", "wrong-uid", "short-expiry"])
def test_token_requests_the_api_server_refuses(target, case):  # noqa: F811
    api, _ = target
    ns = _namespace_with_default_account(api)
    pod = _pod(api, ns)
    ref = {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}
    spec: dict[str, Any] = {"expirationSeconds": 3600, "audiences": [upload.AUDIENCE], "boundObjectRef": ref}
    if case == "no-such-pod":
        ref.update(name="absent", uid=str(uuid.uuid4()))
    elif case == "wrong-uid":
        ref["uid"] = str(uuid.uuid4())
    else:
        spec["expirationSeconds"] = 60
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).create_namespaced_service_account_token("default", ns, {"spec": spec})
    assert refused.value.status == {"no-such-pod": 404, "wrong-uid": 409, "short-expiry": 422}[case]
