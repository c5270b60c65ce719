"""``kuberun-operator`` / ``python -m kuberun_operator``: parse flags, run the operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
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
    a = p.parse_args(argv)
    local = {"local_workdir": a.local_workdir} if a.local_workdir is not None else {}
    return Settings(**local,namespaces=tuple(a.namespace), log_level=a.log_level, metrics_port=a.metrics_port, peering=a.peering,
                    priority=a.priority, enable_local_executor=a.enable_local_executor, default_image=a.default_image,
                    config_file=a.config, kubeconfig=a.kubeconfig, context=a.context, workers=a.workers,
                    resync_seconds=a.resync_seconds)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kuberun_operator.app import run

    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
