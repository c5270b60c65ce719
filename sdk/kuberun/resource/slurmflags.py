"""Extra sbatch/srun flags a Slurm task may pass, and the value shapes of the Slurm-only fields.

Why an allow-list and not "any flag": the operator logs in with the admin's identity and the
admin's grants (``kuberun_operator.grants``) decide which partition, account and qos a namespace
may use. A free-form ``--partition=gpu-prio`` (or ``-p``, ``--clusters``, ``--uid``, ``--chdir``,
``--output``, ``--wrap``, ``--dependency``...) in extra flags would walk around those grants, or
around the paths and job names the bridge relies on to find its own jobs again. So an extra flag
is exactly ``--name`` or ``--name=value``: a long option from the lists below, a value free of
control characters (so it can never become a second line of the batch script). Whatever passes
is still quoted with ``shlex.quote`` where it meets a shell (``backends/slurm/script.py``).

Flags that kuberun sets from a field of its own are refused with a pointer to that field. The
same rules are rendered into the CRD (``EXTRA_FLAG_PATTERN``), so the API server refuses what the
SDK refuses.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# sbatch options that change only how the job runs inside what the grants allow.
SBATCH_OPTIONS = frozenset({
    "begin", "comment", "contiguous", "core-spec", "cores-per-socket", "cpu-freq", "cpus-per-gpu", "deadline",
    "distribution", "gpu-bind", "gpu-freq", "gpus", "gpus-per-socket", "gpus-per-task", "hint", "kill-on-invalid-dep",
    "licenses", "mail-type", "mail-user", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus", "nice", "no-requeue",
    "ntasks", "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-socket", "open-mode", "overcommit", "oversubscribe",
    "profile", "propagate", "requeue", "signal", "sockets-per-node", "spread-job", "switches",
    "threads-per-core", "time-min", "tmp", "use-min-nodes",
})
# Not listed on purpose: --reservation and --wckey spend what Slurm grants the operator's (shared) login, and
# kuberun's grants have no per-namespace list for them yet; --clusters, --uid, --gid, --wrap, --parsable, --test-only.
# srun options for the task's job step (binding, MPI, output, pyxis container settings).
SRUN_OPTIONS = frozenset({
    "accel-bind", "container-entrypoint", "container-env", "container-mount-home", "container-name",
    "container-readonly", "container-remap-root", "container-save", "container-writable", "cpu-bind", "cpu-freq",
    "distribution", "exact", "gpu-bind", "gpus-per-task", "hint", "kill-on-bad-exit", "label", "mem-bind", "mpi",
    "no-container-entrypoint", "no-container-mount-home", "no-container-remap-root", "no-kill", "overcommit", "overlap",
    "threads-per-core", "unbuffered", "wait",
})
# Flags kuberun writes itself, and the field that sets each (the message a user reads).
OWN_FLAGS = {
    "partition": "partition (checked against the cluster's allowedPartitions)",
    "account": "account (checked against the cluster's allowedAccounts)",
    "qos": "qos (checked against the cluster's allowedQos)",
    "nodes": "nodes", "ntasks-per-node": "ntasks_per_node", "gpus-per-node": "gpus_per_node",
    "cpus-per-task": "cpus_per_task", "mem": "memory", "time": "time_limit", "gres": "gres",
    "constraint": "constraint", "exclude": "exclude", "exclusive": "exclusive", "array": "array",
    "dependency": "the task's dependsOn", "container-image": "container_image", "container-mounts": "container_mounts",
    "container-workdir": "container_image (kuberun sets the workdir)", "export": "env",
    "job-name": "nothing (kuberun names each job after its attempt)",
    "chdir": "nothing (kuberun runs each attempt in its own directory)",
    "output": "nothing (kuberun keeps the log beside the attempt)",
    "error": "nothing (kuberun keeps the log beside the attempt)",
}
_NAME = r"[a-z][a-z0-9-]*"
_VALUE = r"[^\x00-\x1f\x7f]*"
_FLAG = re.compile(rf"^--({_NAME})(=({_VALUE}))?$")


def _alternatives(names: frozenset[str]) -> str:
    assert all(re.fullmatch(_NAME, n) for n in names)  # letters, digits and '-': nothing to escape
    return "|".join(sorted(names))


def extra_flag_pattern(names: frozenset[str]) -> str:
    """The JSON-schema pattern of one extra flag from ``names`` (the CRD's copy of ``check_flag``)."""
    return rf"^--({_alternatives(names)})(={_VALUE})?$"


SBATCH_FLAG_PATTERN = extra_flag_pattern(SBATCH_OPTIONS)
SRUN_FLAG_PATTERN = extra_flag_pattern(SRUN_OPTIONS)

# Values of the Slurm-only fields: Slurm's own grammars, narrowed to characters that mean nothing to a shell
# except the few the grammar needs (each value is quoted anyway).
GRES_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+){0,2}(,[A-Za-z][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+){0,2})*$"
CONSTRAINT_PATTERN = r"^[A-Za-z0-9_.&|,\[\]*:()-]+$"
HOSTLIST_PATTERN = r"^[A-Za-z0-9_.-]+(\[[0-9,-]+\][A-Za-z0-9_.-]*)?$"


def check_flag(flag: str, allowed: frozenset[str], tool: str) -> str:
    """``flag`` if it is an allowed ``--name[=value]`` for ``tool``; else ValueError saying what to do instead."""
    match = _FLAG.match(flag)
    if match is None:
        if flag.startswith("-") and not flag.startswith("--"):
            raise ValueError(f"{tool} flag {flag!r}: use the long form --name[=value] (short options are not accepted)")
        raise ValueError(f"{tool} flag {flag!r} is not of the form --name or --name=value "
                         "(one option per list item, no control characters)")
    name = match.group(1)
    if name in OWN_FLAGS and name not in allowed:
        raise ValueError(f"{tool} flag --{name} is not accepted in extra flags: kuberun sets it from {OWN_FLAGS[name]}")
    if name not in allowed:
        raise ValueError(f"{tool} flag --{name} is not in the allowed extra flags "
                         f"(allowed: {', '.join(sorted(allowed))})")
    return flag


def _checked(allowed: frozenset[str], tool: str, pattern: str) -> object:
    """One extra ``tool`` flag as a model field's item type: bounded, its pattern in the CRD, ``check_flag``'s error."""
    return Annotated[str, Field(max_length=512, json_schema_extra={"pattern": pattern}),
                     AfterValidator(lambda flag: check_flag(flag, allowed, tool))]


#: Item types of ``sbatch_args`` / ``srun_args`` (the executor's and each het component's).
SbatchFlag = _checked(SBATCH_OPTIONS, "sbatch", SBATCH_FLAG_PATTERN)
SrunFlag = _checked(SRUN_OPTIONS, "srun", SRUN_FLAG_PATTERN)
