"""How the CLI fails: an unreachable cluster, a missing RBAC verb and a non-RBAC 403 each in one line;
``--help`` without the Kubernetes client.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.helpers.manage import cli, submit, write_user_kubeconfig

pytestmark = pytest.mark.usefixtures("crd")


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
