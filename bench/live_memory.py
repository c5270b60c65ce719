"""Operator memory with N live Experiments: each has its Job, none finishes (issue 18 item 2).

The sandbox's API server with its node stopped, so Jobs are created and stay unstarted: every
Experiment stays live (Submitted), which is what the operator holds in memory at scale — its
cached Experiment and Job, kopf's per-object state, its own indexes. Prints the operator's RSS
once all N are reconciled (each has its Job and a status), and again after a settle period; and
what reading a cached (packed) Experiment costs per reconcile, against its pydantic decode.

    python bench/live_memory.py [--n 10000] [--timeout 1800]

Target: RSS <= 150 MB at N = 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reconcile import (  # a sibling script, not a package
    _cpu_seconds,
    _create_all,
    _experiment,
    _peak_rss_mb,
    _wait,
)

TARGET_MB = 150


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reconciled(custom: Any, n: int) -> bool:
    """All ``n`` Experiments carry a status naming their task's attempt (the Job's UID recorded)."""
    items = custom.list_namespaced_custom_object("kuberun.dev", "v1alpha1", "kr", "experiments")["items"]
    done = sum(1 for i in items if any(t.get("attempts") for t in (i.get("status") or {}).get("tasks") or []))
    print(f"  {time.strftime('%H:%M:%S')} reconciled {done}/{n}", file=sys.stderr)
    return done >= n


def _read_cost(body: dict[str, Any]) -> tuple[int, float, float]:
    """(packed bytes, µs to unpack, µs of the reconcile's own pydantic decode) for one cached Experiment:
    medians of 7 x 200 here, in this process (the operator pays the unpack once per reconcile)."""
    import statistics

    from kuberun_operator import slim
    from kuberun_operator.decode import decode
    from kuberun_operator.packed import pack, unpack

    blob = pack(slim.experiment(body))

    def median_us(fn: Any) -> float:
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(200):
                fn()
            runs.append((time.perf_counter() - start) / 200 * 1e6)
        return statistics.median(runs)

    return len(blob), median_us(lambda: unpack(blob)), median_us(lambda: decode(unpack(blob)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for all N to be reconciled")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait after, before the second reading")
    args = parser.parse_args()
    from kubernetes import client, config

    from kuberun_sandbox import Sandbox

    with Sandbox(operator=False, record_server=False) as sandbox:
        # Stop the node: Jobs are created and never start, so no Experiment finishes.
        asyncio.run_coroutine_threadsafe(sandbox.node.stop(), sandbox._loop).result(timeout=30)
        sandbox.node = None  # already stopped: Sandbox.stop skips it
        api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "kr"}})
        proc = subprocess.Popen([sys.executable, "-m", "kuberun_operator", "--kubeconfig", str(sandbox.kubeconfig),
                                 "--metrics-port", "0", "--namespace", "kr", "--log-level", "WARNING"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            idle = _rss_mb(proc.pid)
            custom = client.CustomObjectsApi(api)
            start = time.perf_counter()
            _create_all(lambda b: custom.create_namespaced_custom_object("kuberun.dev", "v1alpha1", "kr", "experiments", b),
                        [_experiment(i) for i in range(args.n)])
            created = time.perf_counter() - start
            done = _wait(lambda: _reconciled(custom, args.n), args.timeout, every=10.0) - start
            at_done, peak = _rss_mb(proc.pid), _peak_rss_mb(proc.pid)
            cpu = _cpu_seconds(proc.pid)
            time.sleep(args.settle)
            settled = _rss_mb(proc.pid)
            packed, unpack_us, decode_us = _read_cost(
                custom.get_namespaced_custom_object("kuberun.dev", "v1alpha1", "kr", "experiments", "b-0"))
            if proc.poll() is not None:
                print(f"the operator exited ({proc.returncode}) during the run", file=sys.stderr)
                return 1
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{args.n} live single-task Experiments (Jobs created, never started): created in {created:.0f} s, "
          f"all reconciled after {done:.0f} s")
    print(f"operator RSS: {idle:.0f} MB idle, {at_done:.0f} MB with all {args.n} reconciled, "
          f"{settled:.0f} MB {args.settle:.0f} s later, peak {peak:.0f} MB  [target <= {TARGET_MB} MB at 10,000]")
    print(f"per live Experiment: {(settled - idle) * 1024 / args.n:.1f} KB; operator CPU {cpu / args.n * 1000:.1f} ms each")
    print(f"a cached Experiment: {packed} B packed; unpacking it {unpack_us:.0f} us per reconcile "
          f"({unpack_us / decode_us:.2f}x the {decode_us:.0f} us pydantic decode each reconcile does, "
          f"{unpack_us / (cpu / args.n * 1e6):.4f}x the operator's CPU per Experiment)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
