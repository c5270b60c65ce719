"""The Slurm bridge's tenancy parts without a cluster: the guarded cancel, private directories, identities.

The remote commands are run by a real bash against stand-in ``squeue``/``scancel`` scripts that
record what they were asked, so "refused" means "scancel was never called with that id".
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kuberun.resource import ExperimentResource
from kuberun_operator.backend_config import SlurmConfig
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.slurm import SlurmBackend, script
from kuberun_operator.settings import Settings


def fake_slurm(bin_dir: Path, job_names: dict[str, str]) -> Path:
    """squeue -j ID -o %j prints the job's name; scancel appends its argv to a log."""
    log = bin_dir / "scancel.log"
    cases = "\n".join(f'    {i}) echo {name!r};;' for i, name in job_names.items())
    (bin_dir / "squeue").write_text(f'#!/bin/bash\nfor a in "$@"; do case "$prev" in -j) id="$a";; esac; prev="$a"; done\n'
                                    f'case "$id" in\n{cases}\nesac\n')
    (bin_dir / "scancel").write_text(f'#!/bin/bash\necho "$@" >> {log}\n')
    for tool in ("squeue", "scancel"):
        (bin_dir / tool).chmod(0o755)
    return log


def run(command: str, bin_dir: Path) -> None:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", command], env=env, check=True, capture_output=True, timeout=30)


def test_cancel_by_id_happens_only_when_the_job_of_that_id_carries_the_key(tmp_path):
    log = fake_slurm(tmp_path, {"41": "uid-victim-train-1", "42": "uid-mine-t-1"})
    run(script.cancel_command("uid-mine-t-1", "41"), tmp_path)  # a tampered id: the victim's job
    assert log.read_text().splitlines() == ["--me --name=uid-mine-t-1"]  # by name only: the victim is untouched
    log.unlink()
    run(script.cancel_command("uid-mine-t-1", "42"), tmp_path)
    assert log.read_text().splitlines() == ["--me --name=uid-mine-t-1",
                                            "--me --state=PENDING,RUNNING,SUSPENDED --jobs=42"]


