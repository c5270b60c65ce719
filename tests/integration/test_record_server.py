"""The operator's record server, attacked and used the way tenants would, on a sandbox with two users.

alice may edit in team-a, bob in team-b (``Sandbox.mint_user``). Archive rows and log-store objects
are written directly with the archive and log-store APIs (the operator's write side is wired
elsewhere). Each attack asserts the refusal, its status code, and that nothing of the other
tenant's record (title, uid, log text) is in the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import urllib3

import kuberun as kr
from kuberun.api import connect
from kuberun.errors import LogsUnavailableError
from kuberun.manage.records import RecordClient, discover
from kuberun.resource import recordserver as contract
from tests.helpers import records
from tests.helpers.manage import cli

pytest.importorskip("kuberun_operator.server", reason="the record server is part of the operator extra")

SECRET_TITLE = "bob-secret-title"
SECRET_LOG = "bob-secret-log-line"


def _experiment(ns: str, title: str, **kwargs: Any) -> dict[str, Any]:
    return records.experiment(ns, title, **kwargs)


def _archive(sb: Any, obj: dict[str, Any], log: bytes | None = None) -> None:
    records.archive(sb.archive_url, sb.log_store_dir, obj, log)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("recserver"), operator=False, record_server=True) as sb:
        assert sb.record_server is not None, sb.record_server_error
        alice, bob = sb.mint_user("alice", namespace="team-a"), sb.mint_user("bob", namespace="team-b")
        mine = _experiment("team-a", "alice-run")
        theirs = _experiment("team-b", SECRET_TITLE)
        _archive(sb, mine, b"alice line 1\nalice line 2\n")
        _archive(sb, theirs, f"{SECRET_LOG}\n".encode())
        yield {"sb": sb, "alice": alice, "bob": bob, "mine": mine, "theirs": theirs}


def _raw(world: Any, path: str, headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
    from kuberun.api.kubeconfig import data_file

    url, ca = discover(connect(str(world["alice"])))
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=data_file(ca.encode(), ".crt"), retries=False)
    return pool.request("GET", url + path, headers=headers or {}, timeout=30.0)


def _token(kubeconfig: Path) -> str:
    token = connect(str(kubeconfig)).bearer_token()
    assert token
    return token


def _no_leak(body: bytes, obj: dict[str, Any]) -> None:
    for secret in (SECRET_TITLE, SECRET_LOG, obj["metadata"]["uid"]):
        assert secret.encode() not in body


# -- the attacks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxpY2U6eA=="},
                                     {"Authorization": "Bearer "}], ids=["none", "bad-token", "basic", "empty"])
def test_no_valid_token_is_401_and_says_nothing(world: Any, headers: dict[str, str]) -> None:
    theirs = world["theirs"]["metadata"]
    for path in (contract.archived_path("team-b", theirs["name"]), contract.logs_path("team-b", theirs["name"]),
                 contract.attempts_path("team-b", theirs["name"]), contract.archived_path()):
        resp = _raw(world, path, headers)
        assert resp.status == 401
        assert json.loads(resp.data)["message"] == "Unauthorized"
        _no_leak(resp.data, world["theirs"])


def test_other_namespaces_record_and_logs_are_403_without_a_leak(world: Any) -> None:
    token = _token(world["alice"])
    name = world["theirs"]["metadata"]["name"]
    for path in (contract.archived_path("team-b", name), contract.logs_path("team-b", name),
                 contract.attempts_path("team-b", name), contract.archived_path("team-b")):
        resp = _raw(world, path, {"Authorization": f"Bearer {token}"})
        assert resp.status == 403, path
        assert 'User "alice"' in json.loads(resp.data)["message"]
        _no_leak(resp.data, world["theirs"])


def test_forbidden_looks_the_same_whether_or_not_the_record_exists(world: Any) -> None:
    token = {"Authorization": f"Bearer {_token(world['alice'])}"}
    real = _raw(world, contract.archived_path("team-b", world["theirs"]["metadata"]["name"]), token)
    missing = _raw(world, contract.archived_path("team-b", "no-such-experiment"), token)
    assert real.status == missing.status == 403
    strip = lambda r: json.loads(r.data)["message"].split('"')[2:]  # noqa: E731 - the message minus the name
    assert strip(real) == strip(missing)


def test_a_uid_of_another_namespace_cannot_be_read_through_ones_own(world: Any) -> None:
    token = {"Authorization": f"Bearer {_token(world['alice'])}"}
    mine = world["mine"]["metadata"]
    path = contract.archived_path("team-a", mine["name"]) + f"?uid={world['theirs']['metadata']['uid']}"
    resp = _raw(world, path, token)
    assert resp.status == 404
    _no_leak(resp.data, world["theirs"])
    logs = _raw(world, contract.logs_path("team-a", mine["name"]) + f"?uid={world['theirs']['metadata']['uid']}", token)
    assert logs.status == 404
    _no_leak(logs.data, world["theirs"])
    history = _raw(world, contract.attempts_path("team-a", mine["name"]) + f"?uid={world['theirs']['metadata']['uid']}",
                   token)
    assert history.status == 404
    _no_leak(history.data, world["theirs"])


def test_another_tenants_kept_configmaps_are_refused_by_name_and_by_uid(world: Any) -> None:
    """The archive's copies of bob's ConfigMaps (a config, code) are as private as his record: 403 in his
    namespace, 404 through alice's own name with his uid; alice reads her own."""
    from kuberun_operator.archive import Archive

    theirs, mine = world["theirs"]["metadata"], world["mine"]["metadata"]
    with Archive.open(world["sb"].archive_url) as archive:
        archive.record_config_maps(theirs["uid"], [{"metadata": {"name": "bob-cfg-0"}, "data": {"config": SECRET_LOG}}])
        archive.record_config_maps(mine["uid"], [{"metadata": {"name": "alice-cfg-0"}, "data": {"config": "mine"}}])
    token = {"Authorization": f"Bearer {_token(world['alice'])}"}
    denied = _raw(world, contract.archived_config_maps_path("team-b", theirs["name"]), token)
    assert denied.status == 403
    _no_leak(denied.data, world["theirs"])
    crossed = _raw(world, contract.archived_config_maps_path("team-a", mine["name"]) + f"?uid={theirs['uid']}", token)
    assert crossed.status == 404 and b"bob-cfg" not in crossed.data
    _no_leak(crossed.data, world["theirs"])
    own = RecordClient(connect(str(world["alice"]))).config_maps("team-a", mine["name"], uid=mine["uid"])
    assert [(cm["metadata"]["name"], cm["data"]) for cm in own] == [("alice-cfg-0", {"config": "mine"})]


