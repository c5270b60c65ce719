"""The console script's fast path for `list` and `describe`: same arguments as typer, and a bounded import set.

Structural guards, not timings: the read path must not import what it does not use (typer and its
pydantic coercion, rich off a terminal, Fiddle, the kubernetes package, the pydantic models; and,
since the lean transport, urllib3, PyYAML for a kubeconfig in kubectl's style, ``dataclasses`` with
``inspect``, the exec-plugin module), and for every command line it takes, the getopt fast path
must hand the command body exactly what typer would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.console import fast_arguments
from kuberun.experiment import Experiment
from kuberun.manage import options, reads
from tests.fixtures import tasks

ROOT = Path(__file__).resolve().parents[3]
# What a read command in a pipe must never load (a module or any of its submodules).
FORBIDDEN = ("typer", "click", "pydantic", "pydantic_core", "rich", "fiddle", "kubernetes", "kuberun.resource.status",
             "kuberun.resource.spec", "kuberun.resource.executors", "kuberun.configure", "kuberun.commandline",
             "kuberun.manage.reproduce",  # reproduce's override parser: describe loads it for archived records only
             "urllib3", "yaml", "dataclasses", "inspect", "logging", "kuberun.api.execplugin")

# The describe and list pages, drawn off a terminal, in a fresh interpreter: the modules they loaded.
READ_PATH = """
import json, sys
from kuberun.console import fast_arguments
from kuberun.manage import query, records, render, reads
from kuberun.manage.results import metric_columns
assert fast_arguments(["describe", "x", "-n", "ns", "-o", "yaml"]) and fast_arguments(["list", "-A", "--limit", "5"])
obj = json.loads(sys.argv[1])
out = render.stdout()
render.describe(out, obj, [], [], {})
render.emit(out, render.list_table([obj], wide=True, extra=metric_columns([obj], "loss")))
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _experiment() -> dict[str, Any]:
    exp = Experiment("shown", namespace="ns", name="shown-1")
    exp.add(kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=8), lr=0.1), name="train")
    exp.add(kr.Script(command=["echo", "hi"]), name="s")
    obj = exp.to_resource()
    obj["metadata"].update(namespace="ns", creationTimestamp="2026-01-01T00:00:00Z")
    obj["status"] = {"phase": "Running", "progress": "0/2",
                     "conditions": [{"type": "Ready", "status": "False", "reason": "Running", "message": "m",
                                     "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                     "tasks": [{"name": "train", "phase": "Running",
                                "attempts": [{"attempt": 1, "phase": "Running", "submitTime": "2026-01-01T00:00:00Z",
                                              "backendRef": {"backend": "kubernetes", "id": "job-1"},
                                              "metrics": {"loss": 0.5}}]}]}
    return obj


def test_the_read_path_off_a_terminal_imports_no_typer_rich_fiddle_or_pydantic_models():
    done = subprocess.run([sys.executable, "-c", READ_PATH, json.dumps(_experiment())], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "fiddle config" in done.stdout and "ATTEMPT" in done.stdout and "job-1" in done.stdout  # it did draw
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == []


KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "c", "preferences": {},
    "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}]}


@pytest.mark.parametrize("style", ["json", "kubectl yaml"])
@pytest.mark.parametrize("command", [["describe", "x"], ["list"]])
def test_a_read_through_the_console_script_imports_no_typer_pydantic_or_urllib3(tmp_path, style, command):
    """The real entry point with -X importtime: it fails to connect (nothing listens), after the same imports."""
    import yaml

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(KUBECONFIG) if style == "json" else yaml.safe_dump(KUBECONFIG))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kuberun.cli", *command, "--kubeconfig",
                           str(kubeconfig)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 1 and "error: cannot reach the Kubernetes API at https://127.0.0.1:9: connection refused" in done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"kuberun.manage.reads", "kuberun.api.lean"} <= imported
    # A YAML kubeconfig is read by PyYAML (its C loader); a JSON one by json alone.
    forbidden = FORBIDDEN if style == "json" else tuple(f for f in FORBIDDEN if f != "yaml")
    assert sorted(m for m in imported if any(m == f or m.startswith(f + ".") for f in forbidden)) == []


CASES = [
    ["describe", "exp-1"],
    ["describe", "exp-1", "-o", "json", "-n", "team", "--context", "c", "--kubeconfig", "/k"],
    ["describe", "--namespace=team", "exp-1", "--output", "yaml"],
    ["list"],
    ["list", "--title", "t", "--user", "u", "--phase", "running", "-l", "a=b", "--since", "2h", "--limit", "7",
     "--continue", "tok", "-o", "wide", "-A", "--archived", "--columns", "loss,eval.acc", "-n", "ns"],
    ["list", "--limit=0", "--all-namespaces", "--selector=x!=y"],
]


def _typer_kwargs(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any] | int:
    """What typer's commands pass to the shared body for ``argv`` (or its exit code when it refuses)."""
    from typer.testing import CliRunner

    from kuberun.commandline import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(reads, "describe", lambda **kw: seen.update(kw))
    monkeypatch.setattr(reads, "list_experiments", lambda **kw: seen.update(kw))
    result = CliRunner().invoke(app, argv)
    return seen if result.exit_code == 0 else result.exit_code


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a))
def test_the_fast_path_hands_the_body_what_typer_hands_it(monkeypatch, argv):
    fast = fast_arguments(argv)
    assert fast is not None and fast[0] == argv[0]
    assert fast[1] == _typer_kwargs(monkeypatch, argv)


@pytest.mark.parametrize("argv", [
    ["describe", "--help"], ["list", "-h"], ["describe"], ["describe", "a", "b"], ["list", "--limit", "many"],
    ["list", "--lim", "5"], ["list", "-o=json"], ["list", "-An", "ns"], ["list", "--limit", "-1"], ["list", "--", "x"],
    ["list", "--no-archived"], ["logs", "x"], [], ["describe", "x", "--output"],
], ids=lambda a: " ".join(a) or "nothing")
def test_anything_the_fast_path_might_read_otherwise_goes_to_typer(argv):
    assert fast_arguments(argv) is None


def test_typer_declares_the_read_commands_from_the_same_specs():
    """Same flags, same defaults: a flag added to one parser and not the other fails here."""
    import typer.main

    from kuberun.commandline import app

    group = typer.main.get_command(app)
    for name, specs in options.FAST_COMMANDS.items():
        params = {p.name: p for p in group.commands[name].params}
        assert set(params) == {opt.dest for opt in specs}, name
        for opt in specs:
            param = params[opt.dest]
            assert tuple(param.opts) == (opt.flags or (opt.dest,)), (name, opt.dest)
            assert (param.default, param.help) == (opt.default, opt.help), (name, opt.dest)
            assert bool(getattr(param, "is_flag", False)) == (opt.kind is bool), (name, opt.dest)