def test_attempt_directories_are_created_private(tmp_path):
    command = script.submit_command(str(tmp_path / "w" / "ns" / "exp" / "t" / "1"), "k", [], (0, 0))
    assert "umask 077" in command.splitlines()
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    for tool, body in (("squeue", ""), ("sacct", ""), ("sbatch", "echo 7")):
        (tmp_path / tool).write_text(f"#!/bin/bash\n{body}\n")
        (tmp_path / tool).chmod(0o755)
    out = subprocess.run(["bash", "-c", command], env=env, input=b"", capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for part in ("w", "w/ns", "w/ns/exp/t/1"):
        assert stat.S_IMODE((tmp_path / part).stat().st_mode) == 0o700, part
    assert stat.S_IMODE((tmp_path / "w/ns/exp/t/1/task.json").stat().st_mode) == 0o600


def test_a_namespace_with_its_own_identity_logs_in_as_it_with_its_own_transport_and_poller():
    config = SlurmConfig.model_validate({"clusters": [{
        "name": "dgx", "host": "login", "user": "svc", "workdir": "/shared/kuberun", "allowedNamespaces": ["*"],
        "identities": {"team-a": {"user": "alice", "sshKeyFile": "/etc/kuberun/slurm/team-a/id_ed25519"}}}]})
    backend = SlurmBackend(config, Settings())
    a, b = backend._login("dgx", "team-a"), backend._login("dgx", "team-b")
    assert (a.user, str(a.ssh_key_file), a.workdir) == ("alice", "/etc/kuberun/slurm/team-a/id_ed25519", "~/.kuberun/jobs")
    assert (b.user, b.workdir) == ("svc", "/shared/kuberun")
    assert backend._transport("dgx", "team-a") is not backend._transport("dgx", "team-b")
    assert backend._transport("dgx", "team-b") is backend._transport("dgx", None)  # the cluster's own identity


def experiment(namespace: str, name: str, uid: str, cluster: str = "dgx") -> ExperimentResource:
    return ExperimentResource.model_validate({
        "metadata": {"namespace": namespace, "name": name, "uid": uid},
        "spec": {"title": "t", "tasks": [{"name": "t", "script": {"command": ["true"]}, "executor": {"slurm": {"cluster": cluster}}}]},
        # What someone allowed to patch experiments/status could write: the other tenant's log.
        "status": {"phase": "Running", "tasks": [{"name": "t", "phase": "Running", "attempt": 1, "attempts": [{"attempt": 1, "phase": "Running",
                   "backendRef": {"backend": "slurm", "idempotencyKey": "x", "id": "1", "cluster": "other"},
                   "logRef": {"kind": "slurm", "path": "/w/team-b/theirs/t/1/output.log"}}]}]}})


def test_logs_are_read_from_the_place_submit_computed_from_the_experiment_never_from_status(tmp_path):
    work = tmp_path / "w"
    for ns, name, text in (("team-a", "mine", "my line\n"), ("team-b", "theirs", "their secret\n")):
        (work / ns / name / "t" / "1").mkdir(parents=True)
        (work / ns / name / "t" / "1" / "output.log").write_text(text)
    config = SlurmConfig.model_validate({"clusters": [{"name": "dgx", "transport": "local", "workdir": str(work)}]})
    backend = SlurmBackend(config, Settings())

    async def read(exp: ExperimentResource, attempt: int = 1) -> bytes:
        return b"".join([chunk async for chunk in backend.logs(exp, "t", attempt, False, None)])

    mine = experiment("team-a", "mine", "uid-a")
    assert mine.status is not None and "theirs" in str(mine.status.tasks[0].attempts[0].log_ref)
    assert asyncio.run(read(mine)) == b"my line\n"  # the status' path is not even looked at
    assert asyncio.run(read(mine, attempt=2)) == b""  # no such attempt: nothing, not a neighbour's file
    with pytest.raises(BackendError, match="no Slurm cluster 'other'"):
        asyncio.run(read(experiment("team-a", "mine", "uid-a", cluster="other")))


def test_summary_series_and_artifacts_are_read_from_the_computed_place_too(tmp_path):
    work = tmp_path / "w"
    for ns, name, who in (("team-a", "mine", "mine"), ("team-b", "theirs", "theirs")):
        attempt = work / ns / name / "t" / "1"
        (attempt / "artifacts").mkdir(parents=True)
        (attempt / "artifacts" / f"{who}.txt").write_text(who)
        (attempt / "metrics.jsonl").write_text(f'{{"who": "{who}"}}\n')
        (attempt / "summary.json").write_text("{}")
    config = SlurmConfig.model_validate({"clusters": [{"name": "dgx", "transport": "local", "workdir": str(work)}]})
    backend = SlurmBackend(config, Settings())
    mine = experiment("team-a", "mine", "uid-a")  # its status names team-b's attempt directory

    async def read() -> tuple[bytes, bytes]:
        series = b"".join([c async for c in backend.series_stream(mine, "t", 1)])
        tar = b"".join([c async for c in backend.artifacts_stream(mine, "t", 1)])
        return series, tar

    series, tar = asyncio.run(read())
    assert series == b'{"who": "mine"}\n'
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        assert sorted(n.lstrip("./") for n in archive.getnames() if n != ".") == ["mine.txt"]
    commands: list[str] = []
    original = backend._transport("dgx", "team-a").run

    async def spy(command: str, stdin: bytes | None = None, timeout: float = 60.0) -> Any:
        commands.append(command)
        return await original(command, stdin, timeout)

    backend._transport("dgx", "team-a").run = spy  # type: ignore[method-assign]
    asyncio.run(backend._summary(mine, "t", 1))
    assert commands and str(work / "team-a" / "mine" / "t" / "1" / "summary.json") in commands[0]
    assert "theirs" not in commands[0]


def test_logs_of_a_task_that_does_not_run_on_slurm_are_refused():
    backend = SlurmBackend(SlurmConfig.model_validate({"clusters": [{"name": "dgx", "host": "login"}]}), Settings())
    exp = ExperimentResource.model_validate({"metadata": {"namespace": "a", "name": "e", "uid": "u"}, "spec": {"title": "t", "tasks": [
        {"name": "t", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}}]}})

    async def first(task: str) -> bytes:
        async for chunk in backend.logs(exp, task, 1):
            return chunk
        return b""

    for task, message in (("t", "does not run on Slurm"), ("nope", "has no task 'nope'")):
        with pytest.raises(BackendError, match=message):
            asyncio.run(first(task))
