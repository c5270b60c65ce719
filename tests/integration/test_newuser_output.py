"""Output to a pipe is plain and line-oriented; rich only on a terminal; ``-o json|yaml`` on read commands.

Issue 16 item 11: piped, ``watch`` glued its frames (``━━━TASK  PHASE``), ``describe`` padded its
tables with trailing spaces and printed commands unquoted. These run the CLI as a subprocess with
stdout to a pipe (and once to a pseudo-terminal) and assert the structure of what comes out.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import kuberun as kr
from tests.helpers.manage import run_to_success, submit
from tests.helpers.operator import phase, wait_for

pytestmark = pytest.mark.usefixtures("crd")
ROOT = Path(__file__).resolve().parents[2]
BOX = re.compile("[\u2500-\u259f]")  # box drawing and block elements: rich's rules, bars and borders
COMMAND = ["echo", "a b", "it's"]


def kuberun(kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``kuberun ARGS`` in a subprocess, stdout and stderr to pipes."""
    return subprocess.run([sys.executable, "-m", "kuberun.cli", *args, "--kubeconfig", str(kubeconfig), "-n", namespace],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def assert_plain(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines, "no output"
    assert not [line for line in lines if line != line.rstrip()], "trailing spaces"
    assert not BOX.search(text) and "\x1b[" not in text, "box drawing or escapes in piped output"
    return lines


def _script_experiment(kubeconfig: Path, namespace: str, title: str) -> str:
    return submit(kubeconfig, namespace, title, build=lambda e: e.add(kr.Script(command=COMMAND), name="s"))


def test_piped_list_is_one_plain_record_per_line(operator, kubeconfig, k8s_api_client, namespace):
    names = [_script_experiment(kubeconfig, namespace, t) for t in ("one", "two")]
    for name in names:
        wait_for(lambda name=name: phase(k8s_api_client, namespace, name) == "Running", what="Running")
    lines = assert_plain(kuberun(kubeconfig, namespace, "list").stdout)
    assert lines[0].split() == ["NAME", "TITLE", "PHASE", "TASKS", "BACKENDS", "SUBMITTER", "AGE"]
    rows = [line.split() for line in lines[1:]]
    assert sorted(r[0] for r in rows) == sorted(names) and all(len(r) == 7 and r[3] == "0/1" for r in rows)


def test_piped_describe_is_plain_and_quotes_commands_as_a_shell_reads_them(operator, kubeconfig, k8s_api_client, namespace):
    name = _script_experiment(kubeconfig, namespace, "quoted")
    run_to_success(k8s_api_client, namespace, name)
    lines = assert_plain(kuberun(kubeconfig, namespace, "describe", name).stdout)
    (shown,) = [line.strip() for line in lines if line.strip().startswith("$ ")]
    assert shlex.split(shown[2:]) == COMMAND
    assert "Tasks:" in lines and "Conditions:" in lines and "Events:" in lines  # headings on lines of their own
    for machine in ("json", "yaml"):
        out = kuberun(kubeconfig, namespace, "describe", name, "-o", machine).stdout
        doc = json.loads(out) if machine == "json" else yaml.safe_load(out)
        assert doc["experiment"]["metadata"]["name"] == name and doc["experiment"]["status"]["phase"] == "Succeeded"
        assert doc["reproductions"] == [] and any(e["reason"] == "ExperimentSucceeded" for e in doc["events"])


def _watch_while_finishing(kubeconfig: Path, namespace: str, api: Any, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    finisher = threading.Thread(target=run_to_success, args=(api, namespace, name))
    finisher.start()
    try:
        return kuberun(kubeconfig, namespace, "watch", name, "--interval", "0.1", *args)
    finally:
        finisher.join(timeout=60)


def test_piped_watch_prints_one_line_per_change(operator, kubeconfig, k8s_api_client, namespace):
    name = _script_experiment(kubeconfig, namespace, "watched")
    result = _watch_while_finishing(kubeconfig, namespace, k8s_api_client, name)
    assert result.returncode == 0, result.stderr
    lines = assert_plain(result.stdout)
    assert all(re.fullmatch(r"(experiment|task) \S+ [A-Z][a-z]+( .*)?", line) for line in lines), lines
    assert len(lines) == len(set(lines)), "a line repeated: only changes are printed"
    assert lines[-1] == f"experiment {name} Succeeded 1/1 tasks"
    assert "task s Succeeded attempt=1 exit=0 reason=Completed" in lines


def test_watch_json_prints_one_object_per_change(operator, kubeconfig, k8s_api_client, namespace):
    name = _script_experiment(kubeconfig, namespace, "watchedjson")
    result = _watch_while_finishing(kubeconfig, namespace, k8s_api_client, name, "-o", "json")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    versions = [o["metadata"]["resourceVersion"] for o in objects]
    assert len(versions) == len(set(versions)) and objects[-1]["status"]["phase"] == "Succeeded"


def test_logs_json_is_one_object_per_log_line(operator, kubeconfig, k8s_api_client, namespace, logserver):
    name = _script_experiment(kubeconfig, namespace, "jsonlogs")
    run_to_success(k8s_api_client, namespace, name, logserver, ["first", "second {braces}"])
    result = kuberun(kubeconfig, namespace, "logs", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"task": "s", "attempt": 1, "line": "first"}, {"task": "s", "attempt": 1, "line": "second {braces}"}]
    bad = kuberun(kubeconfig, namespace, "logs", name, "-o", "yaml")
    assert bad.returncode == 1 and bad.stderr == "error: unknown output format 'yaml': logs take -o json (one object per line)\n"


def test_list_of_a_dependency_cycle_shows_zero_of_its_task_count(operator, kubeconfig, k8s_api_client, namespace):
    """Issue 16 item 8 (SDK side): an InvalidSpec experiment has no status.progress; TASKS shows 0/N."""
    from kubernetes import client

    exp = kr.Experiment("cycle", namespace=namespace)
    exp.add(kr.Script(command=["true"]), name="a")
    exp.add(kr.Script(command=["true"]), name="b")
    body = exp.build()[0].to_dict()
    body["spec"]["tasks"][0]["dependsOn"], body["spec"]["tasks"][1]["dependsOn"] = ["b"], ["a"]
    client.CustomObjectsApi(k8s_api_client).create_namespaced_custom_object("kuberun.dev", "v1alpha1", namespace, "experiments", body)
    wait_for(lambda: phase(k8s_api_client, namespace, exp.name) == "Failed", what="InvalidSpec")
    (row,) = assert_plain(kuberun(kubeconfig, namespace, "list").stdout)[1:]
    assert row.split()[:4] == [exp.name, "cycle", "Failed", "0/2"]


def _on_a_terminal(kubeconfig: Path, namespace: str, *args: str) -> str:
    """``kuberun ARGS`` with stdout on a pseudo-terminal; what it drew there."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "kuberun.cli", *args, "--kubeconfig", str(kubeconfig), "-n", namespace],
                            stdout=follower, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    os.close(follower)
    out, deadline = b"", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    errors = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    assert proc.returncode == 0, errors
    return out.decode()


def test_on_a_terminal_list_and_watch_are_drawn_with_rich(operator, kubeconfig, k8s_api_client, namespace):
    name = _script_experiment(kubeconfig, namespace, "tty")
    wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running", what="Running")
    listed = _on_a_terminal(kubeconfig, namespace, "list")
    assert "\x1b[1m" in listed and name in listed  # rich's bold header: drawn for a person
    run_to_success(k8s_api_client, namespace, name)
    watched = _on_a_terminal(kubeconfig, namespace, "watch", name)
    assert "\u2501" in watched and "\x1b[" in watched and "1/1 tasks" in watched  # the live view's progress bar
