"""Two tenants, one Slurm cluster: the attacks of #13 on the SSH side, against the real harness.

The operator here runs with a strict admin config: cluster `main` is granted to namespaces
`tenant-a-*` only, with no partition/account/qos beyond the admin's defaults and no setup lines.
Each attack asserts the refusal, its reason, and that nothing reached Slurm (no job carries the
attempt's key, no attempt directory exists, a planted marker was never touched).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import kuberun as kr
from kuberun.resource import BackendRef, ExperimentResource
from kuberun_operator.backend_config import BackendConfig
from kuberun_operator.backends.slurm import SlurmBackend, script
from kuberun_operator.identity import idempotency_key, verified_ref
from kuberun_operator.settings import Settings
from tests.helpers.operator import final_phase, get_experiment, running_operator, wait_for

from .bridge import attempts, create_experiment, events, job_state, jobs_named, slurm_task
from .harness import SlurmCluster

pytestmark = pytest.mark.usefixtures("crd")


@pytest.fixture(scope="module")
def strict_config(slurm_config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = yaml.safe_load(slurm_config_file.read_text())
    main = next(c for c in config["slurm"]["clusters"] if c["name"] == "main")
    for key in ("allowSetup", "allowedPartitions", "allowedAccounts", "allowedQos"):
        main.pop(key, None)
    main["allowedNamespaces"] = ["tenant-a-*"]
    config["slurm"]["clusters"] = [main]
    path = tmp_path_factory.mktemp("strict") / "backends.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, crd: None, strict_config: Path) -> Any:
    with running_operator(kubeconfig, config_file=strict_config) as metrics:
        yield metrics


def _namespace(api: Any, prefix: str) -> str:
    from kubernetes import client

    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def _refused(api: Any, ns: str, name: str) -> dict[str, Any]:
    assert wait_for(lambda: final_phase(api, ns, name), 30) == "Failed"
    (attempt,) = attempts(get_experiment(api, ns, name), "t")  # unretryable: one attempt, whatever the retries
    assert (attempt["phase"], attempt["reason"]) == ("Failed", "BackendNotAllowed")
    return attempt


def _nothing_reached_slurm(cluster: SlurmCluster, ns: str, attempt: dict[str, Any]) -> None:
    assert jobs_named(cluster, attempt["backendRef"]["idempotencyKey"]) == set()
    assert not (cluster.workdir / ns).exists()  # not even the attempt directory was made


def test_namespace_b_using_a_s_cluster_is_backend_not_allowed_and_nothing_is_submitted(operator, k8s_api_client,
                                                                                        slurm_cluster):
    a, b = _namespace(k8s_api_client, "tenant-a"), _namespace(k8s_api_client, "tenant-b")
    ok = create_experiment(k8s_api_client, a, [slurm_task("t", inline="echo tenant a ran")])["metadata"]["name"]
    task = {**slurm_task("t", inline="echo tenant b ran"), "retries": {"limit": 2, "backoffSeconds": 0}}
    name = create_experiment(k8s_api_client, b, [task])["metadata"]["name"]

    attempt = _refused(k8s_api_client, b, name)
    assert f"namespace {b!r} may not use Slurm cluster 'main'" in attempt["message"]
    _nothing_reached_slurm(slurm_cluster, b, attempt)
    warning = wait_for(lambda: [e for e in events(k8s_api_client, b, name) if e["reason"] == "BackendNotAllowed"], 10,
                       "a BackendNotAllowed event")
    assert warning[0]["type"] == "Warning" and b in warning[0]["message"]
    assert wait_for(lambda: final_phase(k8s_api_client, a, ok), 30) == "Succeeded"  # the grant itself works


CHOICES = {
    "partition": ({"partition": "batch"}, "partition 'batch' is not allowed here (allowed: debug)"),
    "account": ({"account": "finance"}, "account 'finance' is not allowed here"),
    "qos": ({"qos": "normal"}, "qos 'normal' is not allowed here"),
    "setup": ({"setup": ["touch {marker}"]}, "setup lines are not allowed on this cluster"),
}


@pytest.mark.parametrize(("fields", "words"), CHOICES.values(), ids=CHOICES.keys())
def test_a_choice_outside_the_admins_allow_list_is_refused_before_sbatch(operator, k8s_api_client, slurm_cluster,
                                                                         tmp_path, fields, words):
    marker = tmp_path / "setup-ran"
    ns = _namespace(k8s_api_client, "tenant-a")
    fields = {k: [line.format(marker=marker) for line in v] if k == "setup" else v for k, v in fields.items()}
    name = create_experiment(k8s_api_client, ns, [slurm_task("t", inline="echo ran", **fields)])["metadata"]["name"]

    attempt = _refused(k8s_api_client, ns, name)
    assert words in attempt["message"]
    _nothing_reached_slurm(slurm_cluster, ns, attempt)
    assert not marker.exists()


# -- the operator verifies before acting: a record that does not match is not acted on ------------


def _resource(ns: str, title: str, uid: str, command: list[str]) -> ExperimentResource:
    exp = kr.Experiment(title, namespace=ns)
    exp.add(kr.Script(command=command), name="t", executor=kr.SlurmExecutor(cluster="main"))
    resource, _ = exp.build()
    resource.metadata.uid = uid
    return resource


def test_a_cancel_aimed_at_another_tenants_job_through_a_tampered_record_is_refused(strict_config, slurm_cluster,
                                                                                     crd):
    ns_victim, ns_attacker = f"tenant-a-{uuid.uuid4().hex[:6]}", f"tenant-a-{uuid.uuid4().hex[:6]}"
    victim = _resource(ns_victim, "victim", f"uid-v-{uuid.uuid4().hex[:8]}", ["sleep", "60"])
    attacker = _resource(ns_attacker, "attacker", f"uid-x-{uuid.uuid4().hex[:8]}", ["sleep", "60"])
    backend = SlurmBackend(BackendConfig.load(strict_config).slurm, Settings())

    async def scenario() -> tuple[str, str]:
        await backend.start()
        try:
            refs = {}
            for exp in (victim, attacker):
                key = idempotency_key(exp.metadata.uid or "", "t", 1)
                submitted = await backend.submit(exp, exp.spec.tasks[0], 1, BackendRef(backend="slurm", idempotency_key=key))
                refs[exp.metadata.uid] = (key, submitted.id)
            (victim_key, victim_id), (_, attacker_id) = refs[victim.metadata.uid], refs[attacker.metadata.uid]
            await asyncio.to_thread(wait_for, lambda: job_state(slurm_cluster, victim_id) == "RUNNING", 30, "victim running")
            # Status rewritten to name the victim's key, id and cluster; the controller recomputes
            # the key from the attacker's UID (verified_ref), the id is checked against squeue.
            tampered = BackendRef(backend="slurm", idempotency_key=victim_key, id=victim_id, cluster="main")
            await backend.cancel(attacker, attacker.spec.tasks[0], 1, verified_ref(attacker, "t", 1, tampered))
            return victim_id, attacker_id
        finally:
            await backend.stop()

    victim_id, attacker_id = asyncio.run(scenario())
    try:
        assert wait_for(lambda: job_state(slurm_cluster, attacker_id) == "CANCELLED", 20, "the attacker's own job cancelled")
        assert job_state(slurm_cluster, victim_id) == "RUNNING"  # after the cancel ran to completion
    finally:
        slurm_cluster.run(["scancel", victim_id, attacker_id], check=False)


# -- per-namespace identities: one tenant cannot read another's attempt files ---------------------


@pytest.fixture(scope="module")
def two_users() -> Iterator[tuple[str, str]]:
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("needs root with useradd and runuser to make two Unix users")
    users = (f"krta{uuid.uuid4().hex[:5]}", f"krtb{uuid.uuid4().hex[:5]}")
    made: list[str] = []
    try:
        for user in users:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True, capture_output=True)
            made.append(user)
        yield users
    finally:
        for user in made:
            subprocess.run(["userdel", "--remove", user], check=False, capture_output=True)


def _as(user: str, command: str, stdin: bytes = b"", path: str = "") -> subprocess.CompletedProcess[bytes]:
    env = f"PATH={path}:/usr/bin:/bin" if path else "PATH=/usr/bin:/bin"
    return subprocess.run(["runuser", "-u", user, "--", "env", "-i", f"HOME=/home/{user}", env, "bash", "-c", command],
                          input=stdin, capture_output=True, timeout=30)


@pytest.fixture()
def shared_tools() -> Iterator[Path]:
    """A directory every user can traverse (pytest's tmp_path is under a root-only 0700 dir)."""
    path = Path(tempfile.mkdtemp(prefix="kuberun-tenancy-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_with_per_namespace_identities_b_cannot_read_a_s_work_dir(two_users, shared_tools):
    """The submit command each identity runs leaves 0700 directories in its own home: B is denied.

    Slurm itself is stood in for (squeue/sacct find nothing, sbatch prints an id): the harness's
    munge and slurm.conf are private to root, and what is under test is the files' modes.
    """
    alice, bob = two_users
    tools = shared_tools
    for tool, body in (("squeue", ""), ("sacct", ""), ("sbatch", "echo 4242")):
        (tools / tool).write_text(f"#!/bin/bash\n{body}\n")
        (tools / tool).chmod(0o755)
    place = script.AttemptPlace("tenant-a", "exp", "t", 1, "uid-a-t-1")
    document, batch = b'{"secret": "alice-only"}', b"#!/bin/bash\ntrue\n"
    command = script.submit_command(script.attempt_dir("~/.kuberun/jobs", place), place.key, [], (len(document), len(batch)))
    done = _as(alice, command, document + batch, str(tools))
    assert done.returncode == 0 and done.stdout.split()[:2] == [script.SUBMITTED.encode(), b"4242"], done.stderr
    directory = done.stdout.decode().split(" ", 2)[2].strip()
    assert directory.startswith(f"/home/{alice}/.kuberun/jobs/tenant-a/")
    assert _as(alice, f"cat {directory}/task.json").stdout == document  # the owner reads it
    denied = _as(bob, f"cat {directory}/task.json; ls /home/{alice}/.kuberun/jobs/tenant-a")
    assert denied.stdout == b"" and denied.stderr.count(b"Permission denied") == 2, denied.stderr
