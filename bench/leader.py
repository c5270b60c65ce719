"""Leader election and the polite client, measured in the sandbox. Prints ratios.

    python bench/leader.py [--n 300] [--lease 3]

1. Takeover: a leader operator (a process) is SIGKILLed; the time until the standby holds the Lease,
   as a multiple of the lease duration (client-go's bound: 1 lease duration + up to 1.2 retry periods).
2. The client-side limit's cost: N single-task Experiments created at once, the time until all are
   Succeeded with the default QPS/burst (50/100) against no client-side limit (``--api-qps 0``), and
   the peak write rate the operator reached with no limit (what the default would have to carry).
3. What the Lease costs the API: requests per second per replica while nothing changes.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from common import wait_until  # a sibling; it puts the checkout on sys.path

from tests.helpers.operator_process import operator_process

WRITES = {"create", "update", "patch", "delete"}


def _operator(kubeconfig: Path, namespace: str, *extra: str) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The operator as a process watching ``namespace`` (its log discarded); stopped when the block ends."""
    return operator_process(kubeconfig, Path(os.devnull), "--namespace", namespace, "--log-level", "WARNING", *extra)


def _holder(coord: Any, namespace: str) -> str | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return coord.read_namespaced_lease("kuberun-operator", namespace).spec.holder_identity
    except ApiException:
        return None


def takeover(server: Any, api: Any, kubeconfig: Path, lease: float) -> tuple[float, float]:
    """(takeover seconds, lease requests per second per replica at rest)."""
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": "lead"}})
    coord = client.CoordinationV1Api(api)
    timing = ["--leader-elect", "--lease-namespace", "lead", "--lease-duration", str(lease),
              "--renew-deadline", str(lease * 2 / 3), "--retry-period", str(lease / 7.5)]
    with _operator(kubeconfig, "lead", *timing, "--identity", "bench-a") as a:
        wait_until(lambda: _holder(coord, "lead") == "bench-a", 60)
        with _operator(kubeconfig, "lead", *timing, "--identity", "bench-b"):
            time.sleep(lease)  # b campaigning, a renewing
            before, t0 = len(server.request_log), time.perf_counter()
            time.sleep(lease * 2)
            at_rest = sum(1 for r in server.request_log[before:] if r.resource == "leases") / (time.perf_counter() - t0) / 2
            a.send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            a.wait(10)
            taken = wait_until(lambda: _holder(coord, "lead") == "bench-b", 120)
            return taken - killed, at_rest


def throughput(server: Any, api: Any, kubeconfig: Path, namespace: str, n: int, *extra: str) -> tuple[float, float]:
    """(seconds until all N Succeeded, peak operator writes in any one second)."""
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    custom = client.CustomObjectsApi(api)
    with _operator(kubeconfig, namespace, *extra):
        time.sleep(3)
        before = len(server.request_log)
        start = time.perf_counter()
        body = {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment",
                "spec": {"title": "bench", "tasks": [{"name": "t", "script": {"command": ["true"]},
                                                      "executor": {"kubernetes": {}}}]}}
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda i: custom.create_namespaced_custom_object(
                "kuberun.dev", "v1alpha1", namespace, "experiments", {**body, "metadata": {"name": f"b-{i}"}}), range(n)))

        def done() -> bool:
            items = custom.list_namespaced_custom_object("kuberun.dev", "v1alpha1", namespace, "experiments")["items"]
            return sum((i.get("status") or {}).get("phase") == "Succeeded" for i in items) >= n

        finished = wait_until(done, 900) - start
        per_second: dict[int, int] = {}
        for r in server.request_log[before:]:
            if r.verb in WRITES and r.user_agent.startswith("kuberun-operator/") and r.namespace == namespace:
                per_second[int(r.at)] = per_second.get(int(r.at), 0) + 1
        return finished, max(per_second.values(), default=0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--lease", type=float, default=3.0, help="lease duration (deadline 2/3 of it, retry 1/7.5)")
    args = parser.parse_args()
    from kubernetes import config

    from kuberun_sandbox import Sandbox

    with Sandbox(operator=False, complete_immediately=True) as sandbox:
        api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        took, at_rest = takeover(sandbox.server, api, sandbox.kubeconfig, args.lease)
        unlimited, peak = throughput(sandbox.server, api, sandbox.kubeconfig, "free", args.n, "--api-qps", "0")
        limited, limited_peak = throughput(sandbox.server, api, sandbox.kubeconfig, "polite", args.n)
    print(f"takeover after SIGKILL: {took:.2f} s = {took / args.lease:.2f}x the lease duration "
          f"({args.lease:.1f} s)  [bound ~{1 + 1.2 / 7.5:.2f}x]")
    print(f"Lease traffic at rest: {at_rest:.1f} requests/s per replica (retry period {args.lease / 7.5:.2f} s)")
    print(f"{args.n} experiments to Succeeded: default limit (50 QPS, burst 100) {limited:.1f} s, "
          f"no client limit {unlimited:.1f} s: {limited / unlimited:.2f}x")
    print(f"peak operator writes/s: {peak} with no limit, {limited_peak} with the default limit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
