"""What a task pod gets for its uploads (``podupload``): a projected bound token, paths, no secret; still restricted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kuberun.resource import recordserver, upload
from kuberun_operator.backends.kubernetes import podtemplate
from kuberun_operator.backends.kubernetes.manifests import build_job
from kuberun_operator.backends.kubernetes.podupload import MISSING_TTL, TTL, Endpoints, UploadEndpoint
from kuberun_operator.kube import ApiError
from kuberun_operator.settings import Settings
from kuberun_sandbox.apiserver.auth import podsecurity
from tests.helpers.builders import make_experiment, make_task
from tests.helpers.manifests import valid

EXP = make_experiment().obj()
CA = "-----BEGIN CERTIFICATE-----\nMIIB$(HOME)\n-----END CERTIFICATE-----\n"
TO = UploadEndpoint("https://records.kuberun-system.svc:8443/", CA, 30.0)


def _job(to: UploadEndpoint | None = TO, **executor: Any) -> dict[str, Any]:
    return valid(build_job(EXP, make_task().executor(**executor).obj(), 3, Settings(), upload_to=to))


def test_the_pod_gets_a_token_for_the_record_server_only_and_where_to_send():
    spec = _job()["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == upload.VOLUME)
    assert volume == {"name": upload.VOLUME, "projected": {"sources": [{"serviceAccountToken": {
        "audience": upload.AUDIENCE, "expirationSeconds": upload.TOKEN_SECONDS, "path": upload.TOKEN_FILE}}]}}
    container = spec["containers"][0]
    assert {"name": upload.VOLUME, "mountPath": upload.TOKEN_DIR, "readOnly": True} in container["volumeMounts"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env[upload.URL_ENV] == "https://records.kuberun-system.svc:8443" + upload.attempt_path(
        EXP.namespace, EXP.name, "train", 3)
    assert env[upload.TOKEN_ENV] == f"{upload.TOKEN_DIR}/{upload.TOKEN_FILE}" and env[upload.PERIOD_ENV] == "30"
    assert env[upload.CA_ENV] == CA.replace("$", "$$")  # arrives byte for byte after the kubelet's $(VAR) expansion
    assert spec["automountServiceAccountToken"] is False  # this token is no API credential


def test_no_published_server_no_upload_volume_or_env():
    spec = _job(None)["spec"]["template"]["spec"]
    assert all(v["name"] != upload.VOLUME for v in spec["volumes"])
    assert not [e for e in spec["containers"][0]["env"] if e["name"].startswith("KUBERUN_UPLOAD")]


@pytest.mark.parametrize("executor", [{}, {"nodes": 2, "launcher": "torchrun", "procs_per_node": 2}])
def test_pods_with_the_token_still_pass_pod_security_restricted(executor):
    assert podsecurity.violations("restricted", podtemplate.dry_run_pod(_job(**executor))) == []


def test_nothing_in_the_job_is_a_secret():
    text = json.dumps(_job())
    assert "secretKeyRef" not in text and '"secret":' not in text and "token\": \"" not in text


class Kube:
    def __init__(self) -> None:
        self.data: dict[str, str] | None = None
        self.reads = 0
        self.error: ApiError | None = None

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any]:
        assert (namespace, name) == (recordserver.ENDPOINTS_NAMESPACE, recordserver.ENDPOINTS_CONFIGMAP)
        self.reads += 1
        if self.error is not None:
            raise self.error
        if self.data is None:
            raise ApiError(404, "NotFound", name)
        return {"data": self.data}


def test_the_endpoints_are_read_from_the_published_config_map_and_cached():
    kube, now = Kube(), [0.0]
    endpoints = Endpoints(kube, 60.0, clock=lambda: now[0])

    async def flow() -> None:
        assert await endpoints.current() is None  # not published yet
        kube.data = {recordserver.KEY_URL: "https://10.0.0.1:8443", recordserver.KEY_CA: CA}
        assert await endpoints.current() is None and kube.reads == 1  # a missing answer is kept briefly...
        now[0] += MISSING_TTL
        assert await endpoints.current() == UploadEndpoint("https://10.0.0.1:8443", CA, 60.0)  # ...then asked again
        now[0] += TTL - 1
        kube.data = None
        assert await endpoints.current() is not None and kube.reads == 2  # a found one for TTL
        for url in ("file:///etc/passwd", "http://10.0.0.1:8443"):
            kube.data = {recordserver.KEY_URL: url}
            now[0] += TTL
            assert await endpoints.current() is None  # only https: the token never travels in clear
        kube.error = ApiError(403, "Forbidden", "no")
        now[0] += MISSING_TTL
        assert await endpoints.current() is None
    asyncio.run(flow())
