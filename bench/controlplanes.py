"""The two sandbox control planes side by side: the emulator vs a real kube-apiserver + etcd +
kube-controller-manager (``make kube-tools``), each with the sandbox node running real processes.

    python bench/controlplanes.py [--jobs 32]

Prints, as ratios real / emulator: time to a usable sandbox (CRD installed, node ready), time for
N one-pod Jobs (``python -c pass``) created at once to be Complete, and time to stop. Also the
real control plane's own start-up breakdown (etcd, kube-apiserver, kube-controller-manager).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEADLINE = 300.0


def _job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "python", "command": ["python", "-c", "pass"]}]}}}}


def _complete(batch: Any) -> int:
    return sum(1 for j in batch.list_namespaced_job("default").items
               if any(c.type == "Complete" and c.status == "True" for c in ((j.status and j.status.conditions) or [])))


def run(kind: str, jobs: int) -> dict[str, float]:
    from kubernetes import client, config

    from kuberun_sandbox import Sandbox

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        sandbox = Sandbox(data_dir=tmp, operator=False, control_plane=kind).start()
        result = {"start": time.monotonic() - started}
        try:
            with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api:
                batch = client.BatchV1Api(api)
                t = time.monotonic()
                for i in range(jobs):
                    batch.create_namespaced_job("default", _job(f"b{i}"))
                while _complete(batch) < jobs:
                    if time.monotonic() - t > DEADLINE:
                        raise TimeoutError(f"{kind}: {_complete(batch)}/{jobs} Jobs Complete after {DEADLINE:.0f}s")
                    time.sleep(0.1)
                result["jobs"] = time.monotonic() - t
                if sandbox.control_plane is not None:
                    result.update({f"cp.{k}": v for k, v in sandbox.control_plane.timings.items()})
        finally:
            t = time.monotonic()
            sandbox.stop()
            result["stop"] = time.monotonic() - t
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=32)
    args = parser.parse_args()
    from kuberun_sandbox.realcp import BinariesMissing, find_binaries

    try:
        find_binaries()
    except BinariesMissing as e:
        print(f"skipped: {e}")
        return 0
    emulator, real = run("emulator", args.jobs), run("real", args.jobs)
    for key, what in (("start", "usable sandbox"), ("jobs", f"{args.jobs} Jobs Complete"), ("stop", "stopped")):
        print(f"{what:>22}: real {real[key]:.2f}s / emulator {emulator[key]:.2f}s = {real[key] / emulator[key]:.1f}x")
    breakdown = ", ".join(f"{k[3:]} {v:.2f}s" for k, v in real.items() if k.startswith("cp."))
    print(f"{'real control plane':>22}: {breakdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
