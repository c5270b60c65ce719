"""Sandbox node pace: N one-pod Jobs created at once on the emulator, each running ``sleep 1``.

Why: issue 12 saw 58 ready pods take 35 s to start and a Job's completion recorded up to 30 s after
its process exited. This measures, per pod, the two latencies the node adds (no operator runs):

- start: Job admitted (its create answered) -> the process's first act (a timestamp it writes), and
  -> its pod seen Running by a watching client (ideal ~0; reported as a ratio of the process runtime);
- finish: the process's last act (a timestamp it writes to a file) -> its Job seen Complete.

Both are printed as median and p95, divided by the process's own runtime (``--sleep``), so they do
not depend on the machine's speed. Target (issue 12): both under 1 s, i.e. ratio < 1.0 at sleep 1. The latencies grow with whatever else the machine runs;
the control plane's CPU time per Job (API server and node processes, not the tasks) does not, so it
is printed too (also as a ratio of the runtime) to compare versions on a busy machine.

``--split`` runs the API server and the node as two processes (``python -m kuberun_sandbox.apiserver``
and ``python -m kuberun_sandbox.nodeproc``) instead of the one ``kuberun sandbox`` process, so each
gets a core of its own.

    python bench/node.py [--n 64] [--sleep 1] [--python] [--split]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

NS = "default"


def _job(name: str, stamp_dir: Path, sleep: float, python: bool) -> dict[str, Any]:
    # The timestamp is the process's last act: the finish latency starts when it is written.
    if python:  # an interpreter importing kuberun, as the runner does: CPU the node competes with
        code = (f"import time; open({str(stamp_dir / (name + '.start'))!r}, 'w').write(repr(time.time())); "
                f"import kuberun; time.sleep({sleep}); "
                f"open({str(stamp_dir / name)!r}, 'w').write(repr(time.time()))")
        command = ["python", "-c", code]
    else:
        command = ["sh", "-c", f'date +%s.%N > "{stamp_dir}/{name}.start"; sleep {sleep}; date +%s.%N > "{stamp_dir}/{name}"']
    container = {"name": "main", "image": "busybox", "command": command}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and of its live child processes, excluding their children
    (the task processes): the control plane's own work, which other load on the machine does not inflate."""
    tick = os.sysconf("SC_CLK_TCK")

    def own(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return own(pid) + sum(own(int(c)) for c in children)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def _watch(list_fn: Any, seen: Any, stop: threading.Event, deadline: float) -> None:
    from kubernetes import watch

    while not stop.is_set() and time.time() < deadline:
        w = watch.Watch()
        for event in w.stream(list_fn, NS, timeout_seconds=5):
            seen(event["object"])
            if stop.is_set():
                w.stop()
                break


@contextlib.contextmanager
def _sandbox(tmp: Path) -> Iterator[tuple[Path, list[int]]]:
    """``kuberun sandbox`` in its own process (as users run it), so this process's clients do not
    share its interpreter; yields the kubeconfig."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "kuberun.cli", "sandbox", "--port", str(port), "--data-dir",
                             str(tmp / "sb"), "--no-operator"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when the sandbox exits (a failed start)
            if "export KUBECONFIG=" in line:
                threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
                yield Path(line.split("=", 1)[1].strip()), [proc.pid]
                return
        raise SystemExit("the sandbox did not start")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _split(tmp: Path) -> Iterator[tuple[Path, list[int]]]:
    """The API server and the node in two processes; yields the (administrator's) kubeconfig."""
    import base64

    import yaml

    kubeconfig = tmp / "kubeconfig"
    server = subprocess.Popen([sys.executable, "-m", "kuberun_sandbox.apiserver", "--kubeconfig", str(kubeconfig),
                               "--data-dir", str(tmp / "api")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    node: subprocess.Popen[str] | None = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if "listening on" not in line:
            raise SystemExit("the API server did not start")
        url = line.split("listening on", 1)[1].strip()
        config = yaml.safe_load(kubeconfig.read_text())
        token_file, ca_file = tmp / "token", tmp / "ca.pem"
        token_file.write_text(config["users"][0]["user"]["token"])
        ca_file.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
        node = subprocess.Popen([sys.executable, "-m", "kuberun_sandbox.nodeproc", "--server", url, "--token-file",
                                 str(token_file), "--ca-file", str(ca_file), "--data-dir", str(tmp / "node")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert node.stdout is not None
        if node.stdout.readline().strip() != "READY":
            raise SystemExit("the node did not start")
        yield kubeconfig, [server.pid, node.pid]
    finally:
        for proc in (node, server):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run(n: int, sleep: float, timeout: float, python: bool = False, split: bool = False) -> dict[str, float]:
    from kubernetes import client, config

    control_plane = _split if split else _sandbox
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp, control_plane(Path(tmp)) as (kubeconfig, pids):
        stamps = Path(tmp) / "stamps"
        stamps.mkdir()
        api = config.new_client_from_config(config_file=str(kubeconfig))
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        created: dict[str, float] = {}
        running: dict[str, float] = {}
        complete: dict[str, float] = {}
        stop = threading.Event()
        deadline = time.time() + timeout

        def on_pod(pod: Any) -> None:
            job_name = (pod.metadata.labels or {}).get("job-name")
            if job_name and pod.status and pod.status.phase in ("Running", "Succeeded", "Failed"):
                running.setdefault(job_name, time.time())

        def on_job(job: Any) -> None:
            conditions = (job.status.conditions if job.status else None) or []
            if any(c.type == "Complete" and c.status == "True" for c in conditions):
                complete.setdefault(job.metadata.name, time.time())

        watchers = [threading.Thread(target=_watch, args=(core.list_namespaced_pod, on_pod, stop, deadline),
                                     daemon=True),
                    threading.Thread(target=_watch, args=(batch.list_namespaced_job, on_job, stop, deadline),
                                     daemon=True)]
        for t in watchers:
            t.start()
        time.sleep(0.5)  # let both watches open

        def create(i: int) -> None:
            name = f"pace-{i}"
            batch.create_namespaced_job(NS, _job(name, stamps, sleep, python))
            created[name] = time.time()  # admitted: the clock of "starts within 1 s" starts here

        cpu_before = sum(_cpu_seconds(p) for p in pids)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, range(n)))
        while len(complete) < n and time.time() < deadline:
            time.sleep(0.1)
        cpu = sum(_cpu_seconds(p) for p in pids) - cpu_before
        stop.set()
        for t in watchers:
            t.join(timeout=10)
        api.close()
        if len(complete) < n:
            raise SystemExit(f"only {len(complete)} of {n} Jobs completed within {timeout:.0f} s")
        start = [running[k] - created[k] for k in created]
        spawned = [float((stamps / f"{k}.start").read_text()) - created[k] for k in created]
        finish = [complete[k] - float((stamps / k).read_text()) for k in created]
    return {"spawn_median": statistics.median(spawned) / sleep, "spawn_p95": _p95(spawned) / sleep,
            "start_median": statistics.median(start) / sleep, "start_p95": _p95(start) / sleep,
            "finish_median": statistics.median(finish) / sleep, "finish_p95": _p95(finish) / sleep,
            "start_max_s": max(start), "finish_max_s": max(finish), "cpu_per_job": cpu / n / sleep}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--sleep", type=float, default=1.0, help="each process's runtime, seconds")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--python", action="store_true", help="processes are Python importing kuberun, not sh")
    parser.add_argument("--split", action="store_true", help="API server and node as two processes")
    args = parser.parse_args()
    r = run(args.n, args.sleep, args.timeout, args.python, args.split)
    kind = ("python" if args.python else "sh") + (", API server and node in two processes" if args.split else "")
    print(f"{args.n} one-pod Jobs ({kind}), process runtime {args.sleep:g} s (ratios: latency / runtime; target < 1.0)")
    print(f"  Job created -> process runs : median {r['spawn_median']:.2f}x  p95 {r['spawn_p95']:.2f}x  (its own first act)")
    print(f"  Job created -> pod Running : median {r['start_median']:.2f}x  p95 {r['start_p95']:.2f}x")
    print(f"  process exit -> Job Complete: median {r['finish_median']:.2f}x  p95 {r['finish_p95']:.2f}x")
    print(f"  control-plane CPU per Job   : {r['cpu_per_job']:.3f}x the process runtime (not inflated by other load)")


if __name__ == "__main__":
    main()
