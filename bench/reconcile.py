"""Reconcile throughput: N single-task Experiments created at once in the sandbox, against a floor.

The sandbox node completes Jobs immediately (no processes), so this measures the control plane:
the floor is a minimal kopf operator that only creates one Job per Experiment (the same custom
resource, so admission costs the API server the same), then kuberun's operator, each in its own
process and each on a fresh sandbox of its own (neither operator sees the other's objects). Prints ratios.

    python bench/reconcile.py [--n 1000] [--rounds 1] [--api-qps 50] [--profile DIR] [--timeout 600] [--budget 3600]

``--rounds K`` interleaves: K rounds in ABBA order (floor, kuberun | kuberun, floor | floor, kuberun ...),
and prints each round's kuberun/floor ratio and the median of those pairwise ratios. On 2 shared cores
the load changes between two runs made one after the other, so one such ratio moves more with the load
than with the code; within a round the two runs are adjacent, and alternating which goes first cancels
a load that rises or falls steadily across a pair. The median of K pairs is what to read.

Reports: time until all Jobs exist (kuberun / floor), time until all Experiments Succeeded,
API writes per task transition (Submitted, Succeeded), the operator's peak RSS (VmHWM), CPU per
experiment of the operator and of this process (the emulator and the node), requests per experiment
by verb and by client, and where the time after the last Job goes (the node completing Jobs, then
the operator's last status writes). Times come from the emulator's request log. ``--api-qps`` is the
operator's client-side limit (the floor has none; 0 lifts it). ``--profile`` writes stack samples
of both processes (bench/sampler.py) and a cProfile of the control plane's thread by CPU time
(with ``--rounds`` > 1, of each kuberun run, into DIR/round-I). ``--timeout`` bounds each wait,
``--budget`` the whole benchmark: no round starts after it, and no wait outlasts it.
Targets: <= 1.5x the floor, <= 3 writes per transition, RSS <= 150 MB, >= 1,000 experiments/min.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"create", "update", "patch", "delete"}
REQUEST_TIMEOUT = 60  # seconds for any one API request of this process (the creates)


def _create_all(fn: Any, bodies: list[dict[str, Any]]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(fn, bodies))


def _count_jobs(sandbox: Any, namespace: str) -> int:
    """Jobs stored in ``namespace``, counted on the emulator's thread. Not by listing them over HTTP:
    a list of 1,000 Jobs decoded into the ``kubernetes`` package's models is ~1 s of Python in this
    process every poll, and each time it holds the GIL the emulator's thread (here too) waits for it
    after every socket write and SQLite statement — it slowed the emulator more than the operators."""
    return sandbox.call(lambda: len(sandbox.server.store.list_refs("batch", "jobs", namespace)))


def _count_succeeded(sandbox: Any, namespace: str) -> int:
    return sandbox.call(lambda: sum((o.get("status") or {}).get("phase") == "Succeeded"
                                    for o in sandbox.server.store.list_refs("kuberun.dev", "experiments", namespace)))


def _wait(predicate: Any, timeout: float, every: float = 0.5, deadline: float | None = None) -> float:
    """Poll ``predicate`` every ``every`` s (until ``timeout``, or the ``time.monotonic()`` ``deadline``
    if that comes first). The times reported come from the request log (``_jobs_created_at``,
    ``_timeline``), to the millisecond; this only says when to look."""
    start = time.perf_counter()
    limit = timeout if deadline is None else min(timeout, deadline - time.monotonic())
    while not predicate():
        if time.perf_counter() - start > limit:
            raise TimeoutError("benchmark did not converge" + (" within its budget" if limit < timeout else ""))
        time.sleep(every)
    return time.perf_counter()


def _jobs_created_at(records: list[Any], namespace: str, n: int, start: float) -> float:
    """Seconds from ``start`` (monotonic) to the arrival of the ``n``-th Job create that succeeded."""
    at = sorted(r.at for r in records if r.verb == "create" and r.resource == "jobs" and r.namespace == namespace
                and r.code == 201)
    return at[n - 1] - start


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (from /proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate an operator's process; kill it if it has not exited 30 s later."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def _experiment(i: int) -> dict[str, Any]:
    return {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": f"b-{i}"},
            "spec": {"title": "bench", "tasks": [{"name": "t", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}}]}}


def run_floor(sandbox: Any, api: Any, n: int, timeout: float, deadline: float | None = None) -> float:
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": "floor"}})
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "floor_operator.py"), str(sandbox.kubeconfig)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # let kopf start watching
        custom = client.CustomObjectsApi(api)
        before, start = len(sandbox.server.request_log), time.monotonic()
        _create_all(lambda b: custom.create_namespaced_custom_object("kuberun.dev", "v1alpha1", "floor", "experiments", b,
                                                                         _request_timeout=REQUEST_TIMEOUT),
                    [_experiment(i) for i in range(n)])
        _wait(lambda: _count_jobs(sandbox, "floor") >= n, timeout, deadline=deadline)
        return _jobs_created_at(sandbox.server.request_log[before:], "floor", n, start)
    finally:
        _stop(proc)


def _timeline(records: list[Any], start: float) -> dict[str, float]:
    """When, after ``start``, the last Job was created, the last Job completed (the node's status write)
    and the last Experiment status written: splits the time after the last Job between node and operator."""
    def last(match: Any) -> float:
        return max((r.at for r in records if match(r)), default=start) - start

    ours = ("kopf/", "kuberun-operator/")
    return {"last_job_created": last(lambda r: r.verb == "create" and r.resource == "jobs"),
            "last_job_completed": last(lambda r: r.resource == "jobs" and r.subresource == "status"
                                       and r.verb in WRITES and not r.user_agent.startswith(ours)),
            "last_status": last(lambda r: r.resource == "experiments" and r.subresource == "status"
                                and r.user_agent.startswith(ours))}


def run_kuberun(sandbox: Any, api: Any, n: int, api_qps: float, profile: Path | None, timeout: float,
                deadline: float | None = None) -> dict[str, Any]:
    from kubernetes import client

    server, kubeconfig = sandbox.server, sandbox.kubeconfig

    client.CoreV1Api(api).create_namespace({"metadata": {"name": "kr"}})
    wrap = [str(ROOT / "bench" / "sampler.py"), str(profile / "operator.txt")] if profile else []
    proc = subprocess.Popen([sys.executable, *wrap, "-m", "kuberun_operator", "--kubeconfig", str(kubeconfig),
                             "--metrics-port", "0", "--api-qps", str(api_qps),
                             "--namespace", "kr",  # the floor's Experiments are left alone
                             "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampling = emulator_profile = None
    try:
        time.sleep(3)
        custom = client.CustomObjectsApi(api)
        before = len(server.request_log)
        if profile:
            from sampler import start as start_sampler  # bench/ is on sys.path: this file runs from it

            sampling = start_sampler()
            # And the control plane's thread by its own CPU time (the sampler sees wall time, which on
            # a loaded machine is mostly waiting for a core): cProfile on that thread, thread_time clock.
            emulator_profile = cProfile.Profile(time.thread_time)
            sandbox.call(emulator_profile.enable)
        cpu_before = _cpu_seconds(os.getpid())
        start = time.monotonic()
        _create_all(lambda b: custom.create_namespaced_custom_object("kuberun.dev", "v1alpha1", "kr", "experiments", b,
                                                                         _request_timeout=REQUEST_TIMEOUT),
                    [_experiment(i) for i in range(n)])
        _wait(lambda: _count_jobs(sandbox, "kr") >= n, timeout, deadline=deadline)
        _wait(lambda: _count_succeeded(sandbox, "kr") >= n, timeout, deadline=deadline)
        time.sleep(1)  # Events are posted in the background after the last status write
        cpu = _cpu_seconds(proc.pid)
        control_plane_cpu = _cpu_seconds(os.getpid()) - cpu_before
        timeline = _timeline(server.request_log[before:], start)
        ours = [r for r in server.request_log[before:] if r.user_agent.startswith(("kopf/", "kuberun-operator/"))]
        writes = sum(1 for r in ours if r.verb in WRITES)
        by_agent = Counter(r.user_agent.split("/")[0] for r in server.request_log[before:] if r.verb != "watch")
        by_kind = Counter(f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}" for r in ours
                          if r.verb != "watch")
        return {"jobs": _jobs_created_at(server.request_log[before:], "kr", n, start), "done": timeline["last_status"], "writes_per_transition": writes / (2 * n), "rss_mb": _peak_rss_mb(proc.pid),
                "requests_per_experiment": sum(by_kind.values()) / n, "by_kind": {k: v / n for k, v in by_kind.most_common()},
                "cpu_seconds": cpu, "timeline": timeline, "by_agent": by_agent, "control_plane_cpu": control_plane_cpu}
    finally:
        if sampling is not None and profile is not None:
            sampling.stop(profile / "bench-process.txt")  # the emulator and the node: thread kuberun-sandbox
            sandbox.call(emulator_profile.disable)
            with (profile / "control-plane-cpu.txt").open("w") as out:
                pstats.Stats(emulator_profile, stream=out).sort_stats("tottime").print_stats(60)
                pstats.Stats(emulator_profile, stream=out).sort_stats("cumtime").print_stats(80)
        _stop(proc)


def _run(which: str, args: argparse.Namespace, profile: Path | None, deadline: float) -> dict[str, Any]:
    """One run, floor or kuberun, on a fresh sandbox of its own (so no operator sees the other's objects)."""
    from kubernetes import config

    from kuberun_sandbox import Sandbox

    with Sandbox(operator=False, complete_immediately=True) as sandbox:
        api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        if which == "floor":
            return {"jobs": run_floor(sandbox, api, args.n, args.timeout, deadline)}
        return run_kuberun(sandbox, api, args.n, args.api_qps, profile, args.timeout, deadline)


def _rounds(args: argparse.Namespace) -> tuple[list[dict[str, Any]], int]:
    """Run ``args.rounds`` rounds in ABBA order; each round's results (floor, kuberun, the load at its start
    and end) and how many rounds the budget left out. Every wait is capped by what is left of the budget;
    a round it cuts short is left out, and the rounds before it are still reported."""
    deadline = time.monotonic() + args.budget
    done: list[dict[str, Any]] = []
    for i in range(args.rounds):
        if time.monotonic() >= deadline:
            break
        order = ("floor", "kuberun") if i % 2 == 0 else ("kuberun", "floor")
        profile = args.profile / f"round-{i + 1}" if args.profile and args.rounds > 1 else args.profile
        if profile:
            profile.mkdir(parents=True, exist_ok=True)
        result: dict[str, Any] = {"order": order, "load_before": os.getloadavg()[0]}
        try:
            for which in order:
                result[which] = _run(which, args, profile, deadline)
        except TimeoutError as e:
            if not done or time.monotonic() < deadline:
                raise  # a run that does not converge, or the budget gone before any round finished
            print(f"round {i + 1} cut short: {e}", file=sys.stderr)
            break
        result["load_after"] = os.getloadavg()[0]
        done.append(result)
        if args.rounds > 1:
            print(_round_line(i + 1, result, args.n), file=sys.stderr, flush=True)  # progress, while it runs
    return done, args.rounds - len(done)


def _round_line(number: int, r: dict[str, Any], n: int) -> str:
    floor, ours = r["floor"]["jobs"], r["kuberun"]
    return (f"round {number} ({', '.join(r['order'])}; load {r['load_before']:.1f} -> {r['load_after']:.1f}): "
            f"floor {floor:.1f} s, kuberun {ours['jobs']:.1f} s to all Jobs = {ours['jobs'] / floor:.2f}x; "
            f"{ours['done']:.1f} s to all Succeeded = {n / ours['done'] * 60:.0f} experiments/min, "
            f"{ours['requests_per_experiment']:.2f} requests/experiment")


def _report_rounds(args: argparse.Namespace, done: list[dict[str, Any]], skipped: int) -> None:
    """The interleaved summary: every pair's ratio, and the medians."""
    ratios = [r["kuberun"]["jobs"] / r["floor"]["jobs"] for r in done]
    ours = [r["kuberun"] for r in done]
    print(f"{args.n} single-task experiments, {len(done)} of {args.rounds} rounds in ABBA order, each run on a fresh sandbox "
          f"(operator API QPS limit {args.api_qps:g}; sandbox node completing Jobs immediately)"
          + (f"; the rest left out: the budget of {args.budget:.0f} s ran out" if skipped else ""))
    for number, r in enumerate(done, 1):
        print(_round_line(number, r, args.n))
    print(f"all Jobs exist, median of the {len(ratios)} pairwise ratios: {statistics.median(ratios):5.2f}x the floor "
          f"({', '.join(f'{x:.2f}' for x in ratios)})  [target <= 1.5x]")
    print(f"experiments per minute end to end, median: {statistics.median([args.n / o['done'] * 60 for o in ours]):.0f}  [target >= 1000]")
    print(f"API requests per experiment (operator, watches excluded), median: "
          f"{statistics.median([o['requests_per_experiment'] for o in ours]):.2f}")
    print(f"API writes per task transition, median: {statistics.median([o['writes_per_transition'] for o in ours]):.2f}  [target <= 3]")
    print(f"operator peak RSS, median: {statistics.median([o['rss_mb'] for o in ours]):.0f} MB  [target <= 150 MB]")
    print(f"operator CPU per experiment, median: {statistics.median([o['cpu_seconds'] for o in ours]) / args.n * 1000:.1f} ms; "
          f"emulator + node: {statistics.median([o['control_plane_cpu'] for o in ours]) / args.n * 1000:.1f} ms")
    print(f"the floor's time to all Jobs, median: {statistics.median([r['floor']['jobs'] for r in done]):.1f} s; "
          f"load (1-minute average) {done[0]['load_before']:.1f} at the start, {done[-1]['load_after']:.1f} at the end")


def _report_one(args: argparse.Namespace, floor: float, ours: dict[str, Any]) -> None:
    """One round's full report (``--rounds 1``, the default)."""
    print(f"{args.n} single-task experiments, sandbox node completing Jobs immediately "
          f"(floor {floor:.1f} s, kuberun {ours['jobs']:.1f} s to all Jobs, {ours['done']:.1f} s to all Succeeded)")
    print(f"all Jobs exist:            {ours['jobs'] / floor:5.2f}x the floor (minimal kopf operator: one Job per Experiment)  [target <= 1.5x]")
    print(f"all Experiments Succeeded: {ours['done'] / floor:5.2f}x the floor's time to create its Jobs")
    print(f"API writes per task transition: {ours['writes_per_transition']:.2f}  [target <= 3]")
    print(f"operator peak RSS: {ours['rss_mb']:.0f} MB  [target <= 150 MB]")
    print(f"experiments per minute end to end: {args.n / ours['done'] * 60:.0f}  [target >= 1000]")
    print(f"operator CPU: {ours['cpu_seconds'] / args.n * 1000:.1f} ms per experiment (incl. start-up); "
          f"emulator + node (this process): {ours['control_plane_cpu'] / args.n * 1000:.1f} ms per experiment")
    t = ours["timeline"]
    print(f"after the start: last Job created {t['last_job_created']:.1f} s, last Job completed by the node "
          f"{t['last_job_completed']:.1f} s, last Experiment status written {t['last_status']:.1f} s "
          f"(operator API QPS limit {args.api_qps:g})")
    print(f"API requests per experiment (operator, watches excluded): {ours['requests_per_experiment']:.2f}")
    for kind, per in ours["by_kind"].items():
        print(f"    {per:6.2f}  {kind}")
    print("API requests per experiment, every client (watches excluded): "
          + ", ".join(f"{agent or '?'} {count / args.n:.2f}" for agent, count in ours["by_agent"].most_common()))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--api-qps", type=float, default=50.0,
                        help="the operator's client-side QPS limit (its default is 50; 0: unlimited)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample stacks (bench/sampler.py) of the operator and of this process (emulator, node) into DIR")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds each wait may take at most")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of floor and kuberun, in ABBA order, each run on a fresh sandbox (default 1)")
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="seconds the whole benchmark may take: no round starts, and no wait lasts, beyond it")
    args = parser.parse_args()
    if args.rounds < 1 or args.n < 1:
        parser.error("--rounds and --n must be at least 1")
    done, skipped = _rounds(args)
    if args.rounds > 1:
        _report_rounds(args, done, skipped)
    else:
        _report_one(args, done[0]["floor"]["jobs"], done[0]["kuberun"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
