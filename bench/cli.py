"""CLI read latency: `kuberun describe`/`list` against kubectl on the same server, flat from 100 up.

Starts the API emulator (no operator: status does not matter for reading) and times fresh
processes, kuberun and kubectl in turn (A B A B ...), so a ratio is taken pair by pair and holds
when the shared machine's speed drifts; the median of the pairs is printed, with both commands'
median wall and CPU times.

Targets (issue 18): with 2,000 Experiments, `kuberun describe NAME` within 2x of
`kubectl get experiment NAME -o yaml`, and `kuberun list` within 2x of `kubectl get experiments`;
`describe` and `list` flat from 100 to 100,000 Experiments. `kubectl get experiments` prints every
Experiment while `kuberun list` prints one page of 50, so `kuberun list --limit 0` (all of them)
against kubectl is printed too.

Populating: the first Experiment is created through the API (defaulted and validated as any
other), then copied under new names, uids and times straight into the emulator's store, on its
event loop — 100,000 API creates would take most of an hour on 2 cores, and a read benchmark needs
the objects, not the writes. Sizes whose seeding would pass --budget are skipped, and said so.
``bench-00000`` carries a status with ``lineage`` as the operator leaves it (describe reads its
reproductions from it: one GET); ``bench-00001`` lacks the field, as an original first reconciled
before it does, so "describe old" times the label-query fallback (O(N)).
The emulator's own time for the same requests is printed: each list scans every stored key, so at
the largest sizes its answer, not the CLI, grows (a real API server pages from its watch cache).
NeMo Run's `nemo experiment status/list` (target: kuberun >= 5x faster) runs when nemo-run is
installed and --nemo is given.

    python bench/cli.py [--runs N] [--count 2000] [--sizes 100,1000,10000,100000] [--budget 600] [--nemo]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAME = "bench-00000"  # the Experiment `describe` shows at every size
OLD_NAME = "bench-00001"  # the same without status.lineage (an original from before it): the fallback's cost
NEMO_SCRIPT = """
import nemo_run as run
with run.Experiment("bench-nemo", executor=run.LocalExecutor(), log_level="WARN") as exp:
    exp.add(run.Script(inline="echo hi"), name="train")
    exp.run(detach=False)
print("ID=" + exp._id)
"""


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys, from the kernel's accounting) of one fresh process; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of ``argv`` in fresh processes, after one warm-up run."""
    run_once(argv, env)
    return statistics.median(run_once(argv, env)[0] for _ in range(runs))


def paired(ours: list[str], theirs: list[str], runs: int) -> dict[str, float]:
    """A and B in turn after a warm-up of each: medians of wall and CPU, and of the pairwise ratios."""
    run_once(ours), run_once(theirs)
    a, b = [], []
    for _ in range(runs):
        a.append(run_once(ours))
        b.append(run_once(theirs))
    med = statistics.median
    return {"ours": med(w for w, _ in a), "theirs": med(w for w, _ in b),
            "ours_cpu": med(c for _, c in a), "theirs_cpu": med(c for _, c in b),
            "wall": med(x[0] / y[0] for x, y in zip(a, b, strict=True)), "cpu": med(x[1] / max(y[1], 1e-6) for x, y in zip(a, b, strict=True))}


def server_time(kube: Any, namespace: str, runs: int, name: str | None = None, events: bool = False, **query: Any) -> float:
    """Median time of one request as the server answers it (in-process client: no CLI start-up)."""
    from kuberun.api import Op
    from kuberun.apipath import api_path
    from kuberun.manage.query import RESOURCE, experiment_path

    path, op = experiment_path(namespace, name), Op("get" if name else "list", RESOURCE, namespace, name)
    if events:  # describe's Events query (the emulator scans every stored key for it, Experiments included)
        path, op = api_path("", "v1", "events", namespace), Op("list", "events", namespace)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        kube.get(path, op, **query)
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
    """Create ``count`` Experiments through the API with 16 threads (bench/ui.py uses this too)."""
    from kuberun.manage.submit import create

    template = experiment_body(0, namespace)

    def one(i: int) -> None:
        body = {**template, "metadata": {**template["metadata"], "name": f"bench-{i:05d}"}}
        create(kube, body, [], namespace)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(start, start + count)))


