"""The Slurm bridge against its floor: N one-task Experiments vs N bare sbatch over one SSH connection.

Both sides run the same payload (`python -m kuberun.runner` on a one-line script task) on the
real single-node Slurm the test harness starts, so the difference is the bridge: the API
round trips, reconcile, the submit command and the batched polling. Prints seconds to "all
submitted" and "all finished", the ratios to the floor, and remote commands (SSH channels,
each about one round trip) per task. Targets (issue 7): <= 2x the floor, <= 3 round trips/task.

    tests/slurm/netns-run .venv/bin/python bench/slurm.py [--experiments 100]

Root only, inside the loopback-only namespace (it starts the harness and the API emulator itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from common import api_emulator, cannot_run  # a sibling; it puts the checkout on sys.path

from tests.helpers.operator import running_operator
from tests.slurm.bridge import create_experiment, slurm_task, write_backend_config
from tests.slurm.harness import SlurmCluster, environment_problem

CONCURRENCY = 8  # the operator's default worker count; the floor gets the same parallelism


async def floor(cluster: SlurmCluster, count: int) -> tuple[float, float]:
    """N bare sbatch of the runner over one asyncssh connection; seconds to submitted, to finished."""
    import asyncssh

    task = cluster.workdir / "floor-task.json"
    task.write_text(json.dumps({"name": "t", "script": {"command": ["true"]}}))
    wrap = f"export PATH={Path(sys.executable).parent}:$PATH; python -m kuberun.runner --config {task}"
    gate = asyncio.Semaphore(CONCURRENCY)
    async with asyncssh.connect(**cluster.asyncssh_options()) as conn:  # type: ignore[arg-type]

        async def one(i: int) -> None:
            async with gate:
                await conn.run(f"sbatch --parsable --job-name=floor-{i} --chdir={cluster.workdir} "
                               f"--output=/dev/null --wrap={shlex.quote(wrap)}", check=True)

        start = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        submitted = time.monotonic() - start
        while True:
            out = await conn.run("squeue -h -t all -o '%j %T'", check=True)
            states = [line.split()[1] for line in str(out.stdout).splitlines() if line.startswith("floor-")]
            if len(states) == count and all(s in ("COMPLETED", "FAILED") for s in states):
                return submitted, time.monotonic() - start
            await asyncio.sleep(0.2)


def bridge(cluster: SlurmCluster, count: int, workdir: Path) -> tuple[float, float, int]:
    """N Experiments through the operator; seconds to submitted, to finished, and remote commands."""
    from kuberun_operator.backends.slurm import transport as slurm_transport

    commands = _count_commands(slurm_transport.SshTransport)
    config_file = write_backend_config(cluster, workdir, poll_interval_seconds=1.0)
    with api_emulator(workdir, namespaces=["bench"]) as emulator:
        api = emulator.api
        with running_operator(emulator.kubeconfig, config_file=config_file, workers=CONCURRENCY):
            start = time.monotonic()
            for i in range(count):
                create_experiment(api, "bench", [slurm_task("t", ["true"])], name=f"b-{i}")
            submitted = _wait(api, count, lambda a: bool(a.get("backendRef", {}).get("id")))
            submitted_at = time.monotonic() - start
            _wait(api, count, lambda a: a["phase"] in ("Succeeded", "Failed"))
            return submitted_at, time.monotonic() - start, commands[0] if submitted else 0


def _count_commands(transport: Any) -> list[int]:
    """Count every remote command the operator's SSH transports run (one list cell, shared)."""
    counter = [0]
    run, stream = transport.run, transport.stream

    async def counted_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return await run(self, *args, **kwargs)

    def counted_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return stream(self, *args, **kwargs)

    transport.run, transport.stream = counted_run, counted_stream
    return counter


def _wait(api: Any, count: int, done: Any) -> bool:
    from kubernetes import client

    objects = client.CustomObjectsApi(api)
    while True:
        items = objects.list_namespaced_custom_object("kuberun.dev", "v1alpha1", "bench", "experiments")["items"]
        ready = 0
        for item in items:
            tasks = (item.get("status") or {}).get("tasks", [])
            ready += bool(tasks and tasks[0].get("attempts") and done(tasks[0]["attempts"][-1]))
        if ready == count:
            return True
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=100)
    args = parser.parse_args()
    if cannot_run(environment_problem()):
        return 2
    # A longer MessageTimeout: a burst of sbatch on 2 cores can make slurmctld answer slowly.
    with SlurmCluster(message_timeout_s=10) as cluster:
        floor_sub, floor_done = asyncio.run(floor(cluster, args.experiments))
        work = cluster.workdir / "bench"
        work.mkdir()
        bridge_sub, bridge_done, commands = bridge(cluster, args.experiments, work)
    n = args.experiments
    print(f"{n} one-task experiments on a single-node Slurm (2-core runners share it):")
    print(f"  floor  ({n} bare sbatch, one SSH connection): submitted {floor_sub:6.2f} s   finished {floor_done:6.2f} s")
    print(f"  bridge (operator, Experiment -> sbatch):        submitted {bridge_sub:6.2f} s   finished {bridge_done:6.2f} s")
    print(f"  ratio bridge/floor:                             submitted {bridge_sub / floor_sub:6.2f}x    "
          f"finished {bridge_done / floor_done:6.2f}x   (target <= 2x)")
    print(f"  remote commands (SSH round trips) per task: {commands / n:.2f}   (target <= 3; submit = 1, the rest "
          "is batched polling shared by all tasks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
