"""``kuberun-operator`` / ``python -m kuberun_operator``: parse flags, run the operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from kuberun_operator.settings import DEFAULT_TASK_IMAGE, Settings


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="kuberun-operator", description="Reconcile kuberun Experiments into running work.")
    p.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable); default: all")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--metrics-port", type=int, default=8080, help="Prometheus /metrics, /healthz, /readyz; 0 disables")
    p.add_argument("--peering", default=None, help="kopf peering name for active/standby HA (default: standalone)")
    p.add_argument("--priority", type=int, default=0, help="peering priority; give every replica a different one")
    p.add_argument("--enable-local-executor", action="store_true", help="run `local` tasks as operator subprocesses (sandbox only)")
    p.add_argument("--local-workdir", type=Path, default=None,
                   help="where local tasks' attempt directories live (default: ~/.kuberun/local)")
    p.add_argument("--default-image", default=DEFAULT_TASK_IMAGE, help="task image when an executor names none")
    p.add_argument("--config", type=Path, default=None, help="backend configuration (YAML)")
    p.add_argument("--kubeconfig", type=Path, default=None)
    p.add_argument("--context", default=None)
    p.add_argument("--workers", type=int, default=8, help="experiments reconciled concurrently")
    p.add_argument("--resync-seconds", type=float, default=300.0,
                   help="relist Experiments and reconcile every one this often (0: never)")
    p.add_argument("--code-gc-seconds", type=float, default=0.0,
                   help="collect unreferenced code package chunks this often, leader only (0: never)")
    p.add_argument("--code-gc-grace-seconds", type=float, default=7 * 86400.0,
                   help="keep a code package this long after the last Experiment referencing it went")
    p.add_argument("--code-gc-limit", type=int, default=100, help="writes per collection pass at most")
    p.add_argument("--archive-url", default=None, help="archive database (sqlite:///PATH; no passwords here)")
    p.add_argument("--archive-url-file", type=Path, default=None, help="a file holding the archive's URL (a mounted Secret)")
    p.add_argument("--log-store-url", default=None, help="where attempts' logs are copied: a directory or s3://bucket/prefix")
    p.add_argument("--log-store-secret-dir", type=Path, default=None, help="the log store's credentials (a mounted Secret)")
    p.add_argument("--record-server-port", type=int, default=0,
                   help="serve task logs and the archive to RBAC-allowed users on this port (0: off)")
    p.add_argument("--record-server-host", default="0.0.0.0", help="the record server's listen address")
    p.add_argument("--record-server-tls-dir", type=Path, default=None,
                   help="directory with tls.crt and tls.key for the record server (default: plain HTTP)")
    p.add_argument("--leader-elect", action="store_true",
                   help="act only while holding a coordination.k8s.io Lease (active/standby, shards)")
    p.add_argument("--lease-name", default="kuberun-operator", help="the Lease (with --shards: its prefix)")
    p.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE") or "default")
    p.add_argument("--identity", default="", help="this replica's name in the Lease (default: $POD_ID or hostname)")
    p.add_argument("--lease-duration", type=float, default=15.0, help="seconds a standby waits for a silent leader")
    p.add_argument("--renew-deadline", type=float, default=10.0, help="seconds the leader acts without a renewal")
    p.add_argument("--retry-period", type=float, default=2.0, help="seconds between lease tries and renewals")
    p.add_argument("--shards", type=int, default=1, help="split Experiments into N shards, one Lease each")
    p.add_argument("--shard-index", default="0",
                   help="the shard this replica owns first (a number, or a pod name ending in -N)")
    p.add_argument("--api-qps", type=float, default=50.0, help="client-side API requests per second (0: unlimited)")
    p.add_argument("--api-burst", type=int, default=100, help="API requests allowed at once above --api-qps")
    p.add_argument("--admission-cache-seconds", type=float, default=5.0,
                   help="reuse a namespace's yes to a pod dry run this long for the same pod shape (0: ask each time; "
                        "refusals are never reused)")
    a = p.parse_args(argv)
    if not 0 <= a.admission_cache_seconds <= 300:
        p.error("--admission-cache-seconds must be in 0..300")
    if a.shards < 1:
        p.error("--shards must be at least 1")
    index = _shard_index(a.shard_index, a.shards)
    if index is None or not 0 <= index < a.shards:
        p.error(f"--shard-index {a.shard_index!r} must be (or end in) a number in 0..{a.shards - 1}")
    if a.shards > 1 and not a.leader_elect:
        p.error("--shards needs --leader-elect (each shard is owned through its Lease)")
    if not 0 < a.retry_period < a.renew_deadline < a.lease_duration:
        p.error("leader election needs 0 < --retry-period < --renew-deadline < --lease-duration")
    local = {"local_workdir": a.local_workdir} if a.local_workdir is not None else {}
    return Settings(**local, namespaces=tuple(a.namespace), log_level=a.log_level, metrics_port=a.metrics_port, peering=a.peering,
                    priority=a.priority, enable_local_executor=a.enable_local_executor, default_image=a.default_image,
                    config_file=a.config, kubeconfig=a.kubeconfig, context=a.context, workers=a.workers,
                    resync_seconds=a.resync_seconds, code_gc_seconds=a.code_gc_seconds,
                    code_gc_grace_seconds=a.code_gc_grace_seconds, code_gc_limit=a.code_gc_limit,
                    archive_url=a.archive_url, archive_url_file=a.archive_url_file,
                    log_store_url=a.log_store_url, log_store_secret_dir=a.log_store_secret_dir,
                    record_server_port=a.record_server_port,
                    record_server_host=a.record_server_host, record_server_tls_dir=a.record_server_tls_dir,
                    leader_election=a.leader_elect, lease_name=a.lease_name,
                    lease_namespace=a.lease_namespace, identity=a.identity, lease_duration=a.lease_duration,
                    renew_deadline=a.renew_deadline, retry_period=a.retry_period, shards=a.shards, shard_index=index,
                    api_qps=a.api_qps, api_burst=a.api_burst,
                    admission_cache_seconds=a.admission_cache_seconds)


def _shard_index(text: str, shards: int) -> int | None:
    """``1`` as given, or a StatefulSet pod's name (``kr-kuberun-operator-3``): its ordinal mod ``shards``,
    so pods 1 and 3 of four both own shard 1 (an active and its standby)."""
    if text.isdigit():
        return int(text)
    tail = text.rsplit("-", 1)[-1]
    return int(tail) % shards if tail.isdigit() else None


def main(argv: list[str] | None = None) -> None:
    from kuberun_operator.footprint import prepare

    prepare()  # before any thread or kopf: malloc arenas, kopf without the kubernetes package
    settings = parse_args(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kuberun_operator.app import run

    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
