"""Manage-command latency: kuberun against NeMo Run, and `kuberun list` at 100 vs 10,000 experiments.

Starts the API emulator (no operator: status does not matter for reading), creates Experiments
through the API from parallel threads, and times fresh `kuberun` processes (median of --runs).
NeMo Run's `nemo experiment status <id>` / `nemo experiment list <title>` run on a comparable
one-task experiment that NeMo Run's LocalExecutor ran to completion in a private NEMORUN_HOME.
Target: >= 5x faster than NeMo Run's commands; `list` flat from 100 to 10,000 thanks to pagination.
The API server's own time for the same requests is printed too: the emulator deep-copies every
stored object of a resource on each list (a real API server reads `limit` objects from etcd), so
at 10,000 its answer, not the CLI, dominates `list` and `describe` (the lineage label query).

    python bench/cli.py [--runs N] [--count 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NEMO_SCRIPT = """
import nemo_run as run
with run.Experiment("bench-nemo", executor=run.LocalExecutor(), log_level="WARN") as exp:
    exp.add(run.Script(inline="echo hi"), name="train")
    exp.run(detach=False)
print("ID=" + exp._id)
"""


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of ``argv`` in fresh processes; fails loudly if the command fails."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def server_time(kube: Any, namespace: str, runs: int, **query: Any) -> float:
    """Median time of one list request as the server answers it (in-process client: no CLI start-up)."""
    from kuberun.api import Op
    from kuberun.manage.query import RESOURCE, experiment_path

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        kube.get(experiment_path(namespace), Op("list", RESOURCE, namespace), **query)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def experiment_body(i: int, namespace: str) -> dict[str, Any]:
    """A realistic one-task Experiment (inline Fiddle config) built once by the SDK, renamed per copy."""
    import kuberun as kr
    from tests.fixtures import tasks

    exp = kr.Experiment("bench", namespace=namespace, name=f"bench-{i:05d}")
    exp.add(kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=8), lr=0.1), name="train")
    return exp.to_resource()


def populate(kube: Any, namespace: str, count: int, start: int = 0) -> None:
    """Create ``count`` Experiments through the API with 16 threads."""
    from kuberun.manage.submit import create

    template = experiment_body(0, namespace)

    def one(i: int) -> None:
        body = {**template, "metadata": {**template["metadata"], "name": f"bench-{i:05d}"}}
        create(kube, body, [], namespace)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(start, start + count)))


def nemo_experiment(home: Path) -> str | None:
    """Run a one-task NeMo Run experiment so `nemo experiment status` has a record; its id."""
    env = {**os.environ, "NEMORUN_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", NEMO_SCRIPT], capture_output=True, text=True, env=env, cwd=home)
    ids = [line[3:] for line in done.stdout.splitlines() if line.startswith("ID=")]
    return ids[0] if ids else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from kubernetes import config

    from kuberun.api import Op, connect
    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.helpers.operator import ensure_crd

    work = Path(tempfile.mkdtemp(prefix="kuberun-bench-"))
    with run_in_thread() as server:
        kc = write_kubeconfig(work / "kubeconfig", server.url)
        ensure_crd(config.new_client_from_config(config_file=str(kc)))
        kube = connect(str(kc))
        kube.request("POST", "/api/v1/namespaces", Op("create", "namespaces"), body={"metadata": {"name": "small"}})
        kr = [str(BIN / "kuberun")]
        kube_args = ["--kubeconfig", str(kc)]
        populate(kube, "small", 100)
        list_small = timed([*kr, "list", "-n", "small", *kube_args], args.runs)
        server_small = server_time(kube, "small", args.runs, limit=50)
        start = time.perf_counter()
        populate(kube, "default", args.count)
        print(f"created {args.count} Experiments in {time.perf_counter() - start:.1f} s")
        server_large = server_time(kube, "default", args.runs, limit=50)
        selector_large = server_time(kube, "default", args.runs, labelSelector="kuberun.dev/reproduced-from=x")
        results = {
            "kuberun --help": timed([*kr, "--help"], args.runs),
            "kuberun list (first page)": timed([*kr, "list", *kube_args], args.runs),
            "kuberun describe NAME": timed([*kr, "describe", f"bench-{args.count // 2:05d}", *kube_args], args.runs),
        }
    home = work / "nemo"
    home.mkdir()
    nemo_id = nemo_experiment(home)
    nemo_env = {**os.environ, "NEMORUN_HOME": str(home)}
    nemo = {}
    if nemo_id:
        nemo = {"nemo experiment status <id>": timed([str(BIN / "nemo"), "experiment", "status", nemo_id], args.runs, nemo_env),
                "nemo experiment list <title>": timed([str(BIN / "nemo"), "experiment", "list", "bench-nemo"], args.runs, nemo_env)}
    print(f"median wall time of {args.runs} fresh processes, {args.count} Experiments in the namespace")
    for name, seconds in {**results, **nemo}.items():
        print(f"  {name:32s} {seconds * 1000:7.0f} ms")
    for ours, seconds in results.items():
        for theirs, other in nemo.items():
            print(f"  {theirs} / {ours}: {other / seconds:5.1f}x (kuberun faster)")
    if not nemo:
        print("  nemo-run unavailable: no ratios against NeMo Run")
    large = results["kuberun list (first page)"]
    print(f"  kuberun list, 100 vs {args.count} experiments: {list_small * 1000:.0f} ms vs {large * 1000:.0f} ms (ratio {large / list_small:.2f})")
    print(f"    of which the API server's answer to one `limit=50` list: {server_small * 1000:.0f} ms vs {server_large * 1000:.0f} ms")
    for theirs, other in nemo.items():
        print(f"  {theirs} / kuberun list with 100 experiments: {other / list_small:5.1f}x (kuberun faster)")
    print(f"  describe's lineage query (label selector over {args.count}) on the API server: {selector_large * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
