"""Code packages over the ConfigMap limit: uploaded through the record server as the user, run from the log store.

On a sandbox with its operator, record server and directory log store (all real: the API server's
TokenReview and SubjectAccessReview decide), alice may edit in team-a and bob in team-b. A package
of ~9 MiB of incompressible data is over the 8 MiB ConfigMap limit, so ``exp.run()`` uploads it
through ``PUT /v1/namespaces/team-a/code/<sha256>`` and records ``storage.url``; the local executor
reads it from the store (digest checked) and the runner unpacks it. A Kubernetes pod downloads such a
package itself: tests/integration/test_code_download.py.
The attacks assert the refusal and that nothing was stored.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys
from typing import Any

import pytest
import urllib3

import kuberun as kr
from kuberun.api import connect
from kuberun.manage.records import RecordClient, discover
from kuberun.packaging import PatternPackager, ship
from kuberun.resource import recordserver as contract
from kuberun.resource.code import CONFIGMAP_CODE_LIMIT, store_url
from tests.helpers.bigproject import expected, write_big_project
from tests.helpers.operator import get_experiment, wait_for

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kuberun_sandbox import Sandbox

    project = tmp_path_factory.mktemp("bigproject")
    weights = write_big_project(project)
    with Sandbox(data_dir=tmp_path_factory.mktemp("codestore"), operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        assert sb.record_server is not None, sb.record_server_error
        alice, bob = sb.mint_user("alice", namespace="team-a"), sb.mint_user("bob", namespace="team-b")
        yield {"sb": sb, "alice": alice, "bob": bob, "project": project, "weights": weights}


def _packager(world: Any) -> PatternPackager:
    return PatternPackager(include_pattern=["*.py", "*.bin"], relative_path=str(world["project"]))


def _stored_files(world: Any) -> list[pathlib.Path]:
    root = pathlib.Path(world["sb"].log_store_dir)
    return sorted(p for p in root.rglob("*.tar.gz") if "code" in p.parts)


def _pool(world: Any) -> tuple[str, urllib3.PoolManager]:
    from kuberun.api.kubeconfig import data_file

    url, ca = discover(connect(str(world["alice"])))
    return url, urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=data_file(ca.encode(), ".crt"), retries=False)


def _token(kubeconfig: pathlib.Path) -> str:
    token = connect(str(kubeconfig)).bearer_token()
    assert token
    return token


def _put(world: Any, ns: str, sha256: str, body: bytes, token: str | None, **headers: str) -> urllib3.BaseHTTPResponse:
    url, pool = _pool(world)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return pool.request("PUT", url + contract.code_path(ns, sha256), body=body, headers={**auth, **headers}, timeout=60.0)


def _finished(api: Any, ns: str, name: str) -> str | None:
    phase = (get_experiment(api, ns, name).get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def test_a_package_over_the_configmap_limit_is_uploaded_once_and_runs_from_the_store(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import config

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # kuberun and the tests, never the project
    monkeypatch.syspath_prepend(str(world["project"]))
    import big_lib

    packager = _packager(world)
    exp = kr.Experiment("big-code", executor=kr.LocalExecutor(packager=packager))
    exp.add(kr.Partial(big_lib.weigh), name="t")
    created = exp.run(kubeconfig=str(world["alice"]))
    code = created["spec"]["tasks"][0]["code"]
    assert code["size"] > CONFIGMAP_CODE_LIMIT and code["storage"] == {"url": store_url(code["sha256"])}
    assert ship.staged == {}  # uploaded, not kept in memory
    (stored,) = _stored_files(world)
    assert stored.name == f"{code['sha256']}.tar.gz" and stored.parent.parent.name == "team-a"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == code["sha256"]
    assert RecordClient(connect(str(world["alice"]))).has_code("team-a", code["sha256"])
    first = stored.stat().st_mtime_ns

    again = kr.Experiment("big-code-again", executor=kr.LocalExecutor(packager=packager))
    again.add(kr.Partial(big_lib.weigh), name="t")
    assert again.run(kubeconfig=str(world["alice"]))["spec"]["tasks"][0]["code"]["sha256"] == code["sha256"]
    sys.modules.pop("big_lib", None)
    assert _stored_files(world) == [stored] and stored.stat().st_mtime_ns == first  # stored once, not rewritten

    with config.new_client_from_config(config_file=str(world["sb"].kubeconfig)) as api:
        name = created["metadata"]["name"]
        assert wait_for(lambda: _finished(api, "team-a", name), timeout=90, what="the large packaged task") == "Succeeded", \
            get_experiment(api, "team-a", name).get("status")
        (attempt,) = get_experiment(api, "team-a", name)["status"]["tasks"][0]["attempts"]
    where = pathlib.Path(attempt["logRef"]["path"]).parent
    assert expected(world['weights']) in (where / "output.log").read_text()


# -- the attacks -----------------------------------------------------------------------------------


def test_bytes_that_are_not_the_named_package_are_refused_and_nothing_is_stored(world: Any) -> None:
    claimed = hashlib.sha256(b"the real package").hexdigest()
    before = _stored_files(world)
    answer = _put(world, "team-a", claimed, b"a hostile archive!", _token(world["alice"]))
    assert answer.status == 400 and "nothing was stored" in json.loads(answer.data)["message"]
    assert _stored_files(world) == before
    assert not RecordClient(connect(str(world["alice"]))).has_code("team-a", claimed)


def test_uploading_into_another_tenants_namespace_is_forbidden(world: Any) -> None:
    body = b"bob's code"
    sha = hashlib.sha256(body).hexdigest()
    answer = _put(world, "team-a", sha, body, _token(world["bob"]))
    assert answer.status == 403 and 'cannot create resource "experiments"' in json.loads(answer.data)["message"]
    assert not [p for p in _stored_files(world) if p.name.startswith(sha)]


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["none", "bad"])
def test_an_upload_without_a_valid_token_is_401(world: Any, token: str | None) -> None:
    body = b"anyone's code"
    answer = _put(world, "team-a", hashlib.sha256(body).hexdigest(), body, token)
    assert answer.status == 401


def test_an_upload_over_the_documented_limit_is_refused_before_its_body_is_read(world: Any) -> None:
    from kuberun.resource.constants import MAX_PACKAGE_BYTES

    url, pool = _pool(world)
    answer = pool.request("PUT", url + contract.code_path("team-a", "a" * 64), body=b"x",
                          headers={"Authorization": f"Bearer {_token(world['alice'])}",
                                   "Content-Length": str(MAX_PACKAGE_BYTES + 1)}, timeout=30.0)
    assert answer.status == 413 and str(MAX_PACKAGE_BYTES).encode() in answer.data


def test_a_package_stored_for_one_namespace_is_not_there_for_another(world: Any) -> None:
    stored = _stored_files(world)
    if not stored:
        pytest.skip("needs the upload test's package")
    sha = stored[0].name.removesuffix(".tar.gz")
    assert RecordClient(connect(str(world["alice"]))).has_code("team-a", sha)
    assert not RecordClient(connect(str(world["bob"]))).has_code("team-b", sha)  # per namespace
