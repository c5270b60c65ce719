"""Job arrays: squeue/sacct list one row per index (``123_4``) or per pending range (``123_[5-7]``);
the bridge tracks the array as the one job id sbatch returned, so the rows are summed up here.

The sum is what reconcile reads as the attempt's state: running while any index runs (or some
ended and others wait), succeeded when every index COMPLETED, failed once every index ended and
one did not — with the first failed index's exit code. Each index keeps its own state and exit
code (``SlurmJob.members``), which become the attempt's per-index records in status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kuberun.resource.slurmarray import array_indices

if TYPE_CHECKING:  # state.py builds SlurmJobs from what is summed here
    from kuberun_operator.backends.slurm.state import SlurmJob

# Slurm states that mean "this index will not change any more".
ENDED = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                   "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"})


def index_range(text: str) -> list[int]:
    """ArrayTaskID (``4``, ``5-7``, ``[5-7%2]``, ``1,3``) as indices; ``N/A`` or garbage as none."""
    text = text.strip().strip("[]")
    if not text or not text[0].isdigit():
        return []
    try:
        return array_indices(text, limit=1 << 20)  # Slurm's own rows: bounded by the spec that was submitted
    except ValueError:
        return []


def split_array_id(job_id: str) -> tuple[str, str] | None:
    """sacct's ``123_4`` / ``123_[5-7]`` as (``123``, ``4``); None for a plain id or a step."""
    head, sep, tail = job_id.partition("_")
    if not sep or not head.isdigit() or "." in tail:
        return None
    return head, tail


def summed(array_id: str, members: Mapping[int, SlurmJob]) -> dict[str, Any]:
    """The array's own fields (state, times, exit code, reason) from its members (``SlurmJob``s by index)."""
    jobs = [members[i] for i in sorted(members)]
    states = [j.state for j in jobs]
    ended = all(s in ENDED for s in states)
    if ended:
        bad = next((j for j in jobs if j.state != "COMPLETED"), None)
        state, exit_code = ("COMPLETED", 0) if bad is None else (bad.state, bad.exit_code)
    elif any(s in ENDED or s == "RUNNING" for s in states):
        state, exit_code = "RUNNING", None
    else:
        state, exit_code = states[0], None  # all waiting (PENDING, or SUSPENDED alike)
    starts = [j.start for j in jobs if j.start is not None]
    ends = [j.end for j in jobs if j.end is not None]
    reason = next((j.reason for j in jobs if j.reason), None)
    return {"id": array_id, "name": jobs[0].name, "state": state, "reason": reason,
            "start": min(starts) if starts else None, "end": max(ends) if ended and ends else None,
            "exit_code": exit_code}
