"""Kubernetes pods run code packages over 8 MiB: downloaded from the record server with the pod-bound token.

On a sandbox with its operator, https record server and directory log store (all real: the API
server's TokenRequest mints the pods' bound tokens, its TokenReview decides), alice submits in team-a
and bob in team-b. A project of a sibling module and ~9 MiB of incompressible data is over the
ConfigMap limit, so ``exp.run()`` uploads it into the store; the pod's runner downloads it through
``GET .../attempts/<n>/code/<sha256>``, checks it, unpacks it and imports the sibling module.

The attacks use real running pods and tokens minted for them as the kubelet mints them: a pod of
another experiment, or of another namespace, asking for the package (through the owner's path or its
own); a user's token; a digest the pod's spec does not name. Last, the stored bytes are tampered
with (same size) and a new task with that package fails: the runner refuses it (exit 2, "digest
mismatch" in its log) and never runs the task.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys
from typing import Any

import pytest
import urllib3
from kubernetes import client, config

import kuberun as kr
from kuberun.packaging import PatternPackager
from kuberun.resource import recordserver as contract
from kuberun.resource import upload
from kuberun.resource.code import CONFIGMAP_CODE_LIMIT, store_url
from tests.fixtures import tasks
from tests.helpers.bigproject import expected, write_big_project
from tests.helpers.operator import get_experiment, wait_for

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kuberun_sandbox import Sandbox

    project = tmp_path_factory.mktemp("bigproject")
    weights = write_big_project(project)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT)  # the pods' interpreter imports kuberun and the tests, never the project
    sys.path.insert(0, str(project))
    try:
        with Sandbox(data_dir=tmp_path_factory.mktemp("codedownload"), operator=True) as sb:
            assert sb.operator_running, sb.operator_error
            assert sb.record_server is not None, sb.record_server_error
            alice, bob = sb.mint_user("alice", namespace="team-a"), sb.mint_user("bob", namespace="team-b")
            api = config.new_client_from_config(config_file=str(sb.kubeconfig))
            try:
                yield {"sb": sb, "api": api, "alice": alice, "bob": bob, "project": project, "weights": weights,
                       "release": tmp_path_factory.mktemp("release") / "go"}
            finally:
                api.close()
    finally:
        sys.path.remove(str(project))
        sys.modules.pop("big_lib", None)
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _packager(world: Any) -> PatternPackager:
    return PatternPackager(include_pattern=["*.py", "*.bin"], relative_path=str(world["project"]))


def _finished(api: Any, ns: str, name: str) -> dict[str, Any] | None:
    status = get_experiment(api, ns, name).get("status") or {}
    return status if status.get("phase") in ("Succeeded", "Failed") else None


def _pool(world: Any) -> tuple[str, urllib3.PoolManager]:
    from kuberun.api.kubeconfig import data_file

    published = client.CoreV1Api(world["api"]).read_namespaced_config_map(
        contract.ENDPOINTS_CONFIGMAP, contract.ENDPOINTS_NAMESPACE).data
    assert published[contract.KEY_URL].startswith("https://")
    ca = data_file(published[contract.KEY_CA].encode(), ".crt")
    return published[contract.KEY_URL], urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca, retries=False)


def _job_pod(api: Any, ns: str, job: str) -> Any:
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"job-name={job}").items
    return pods[0] if pods else None


def _submit(world: Any, user: str, title: str, fn: Any, packaged: bool) -> tuple[str, dict[str, Any]]:
    executor = kr.KubernetesExecutor(packager=_packager(world)) if packaged else kr.KubernetesExecutor()
    exp = kr.Experiment(title, executor=executor)
    exp.add(fn, name="t")
    created = exp.run(kubeconfig=str(world[user]))
    return created["metadata"]["name"], created


def test_a_9_mib_package_runs_on_kubernetes_and_imports_its_sibling_module(world: Any) -> None:
    import big_lib

    name, created = _submit(world, "alice", "big-pod", kr.Partial(big_lib.weigh), packaged=True)
    code = created["spec"]["tasks"][0]["code"]
    assert code["size"] > CONFIGMAP_CODE_LIMIT and code["storage"] == {"url": store_url(code["sha256"])}
    api = world["api"]
    status = wait_for(lambda: _finished(api, "team-a", name), timeout=120, what="the large packaged pod task")
    assert status["phase"] == "Succeeded", status
    (attempt,) = status["tasks"][0]["attempts"]
    assert expected(world['weights']) in attempt["result"], attempt
    # The pod got no code volume and no secret: the bound-token volume, the attempt's URL, paths.
    job = client.BatchV1Api(api).read_namespaced_job(attempt["backendRef"]["id"], "team-a").to_dict()
    spec = job["spec"]["template"]["spec"]
    assert not [v for v in spec["volumes"] if v["name"].startswith("kuberun-code")]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env[upload.URL_ENV].startswith("https://") and env[upload.TOKEN_ENV].startswith(upload.TOKEN_DIR)
    assert not any("token" in k.lower() and k != upload.TOKEN_ENV for k in env)


# -- the attacks, with real pods and bound tokens ---------------------------------------------------

@pytest.fixture(scope="module")
def held(world: Any) -> Any:
    """Running pods: A (team-a, the package), B (team-a, no package), C (team-b, no package)."""
    release = str(world["release"])
    hold = kr.Partial(tasks.checkpoint_every_step, steps=1, release=release)
    runs = {"A": _submit(world, "alice", "holder-a", hold, packaged=True),
            "B": _submit(world, "alice", "holder-b", hold, packaged=False),
            "C": _submit(world, "bob", "holder-c", hold, packaged=False)}
    ns = {"A": "team-a", "B": "team-a", "C": "team-b"}
    api = world["api"]

    def running(who: str) -> Any:
        status = get_experiment(api, ns[who], runs[who][0]).get("status") or {}
        attempts = (status.get("tasks") or [{}])[0].get("attempts") or []
        job = (attempts[-1].get("backendRef") or {}).get("id") if attempts else None
        pod = _job_pod(api, ns[who], job) if job else None
        return (attempts[-1], pod) if pod is not None and pod.status.phase == "Running" else None

    found = {who: wait_for(lambda w=who: running(w), timeout=120, what=f"a running pod of {who}") for who in runs}
    sha = runs["A"][1]["spec"]["tasks"][0]["code"]["sha256"]
    yield {who: {"ns": ns[who], "name": runs[who][0], "attempt": found[who][0]["attempt"], "pod": found[who][1],
                 "token": _bound_token_in(api, found[who][1], ns[who])} for who in runs} | {"sha": sha}
    pathlib.Path(release).write_text("go")


def _bound_token_in(api: Any, pod: Any, ns: str) -> str:
    """A token bound to ``pod``, for the record server's audience, as the kubelet mints it."""
    body = {"spec": {"audiences": [upload.AUDIENCE], "expirationSeconds": 3600,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}}}
    return str(client.CoreV1Api(api).create_namespaced_service_account_token(
        pod.spec.service_account_name or "default", ns, body).status.token)


