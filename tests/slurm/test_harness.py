"""The harness gives a real Slurm, driven over real, host-verified SSH (asyncssh)."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from .harness import SlurmCluster

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture  # runs on the session loop (asyncio_default_fixture_loop_scope)
async def ssh(slurm_cluster: SlurmCluster) -> AsyncIterator[asyncssh.SSHClientConnection]:
    async with asyncssh.connect(**slurm_cluster.asyncssh_options()) as conn:  # type: ignore[arg-type]
        yield conn


async def sh(
    conn: asyncssh.SSHClientConnection, command: str, check: bool = True
) -> asyncssh.SSHCompletedProcess:
    return await conn.run(command, check=check, timeout=30)


async def submit(
    conn: asyncssh.SSHClientConnection, cluster: SlurmCluster, wrap: str, name: str = "t"
) -> str:
    result = await sh(
        conn,
        f"sbatch --parsable --job-name={shlex.quote(name)} --chdir={shlex.quote(str(cluster.workdir))} "
        f"--wrap={shlex.quote(wrap)}",
    )
    return str(result.stdout).strip()


async def job_fields(conn: asyncssh.SSHClientConnection, job_id: str) -> dict[str, str]:
    """`scontrol show job -o` as a dict (values here never contain spaces that matter)."""
    out = str((await sh(conn, f"scontrol show job -o {job_id}")).stdout)
    return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)


async def wait_for_state(
    conn: asyncssh.SSHClientConnection, job_id: str, states: set[str], timeout_s: float = 20
) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    fields: dict[str, str] = {}
    while time.monotonic() < deadline:
        fields = await job_fields(conn, job_id)
        if fields.get("JobState") in states:
            return fields
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}; last: {fields.get('JobState')}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_sbatch_over_ssh_completes_and_is_in_sacct(slurm_cluster: SlurmCluster, ssh) -> None:
    job_id = await submit(ssh, slurm_cluster, "echo hello from slurm")
    assert job_id.isdigit()

    fields = await wait_for_state(ssh, job_id, {"COMPLETED", "FAILED"})
    assert (fields["JobState"], fields["ExitCode"]) == ("COMPLETED", "0:0")
    # sacct works without slurmdbd thanks to jobcomp/filetxt (`-c`).
    sacct = await sh(ssh, f"sacct -c -n -P -j {job_id} -o JobID,State,ExitCode")
    assert f"{job_id}|COMPLETED|0:0" in str(sacct.stdout)
    # The job's output is readable over SFTP, as log streaming will need.
    async with ssh.start_sftp_client() as sftp, sftp.open(f"{slurm_cluster.workdir}/slurm-{job_id}.out") as f:
        assert (await f.read()).strip() == "hello from slurm"


async def test_failing_job_reports_its_exit_code(slurm_cluster: SlurmCluster, ssh) -> None:
    job_id = await submit(ssh, slurm_cluster, "exit 3")

    fields = await wait_for_state(ssh, job_id, {"COMPLETED", "FAILED"})
    assert (fields["JobState"], fields["ExitCode"]) == ("FAILED", "3:0")


async def test_squeue_finds_job_by_name_and_scancel_cancels_it(slurm_cluster: SlurmCluster, ssh) -> None:
    key = unique("kuberun-key")
    job_id = await submit(ssh, slurm_cluster, "sleep 60", name=key)

    found = await sh(ssh, f"squeue -h --name={key} -o %i")
    assert str(found.stdout).split() == [job_id]
    await wait_for_state(ssh, job_id, {"RUNNING"})

    await sh(ssh, f"scancel {job_id}")
    fields = await wait_for_state(ssh, job_id, {"CANCELLED"}, timeout_s=10)
    assert fields["JobState"] == "CANCELLED"


async def test_remote_shell_finds_slurm_conf_without_client_help(slurm_cluster: SlurmCluster, ssh) -> None:
    result = await sh(ssh, "echo $SLURM_CONF")
    assert str(result.stdout).strip() == str(slurm_cluster.slurm_conf)


async def test_unknown_host_key_is_rejected(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other_pub = (tmp_path / "other.pub").read_text().split()
    wrong.write_text(f"[127.0.0.1]:{slurm_cluster.ssh_port} {other_pub[0]} {other_pub[1]}\n")
    options = {**slurm_cluster.asyncssh_options(), "known_hosts": str(wrong)}

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with asyncssh.connect(**options):  # type: ignore[arg-type]
            pass


async def test_unauthorised_client_key_is_rejected(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    stranger = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    options = {**slurm_cluster.asyncssh_options(), "client_keys": [str(stranger)]}

    with pytest.raises(asyncssh.PermissionDenied):
        async with asyncssh.connect(**options):  # type: ignore[arg-type]
            pass


async def test_openssh_client_connects_with_strict_host_key_checking(slurm_cluster: SlurmCluster) -> None:
    command = slurm_cluster.ssh_command("sinfo -h -o %P")
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["debug*", "batch"]


async def test_controller_down_then_back(slurm_cluster: SlurmCluster, ssh) -> None:
    job_id = await submit(ssh, slurm_cluster, "sleep 60", name=unique("survivor"))
    await wait_for_state(ssh, job_id, {"RUNNING"})

    slurm_cluster.stop_controller()
    try:
        down = await sh(ssh, "squeue -h", check=False)
        assert down.exit_status != 0
        assert "Unable to contact slurm controller" in str(down.stderr)
    finally:
        slurm_cluster.start_controller()

    up = await sh(ssh, "squeue -h -o %i")
    # State was saved and recovered: the running job is still known.
    assert job_id in str(up.stdout).split()
    await sh(ssh, f"scancel {job_id}")
