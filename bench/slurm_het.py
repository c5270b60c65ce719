"""Start-up cost of a heterogeneous Slurm job against a one-component job, through the operator.

On the two-node harness (tests/slurm/twonode.py), one Experiment at a time, alternating: a task
of one component, then the same task as a 2-component het job (one srun --het-group each).
Reports the median seconds from "Experiment created" to "task Succeeded" for each and their
ratio; the payload is `true`, so the time is start-up (API, reconcile, sbatch, scheduling — het
jobs only start from the backfill scheduler — the sruns, the runner and the poll that sees the end).

    tests/slurm/netns-run .venv/bin/python bench/slurm_het.py [--rounds 5]
    tests/slurm/netns-run .venv/bin/python bench/slurm_het.py --code [--rounds 5]

``--code``: a code package's delivery instead, on the same harness without the operator: one
``srun -N2 --ntasks-per-node=2`` of the runner (a `true` task shipping a package of incompressible
MiB, ``--code-mib``), with ``KUBERUN_CODE_CACHE`` (one read and unpack per node) against without (one
per rank), alternating; the median seconds of the srun and their ratio.

Root only, inside the loopback-only namespace (it starts the harness and the API emulator itself).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from common import api_emulator, cannot_run  # a sibling; it puts the checkout on sys.path

from tests.helpers.operator import running_operator
from tests.slurm.bridge import create_experiment, slurm_task, write_backend_config
from tests.slurm.harness import environment_problem
from tests.slurm.twonode import TwoNodeCluster

SHAPES = {
    "one component": {},
    "het, 2 components": {"heterogeneous": True, "resource_group": [{"memory": "100M"}, {"memory": "100M"}]},
}


def _phase(api: Any, name: str) -> str | None:
    from kubernetes import client

    item = client.CustomObjectsApi(api).get_namespaced_custom_object("kuberun.dev", "v1alpha1", "bench", "experiments", name)
    tasks = (item.get("status") or {}).get("tasks", [])
    return tasks[0].get("phase") if tasks else None


def one(api: Any, name: str, shape: dict[str, Any], timeout_s: float = 120.0) -> float:
    start = time.monotonic()
    create_experiment(api, "bench", [slurm_task("t", ["true"], **shape)], name=name)
    while time.monotonic() - start < timeout_s:
        phase = _phase(api, name)
        if phase in ("Succeeded", "Failed"):
            if phase != "Succeeded":
                raise RuntimeError(f"{name} ended {phase}")
            return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not finish in {timeout_s} s")


def code_delivery(cluster: TwoNodeCluster, rounds: int, mib: int) -> None:
    """Per-node against per-rank unpacking of one package, through real srun steps on both nodes."""
    import json
    import os

    from kuberun.packaging import Entry, build_package

    work = cluster.workdir / "code-bench"
    work.mkdir()
    package = build_package([Entry("blob.bin", data=os.urandom(mib << 20)), Entry("lib.py", data=b"X = 1\n")])
    (work / "code.tar.gz").write_bytes(package.data)
    (work / "task.json").write_text(json.dumps({"name": "t", "script": {"command": ["true"]},
                                                "code": {"sha256": package.sha256, "files": [str(work / "code.tar.gz")]}}))
    times: dict[str, list[float]] = {"per node": [], "per rank": []}
    for i in range(rounds + 1):  # round 0 warms the page cache and Slurm's step launch
        for label in times:
            env = f"ALL,KUBERUN_CODE_CACHE={work}/cache-{i}" if label == "per node" else "ALL"
            start = time.monotonic()
            cluster.run(["srun", "-N2", "--ntasks-per-node=2", f"--export={env}", f"--chdir={work}", sys.executable,
                         "-m", "kuberun.runner", "--config", str(work / "task.json")], timeout=300)
            if i:
                times[label].append(time.monotonic() - start)
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"a {len(package.data) >> 20} MiB code package to 2 nodes x 2 ranks (srun of the runner), {rounds} rounds:")
    for label, values in times.items():
        print(f"  unpacked {label:8s} median {medians[label]:5.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"  ratio per-node/per-rank: {medians['per node'] / medians['per rank']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--code", action="store_true", help="time a code package's delivery, per node vs per rank")
    parser.add_argument("--code-mib", type=int, default=32)
    args = parser.parse_args()
    if cannot_run(environment_problem()):
        return 2
    if args.code:
        with TwoNodeCluster(message_timeout_s=10) as cluster:
            code_delivery(cluster, args.rounds, args.code_mib)
        return 0
    times: dict[str, list[float]] = {label: [] for label in SHAPES}
    with TwoNodeCluster(message_timeout_s=10) as cluster:
        work = cluster.workdir / "bench"
        work.mkdir()
        config_file = write_backend_config(cluster, work, poll_interval_seconds=0.25)
        with (api_emulator(work, namespaces=["bench"]) as emulator,
              running_operator(emulator.kubeconfig, config_file=config_file)):
            one(emulator.api, "warm-up", {})
            for i in range(args.rounds):
                for j, (label, shape) in enumerate(SHAPES.items()):
                    times[label].append(one(emulator.api, f"r{i}-{j}", shape))
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"create -> Succeeded of a `true` task on the two-node harness, {args.rounds} rounds, alternating:")
    for label, values in times.items():
        print(f"  {label:18s} median {medians[label]:5.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    plain, het = medians.values()
    print(f"  ratio het/one-component: {het / plain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
