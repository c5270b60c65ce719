"""No size cliff: one Experiment of 1,000 tasks (999 fanned out, one fan-in on all of them) in the sandbox.

The sandbox node completes Jobs immediately, so this measures the control plane's cost of a wide
experiment: time to Succeeded, the stored object's size (spec and status; status must stay under
``STATUS_BUDGET``), the operator's peak RSS, its CPU-seconds and API requests per task transition.

    python bench/fanout.py [--width 999]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reconcile import _cpu_seconds, _peak_rss_mb, _wait  # a sibling script, not a package


def experiment(width: int) -> dict[str, Any]:
    tasks = [{"name": f"t{i}", "script": {"command": ["true"]}, "executor": {"kubernetes": {}}} for i in range(width)]
    tasks.append({"name": "join", "script": {"command": ["true"]}, "executor": {"kubernetes": {}},
                  "dependsOn": [t["name"] for t in tasks]})
    return {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": "wide"},
            "spec": {"title": "fan-out fan-in", "tasks": tasks}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=999)
    args = parser.parse_args()
    from kubernetes import client, config

    from kuberun.resource.constants import STATUS_BUDGET
    from kuberun_sandbox import Sandbox

    with Sandbox(operator=False, complete_immediately=True) as sandbox:
        api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "kr"}})
        custom = client.CustomObjectsApi(api)
        proc = subprocess.Popen([sys.executable, "-m", "kuberun_operator", "--kubeconfig", str(sandbox.kubeconfig),
                                 "--metrics-port", "0", "--namespace", "kr", "--log-level", "WARNING"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            before = len(sandbox.server.request_log)
            start = time.perf_counter()
            custom.create_namespaced_custom_object("kuberun.dev", "v1alpha1", "kr", "experiments", experiment(args.width))

            def get() -> dict[str, Any]:
                return custom.get_namespaced_custom_object("kuberun.dev", "v1alpha1", "kr", "experiments", "wide")

            done = _wait(lambda: (get().get("status") or {}).get("phase") in ("Succeeded", "Failed"), 900) - start
            time.sleep(1)
            obj = get()
            ours = [r for r in sandbox.server.request_log[before:] if r.user_agent.startswith(("kopf/", "kuberun-operator/"))]
            kinds = Counter(f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}" for r in ours if r.verb != "watch")
            rss, cpu = _peak_rss_mb(proc.pid), _cpu_seconds(proc.pid)
            job = client.BatchV1Api(api).list_namespaced_job("kr", limit=1).items[0]
            job_bytes = len(json.dumps(api.sanitize_for_serialization(job), separators=(",", ":")))
        finally:
            proc.terminate()
            proc.wait(30)
    tasks = args.width + 1
    spec_bytes = len(json.dumps(obj["spec"], separators=(",", ":")))
    status_bytes = len(json.dumps(obj.get("status") or {}, separators=(",", ":")))
    print(f"{tasks}-task fan-out/fan-in experiment ({args.width} parallel tasks, one depending on all), "
          f"sandbox node completing Jobs immediately: {obj['status']['phase']} after {done:.1f} s")
    print(f"object: spec {spec_bytes / 1024:.0f} KiB, status {status_bytes / 1024:.0f} KiB "
          f"[status budget {STATUS_BUDGET // 1024} KiB; etcd's limit 1536 KiB]; {status_bytes / tasks:.0f} bytes of status per task")
    print(f"one task's stored Job (runner document inside, as served): {job_bytes} bytes")
    print(f"operator peak RSS: {rss:.0f} MB  [target <= 150 MB]; CPU {cpu:.1f} s ({cpu / tasks * 1000:.1f} ms per task)")
    print(f"API requests: {sum(kinds.values())} ({sum(kinds.values()) / (2 * tasks):.2f} per task transition)")
    for kind, count in kinds.most_common():
        print(f"    {count:6d}  {kind}")
    return 0 if obj["status"]["phase"] == "Succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