def test_the_owner_reads_the_archived_attempt_history_and_the_record_carries_it(world: Any) -> None:
    from kuberun_operator.archive import Archive

    obj = _experiment("team-a", "alice-retried")
    task = obj["status"]["tasks"][0]
    task["attempts"][0]["attempt"] = task["attempt"] = 2  # attempts 0 and 1 were dropped by the status budget
    task["attemptsOmitted"] = task["failuresOmitted"] = 2
    _archive(world["sb"], obj)
    mine = obj["metadata"]
    with Archive.open(world["sb"].archive_url) as db:  # as the recorder archived them when they ended
        db.record_attempts(mine["uid"], [("train", {"attempt": n, "phase": "Failed", "exitCode": 40 + n}) for n in (0, 1)])
    client = RecordClient(connect(str(world["alice"])))
    history = {(task, entry["attempt"]): entry.get("exitCode") for task, entry in client.attempts("team-a", mine["name"])}
    assert history == {("train", 0): 40, ("train", 1): 41, ("train", 2): None}
    record = client.archived("team-a", mine["name"])
    restored = record["status"]["tasks"][0]
    assert [a["attempt"] for a in restored["attempts"]] == [0, 1, 2] and "attemptsOmitted" not in restored
    assert record["archive"]["attemptsRestored"] == 2
    bob = RecordClient(connect(str(world["bob"])))
    with pytest.raises(Exception, match="forbidden"):
        bob.attempts("team-a", mine["name"])


