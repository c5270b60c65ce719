"""Teammates as real users: client certificates minted per user, RBAC decided by the real authorizer,
and the CLI's one-line "forbidden" errors parsed from a real kube-apiserver's 403 messages."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from kuberun.resource.constants import GROUP, PLURAL

NS = "team"


@pytest.fixture(scope="module")
def admin(real_control_plane: Any) -> Any:
    from kubernetes import client, config

    from tests.helpers.operator import ensure_crd

    api = config.new_client_from_config(config_file=str(real_control_plane.admin_kubeconfig))
    ensure_crd(api)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a new CRD is served once Established
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            break
        time.sleep(0.05)
    return api


def _kuberun(kubeconfig: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kuberun.cli", *args, "--kubeconfig", str(kubeconfig), "--namespace", NS],
                          capture_output=True, text=True, timeout=60)


def test_a_user_without_a_binding_is_told_which_rule_to_ask_for_and_a_role_binding_lets_them_list(
        real_control_plane: Any, admin: Any) -> None:
    from kubernetes import client

    bob = real_control_plane.user_kubeconfig("bob", ("team-b",))
    refused = _kuberun(bob, "list")
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert "bob" in line and "list" in line and f"experiments.{GROUP}" in line and NS in line, line
    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "experiment-reader"}, "rules": [
        {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "team-b-reads"},
                                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                         "name": "experiment-reader"},
                                             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                                           "name": "team-b"}]})
    deadline = time.monotonic() + 30
    while (listed := _kuberun(bob, "list")).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.2)  # the authorizer's informers see the new binding within moments
    assert listed.returncode == 0, listed.stderr
    carol = real_control_plane.user_kubeconfig("carol")  # not in team-b: still refused
    assert _kuberun(carol, "list").returncode != 0


def test_sandbox_mint_user_gives_edit_in_its_namespace_only_on_either_control_plane(
        control_plane: str, tmp_path: Any) -> None:
    """``Sandbox.mint_user`` (a token on the emulator, a client certificate on the real one): the namespace is
    created, the user may create there and is refused elsewhere, by each control plane's own authorizer."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path / "sb", operator=False, control_plane=control_plane) as sandbox:
        alice = sandbox.mint_user("alice", namespace="team-a")
        api = config.new_client_from_config(config_file=str(alice))
        try:
            core = client.CoreV1Api(api)
            made = core.create_namespaced_config_map("team-a", {"metadata": {"name": "mine"}})
            assert made.metadata.namespace == "team-a"
            with pytest.raises(ApiException) as refused:
                core.create_namespaced_config_map("default", {"metadata": {"name": "theirs"}})
            assert refused.value.status == 403
            assert json.loads(refused.value.body)["message"].startswith('configmaps is forbidden: User "alice"')
        finally:
            api.close()
