"""The operator's settings: command-line flags and the admin's config file, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TASK_IMAGE = "ghcr.io/kuberun/kuberun-task:0.1.0"


@dataclass(frozen=True)
class Settings:
    """How this operator instance behaves. Built once at start-up; passed to backends and reconcile."""

    namespaces: tuple[str, ...] = ()           # empty: every namespace (cluster-wide)
    default_image: str = DEFAULT_TASK_IMAGE    # task image when an executor names none
    image_pull_policy: str = "IfNotPresent"
    enable_local_executor: bool = False        # runs user code inside the operator: sandbox only
    local_workdir: Path = field(default_factory=lambda: Path.home() / ".kuberun" / "local")
    metrics_port: int = 8080                   # 0 disables the metrics and health endpoint
    peering: str | None = None                 # kopf peering name for active/standby HA; None: standalone
    priority: int = 0                          # peering priority (unique per replica)
    workers: int = 8                           # experiments reconciled concurrently
    max_backoff_seconds: int = 600             # cap of a task's exponential retry backoff
    resync_seconds: float = 300.0              # relist and reconcile every Experiment this often; 0: never
    torchrun_port: int = 29500
    config_file: Path | None = None            # backends (Slurm clusters, Lepton, SkyPilot): YAML
    kubeconfig: Path | None = None             # None: $KUBECONFIG, ~/.kube/config, or in-cluster
    context: str | None = None
    log_level: str = "INFO"
    log_store_url: str | None = None           # logs and artifacts: a directory, file:///path or s3://bucket/prefix
    artifact_sync_seconds: float = 60.0        # periodic artifact sync of running attempts (recording/artifacts.py)
