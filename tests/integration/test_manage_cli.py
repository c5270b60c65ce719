"""`kuberun list/describe/logs/cancel/.../watch` against the API emulator, with the operator running.

The tests play the Job controller (tests/helpers/jobs.py) and the kubelet's pod logs
(tests/helpers/manage.py), so each outcome is chosen, not hoped for.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import kuberun as kr
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.manage import LogServer, cli, normalise, submit, write_user_kubeconfig
from tests.helpers.operator import get_experiment, phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")
ROOT = Path(__file__).resolve().parents[2]


def run_to_success(api: Any, ns: str, name: str, logserver: LogServer | None = None, lines: list[str] | None = None) -> None:
    """Let the operator create the Job, finish it (exit 0), serve its pod's log, wait for Succeeded."""
    (job,) = wait_for(lambda: [j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}")], what="job")
    if logserver is not None:
        logserver.add(ns, f"{job}-pod", lines or ["step 1 loss 0.9", "step 2 loss 0.5", "done"])
    finish_job(api, ns, job)
    wait_for(lambda: phase(api, ns, name) == "Succeeded", what="Succeeded")


# -- list ---------------------------------------------------------------------------------------


def test_list_shows_title_phase_tasks_backends_submitter_age_newest_first(operator, kubeconfig, k8s_api_client, namespace):
    first = submit(kubeconfig, namespace, "alpha")
    time.sleep(1.1)  # creationTimestamp has one-second resolution
    second = submit(kubeconfig, namespace, "beta", build=lambda e: (e.add(kr.Script(command=["true"]), name="a"),
                                                                     e.add(kr.Script(command=["true"]), name="b")))
    for name in (first, second):
        wait_for(lambda name=name: phase(k8s_api_client, namespace, name) == "Running", what="Running")
    result = cli("list", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0, result.stderr
    assert normalise(result.stdout, {first: "alpha-xxxxx", second: "beta-xxxxx"}) == (
        "NAME TITLE PHASE TASKS BACKENDS SUBMITTER AGE\n"
        "beta-xxxxx beta Running 0/2 kubernetes kuberun-sandbox <age>\n"
        "alpha-xxxxx alpha Running 0/1 kubernetes kuberun-sandbox <age>\n"
    )


def test_list_filters_by_title_user_phase_selector_and_since(operator, kubeconfig, k8s_api_client, namespace, tmp_path, apiserver):
    bob = write_user_kubeconfig(tmp_path / "bob", apiserver.url, "bob")
    a = submit(kubeconfig, namespace, "alpha", project="vision")
    b = submit(bob, namespace, "beta")
    run_to_success(k8s_api_client, namespace, b)

    def names(*args: str) -> list[str]:
        result = cli("list", "-o", "json", *args, kubeconfig=kubeconfig, namespace=namespace)
        assert result.code == 0, result.stderr
        return [o["metadata"]["name"] for o in json.loads(result.stdout)["items"]]

    assert names("--title", "alpha") == [a]
    assert names("--user", "bob") == [b]
    assert names("--phase", "succeeded") == [b]
    assert names("-l", "kuberun.dev/project=vision") == [a]
    assert sorted(names("--since", "1h")) == sorted([a, b])
    old = "2020-01-01T00:00:00Z"
    assert names("--since", "1h", "--title", "nothing") == [] and old  # since excludes nothing new here
    bad = cli("list", "--since", "yesterday", kubeconfig=kubeconfig, namespace=namespace)
    assert bad.code == 1 and bad.stderr.startswith("error: invalid duration")


def test_list_paginates_server_side_over_several_pages(kubeconfig, namespace, apiserver):
    created = {submit(kubeconfig, namespace, f"page-{i}") for i in range(7)}
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        before = len(apiserver.request_log)
        result = cli("list", "-o", "json", "--limit", "3", *(["--continue", token] if token else []),
                     kubeconfig=kubeconfig, namespace=namespace)
        assert result.code == 0, result.stderr
        lists = [r for r in apiserver.request_log[before:] if r.verb == "list" and r.resource == "experiments"]
        assert len(lists) == 1  # one request of `limit` objects per page
        answer = json.loads(result.stdout)
        items = answer["items"]
        assert answer["metadata"].get("continue") == (result.stderr.strip().split("--continue ")[1] if "next page" in result.stderr else None)
        seen += [o["metadata"]["name"] for o in items]
        pages += 1
        if "next page" not in result.stderr:
            break
        assert len(items) == 3
        token = result.stderr.strip().split("--continue ")[1]
    assert pages == 3 and sorted(seen) == sorted(created)


def test_list_outputs_json_yaml_and_wide_and_all_namespaces(kubeconfig, namespace, k8s_api_client):
    name = submit(kubeconfig, namespace, "formats", project="p1")
    as_yaml = yaml.safe_load(cli("list", "-o", "yaml", kubeconfig=kubeconfig, namespace=namespace).stdout)
    assert as_yaml["kind"] == "List" and as_yaml["items"][0]["metadata"]["name"] == name
    wide = cli("list", "-o", "wide", kubeconfig=kubeconfig, namespace=namespace).stdout
    assert "PROJECT" in wide and "REPRODUCED-FROM" in wide and " p1 " in wide
    everywhere = cli("list", "-A", "--title", "formats", kubeconfig=kubeconfig).stdout
    assert everywhere.split()[0] == "NAMESPACE" and namespace in everywhere
    assert cli("list", "-o", "xml", kubeconfig=kubeconfig).stderr == "error: unknown output format 'xml': use json, yaml or wide\n"


# -- describe, logs, watch ----------------------------------------------------------------------


def test_describe_shows_config_tree_attempts_conditions_and_lineage(operator, kubeconfig, k8s_api_client, namespace, logserver):
    name = submit(kubeconfig, namespace, "described", project="vision")
    run_to_success(k8s_api_client, namespace, name, logserver)
    child = cli("reproduce", name, "train.lr=0.5", kubeconfig=kubeconfig, namespace=namespace)
    child_name = child.stdout.split()[1]
    wait_for(lambda: ((get_experiment(k8s_api_client, namespace, name).get("status") or {}).get("lineage") or {}).get("count") == 1,
             what="the operator records the reproduction on the original's status.lineage")
    result = cli("describe", name, kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0, result.stderr
    text = normalise(result.stdout, {name: "described-xxxxx", child_name: "described-yyyyy"})
    head, _, rest = text.partition("Tasks:")
    assert "Name: described-xxxxx\nNamespace: <ns>\nTitle: described\nProject: vision\nSubmitted by: kuberun-sandbox\n" in head
    assert "Phase: Succeeded (1/1 tasks)" in head and "Reproductions: described-yyyyy" in head
    assert rest.split("Conditions:")[0] == (
        "\n train [Succeeded] kubernetes\n"
        " fiddle config, sha256 <digest>, 700 bytes inline\n"
        " Partial[tests.fixtures.tasks:train]\n"
        " model = Config[tests.fixtures.tasks:Model]\n"
        " width = 8\n"
        " lr = 0.1\n"
        " ATTEMPT PHASE SUBMITTED STARTED FINISHED EXIT BACKEND ID REASON\n"
        " 1 Succeeded <age> <age> <age> 0 kubernetes described-xxxxx-train-1 Completed\n\n"
    )
    assert "Succeeded True" in rest.split("Conditions:")[1]
    assert "Events: <none>" not in rest  # the operator's Events about this Experiment
    described_child = normalise(cli("describe", child_name, kubeconfig=kubeconfig, namespace=namespace).stdout)
    assert f"Reproduced from: {name} (uid " in described_child and "lr = 0.5" in described_child
    as_json = json.loads(cli("describe", name, "-o", "json", kubeconfig=kubeconfig, namespace=namespace).stdout)
    assert (as_json["reproductions"], as_json["reproductionCount"]) == ([child_name], 1)
    child_uid = get_experiment(k8s_api_client, namespace, child_name)["metadata"]["uid"]
    assert as_json["experiment"]["status"]["lineage"]["recent"][0]["uid"] == child_uid


def test_describe_never_imports_the_task_code(kubeconfig, namespace, tmp_path):
    module = tmp_path / "secret_module_xyz.py"
    module.write_text("raise SystemExit('imported!')\ndef f(x=1):\n    return x\n")
    # The submitting process defines the module in memory; the file on disk explodes when imported.
    code = (
        "import sys, types, kuberun as kr\n"
        "m = types.ModuleType('secret_module_xyz'); exec('def f(x=1):\\n    return x', m.__dict__)\n"
        "sys.modules['secret_module_xyz'] = m\n"
        f"e = kr.Experiment('secret', namespace={namespace!r}); e.add(kr.Partial(m.f, x=2), name='t')\n"
        f"print(e.run(kubeconfig={str(kubeconfig)!r})['metadata']['name'])\n"
    )
    name = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # importing the module would exit with "imported!"
    proc = subprocess.run([sys.executable, "-m", "kuberun.cli", "describe", name, "--kubeconfig", str(kubeconfig), "-n", namespace],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Partial[secret_module_xyz:f]" in proc.stdout and "x = 2" in proc.stdout


def test_logs_streams_the_pod_log_with_tail_and_follow(operator, kubeconfig, k8s_api_client, namespace, logserver):
    name = submit(kubeconfig, namespace, "logged")
    run_to_success(k8s_api_client, namespace, name, logserver, [f"line {i}" for i in range(5)])
    assert cli("logs", name, "train", kubeconfig=kubeconfig, namespace=namespace).stdout == "".join(f"line {i}\n" for i in range(5))
    assert cli("logs", name, "--tail", "2", kubeconfig=kubeconfig, namespace=namespace).stdout == "line 3\nline 4\n"
    followed = cli("logs", name, "-f", "--attempt", "1", kubeconfig=kubeconfig, namespace=namespace)
    assert followed.stdout.splitlines()[-1] == "line 4" and logserver.follow_requests == 1
    missing = cli("logs", name, "eval", kubeconfig=kubeconfig, namespace=namespace)
    assert missing.code == 1 and missing.stderr == f"error: task 'eval' not found in experiment '{name}' (tasks: train)\n"
    assert cli("logs", name, "--attempt", "7", kubeconfig=kubeconfig, namespace=namespace).stderr.startswith("error: task 'train' has no attempt 7")


def test_logs_reads_local_executor_files(kubeconfig, namespace, k8s_api_client, tmp_path):
    name = submit(kubeconfig, namespace, "localrun")
    log = tmp_path / "output.log"
    log.write_text("".join(f"local {i}\n" for i in range(100)))
    _patch_status(k8s_api_client, namespace, name, {
        "attempt": 1, "phase": "Succeeded", "finishTime": "2026-01-01T00:00:00Z", "exitCode": 0,
        "backendRef": {"backend": "local", "idempotencyKey": "k", "id": "123"}, "logRef": {"kind": "file", "path": str(log)}})
    assert cli("logs", name, "--tail", "3", kubeconfig=kubeconfig, namespace=namespace).stdout == "local 97\nlocal 98\nlocal 99\n"
    assert len(cli("logs", name, "-f", kubeconfig=kubeconfig, namespace=namespace).stdout.splitlines()) == 100


def _patch_status(api: Any, namespace: str, name: str, attempt: dict[str, Any]) -> None:
    from kubernetes import client

    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        "kuberun.dev", "v1alpha1", namespace, "experiments", name,
        {"status": {"phase": "Succeeded", "tasks": [{"name": "train", "phase": "Succeeded", "attempt": 1, "attempts": [attempt]}]}})


class FakeLepton:
    """Stands in for the Lepton bridge: records how `kuberun logs` drives it."""

    calls: list[Any] = []

    def __init__(self, config: Any, settings: Any) -> None:
        self.calls.append(("init", [w.name for w in config.workspaces]))

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def logs(self, exp: Any, task: str, attempt: int, follow: bool, tail: int | None) -> Any:
        self.calls.append(("logs", exp.metadata.name, task, attempt, follow, tail))
        for i in range(3):
            yield f"remote {i}\n".encode()


def test_logs_of_bridged_tasks_stream_from_the_backend_built_from_its_config(kubeconfig, namespace, k8s_api_client, tmp_path, monkeypatch):
    name = submit(kubeconfig, namespace, "bridged")
    _patch_status(k8s_api_client, namespace, name, {
        "attempt": 1, "phase": "Succeeded", "exitCode": 0,
        "backendRef": {"backend": "lepton", "idempotencyKey": "k", "id": "job-1", "cluster": "prod"},
        "logRef": {"kind": "lepton", "path": "prod/job-1"}})
    monkeypatch.delenv("KUBERUN_BACKEND_CONFIG", raising=False)
    monkeypatch.delenv("KUBERUN_SERVER", raising=False)
    assert cli("logs", name, kubeconfig=kubeconfig, namespace=namespace).stderr == (
        "error: logs of lepton tasks are served by the operator's record server, and this cluster publishes none "
        "(no ConfigMap kuberun-system/kuberun-endpoints; $KUBERUN_SERVER names one); an administrator can read them "
        "with --backend-config FILE\n")
    config = tmp_path / "backends.yaml"
    config.write_text("lepton:\n  workspaces: [{name: prod, url: 'http://lepton.invalid'}]\n")
    monkeypatch.setattr("kuberun_operator.backends.lepton.LeptonBackend", FakeLepton)
    FakeLepton.calls = []
    result = cli("logs", name, "--backend-config", str(config), "--tail", "5", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0 and result.stdout == "remote 0\nremote 1\nremote 2\n", result.stderr
    assert FakeLepton.calls == [("init", ["prod"]), "start", ("logs", name, "train", 1, False, 5), "stop"]


def test_watch_shows_progress_until_done_and_exits_by_outcome(operator, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, "watched")
    finisher = threading.Thread(target=run_to_success, args=(k8s_api_client, namespace, name))
    finisher.start()
    result = cli("watch", name, "--interval", "0.1", kubeconfig=kubeconfig, namespace=namespace)
    finisher.join()
    assert result.code == 0 and "Succeeded" in result.stdout and "1/1 tasks" in result.stdout


# -- lifecycle ----------------------------------------------------------------------------------


def test_cancel_stop_suspend_resume_and_delete_change_the_record(operator, kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, "lifecycle")
    wait_for(lambda: list_jobs(k8s_api_client, namespace, f"kuberun.dev/experiment={name}"), what="job")

    def spec() -> dict[str, Any]:
        return get_experiment(k8s_api_client, namespace, name)["spec"]

    assert cli("suspend", name, kubeconfig=kubeconfig, namespace=namespace).stdout == f"experiment {name} suspended\n"
    assert spec()["suspend"] is True
    assert cli("resume", name, kubeconfig=kubeconfig, namespace=namespace).code == 0
    assert "suspend" not in spec()
    assert cli("cancel", name, "--stop", kubeconfig=kubeconfig, namespace=namespace).stdout == f"experiment {name} stopping\n"
    assert spec()["shutdown"] == "Stop"
    assert cli("cancel", name, kubeconfig=kubeconfig, namespace=namespace).code == 0
    assert spec()["shutdown"] == "Terminate"
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Cancelled", what="Cancelled")
    assert cli("cancel", name, "--stop", kubeconfig=kubeconfig, namespace=namespace).code == 0  # never de-escalates
    assert spec()["shutdown"] == "Terminate"
    assert cli("delete", name, kubeconfig=kubeconfig, namespace=namespace).stdout == f"experiment {name} deleted\n"
    gone = cli("describe", name, kubeconfig=kubeconfig, namespace=namespace)
    assert gone.code == 1 and gone.stderr == f'error: experiment "{name}" not found in namespace "{namespace}"\n'


# -- reproduce, apply, export -------------------------------------------------------------------


def _config(k8s_api_client: Any, namespace: str, name: str, task: str = "train") -> Any:
    obj = get_experiment(k8s_api_client, namespace, name)
    return kr.Experiment.from_resource(obj).tasks[task].config, obj


def test_reproduce_applies_overrides_links_origin_and_sets_image(kubeconfig, k8s_api_client, namespace):
    name = submit(kubeconfig, namespace, "repro")
    result = cli("reproduce", name, "train.lr=3e-4", "model.width=16", "train.model.depth=[1, 2]", "--executor-image", "img:2",
                 "--name", "repro-again", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0 and result.stdout == f"experiment repro-again created (reproduced from {name})\n"
    config, obj = _config(k8s_api_client, namespace, "repro-again")
    assert (config.lr, config.model.width, config.model.depth) == (3e-4, 16, [1, 2])
    assert obj["metadata"]["labels"]["kuberun.dev/reproduced-from"] == name
    origin_uid = get_experiment(k8s_api_client, namespace, name)["metadata"]["uid"]
    assert obj["metadata"]["annotations"]["kuberun.dev/reproduced-from-uid"] == origin_uid
    assert obj["spec"]["tasks"][0]["executor"]["kubernetes"]["image"] == "img:2"
    assert obj["spec"]["source"] == get_experiment(k8s_api_client, namespace, name)["spec"]["source"]
    assert cli("reproduce", name, "train.opt=adam", kubeconfig=kubeconfig, namespace=namespace).stderr == (
        "error: invalid override path 'train.opt': train has no attribute 'opt' (has: lr, model, steps)\n")


def test_reproduce_rejects_bad_override_paths_in_one_line(kubeconfig, namespace):
    def build(exp: kr.Experiment) -> None:
        exp.add(kr.Partial(tasks.add, a=1), name="a")
        exp.add(kr.Partial(tasks.add, a=2), name="b")
        exp.add(kr.Script(command=["true"]), name="s")

    name = submit(kubeconfig, namespace, "many", build=build)
    cases = {
        "a=1": "error: invalid override path 'a': start with a task name (a, b)\n",
        "b.a..x=1": "error: invalid override path 'b.a..x': use dotted names and [index] (e.g. train.model.width)\n",
        "s.x=1": "error: invalid override 's.x': task 's' is a script task; script tasks take no config overrides (tasks with a config: a, b)\n",
        "a.a.x=1": "error: invalid override path 'a.a.x': int has no attribute 'x'\n",
        "lr": "error: invalid override 'lr': expected KEY=VALUE (e.g. train.lr=3e-4)\n",
    }
    for override, message in cases.items():
        result = cli("reproduce", name, override, kubeconfig=kubeconfig, namespace=namespace)
        assert (result.code, result.stderr) == (1, message), override
    ok = cli("reproduce", name, "b.b=5", "a.a='x'", kubeconfig=kubeconfig, namespace=namespace)
    assert ok.code == 0, ok.stderr


def test_export_then_apply_recreates_the_experiment_with_its_config_maps(kubeconfig, k8s_api_client, namespace, tmp_path):
    blob = os.urandom(160 * 1024).hex()  # incompressible enough to spill to ConfigMaps
    name = submit(kubeconfig, namespace, "big", build=lambda e: e.add(kr.Partial(tasks.take_blob, blob=blob), name="t"))
    exported = cli("export", name, kubeconfig=kubeconfig, namespace=namespace).stdout
    docs = list(yaml.safe_load_all(exported))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Experiment"]
    assert "status" not in docs[-1] and "uid" not in docs[-1]["metadata"]
    original = get_experiment(k8s_api_client, namespace, name)
    assert cli("delete", name, kubeconfig=kubeconfig, namespace=namespace).code == 0
    wait_for(lambda: cli("describe", name, kubeconfig=kubeconfig, namespace=namespace).code == 1, what="deleted")
    path = tmp_path / "exported.yaml"
    path.write_text(exported)
    other = f"{namespace}-b"
    from kubernetes import client

    client.CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": other}})
    applied = cli("apply", "-f", str(path), "--user", "carol", kubeconfig=kubeconfig, namespace=other)
    assert applied.code == 0 and applied.stdout == f"experiment {name} created\n", applied.stderr
    again = get_experiment(k8s_api_client, other, name)
    assert again["spec"]["tasks"] == original["spec"]["tasks"] and again["spec"]["submittedBy"] == "carol"
    assert again["metadata"]["labels"]["kuberun.dev/submitted-by"] == "carol"
    config, _ = (kr.Experiment.from_resource(again, {d["metadata"]["name"]: d["data"]["config"] for d in docs[:1]}).tasks["t"].config, None)
    assert config.blob == blob


def test_apply_runs_a_python_file_and_records_the_context_user(kubeconfig, k8s_api_client, namespace, tmp_path):
    script = tmp_path / "exp.py"
    script.write_text(
        "import kuberun as kr\nfrom tests.fixtures import tasks\n"
        "with kr.Experiment('from-py') as exp:\n"
        "    exp.add(kr.Partial(tasks.add, a=5), name='t')\n"
        "    exp.run()\n"
    )
    result = cli("apply", "-f", str(script), kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 0, result.stderr
    name = result.stdout.split()[1]
    config, obj = _config(k8s_api_client, namespace, name, "t")
    assert config.a == 5 and obj["spec"]["submittedBy"] == "kuberun-sandbox"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    assert cli("apply", "-f", str(bad), kubeconfig=kubeconfig, namespace=namespace).stderr == (
        "error: apply takes Experiments and their ConfigMaps, not Secret\n")


# -- errors -------------------------------------------------------------------------------------


def test_unreachable_cluster_is_one_line_and_nonzero(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    dead = write_user_kubeconfig(tmp_path / "dead", f"http://127.0.0.1:{port}", "alice")
    for args in (["list"], ["describe", "x"], ["cancel", "x"]):
        result = cli(*args, kubeconfig=dead)
        assert (result.code, result.stderr) == (1, f"error: cannot reach the Kubernetes API at http://127.0.0.1:{port}: connection refused\n")
    missing = cli("list", kubeconfig=tmp_path / "nope")
    assert missing.code == 1 and missing.stderr.startswith("error: no cluster configured: no kubeconfig at")


def test_forbidden_names_the_missing_rbac_verb_and_resource(kubeconfig, namespace, apiserver, tmp_path):
    from kuberun_sandbox.kubeconfig import write_kubeconfig

    name = submit(kubeconfig, namespace, "guarded")
    # a user the sandbox's RBAC gives nothing in this namespace: its real 403s name the rule
    carol = write_kubeconfig(tmp_path / "carol", apiserver.url, namespace, user="carol", token=apiserver.auth.mint("carol"))
    result = cli("list", kubeconfig=carol, namespace=namespace)
    assert (result.code, result.stderr) == (1, f'error: forbidden: user "carol" may not list experiments.kuberun.dev in namespace "{namespace}"; '
                                                "ask for RBAC verb 'list' on 'experiments.kuberun.dev'\n")
    assert "may not get experiments.kuberun.dev" in cli("describe", name, kubeconfig=carol, namespace=namespace).stderr


def test_a_403_that_is_not_rbac_shows_the_servers_reason(kubeconfig, namespace, apiserver):
    apiserver.inject(status=403, verb="list", resource="experiments", namespace=namespace)  # e.g. an admission policy
    result = cli("list", kubeconfig=kubeconfig, namespace=namespace)
    assert result.code == 1 and result.stderr.startswith("error: forbidden: injected fault"), result.stderr
    assert "ask for RBAC verb" not in result.stderr


def test_forbidden_message_from_a_real_api_server_body_names_its_rule():
    from kuberun.api.client import forbidden

    body = {"message": 'experiments.kuberun.dev "x" is forbidden: User "bob" cannot patch resource "experiments" '
                       'in API group "kuberun.dev" in the namespace "team-a"'}
    assert str(forbidden(body, "get", "x", "team-a")) == (
        "forbidden: user \"bob\" may not patch experiments.kuberun.dev in namespace \"team-a\"; "
        "ask for RBAC verb 'patch' on 'experiments.kuberun.dev'")


def test_help_is_instant_and_imports_no_kubernetes_client():
    for module in ("kuberun.commandline", "kuberun.cli"):  # the typer app, and kr.cli's lazy namespace
        code = f"import sys, {module}; print(sorted(m for m in ('kubernetes', 'fiddle', 'pydantic', 'rich.table') if m in sys.modules))"
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kuberun.cli", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - start < 1.0
