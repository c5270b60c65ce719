"""The sandbox node replaces projected ServiceAccount tokens before they expire, as the kubelet does.

Against the emulator (the session's API server): a pod bound token is minted, the refresher runs
with a tiny refresh fraction, and the file must hold a new token that reviews as the same pod.
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from typing import Any

from kubernetes import client, config

from kuberun.resource import upload
from kuberun_sandbox import projected
from kuberun_sandbox.apiserver.auth import local_token
from kuberun_sandbox.rest import Rest


def test_a_projected_token_is_replaced_and_still_names_its_pod(apiserver: Any, kubeconfig: pathlib.Path,
                                                              tmp_path: pathlib.Path) -> None:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    ns = f"refresh-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    sat = {"audience": upload.AUDIENCE, "expirationSeconds": 600, "path": "token"}
    pod = core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {
        "automountServiceAccountToken": False, "nodeName": "nowhere", "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": sat}]}}]}})
    body = api.sanitize_for_serialization(pod)
    target = tmp_path / "volumes" / "t" / "token"
    target.parent.mkdir(parents=True)
    target.write_text("first")

    async def run() -> None:
        async with Rest(apiserver.url, local_token(apiserver.url, "node-test")) as rest:
            task = asyncio.ensure_future(projected.keep_tokens_fresh(rest, body, tmp_path / "volumes", refresh_at=1e-4))
            for _ in range(200):
                await asyncio.sleep(0.02)
                if target.read_text() != "first":
                    break
            task.cancel()
    asyncio.run(run())
    token = target.read_text()
    assert token != "first"
    review = client.AuthenticationV1Api(api).create_token_review({"spec": {"token": token, "audiences": [upload.AUDIENCE]}})
    assert review.status.authenticated and review.status.user.extra[upload.POD_UID_EXTRA] == [pod.metadata.uid]
    assert not list(target.parent.glob(".*refresh"))  # written aside and renamed: no leftovers
    api.close()