def seed(server: Any, namespace: str, start: int, stop: int) -> None:
    """Copies of the API-created ``bench-00000`` as ``bench-START`` .. ``bench-STOP-1``, into the store."""
    from kuberun.resource.constants import GROUP, PLURAL
    from kuberun.resource.times import format_time, utcnow

    template = server.store.get((GROUP, PLURAL, namespace, NAME))
    assert template is not None, "bench-00000 must be created through the API first"

    async def put_all() -> None:
        now = format_time(utcnow())
        if start <= 0 < stop or not template.get("status"):  # as the operator leaves it: a status with its lineage
            template["status"] = {"phase": "Pending", "lineage": {"count": 0}}
            server.store.put((GROUP, PLURAL, namespace, NAME), copy.deepcopy(template), "MODIFIED")
        for i in range(max(start, 1), stop):
            obj = copy.deepcopy(template)
            meta = obj["metadata"]
            meta.update(name=f"bench-{i:05d}", uid=str(uuid.uuid4()), creationTimestamp=now)
            if meta["name"] == OLD_NAME:  # first reconciled before status.lineage: describe's label-query fallback
                obj["status"].pop("lineage")
            server.store.put((GROUP, PLURAL, namespace, meta["name"]), obj, "ADDED")
        await server.store.barrier()

    asyncio.run_coroutine_threadsafe(put_all(), server.loop).result(timeout=3600)


def nemo_experiment(home: Path) -> str | None:
    """Run a one-task NeMo Run experiment so `nemo experiment status` has a record; its id."""
    env = {**os.environ, "NEMORUN_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", NEMO_SCRIPT], capture_output=True, text=True, env=env, cwd=home)
    ids = [line[3:] for line in done.stdout.splitlines() if line.startswith("ID=")]
    return ids[0] if ids else None


def find_kubectl() -> str | None:
    local = ROOT / ".tools" / "bin" / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


