"""`kuberun list/describe/watch/cancel/suspend/resume/delete` against the API emulator, with the operator running.

The tests play the Job controller (tests/helpers/jobs.py) and the kubelet's pod logs
(tests/helpers/manage.py), so each outcome is chosen, not hoped for.

`kuberun logs` is in ``test_manage_cli_logs``, reproduce/export/apply in ``test_manage_cli_reproduce``,
errors and ``--help`` in ``test_manage_cli_errors``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import kuberun as kr
from tests.helpers.jobs import list_jobs
from tests.helpers.manage import cli, normalise, run_to_success, submit, write_user_kubeconfig
from tests.helpers.operator import get_experiment, phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")


ROOT = Path(__file__).resolve().parents[2]


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
