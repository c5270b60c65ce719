"""Start-up cost of a heterogeneous Slurm job against a one-component job, through the operator.

On the two-node harness (tests/slurm/twonode.py), one Experiment at a time, alternating: a task
of one component, then the same task as a 2-component het job (one srun --het-group each).
Reports the median seconds from "Experiment created" to "task Succeeded" for each and their
ratio; the payload is `true`, so the time is start-up (API, reconcile, sbatch, scheduling — het
jobs only start from the backfill scheduler — the sruns, the runner and the poll that sees the end).

    tests/slurm/netns-run .venv/bin/python bench/slurm_het.py [--rounds 5]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if cannot_run(environment_problem()):
        return 2
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
