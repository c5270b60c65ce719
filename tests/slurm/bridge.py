"""Helpers for driving the operator's Slurm bridge against the harness (tests and bench)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml
from pydantic.alias_generators import to_camel

from kuberun.resource.constants import GROUP, PLURAL, VERSION

from .harness import SlurmCluster


def write_backend_config(cluster: SlurmCluster, where: Path, poll_interval_seconds: float = 0.5) -> Path:
    """An operator config file: `main` is the harness; `down` and `stranger` are broken on purpose."""
    stranger_key = where / "stranger_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger_key)], check=True)
    main = {"name": "main", "host": cluster.ssh_host, "port": cluster.ssh_port, "user": cluster.ssh_user,
            "sshKeyFile": str(cluster.client_key_path), "knownHostsFile": str(cluster.known_hosts_path),
            "workdir": str(cluster.workdir), "partition": cluster.partitions[0],
            # The job runs on this machine: the test venv provides python with kuberun.
            "pythonSetup": f'export PATH="{Path(sys.executable).parent}:$PATH"',
            # An admin who grants everything (test_tenancy.py writes a strict config): these tests
            # reach sbatch with any partition/account/qos, hostile ones included, and setup lines.
            "allowedNamespaces": ["*"], "allowSetup": True, "allowedPartitions": ["*"], "allowedAccounts": ["*"],
            "allowedQos": ["*"]}
    clusters = [main, {**main, "name": "down", "port": _closed_port()},
                {**main, "name": "stranger", "sshKeyFile": str(stranger_key)}]
    path = where / "backends.yaml"
    path.write_text(yaml.safe_dump({"slurm": {"clusters": clusters, "pollIntervalSeconds": poll_interval_seconds}}))
    return path


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound then closed: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def slurm_task(name: str, command: list[str] | None = None, inline: str | None = None, *,
               depends_on: list[str] | None = None, **executor: Any) -> dict[str, Any]:
    script: dict[str, Any] = {"inline": inline} if inline is not None else {"command": command or ["true"]}
    return {"name": name, "script": script, "dependsOn": depends_on or [],
            "executor": {"slurm": {"cluster": "main", **{to_camel(k): v for k, v in executor.items()}}}}


def create_experiment(api: Any, namespace: str, tasks: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    from kubernetes import client

    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Experiment",
            "metadata": {"name": name or f"s-{uuid.uuid4().hex[:8]}", "namespace": namespace},
            "spec": {"title": "slurm bridge test", "tasks": tasks}}
    return client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def patch_spec(api: Any, namespace: str, name: str, spec: dict[str, Any]) -> None:
    from kubernetes import client

    client.CustomObjectsApi(api).patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": spec})


def attempts(exp: dict[str, Any], task: str) -> list[dict[str, Any]]:
    record = next((t for t in (exp.get("status") or {}).get("tasks", []) if t["name"] == task), None)
    return record.get("attempts", []) if record else []  # an empty list is omitted from status


def jobs_named(cluster: SlurmCluster, key: str) -> set[str]:
    """Every Slurm job id that ever carried ``key`` as its name (the controller's memory + jobcomp)."""
    live = cluster.run(["squeue", "-h", "-t", "all", "-o", "%i|%j"]).stdout.splitlines()
    # jobcomp/filetxt ignores sacct's --name filter: match names here.
    done = cluster.run(["sacct", "-c", "-n", "-P", "-S", "now-1days", "-o", "JobID,JobName"], check=False)
    rows = [line.split("|") for line in live + done.stdout.splitlines()]
    return {row[0] for row in rows if len(row) >= 2 and row[1] == key and row[0].isdigit()}


def job_state(cluster: SlurmCluster, job_id: str) -> str:
    out = cluster.run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"], check=False).stdout.strip()
    return out


def events(api: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    from kubernetes import client

    items = client.CoreV1Api(api).list_namespaced_event(namespace).items
    return [api.sanitize_for_serialization(e) for e in items
            if e.involved_object is not None and e.involved_object.name == name]


def kuberun_cli(kubeconfig: Path, server: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``kuberun ARGS`` in a subprocess that reaches the operator's record server at ``server`` (no backend config)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "KUBERUN_BACKEND_CONFIG"}
    env["KUBERUN_SERVER"] = server
    return subprocess.run([sys.executable, "-m", "kuberun.cli", *args, "--kubeconfig", str(kubeconfig)],
                          capture_output=True, text=True, timeout=60, env=env)