def test_a_cross_namespace_list_shows_only_namespaces_the_caller_may_list(world: Any) -> None:
    alice, bob = RecordClient(connect(str(world["alice"]))), RecordClient(connect(str(world["bob"])))
    seen_by_alice = {o["metadata"]["namespace"] for o in alice.archived_page(None)[0]}
    seen_by_bob = {o["metadata"]["namespace"] for o in bob.archived_page(None)[0]}
    assert seen_by_alice == {"team-a"} and seen_by_bob == {"team-b"}
    admin = RecordClient(connect(str(world["sb"].kubeconfig)))
    assert {o["metadata"]["namespace"] for o in admin.archived_page(None)[0]} >= {"team-a", "team-b"}


def test_a_status_log_path_outside_the_local_workdir_is_never_opened(world: Any, tmp_path: Path) -> None:
    secret = tmp_path / "operator-secret.txt"
    secret.write_text("the operator's private file\n")
    obj = _experiment("team-a", "forged-path", phase="Running", attempt_phase="Running",
                      log_ref={"kind": "file", "path": str(secret)}, executor=kr.LocalExecutor())
    obj["status"]["tasks"][0]["attempts"][0]["backendRef"] = {"backend": "local", "idempotencyKey": "k", "id": "1"}
    _archive(world["sb"], obj)
    resp = _raw(world, contract.logs_path("team-a", obj["metadata"]["name"]),
                {"Authorization": f"Bearer {_token(world['alice'])}"})
    assert resp.status == 403
    assert b"private file" not in resp.data
    assert "work directory" in json.loads(resp.data)["message"]


def test_a_status_pointing_at_another_tenants_archived_log_is_ignored(world: Any) -> None:
    from kuberun_operator.logstore import LogStore, paths

    bob = world["theirs"]["metadata"]
    store = LogStore.from_url(str(world["sb"].log_store_dir))
    stolen = store.url_for(paths.log_key("team-b", bob["name"], bob["uid"], "train", 0))
    obj = _experiment("team-a", "forged-archived-log")
    obj["status"]["tasks"][0]["attempts"][0]["archivedLog"] = {"url": stolen, "size": 1, "sha256": "0" * 64}
    _archive(world["sb"], obj)
    resp = _raw(world, contract.logs_path("team-a", obj["metadata"]["name"]),
                {"Authorization": f"Bearer {_token(world['alice'])}"})
    assert resp.status != 200
    _no_leak(resp.data, world["theirs"])


def test_bad_query_values_are_400_not_500(world: Any) -> None:
    token = {"Authorization": f"Bearer {_token(world['alice'])}"}
    for query in ("limit=0", "limit=x", "since=yesterday", "label=noequals", "continue=garbage"):
        resp = _raw(world, contract.archived_path("team-a") + "?" + query, token)
        assert resp.status == 400, query
        assert json.loads(resp.data)["reason"] == "BadRequest"
    resp = _raw(world, contract.logs_path("team-a", world["mine"]["metadata"]["name"]) + "?tail=-1", token)
    assert resp.status == 400


# -- what a tenant does -----------------------------------------------------------------------------


def test_the_owner_reads_the_archived_record_and_log(world: Any) -> None:
    client = RecordClient(connect(str(world["alice"])))
    meta = world["mine"]["metadata"]
    doc = client.archived("team-a", meta["name"])
    assert doc["metadata"]["uid"] == meta["uid"] and doc["spec"]["title"] == "alice-run"
    assert doc["archive"]["archivedAt"] and doc["archive"]["events"][0]["reason"] == "Succeeded"
    assert b"".join(client.logs("team-a", meta["name"], "train", 0)) == b"alice line 1\nalice line 2\n"
    assert b"".join(client.logs("team-a", meta["name"], None, None, tail=1)) == b"alice line 2\n"