def ratio_line(label: str, got: dict[str, float]) -> str:
    return (f"  {label:62s} {got['wall']:5.2f}x wall, {got['cpu']:5.2f}x cpu "
            f"({got['ours'] * 1000:.0f} ms vs {got['theirs'] * 1000:.0f} ms; cpu {got['ours_cpu'] * 1000:.0f} vs {got['theirs_cpu'] * 1000:.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--count", type=int, default=2000, help="where the kubectl ratios are taken")
    parser.add_argument("--sizes", default="100,1000,10000,100000", help="the flatness sweep")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds the sweep may take in all")
    parser.add_argument("--nemo", action="store_true", help="also time NeMo Run's commands (runs one NeMo experiment)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from kubernetes import config

    from kuberun.api import connect
    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.helpers.operator import ensure_crd

    kubectl = find_kubectl()
    sizes = sorted({int(s) for s in args.sizes.split(",")} | {args.count})
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="kuberun-bench-"))
    flat: dict[int, dict[str, float]] = {}
    ratios: dict[str, dict[str, float]] = {}
    skipped: list[int] = []
    with run_in_thread() as server:
        kc = write_kubeconfig(work / "kubeconfig", server.url)
        ensure_crd(config.new_client_from_config(config_file=str(kc)))
        kube = connect(str(kc))
        populate(kube, "default", 1)  # through the API: the template every other copy is made from
        kr = [str(BIN / "kuberun")]
        conn = ["--kubeconfig", str(kc)]
        kc_args = [kubectl, "--kubeconfig", str(kc), "--cache-dir", str(work / "kubectl-cache")] if kubectl else []
        have, per_object, last_measure = 1, 0.0, 0.0
        for size in sizes:
            # the next size's seeding at the rate seen so far, and its measuring at least as long as the last
            if time.monotonic() - began + per_object * (size - have) + 2 * last_measure > args.budget:
                skipped.append(size)
                continue
            started = time.monotonic()
            seed(server, "default", have, size)
            per_object = max(per_object, (time.monotonic() - started) / max(size - have, 1))
            have, measuring = size, time.monotonic()
            row = {"describe": timed([*kr, "describe", NAME, *conn], args.runs),
                   "describe old": timed([*kr, "describe", OLD_NAME, *conn], args.runs),
                   "list": timed([*kr, "list", *conn], args.runs),
                   "server get": server_time(kube, "default", args.runs, NAME),
                   "server list page": server_time(kube, "default", args.runs, limit=50),
                   "server lineage": server_time(kube, "default", args.runs, labelSelector="kuberun.dev/reproduced-from=x"),
                   "server events": server_time(kube, "default", args.runs, events=True, fieldSelector="involvedObject.uid=x")}
            if kubectl:
                row["kubectl get NAME"] = timed([*kc_args, "get", "experiment", NAME, "-o", "yaml"], args.runs)
            flat[size] = row
            last_measure = time.monotonic() - measuring
            if size == args.count and kubectl:
                ratios = {
                    "kuberun describe NAME / kubectl get experiment NAME -o yaml":
                        paired([*kr, "describe", NAME, *conn], [*kc_args, "get", "experiment", NAME, "-o", "yaml"], args.runs),
                    "kuberun list / kubectl get experiments":
                        paired([*kr, "list", *conn], [*kc_args, "get", "experiments"], args.runs),
                    "kuberun list --limit 0 (every row) / kubectl get experiments":
                        paired([*kr, "list", "--limit", "0", *conn], [*kc_args, "get", "experiments"], args.runs),
                }
    print(f"fresh processes, medians of {args.runs} runs after a warm-up; {os.cpu_count()} cpus")
    if ratios:
        print(f"kuberun / kubectl with {args.count} Experiments (target: <= 2x; pairwise medians)")
        for label, got in ratios.items():
            print(ratio_line(label, got))
    else:
        print("kubectl not found: no ratios against kubectl")
    print("flatness (ms): " + "  ".join(f"{k:>16s}" for k in next(iter(flat.values()))))
    for size, row in flat.items():
        print(f"  {size:>7d}      " + "  ".join(f"{v * 1000:16.0f}" for v in row.values()))
    small, large = min(flat), max(flat)
    def client_side(row: dict[str, float], command: str) -> float:  # the CLI's time less the emulator's answers
        get = row["server get"] + row["server events"]
        server = {"describe": get, "describe old": get + row["server lineage"]}.get(
            command, row["server list page"])
        return row[command] - server

    for command in ("describe", "describe old", "list"):
        print(f"  kuberun {command}: {large} vs {small} Experiments: {flat[large][command] / flat[small][command]:.2f}x; "
              f"less the emulator's answers: {client_side(flat[large], command) * 1000:.0f} vs "
              f"{client_side(flat[small], command) * 1000:.0f} ms ({client_side(flat[large], command) / client_side(flat[small], command):.2f}x)")
    if skipped:
        print(f"  not measured within --budget {args.budget:.0f} s: {', '.join(map(str, skipped))} Experiments")
    if args.nemo:
        nemo_ratios(flat[small], args.runs, work)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def nemo_ratios(row: dict[str, float], runs: int, work: Path) -> None:
    home = work / "nemo"
    home.mkdir()
    nemo_id = nemo_experiment(home)
    if not nemo_id:
        print("  nemo-run unavailable: no ratios against NeMo Run")
        return
    env = {**os.environ, "NEMORUN_HOME": str(home)}
    status = timed([str(BIN / "nemo"), "experiment", "status", nemo_id], runs, env)
    listing = timed([str(BIN / "nemo"), "experiment", "list", "bench-nemo"], runs, env)
    print(f"  nemo experiment status <id> / kuberun describe: {status / row['describe']:5.1f}x (kuberun faster)")
    print(f"  nemo experiment list <title> / kuberun list:    {listing / row['list']:5.1f}x (kuberun faster)")


if __name__ == "__main__":
    raise SystemExit(main())