def _download(world: Any, held: Any, path_of: str, token: str | None, sha: str | None = None) -> urllib3.BaseHTTPResponse:
    url, pool = _pool(world)
    who = held[path_of]
    base = url + upload.attempt_path(who["ns"], who["name"], "t", who["attempt"])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return pool.request("GET", upload.code_download_url(base, sha or held["sha"]), headers=headers, timeout=60.0)


def test_the_pod_of_the_attempt_downloads_its_package(world: Any, held: Any) -> None:
    answer = _download(world, held, "A", held["A"]["token"])
    assert answer.status == 200, answer.data
    assert len(answer.data) > CONFIGMAP_CODE_LIMIT and hashlib.sha256(answer.data).hexdigest() == held["sha"]


@pytest.mark.parametrize("attacker,path_of", [("B", "A"), ("B", "B"), ("C", "A"), ("C", "C")],
                         ids=["other-experiment-via-owner-path", "other-experiment-via-own-path",
                              "other-namespace-via-owner-path", "other-namespace-via-own-path"])
def test_a_pod_of_another_experiment_or_namespace_gets_403_and_no_bytes(world: Any, held: Any, attacker: str,
                                                                        path_of: str) -> None:
    answer = _download(world, held, path_of, held[attacker]["token"])
    assert answer.status == 403, answer.data
    assert len(answer.data) < 4096 and b"Forbidden" in answer.data


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_a_users_own_token_is_401(world: Any, held: Any, user: str) -> None:
    from kuberun.api import connect

    token = connect(str(world[user])).bearer_token()
    assert token
    answer = _download(world, held, "A", token)
    assert answer.status == 401 and len(answer.data) < 4096


