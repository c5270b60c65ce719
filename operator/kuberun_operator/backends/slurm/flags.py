"""The pieces of sbatch and srun command lines that a plain Slurm job and a heterogeneous one share.

Why a module of its own: ``script.py`` builds the whole batch script and ``het.py`` the per-component parts
of a het job; both need these, and neither should import the other to get them. Each function returns
flags unquoted where the caller quotes each (sbatch options), or quoted where they land in a shell line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from kuberun.resource import SlurmExecutor, slurmflags
from kuberun_operator.backend_config import SlurmCluster

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RUNNER = "python -m kuberun.runner"


class ScriptError(ValueError):
    """The executor cannot be turned into a job (a bad env name, ...): a permanent, user-fixable error."""


def job_wide_flags(executor: SlurmExecutor, cluster: SlurmCluster) -> list[str]:
    """Where the job runs and on whose budget: partition, account, qos."""
    flags: list[str] = []
    partition = executor.partition or cluster.partition
    account = executor.account or cluster.account
    if partition:
        flags.append(f"--partition={partition}")
    if account:
        flags.append(f"--account={account}")
    if executor.qos:
        flags.append(f"--qos={executor.qos}")
    return flags


def node_flags(executor: SlurmExecutor) -> list[str]:
    """Which nodes may take the job: constraint, exclude."""
    optional = {"--constraint": executor.constraint, "--exclude": ",".join(executor.exclude)}
    return [f"{flag}={value}" for flag, value in optional.items() if value]


def resource_flags(resources: Any, per_node: int) -> list[str]:
    """What one allocation asks for: an executor's, or one het component's (the same field names)."""
    flags = [f"--nodes={resources.nodes}", f"--ntasks-per-node={per_node}"]
    optional = {"--gpus-per-node": resources.gpus_per_node, "--cpus-per-task": resources.cpus_per_task,
                "--mem": resources.memory, "--time": resources.time_limit, "--gres": resources.gres}
    return flags + [f"{flag}={value}" for flag, value in optional.items() if value]  # unset (None, 0, "") is left out


def dependency_flags(after: Sequence[str]) -> list[str]:
    # afterok: Slurm starts the job only once every parent job COMPLETED (policy/early.py decides when).
    return ["--dependency=afterok:" + ":".join(str(int(i)) for i in after)] if after else []


def extra_flags(flags: list[str], allowed: frozenset[str], tool: str) -> list[str]:
    """The model checked these already; checked again here so a record decoded some other way cannot slip one in."""
    try:
        return [slurmflags.check_flag(f, allowed, tool) for f in flags]
    except ValueError as exc:
        raise ScriptError(str(exc)) from None


def env_assignments(env: dict[str, str]) -> list[str]:
    """``NAME=<quoted value>`` for each variable (for ``export`` or ``env``); a bad name is a ScriptError."""
    for name in env:
        if not ENV_NAME.match(name):
            raise ScriptError(f"invalid environment variable name {name!r}: use letters, digits and _")
    return [f"{name}={shlex.quote(value)}" for name, value in env.items()]


def container_flags(executor: SlurmExecutor) -> list[str]:
    if not executor.container_image:
        return []
    # The attempt directory is mounted at the same path so the task file resolves inside.
    mounts = ",".join(['"$KUBERUN_DIR":"$KUBERUN_DIR"', *(shlex.quote(m) for m in executor.container_mounts)])
    return [f"--container-image={shlex.quote(executor.container_image)}", f"--container-mounts={mounts}",
            '--container-workdir="$KUBERUN_DIR"']