def test_cli_lists_describes_and_logs_an_archived_experiment(world: Any) -> None:
    name = world["mine"]["metadata"]["name"]
    listed = cli("list", "--archived", kubeconfig=world["alice"])
    assert listed.code == 0, listed.stderr
    assert name in listed.stdout and "ARCHIVED" in listed.stderr
    assert world["theirs"]["metadata"]["name"] not in listed.stdout
    described = cli("describe", name, kubeconfig=world["alice"])
    assert described.code == 0, described.stderr
    assert "ARCHIVED" in described.stderr and "alice-run" in described.stdout
    as_json = json.loads(cli("describe", name, "-o", "json", kubeconfig=world["alice"]).stdout)
    assert as_json["archived"]["archivedAt"] and as_json["experiment"]["metadata"]["uid"] == world["mine"]["metadata"]["uid"]
    logs = cli("logs", name, "train", kubeconfig=world["alice"])
    assert logs.code == 0, logs.stderr
    assert logs.stdout == "alice line 1\nalice line 2\n"


def test_cli_refuses_another_tenants_archived_experiment(world: Any) -> None:
    name = world["theirs"]["metadata"]["name"]
    for args in (("describe", name, "-n", "team-b"), ("logs", name, "train", "-n", "team-b")):
        result = cli(*args, kubeconfig=world["alice"])
        assert result.code == 1
        assert SECRET_TITLE not in result.stdout + result.stderr and SECRET_LOG not in result.stdout + result.stderr


def test_cli_reproduces_an_archived_experiment(world: Any) -> None:
    name = world["mine"]["metadata"]["name"]
    result = cli("reproduce", name, kubeconfig=world["alice"])
    assert result.code == 0, result.stderr
    assert "archived record" in result.stdout
    created = result.stdout.split()[1]
    obj = connect(str(world["alice"])).get(f"/apis/kuberun.dev/v1alpha1/namespaces/team-a/experiments/{created}",
                                           __import__("kuberun.api", fromlist=["Op"]).Op("get", "experiments", "team-a", created))
    assert obj["metadata"]["labels"]["kuberun.dev/reproduced-from"] == name
    assert obj["spec"]["submittedBy"] == "alice"