def test_a_digest_the_spec_does_not_name_is_403_even_for_the_attempts_own_pod(world: Any, held: Any) -> None:
    for sha in ("0" * 64, hashlib.sha256(b"another package").hexdigest()):
        answer = _download(world, held, "A", held["A"]["token"], sha=sha)
        assert answer.status == 403 and b"may download only its own task's package" in answer.data


def test_tampered_bytes_in_the_store_are_refused_by_the_runner(world: Any, held: Any) -> None:
    # Last: it changes the stored package. Same size, one byte flipped: the server serves it, the runner refuses.
    import big_lib

    stored = pathlib.Path(world["sb"].log_store_dir) / "team-a" / "code" / f"{held['sha']}.tar.gz"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    name, created = _submit(world, "alice", "tampered", kr.Partial(big_lib.weigh), packaged=True)
    assert created["spec"]["tasks"][0]["code"]["sha256"] == held["sha"]  # found stored: not uploaded again
    api = world["api"]
    status = wait_for(lambda: _finished(api, "team-a", name), timeout=120, what="the tampered package's task")
    assert status["phase"] == "Failed", status
    (attempt,) = status["tasks"][0]["attempts"]
    assert attempt.get("exitCode") == 2, attempt
    assert "exited with code 2: code package refused: code package digest mismatch" in attempt["message"], attempt
    pod = _job_pod(api, "team-a", attempt["backendRef"]["id"])
    log = client.CoreV1Api(api).read_namespaced_pod_log(pod.metadata.name, "team-a")
    assert "code package refused: code package digest mismatch" in log, log
    assert "shipped" not in log


# -- the same on the real kube-apiserver ------------------------------------------------------------

def _token_kubeconfig(sb: Any, api: Any, tmp_path: pathlib.Path) -> pathlib.Path:
    """A kubeconfig of a ServiceAccount that may submit experiments in default: a bearer token the record server can review
    (the real control plane's own users are client certificates, which a TokenReview cannot check)."""
    import yaml

    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account("default", {"metadata": {"name": "submitter"}})
    rbac.create_namespaced_role("default", {"metadata": {"name": "submitter"}, "rules": [
        {"apiGroups": ["kuberun.dev"], "resources": ["experiments"], "verbs": ["create", "get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "patch"]}]})
    rbac.create_namespaced_role_binding("default", {
        "metadata": {"name": "submitter"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "submitter"},
        "subjects": [{"kind": "ServiceAccount", "name": "submitter", "namespace": "default"}]})
    token = core.create_namespaced_service_account_token("submitter", "default",
                                                         {"spec": {"expirationSeconds": 3600}}).status.token
    doc = yaml.safe_load(pathlib.Path(sb.kubeconfig).read_text())
    doc["users"] = [{"name": "submitter", "user": {"token": token}}]
    for context in doc["contexts"]:
        context["context"]["user"] = "submitter"
        context["context"]["namespace"] = "default"
    out = tmp_path / "submitter.kubeconfig"
    out.write_text(yaml.safe_dump(doc))
    out.chmod(0o600)
    return out


def test_a_9_mib_package_runs_in_a_pod_on_the_real_control_plane(tmp_path: pathlib.Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from kuberun_sandbox import Sandbox
    from tests.realcluster.plugin import binaries_missing

    if (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    project = tmp_path / "project"
    project.mkdir()
    weights = write_big_project(project)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.syspath_prepend(str(project))
    sys.modules.pop("big_lib", None)
    import big_lib

    try:
        with Sandbox(data_dir=tmp_path / "sb", operator=True, control_plane="real") as sb:
            assert sb.operator_running, sb.operator_error
            assert sb.record_server is not None, sb.record_server_error
            with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
                submitter = _token_kubeconfig(sb, api, tmp_path)
                exp = kr.Experiment("big-real", executor=kr.KubernetesExecutor(
                    packager=PatternPackager(include_pattern=["*.py", "*.bin"], relative_path=str(project))))
                exp.add(kr.Partial(big_lib.weigh), name="t")
                created = exp.run(kubeconfig=str(submitter))
                assert created["spec"]["tasks"][0]["code"]["storage"] == {"url": store_url(created["spec"]["tasks"][0]["code"]["sha256"])}
                name = created["metadata"]["name"]
                status = wait_for(lambda: _finished(api, "default", name), timeout=180, what="the pod task on the real control plane")
    finally:
        sys.modules.pop("big_lib", None)
    assert status["phase"] == "Succeeded", status
    (attempt,) = status["tasks"][0]["attempts"]
    assert expected(weights) in attempt["result"], attempt
