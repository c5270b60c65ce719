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
    # Code package collection (codegc.py, docs/nemo-run.md "Collecting code packages"): chunks no Experiment references.
    code_gc_seconds: float = 0.0               # a pass this often (leader only); 0: never (the chart's codeGc)
    code_gc_grace_seconds: float = 7 * 86400.0  # kept this long after the last reference went
    code_gc_limit: int = 100                   # writes per pass at most
    config_file: Path | None = None            # backends (Slurm clusters, Lepton, SkyPilot): YAML
    kubeconfig: Path | None = None             # None: $KUBECONFIG, ~/.kube/config, or in-cluster
    context: str | None = None
    log_level: str = "INFO"
    # The record (recording/, docs/archive.md, docs/logstore.md). None: not kept beyond the object.
    archive_url: str | None = None             # sqlite:///PATH or a URL without a password
    archive_url_file: Path | None = None       # a file holding the URL (the chart's mounted Secret): wins
    log_store_url: str | None = None           # a directory, file:///PATH or s3://bucket[/prefix]
    log_store_secret_dir: Path | None = None   # the log store's credentials (a mounted Secret)
    artifact_sync_seconds: float = 60.0        # periodic artifact sync of running attempts (recording/artifacts.py)
    # The record server (server/, docs/record-server.md): logs and the archive for RBAC-allowed callers.
    record_server_port: int = 0                # 0: not served
    record_server_host: str = "0.0.0.0"
    record_server_tls_dir: Path | None = None  # tls.crt + tls.key (a mounted Secret); None: plain HTTP
    # Leader election (leadership/): off, the operator acts alone; on, only the Lease holder acts.
    leader_election: bool = False
    lease_name: str = "kuberun-operator"
    lease_namespace: str = "default"          # the chart: the release namespace
    identity: str = ""                         # empty: $POD_ID, else hostname + a random suffix
    lease_duration: float = 15.0               # client-go's defaults
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    shards: int = 1                            # Experiments split by hash of UID, one Lease per shard
    shard_index: int = 0                       # the shard this replica campaigns for first
    # The API client's manners (ratelimit.py): client-side QPS/burst; 0 QPS: unlimited.
    api_qps: float = 50.0
    api_burst: int = 100
    # A namespace's yes to an attempt's pod dry run, reused this long for the same pod shape (0: ask each time).
    admission_cache_seconds: float = 5.0