def _live(sb: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """Create ``obj`` in the API server as the administrator, with its status (no operator runs here)."""
    from kuberun.api import Op

    admin = connect(str(sb.kubeconfig))
    base = "/apis/kuberun.dev/v1alpha1/namespaces/team-a/experiments"
    body = {k: v for k, v in obj.items() if k != "status"}
    body["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in ("uid", "creationTimestamp")}
    body["spec"]["submittedBy"] = "kuberun-sandbox"
    created = admin.request("POST", base, Op("create", "experiments", "team-a"), body=body)
    name = created["metadata"]["name"]
    created["status"] = obj["status"]
    return admin.request("PUT", f"{base}/{name}/status", Op("update", "experiments/status", "team-a", name), body=created)


def test_bridged_logs_of_a_live_experiment_need_no_backend_config(world: Any) -> None:
    """A live Slurm attempt whose log was archived: `kuberun logs` reads it through the server, as alice."""
    live = _live(world["sb"], _experiment("team-a", "live-slurm"))
    name = live["metadata"]["name"]
    records.store_log(world["sb"].log_store_dir, live, b"slurm says hi\n")
    result = cli("logs", name, "train", kubeconfig=world["alice"])
    assert result.code == 0, result.stderr
    assert result.stdout == "slurm says hi\n"
    assert "ARCHIVED" not in result.stderr


def test_a_collected_pods_archived_log_is_read_through_the_server(world: Any) -> None:
    """The Job and pod are gone (TTL, cleanup): `kuberun logs` falls back to the operator's copy."""
    obj = _experiment("team-a", "pod-gone", executor=kr.KubernetesExecutor())
    attempt = obj["status"]["tasks"][0]["attempts"][0]
    attempt["backendRef"] = {"backend": "kubernetes", "idempotencyKey": "k", "id": "pod-gone-train-0"}
    attempt["logRef"] = {"kind": "pod"}
    live = _live(world["sb"], obj)
    name = live["metadata"]["name"]
    missing = cli("logs", name, "train", kubeconfig=world["alice"])
    assert missing.code == 1 and "is gone" in missing.stderr  # no copy yet: the original reason
    records.store_log(world["sb"].log_store_dir, live, b"from the pod, kept\n")
    result = cli("logs", name, "train", kubeconfig=world["alice"])
    assert result.code == 0, result.stderr
    assert result.stdout == "from the pod, kept\n"


def test_an_archived_het_jobs_log_keeps_every_component_and_serves_one_by_its_label(world: Any) -> None:
    """The recorder copies a het job's log as every component's labelled lines (the Slurm bridge's logs()):
    `kuberun logs` shows them all, `--component I` one (unlabelled, its own --tail), and a component that is
    not there is refused naming those that are, by the CLI and by the server itself."""
    het = kr.SlurmExecutor(cluster="c1", heterogeneous=True, resource_group=[kr.SlurmHetComponent(), kr.SlurmHetComponent()])
    obj = _experiment("team-a", "het-archived", executor=het)
    _archive(world["sb"], obj, b"[het-0] trainer 1\n[het-0] trainer 2\n[het-1] loader 1\n[het-1] loader 2\n")
    name = obj["metadata"]["name"]
    every = cli("logs", name, "train", kubeconfig=world["alice"])
    assert every.code == 0, every.stderr
    assert every.stdout.splitlines() == ["[het-0] trainer 1", "[het-0] trainer 2", "[het-1] loader 1", "[het-1] loader 2"]
    one = cli("logs", name, "--task", "train", "--component", "1", kubeconfig=world["alice"])
    assert (one.code, one.stdout) == (0, "loader 1\nloader 2\n"), one.stderr
    assert cli("logs", name, "train", "--component", "0", "--tail", "1", kubeconfig=world["alice"]).stdout == "trainer 2\n"
    last = cli("logs", name, "train", "--tail", "1", kubeconfig=world["alice"]).stdout  # the last line of each, as live
    assert last == "[het-0] trainer 2\n[het-1] loader 2\n"
    as_json = [json.loads(line) for line in cli("logs", name, "-o", "json", kubeconfig=world["alice"]).stdout.splitlines()]
    assert [(r["component"], r["line"]) for r in as_json][1:3] == [(0, "trainer 2"), (1, "loader 1")]
    two = cli("logs", name, "train", "--task", "other", kubeconfig=world["alice"])
    assert two.code == 1 and "two tasks named" in two.stderr
    refused = cli("logs", name, "train", "--component", "2", kubeconfig=world["alice"])
    assert refused.code == 1 and "has no het component 2: its components are 0-1" in refused.stderr
    answer = _raw(world, contract.logs_path("team-a", name) + "?task=train&component=2",
                  {"Authorization": f"Bearer {_token(world['alice'])}"})
    assert answer.status == 400 and b"its components are 0-1" in answer.data
    plain = cli("logs", world["mine"]["metadata"]["name"], "train", "--component", "0", kubeconfig=world["alice"])
    assert plain.code == 1 and "is not a heterogeneous Slurm job" in plain.stderr


def test_the_sdk_reads_a_het_jobs_components_from_the_server(world: Any) -> None:
    """``Experiment.get(...).logs(task, component=)``: the same labelled lines and per-component reads as the CLI."""
    het = kr.SlurmExecutor(cluster="c1", heterogeneous=True, resource_group=[kr.SlurmHetComponent(), kr.SlurmHetComponent()])
    live = _live(world["sb"], _experiment("team-a", "het-live", executor=het))
    records.store_log(world["sb"].log_store_dir, live, b"[job] setup\n[het-0] zero\n[het-1] one\n")
    exp = kr.Experiment.get(live["metadata"]["name"], namespace="team-a", kubeconfig=str(world["alice"]))
    assert list(exp.logs("train")) == ["[job] setup", "[het-0] zero", "[het-1] one"]
    assert list(exp.logs("train", component=1)) == ["one"]
    with pytest.raises(LogsUnavailableError, match="its components are 0-1"):
        list(exp.logs("train", component=3))
