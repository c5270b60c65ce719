"""A Kubernetes task's metric series and artifacts outlive its pod: the runner uploads them with a pod-bound token.

End to end in the sandbox: the operator gives the pod a projected token for the record server's
audience and the upload URL; the sandbox node (as a kubelet) mints the token bound to the pod
through the emulator's TokenRequest API; the runner uploads ``metrics.jsonl`` and the artifacts;
the record server reviews the token, follows the pod to its Experiment and writes under the
attempt's own prefix; the operator records the manifest on the attempt. Then the Job and its pods
are deleted, and ``kuberun artifacts`` and the ``metrics`` route still answer in full. It runs on the
emulator and on the real kube-apiserver (``control_plane``; skipped when its binaries are missing).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import pytest
from kubernetes import client, config

import kuberun as kr
from kuberun.resource import upload
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks
from tests.helpers.manage import cli
from tests.helpers.operator import get_experiment, wait_for

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")
ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 5


@pytest.fixture
def sandbox(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, control_plane: str):
    # The pods' processes are this interpreter: they must import tests.fixtures.tasks as the test does.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # On the real control plane the kubelet's TokenRequest and the server's TokenReview are kube-apiserver's own.
    with Sandbox(data_dir=tmp_path / "sb", operator=True, control_plane=control_plane) as sb:
        assert sb.operator_running, sb.operator_error
        assert sb.record_server is not None, sb.record_server_error
        yield sb


def _series_as_a_reader(sandbox: Sandbox, name: str) -> dict:
    """The ``metrics`` route as a ServiceAccount that may get experiments (a token the record server can
    review on either control plane: the real one's administrator is a client certificate)."""
    import urllib3

    from kuberun.api.kubeconfig import data_file
    from kuberun.resource import recordserver as contract

    with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        core.create_namespaced_service_account("default", {"metadata": {"name": "reader"}})
        rbac.create_namespaced_role("default", {"metadata": {"name": "reader"}, "rules": [
            {"apiGroups": ["kuberun.dev"], "resources": ["experiments"], "verbs": ["get"]}]})
        rbac.create_namespaced_role_binding("default", {
            "metadata": {"name": "reader"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]})
        token = core.create_namespaced_service_account_token("reader", "default", {"spec": {"expirationSeconds": 3600}}).status.token
        published = core.read_namespaced_config_map(contract.ENDPOINTS_CONFIGMAP, contract.ENDPOINTS_NAMESPACE).data
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=data_file(published[contract.KEY_CA].encode(), ".crt"),
                               retries=False)
    resp = pool.request("GET", published[contract.KEY_URL] + contract.metrics_path("default", name),
                        headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    assert resp.status == 200, resp.data
    return json.loads(resp.data)


def test_series_and_artifacts_of_a_pod_survive_its_pod_and_job(sandbox, tmp_path):
    kubeconfig = str(sandbox.kubeconfig)
    exp = kr.Experiment("uploads")
    exp.add(kr.Partial(tasks.checkpoint_every_step, steps=STEPS), name="train")
    name = exp.run(kubeconfig=kubeconfig)["metadata"]["name"]
    with config.new_client_from_config(config_file=kubeconfig) as api:
        def recorded():
            status = get_experiment(api, "default", name).get("status") or {}
            attempt = (status.get("tasks") or [{}])[0].get("attempts", [{}])[-1]
            done = status.get("phase") in ("Succeeded", "Failed") and (attempt.get("artifacts") or {}).get("complete")
            return (status, attempt) if done else None
        status, attempt = wait_for(recorded, timeout=120, what="the experiment to finish with its artifacts recorded")
        assert status["phase"] == "Succeeded", status
        # The generated pod carried no secret: a projected token volume for our audience, and paths.
        job_name = attempt["backendRef"]["id"]
        job = client.BatchV1Api(api).read_namespaced_job(job_name, "default").to_dict()
        spec = job["spec"]["template"]["spec"]
        token_volume = next(v for v in spec["volumes"] if v["name"] == upload.VOLUME)
        source = token_volume["projected"]["sources"][0]["service_account_token"]
        assert source["audience"] == upload.AUDIENCE and source["expiration_seconds"] == upload.TOKEN_SECONDS
        assert spec["automount_service_account_token"] is False
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        assert env[upload.URL_ENV].endswith(upload.attempt_path("default", name, "train", attempt["attempt"]))
        assert not any("token" in k.lower() and k != upload.TOKEN_ENV for k in env)
        # The Job and its pods go (TTL, cleanup, a lost node).
        client.BatchV1Api(api).delete_namespaced_job(job_name, "default", propagation_policy="Foreground")
        core = client.CoreV1Api(api)
        wait_for(lambda: not core.list_namespaced_pod("default", label_selector=f"job-name={job_name}").items
                 and not client.BatchV1Api(api).list_namespaced_job("default", field_selector=f"metadata.name={job_name}").items,
                 timeout=60, what="the Job and its pods to be gone")

    record = attempt["artifacts"]
    expected = {f"ckpt/step-{s}.txt": f"weights at {s}\n" for s in range(STEPS)}
    assert record["count"] == STEPS and {f["path"]: f["sha256"] for f in record["files"]} == {
        p: hashlib.sha256(t.encode()).hexdigest() for p, t in expected.items()}
    listed = cli("artifacts", name, kubeconfig=kubeconfig)
    assert listed.code == 0, listed.stderr
    assert f"train (attempt {attempt['attempt']}, Succeeded): {STEPS} file(s)" in listed.stdout
    got = cli("artifacts", name, "train", "--download", str(tmp_path / "out"), kubeconfig=kubeconfig)
    assert got.code == 0, got.stderr
    assert {p: (tmp_path / "out" / p).read_text() for p in expected} == expected

    series = _series_as_a_reader(sandbox, name)
    assert series["source"] in ("logstore", "archive"), series
    loss = next(i for i in series["items"] if i["name"] == "loss")
    assert loss["points"] == [[s, pytest.approx(1.0 / (s + 1))] for s in range(STEPS)]
