"""Launchers a NeMo Run user sets on an executor: ``kr.FaultTolerance`` (NeMo Run's ``run.FaultTolerance``).

NeMo Run's ``FaultTolerance`` runs NVIDIA's ``ft_launcher``, a torchrun whose agent restarts the
workers in place when one fails (``--max-restarts``) and, with NVIDIA's resiliency package, also
when a rank stops sending heartbeats. kuberun keeps the part every cluster can run — **in-job
restarts** — and records how many there were on the attempt (``status.tasks[].attempts[].restarts``):

- under ``launcher="torchrun"`` (several processes or nodes) torchrun itself restarts the workers
  (``torchrun --max-restarts N``); rank 0's runner reports ``$TORCHELASTIC_RESTART_COUNT``;
- for a single process the runner restarts the task process itself (``kuberun.restarts``), with
  the same ``$TORCHELASTIC_RESTART_COUNT`` so code written for torchrun reads it the same way.

Either way an in-job restart is not a new attempt: one attempt, one backend job, its restart count
recorded. Retries (``exp.add(..., retries=N)``) remain the between-attempts policy.

Heartbeat hang detection (``workload_check_interval``, ``*_heartbeat_timeout``,
``rank_termination_signal``) and ft_launcher's files (``cfg_path``, ``finished_flag_file``,
``job_results_file``) need NVIDIA's ``ft_launcher`` in the image, which kuberun does not assume:
they are refused by name rather than silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from kuberun.errors import InvalidExecutorError
from kuberun.resource.constants import MAX_RESTARTS

#: NeMo Run fields with no kuberun equivalent, and why (the error says it).
NO_EQUIVALENT = {
    "workload_check_interval": "heartbeat hang detection needs NVIDIA's ft_launcher",
    "initial_rank_heartbeat_timeout": "heartbeat hang detection needs NVIDIA's ft_launcher",
    "rank_heartbeat_timeout": "heartbeat hang detection needs NVIDIA's ft_launcher",
    "rank_termination_signal": "ft_launcher's hang handling; a cancelled task gets SIGTERM as any other",
    "cfg_path": "ft_launcher's config file",
    "finished_flag_file": "ft_launcher's flag file; kuberun records the outcome in status",
    "job_results_file": "ft_launcher's results file; kuberun records the outcome in status",
    "log_level": "ft_launcher's log level",
    "rdzv_id": "kuberun sets torchrun's rendezvous itself",
    "nsys_profile": "Nsight profiling is not wired; run nsys in the task's command",
}
#: Values of NeMo Run fields that mean "not set" (their defaults), so converting a default launcher works.
UNSET: dict[str, Any] = {"cfg_path": "", "finished_flag_file": "", "job_results_file": "", "nsys_profile": False}


@dataclass(frozen=True)
class FaultTolerance:
    """Restart the task inside its attempt when it fails, up to ``max_restarts`` times.

    Example::

        kr.SlurmExecutor(cluster="dgx", launcher=kr.FaultTolerance(max_restarts=3))
        kr.KubernetesExecutor(nodes=2, procs_per_node=8, launcher=kr.FaultTolerance(max_restarts=2))

    With several processes (``procs_per_node``/``ntasks_per_node`` > 1) or nodes it runs torchrun
    (``--max-restarts``); a single process is restarted by the runner. ``rdzv_backend`` and
    ``rdzv_port`` are accepted at NeMo Run's defaults only (kuberun wires the rendezvous).
    """

    max_restarts: int | None = None
    rdzv_backend: str = "c10d"
    rdzv_port: int = 29500

    def __post_init__(self) -> None:
        restarts = self.max_restarts or 0
        if isinstance(self.max_restarts, bool) or not isinstance(restarts, int) or not 0 <= restarts <= MAX_RESTARTS:
            raise InvalidExecutorError(f"FaultTolerance(max_restarts={self.max_restarts!r}): a whole number from 0 to {MAX_RESTARTS}")
        if self.rdzv_backend != "c10d" or self.rdzv_port != 29500:
            raise InvalidExecutorError("FaultTolerance: rdzv_backend/rdzv_port have no kuberun equivalent "
                                       "(kuberun sets torchrun's rendezvous: c10d on the first node)")

    @property
    def restarts(self) -> int:
        return self.max_restarts or 0

    def executor_fields(self, processes: int) -> dict[str, Any]:
        """What this launcher sets on an executor that runs ``processes`` processes in all (the
        trait ``kuberun.resource.executors`` looks for on a ``launcher`` value)."""
        return {"launcher": "torchrun" if processes > 1 else "none", "max_restarts": self.restarts}


def from_nemo_run(launcher: Any, where: str) -> FaultTolerance:
    """A NeMo Run ``FaultTolerance`` (or ``launcher="ft"``) as kuberun's, refusing fields that have no equivalent."""
    if isinstance(launcher, str):
        return FaultTolerance()
    given = {f.name: getattr(launcher, f.name) for f in fields(launcher)} if hasattr(launcher, "__dataclass_fields__") else dict(vars(launcher))
    refused = sorted(k for k, v in given.items() if k in NO_EQUIVALENT and v is not None and v != UNSET.get(k))
    if refused:
        why = "; ".join(f"{k}: {NO_EQUIVALENT[k]}" for k in refused)
        raise InvalidExecutorError(f"{where}: FaultTolerance({', '.join(f'{k}=...' for k in refused)}) has no kuberun "
                                   f"equivalent ({why}); kuberun keeps max_restarts (in-job restarts, recorded per attempt)")
    return FaultTolerance(max_restarts=given.get("max_restarts"), rdzv_backend=given.get("rdzv_backend", "c10d"),
                          rdzv_port=given.get("rdzv_port", 29500))

